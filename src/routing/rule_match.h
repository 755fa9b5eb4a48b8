#pragma once
// One compiled HTTPRouteMatch: the conditions of a RouteRule in a form that `matches` checks
// without allocating, plus the key that orders rules by Gateway API precedence.

#include <cstdint>
#include <span>
#include <string>
#include <string_view>
#include <vector>

#include "config/model.h"
#include "routing/route_table.h"

namespace re2 {
class RE2;
}

namespace trellis::routing {

/// "/foo" matches "/foo", "/foo/" and "/foo/bar" but not "/foobar". `prefix` has had its
/// trailing slash removed ("/" becomes "", which matches every path that starts with "/").
inline bool pathPrefixMatches(std::string_view prefix, std::string_view path) {
  if (path.size() < prefix.size() || path.compare(0, prefix.size(), prefix) != 0) return false;
  return path.size() == prefix.size() || path[prefix.size()] == '/';
}

/// `prefix` without one trailing '/', as PathPrefix matching and ReplacePrefixMatch use it.
std::string_view trimTrailingSlash(std::string_view prefix);

/// Value of the first `name` parameter in `query` ("a=1&b=2"), undecoded; a parameter without
/// '=' has an empty value. False when absent.
bool findQueryParam(std::string_view query, std::string_view name, std::string_view& value);

/// The path condition alone, 16 bytes, so a table scan rejects most rules from one dense array.
/// Regular expressions always pass here; RuleMatcher checks them last.
struct PathFilter {
  const char* data = nullptr;
  uint32_t size = 0;
  config::PathMatchType type = config::PathMatchType::PathPrefix;

  bool matches(std::string_view path) const {
    switch (type) {
      case config::PathMatchType::Exact:
        return path.size() == size && std::string_view(data, size) == path;
      case config::PathMatchType::PathPrefix:
        return pathPrefixMatches(std::string_view(data, size), path);
      case config::PathMatchType::RegularExpression:
        return true;
    }
    return false;
  }
};

/// Gateway API header match: the values of every `name` header (case-insensitive), joined with
/// ",", equal `value` (regex null) or fully match `regex`. False when there is no such header.
bool headerMatches(std::span<const http::HeaderField> headers, std::string_view name,
                   std::string_view value, const re2::RE2* regex);

/// The path as routing sees it: an empty path (authority-form targets) is "/".
inline std::string_view routingPath(std::string_view path) {
  return path.empty() ? std::string_view("/") : path;
}

class RuleMatcher {
 public:
  explicit RuleMatcher(const config::RouteRule& rule);

  /// All conditions hold (path AND method AND every header AND every query parameter).
  bool matches(const RequestView& request) const {
    const std::string_view path = routingPath(request.path);
    return pathFilter().matches(path) && matchesBesidesPathFilter(request, path);
  }

  /// The conditions `pathFilter()` does not check; `path` is `routingPath(request.path)`.
  bool matchesBesidesPathFilter(const RequestView& request, std::string_view path) const;

  PathFilter pathFilter() const {
    return {pathValue_.data(), static_cast<uint32_t>(pathValue_.size()), pathType_};
  }

  const config::RouteRule* rule() const { return rule_; }

  /// Strict weak order: true when `a` takes precedence over `b`.
  static bool precedes(const RuleMatcher& a, const RuleMatcher& b);

 private:
  struct ValueMatcher {
    std::string name;                 // lower case for headers, verbatim for query parameters
    std::string_view value;           // Exact: into the configuration
    const re2::RE2* regex = nullptr;  // RegularExpression
  };

  bool headersMatch(const RequestView& request) const;
  bool queryMatches(std::string_view query) const;

  // Hot fields first: most candidates are rejected on path or method.
  config::PathMatchType pathType_;
  bool neverMatches_ = false;   // a regular expression that is missing or failed to compile
  std::string_view pathValue_;  // Exact: whole path; PathPrefix: trailing slash trimmed
  const re2::RE2* pathRegex_ = nullptr;
  // Every path the regex can fully match lies in [regexMin_, regexMax_] (RE2's
  // PossibleMatchRange), which rejects most paths without running the regex.
  std::string regexMin_;
  std::string regexMax_;
  bool hasRegexRange_ = false;
  std::string_view method_;  // empty = any
  const config::RouteRule* rule_;
  std::vector<ValueMatcher> headers_;
  std::vector<ValueMatcher> queryParams_;
};

}  // namespace trellis::routing
