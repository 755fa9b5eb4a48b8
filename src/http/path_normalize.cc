#include "http/path_normalize.h"

namespace trellis::http {
namespace {

int hexValue(char c) {
  if (c >= '0' && c <= '9') return c - '0';
  if (c >= 'a' && c <= 'f') return c - 'a' + 10;
  if (c >= 'A' && c <= 'F') return c - 'A' + 10;
  return -1;
}

bool unreserved(unsigned char c) {
  return (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9') || c == '-' ||
         c == '.' || c == '_' || c == '~';
}

// True when a segment boundary follows position `i` (or the path ends there).
bool segmentEnds(std::string_view path, size_t i) {
  return i == path.size() || path[i] == '/';
}

// One pass that only looks: most paths need no work at all.
bool needsWork(std::string_view path) {
  for (size_t i = 0; i < path.size(); ++i) {
    const char c = path[i];
    if (c == '%') return true;
    if (c != '/') continue;
    if (i + 1 < path.size() && path[i + 1] == '/') return true;
    if (i + 1 < path.size() && path[i + 1] == '.') {
      if (segmentEnds(path, i + 2)) return true;                        // "/."
      if (path[i + 2] == '.' && segmentEnds(path, i + 3)) return true;  // "/.."
    }
  }
  return false;
}

}  // namespace

std::optional<std::string_view> normalizePath(std::string_view path, std::string& storage) {
  if (path.empty() || path[0] != '/' || !needsWork(path)) return path;
  // 1. Escapes: unreserved characters decoded, the others kept with upper-case hex digits.
  std::string decoded;
  decoded.reserve(path.size());
  for (size_t i = 0; i < path.size(); ++i) {
    if (path[i] != '%') {
      decoded += path[i];
      continue;
    }
    const int high = i + 2 < path.size() ? hexValue(path[i + 1]) : -1;
    const int low = high >= 0 ? hexValue(path[i + 2]) : -1;
    if (low < 0) return std::nullopt;  // malformed escape
    const auto byte = static_cast<unsigned char>(high * 16 + low);
    if (byte == '/' || byte == '\\') return std::nullopt;  // encoded separator
    if (unreserved(byte)) {
      decoded += static_cast<char>(byte);
    } else {
      constexpr char kHex[] = "0123456789ABCDEF";
      decoded += '%';
      decoded += kHex[byte >> 4];
      decoded += kHex[byte & 15];
    }
    i += 2;
  }
  // 2. Segments: empty ones merged, "." dropped, ".." removes the one before (never above the
  // root), as RFC 3986 §5.2.4 does.
  storage.clear();
  size_t i = 1;
  bool endsWithSlash = false;
  while (i <= decoded.size()) {
    size_t end = decoded.find('/', i);
    if (end == std::string::npos) end = decoded.size();
    const std::string_view segment(decoded.data() + i, end - i);
    endsWithSlash = end < decoded.size() || segment.empty() || segment == "." || segment == "..";
    if (segment == "..") {
      const size_t slash = storage.rfind('/');
      storage.resize(slash == std::string::npos ? 0 : slash);
    } else if (!segment.empty() && segment != ".") {
      storage += '/';
      storage += segment;
      endsWithSlash = end < decoded.size();
    }
    i = end + 1;
  }
  if (storage.empty() || endsWithSlash) storage += '/';
  return std::string_view(storage);
}

}  // namespace trellis::http
