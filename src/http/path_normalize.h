#pragma once
// The request path as policies must see it (RFC 3986 §6.2.2, as Istio normalizes for
// AuthorizationPolicy): percent-encoded unreserved characters decoded and the remaining escapes
// upper-cased, runs of '/' merged, "." and ".." segments removed. Without it a DENY on "/admin"
// would miss "//admin", "/./admin", "/x/../admin" or "/%61dmin", which the application
// behind the proxy reads as "/admin". An encoded '/' or '\' ("%2F", "%5C") or a malformed
// escape cannot be normalized without guessing what the application does with it: refused.

#include <optional>
#include <string>
#include <string_view>

namespace trellis::http {

/// `path` (origin-form, without the query) normalized: `path` itself when it is already in
/// normal form (no allocation), else a view of `storage`. nullopt: the path must be refused
/// (400). A path that does not start with '/' (the asterisk form) is returned as it is.
std::optional<std::string_view> normalizePath(std::string_view path, std::string& storage);

}  // namespace trellis::http
