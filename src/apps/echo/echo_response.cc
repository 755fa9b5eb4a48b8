#include "apps/echo/echo_response.h"

#include <openssl/evp.h>
#include <openssl/sha.h>

#include <iterator>

#include <fmt/format.h>

#include "http/status.h"

namespace trellis::echo {

EchoIdentity makeEchoIdentity(std::string service, std::string instance) {
  EchoIdentity identity;
  identity.headerLines = fmt::format(
      "server: trellis-echo\r\nx-echo-service: {}\r\nx-echo-instance: {}\r\n", service, instance);
  identity.jsonStart = "{\"service\":";
  appendJsonString(service, identity.jsonStart);
  identity.jsonStart += ",\"instance\":";
  appendJsonString(instance, identity.jsonStart);
  identity.jsonStart += ',';
  identity.service = std::move(service);
  identity.instance = std::move(instance);
  return identity;
}

void appendJsonString(std::string_view text, std::string& out) {
  static constexpr char kHex[] = "0123456789abcdef";
  out.push_back('"');
  size_t runStart = 0;
  for (size_t i = 0; i < text.size(); ++i) {
    auto c = static_cast<unsigned char>(text[i]);
    bool plain = c >= 0x20 && c < 0x7f && c != '"' && c != '\\';
    if (plain) continue;
    out.append(text.data() + runStart, i - runStart);
    runStart = i + 1;
    if (c == '"' || c == '\\') {
      out.push_back('\\');
      out.push_back(static_cast<char>(c));
    } else {
      const char escaped[] = {'\\', 'u', '0', '0', kHex[c >> 4], kHex[c & 0xf]};
      out.append(escaped, sizeof(escaped));
    }
  }
  out.append(text.data() + runStart, text.size() - runStart);
  out.push_back('"');
}

void appendEchoJsonStart(const EchoIdentity& identity, const http::RequestHead& head,
                         std::string_view version, std::string& out) {
  out += identity.jsonStart;
  out += "\"method\":";
  appendJsonString(head.method, out);
  out += ",\"path\":";
  appendJsonString(head.path, out);
  out += ",\"query\":";
  appendJsonString(head.query, out);
  out += ",\"version\":";
  appendJsonString(version, out);
  out += ",\"headers\":{";
  // Groups repeated fields under their first occurrence; heads are small, so a quadratic scan
  // beats building a map.
  const auto& headers = head.headers;
  bool firstName = true;
  for (size_t i = 0; i < headers.size(); ++i) {
    bool seen = false;
    for (size_t j = 0; j < i && !seen; ++j) seen = headers[j].name == headers[i].name;
    if (seen) continue;
    if (!firstName) out.push_back(',');
    firstName = false;
    appendJsonString(headers[i].name, out);
    out += ":[";
    bool firstValue = true;
    for (size_t k = i; k < headers.size(); ++k) {
      if (headers[k].name != headers[i].name) continue;
      if (!firstValue) out.push_back(',');
      firstValue = false;
      appendJsonString(headers[k].value, out);
    }
    out.push_back(']');
  }
  out += "},\"body_bytes\":";
}

void appendEchoJsonEnd(uint64_t bodyBytes, std::string& out) {
  fmt::format_to(std::back_inserter(out), "{}}}\n", bodyBytes);
}

void appendResponseHead(const EchoIdentity& identity, const ResponseSpec& spec, std::string& out) {
  auto it = std::back_inserter(out);
  fmt::format_to(it, "HTTP/1.1 {} {}\r\n", spec.status, http::reasonPhrase(spec.status));
  out += identity.headerLines;
  if (!spec.contentType.empty()) fmt::format_to(it, "content-type: {}\r\n", spec.contentType);
  if (statusAllowsBody(spec.status)) {
    if (spec.chunked) {
      out += "transfer-encoding: chunked\r\n";
    } else {
      fmt::format_to(it, "content-length: {}\r\n", spec.contentLength);
    }
  }
  if (spec.extraHeaders) {
    for (const auto& [name, value] : *spec.extraHeaders) {
      fmt::format_to(it, "{}: {}\r\n", name, value);
    }
  }
  if (spec.trailers && spec.chunked) {
    for (const auto& trailer : *spec.trailers) fmt::format_to(it, "trailer: {}\r\n", trailer.first);
  }
  if (!spec.keepAlive) {
    out += "connection: close\r\n";
  } else if (spec.http10) {
    out += "connection: keep-alive\r\n";
  }
  out += "\r\n";
}

void appendLastChunk(const std::vector<HeaderKnob>& trailers, std::string& out) {
  out += "0\r\n";
  for (const auto& [name, value] : trailers)
    fmt::format_to(std::back_inserter(out), "{}: {}\r\n", name, value);
  out += "\r\n";
}

std::string webSocketAccept(std::string_view key) {
  static constexpr std::string_view kGuid = "258EAFA5-E914-47DA-95CA-C5AB0DC85B11";
  std::string input(key);
  input += kGuid;
  unsigned char digest[SHA_DIGEST_LENGTH];
  SHA1(reinterpret_cast<const unsigned char*>(input.data()), input.size(), digest);
  unsigned char encoded[4 * ((SHA_DIGEST_LENGTH + 2) / 3) + 1];
  int length = EVP_EncodeBlock(encoded, digest, SHA_DIGEST_LENGTH);
  return std::string(reinterpret_cast<const char*>(encoded), static_cast<size_t>(length));
}

}  // namespace trellis::echo
