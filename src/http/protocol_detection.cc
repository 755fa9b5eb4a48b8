#include "http/protocol_detection.h"

namespace trellis::http {
namespace {

/// RFC 9110 tchar.
bool isTokenChar(char c) {
  if ((c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9')) return true;
  switch (c) {
    case '!':
    case '#':
    case '$':
    case '%':
    case '&':
    case '\'':
    case '*':
    case '+':
    case '-':
    case '.':
    case '^':
    case '_':
    case '`':
    case '|':
    case '~':
      return true;
    default:
      return false;
  }
}

}  // namespace

DetectedProtocol detectProtocol(std::string_view bytes) {
  if (bytes.empty()) return DetectedProtocol::NeedMoreData;

  // TLS record: handshake (22), major version 3.
  if (static_cast<unsigned char>(bytes[0]) == 0x16) {
    if (bytes.size() < 2) return DetectedProtocol::NeedMoreData;
    return bytes[1] == 0x03 ? DetectedProtocol::Tls : DetectedProtocol::Opaque;
  }

  // The HTTP/2 preface starts with "PRI " — which is also a valid HTTP/1 request line prefix,
  // so the whole preface must be seen before deciding.
  const size_t prefaceSeen =
      bytes.size() < kHttp2Preface.size() ? bytes.size() : kHttp2Preface.size();
  const bool prefaceSoFar = bytes.substr(0, prefaceSeen) == kHttp2Preface.substr(0, prefaceSeen);
  if (prefaceSoFar && bytes.size() >= kHttp2Preface.size()) return DetectedProtocol::Http2;

  // HTTP/1: a method token, then a space.
  size_t i = 0;
  while (i < bytes.size() && i <= kMaxDetectedMethodLength && isTokenChar(bytes[i])) ++i;
  if (i == bytes.size()) {
    return i <= kMaxDetectedMethodLength ? DetectedProtocol::NeedMoreData
                                         : DetectedProtocol::Opaque;
  }
  if (i > 0 && i <= kMaxDetectedMethodLength && bytes[i] == ' ') {
    return prefaceSoFar ? DetectedProtocol::NeedMoreData : DetectedProtocol::Http1;
  }
  return DetectedProtocol::Opaque;
}

}  // namespace trellis::http
