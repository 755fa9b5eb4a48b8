#include "tls/pki/spiffe_id.h"

#include <cstdio>
#include <vector>

namespace trellis::pki {
namespace {

constexpr std::string_view kScheme = "spiffe";
constexpr size_t kMaxUriLength = 2048;         // SPIFFE-ID 2.3
constexpr size_t kMaxTrustDomainLength = 255;  // SPIFFE-ID 2.3, RFC 3986 host limit

bool setError(std::string* error, std::string message) {
  if (error) *error = std::move(message);
  return false;
}

std::nullopt_t fail(std::string* error, std::string message) {
  setError(error, std::move(message));
  return std::nullopt;
}

// Printable characters are quoted as they are; others (control bytes, UTF-8) as hex, so an
// error message never carries raw bytes from the wire.
std::string describeChar(char c) {
  unsigned char u = static_cast<unsigned char>(c);
  if (u >= 0x21 && u < 0x7f) return std::string("'") + c + "'";
  char buf[8];
  std::snprintf(buf, sizeof buf, "0x%02x", u);
  return buf;
}

bool isLowerAlnum(char c) {
  return (c >= 'a' && c <= 'z') || (c >= '0' && c <= '9');
}
bool isPunct(char c) {
  return c == '.' || c == '-' || c == '_';
}

// Validates and lower-cases a trust domain (SPIFFE-ID 2.1: [a-z0-9.-_], no percent-encoding;
// 2.4: case-insensitive, so upper-case input is accepted and folded).
bool normalizeTrustDomain(std::string_view in, std::string* out, std::string* error) {
  if (in.empty()) return setError(error, "trust domain is missing");
  if (in.size() > kMaxTrustDomainLength) {
    return setError(error,
                    "trust domain is longer than 255 bytes (" + std::to_string(in.size()) + ")");
  }
  std::string td;
  td.reserve(in.size());
  for (char c : in) {
    if (c >= 'A' && c <= 'Z') c = static_cast<char>(c - 'A' + 'a');
    if (isLowerAlnum(c) || isPunct(c)) {
      td.push_back(c);
      continue;
    }
    if (c == '%')
      return setError(error, "trust domain must not contain percent-encoded characters");
    if (c == '@') return setError(error, "userinfo is not allowed in the trust domain");
    if (c == ':') return setError(error, "port is not allowed in the trust domain");
    return setError(error, "trust domain has an invalid character " + describeChar(c));
  }
  *out = std::move(td);
  return true;
}

// One path segment (SPIFFE-ID 2.2): non-empty, [a-zA-Z0-9.-_], not "." or "..".
bool validSegment(std::string_view seg, std::string* error) {
  if (seg.empty()) return setError(error, "path has an empty segment");
  if (seg == "." || seg == "..") {
    return setError(error, "path segment '" + std::string(seg) + "' is not allowed");
  }
  for (char c : seg) {
    if (isLowerAlnum(c) || (c >= 'A' && c <= 'Z') || isPunct(c)) continue;
    if (c == '%') return setError(error, "path must not contain percent-encoded characters");
    return setError(error, "path segment has an invalid character " + describeChar(c));
  }
  return true;
}

bool validPath(std::string_view path, std::string* error) {
  if (path.empty()) return true;
  if (path.front() != '/') return setError(error, "path must start with '/'");
  if (path.back() == '/') return setError(error, "path has a trailing '/'");
  size_t start = 1;
  while (true) {
    size_t slash = path.find('/', start);
    std::string_view seg =
        path.substr(start, slash == std::string_view::npos ? path.npos : slash - start);
    if (!validSegment(seg, error)) return false;
    if (slash == std::string_view::npos) return true;
    start = slash + 1;
  }
}

bool equalsIgnoreCase(std::string_view a, std::string_view b) {
  if (a.size() != b.size()) return false;
  for (size_t i = 0; i < a.size(); ++i) {
    char x = a[i] >= 'A' && a[i] <= 'Z' ? static_cast<char>(a[i] - 'A' + 'a') : a[i];
    if (x != b[i]) return false;
  }
  return true;
}

std::vector<std::string_view> segments(std::string_view path) {
  std::vector<std::string_view> out;
  size_t start = 1;
  while (start <= path.size() && !path.empty()) {
    size_t slash = path.find('/', start);
    if (slash == std::string_view::npos) {
      out.push_back(path.substr(start));
      break;
    }
    out.push_back(path.substr(start, slash - start));
    start = slash + 1;
  }
  return out;
}

}  // namespace

std::string SpiffeId::uri() const {
  return std::string(kScheme) + "://" + trustDomain + path;
}

std::optional<SpiffeId> SpiffeId::parse(std::string_view uri, std::string* error) {
  if (uri.empty()) return fail(error, "SPIFFE ID is empty");
  if (uri.size() > kMaxUriLength) {
    return fail(error, "SPIFFE ID is longer than 2048 bytes (" + std::to_string(uri.size()) + ")");
  }
  size_t colon = uri.find(':');
  if (colon == std::string_view::npos) {
    return fail(error, "SPIFFE ID has no scheme (expected 'spiffe://')");
  }
  if (!equalsIgnoreCase(uri.substr(0, colon), kScheme)) {
    return fail(error, "scheme must be 'spiffe', not '" + std::string(uri.substr(0, colon)) + "'");
  }
  std::string_view rest = uri.substr(colon + 1);
  if (rest.substr(0, 2) != "//") {
    return fail(error, "SPIFFE ID has no authority ('//' after the scheme)");
  }
  rest.remove_prefix(2);
  // Query and fragment end the hier-part, so they are looked for before splitting it.
  size_t qf = rest.find_first_of("?#");
  if (qf != std::string_view::npos) {
    return fail(error, rest[qf] == '?' ? "query is not allowed" : "fragment is not allowed");
  }
  size_t slash = rest.find('/');
  std::string_view authority = rest.substr(0, slash);
  std::string_view path = slash == std::string_view::npos ? std::string_view{} : rest.substr(slash);

  SpiffeId id;
  if (!normalizeTrustDomain(authority, &id.trustDomain, error)) return std::nullopt;
  if (!validPath(path, error)) return std::nullopt;
  id.path = std::string(path);
  return id;
}

std::optional<SpiffeId> SpiffeId::forWorkload(std::string_view trustDomain, std::string_view ns,
                                              std::string_view serviceAccount, std::string* error) {
  SpiffeId id;
  if (!normalizeTrustDomain(trustDomain, &id.trustDomain, error)) return std::nullopt;
  // Each name must be a single segment: a '/' inside one would add segments to the path.
  std::string why;
  if (!validSegment(ns, &why)) return fail(error, "namespace: " + why);
  if (!validSegment(serviceAccount, &why)) {
    return fail(error, "service account: " + why);
  }
  id.path = "/ns/" + std::string(ns) + "/sa/" + std::string(serviceAccount);
  if (id.uri().size() > kMaxUriLength) {
    return fail(error,
                "SPIFFE ID is longer than 2048 bytes (" + std::to_string(id.uri().size()) + ")");
  }
  return id;
}

std::string SpiffeId::workloadNamespace() const {
  auto segs = segments(path);
  if (segs.size() != 4 || segs[0] != "ns" || segs[2] != "sa") return {};
  return std::string(segs[1]);
}

std::string SpiffeId::serviceAccount() const {
  auto segs = segments(path);
  if (segs.size() != 4 || segs[0] != "ns" || segs[2] != "sa") return {};
  return std::string(segs[3]);
}

std::string controlPlaneId(std::string_view trustDomain) {
  return "spiffe://" + std::string(trustDomain) + "/ns/trellis-system/sa/trellisd";
}

}  // namespace trellis::pki
