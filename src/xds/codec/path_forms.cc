#include "xds/codec/path_forms.h"

#include <re2/re2.h>

#include <algorithm>

#include "routing/rule_match.h"

namespace trellis::xds::detail {

using envoy::config::route::v3::RouteMatch;

namespace {

// regex_rewrite pattern that replaces the whole path (Envoy rewrites the path without its query).
constexpr std::string_view kWholePath = "^/.*$";

// regex_rewrite substitutions read "\N" as a capture group: a literal backslash is "\\".
std::string escapeSubstitution(std::string_view value) {
  std::string out;
  for (char c : value) {
    if (c == '\\') out.push_back('\\');
    out.push_back(c);
  }
  return out;
}

std::optional<std::string> unescapeSubstitution(std::string_view value) {
  std::string out;
  for (size_t i = 0; i < value.size(); ++i) {
    if (value[i] != '\\') {
      out.push_back(value[i]);
      continue;
    }
    if (i + 1 >= value.size() || value[i + 1] != '\\') return std::nullopt;  // a capture group
    out.push_back('\\');
    ++i;
  }
  return out;
}

// Removes the matched prefix and any slashes after it, leaving "/" + the rest: how a
// ReplacePrefixMatch to "/" behaves (the rest never gets a doubled slash).
std::string stripPrefixPattern(std::string_view prefix) {
  return "^" + re2::RE2::QuoteMeta(re2::StringPiece(prefix.data(), prefix.size())) + "/?";
}

}  // namespace

void encodePathMatch(const config::PathMatch& path, RouteDialect dialect, RouteMatch& match) {
  switch (path.type) {
    case config::PathMatchType::Exact:
      match.set_path(path.value);
      return;
    case config::PathMatchType::RegularExpression:
      match.mutable_safe_regex()->set_regex(path.value);
      return;
    case config::PathMatchType::PathPrefix:
      break;
  }
  const std::string_view prefix = routing::trimTrailingSlash(path.value);
  if (prefix.empty()) {
    match.set_prefix("/");
  } else if (dialect == RouteDialect::Envoy) {
    // Envoy's path_separated_prefix matches whole segments, as the Gateway API's PathPrefix does
    // ("/foo" takes "/foo", "/foo/" and "/foo/x", not "/foobar"); it is case-sensitive too.
    match.set_path_separated_prefix(std::string(prefix));
  } else if (std::count(prefix.begin(), prefix.end(), '/') == 2) {
    // gRPC paths are exactly "/<service>/<method>": "/svc/m" can only match itself.
    match.set_path(std::string(prefix));
  } else {
    // "/svc" → "/svc/" takes every method of svc; deeper prefixes never match a gRPC path, and
    // gRPC ignores a route with one.
    match.set_prefix(std::string(prefix) + "/");
  }
}

std::optional<std::pair<config::PathMatchType, std::string>> canonicalPathMatch(
    const RouteMatch& match) {
  switch (match.path_specifier_case()) {
    case RouteMatch::kPath:
      return std::make_pair(config::PathMatchType::Exact, match.path());
    case RouteMatch::kSafeRegex:
      return std::make_pair(config::PathMatchType::RegularExpression, match.safe_regex().regex());
    case RouteMatch::kPathSeparatedPrefix:
      return std::make_pair(config::PathMatchType::PathPrefix, match.path_separated_prefix());
    case RouteMatch::kPrefix:
      if (match.prefix() == "/") return std::make_pair(config::PathMatchType::PathPrefix, "/");
      return std::nullopt;
    default:
      return std::nullopt;
  }
}

bool samePathSpecifier(const RouteMatch& a, const RouteMatch& b) {
  if (a.path_specifier_case() != b.path_specifier_case()) return false;
  switch (a.path_specifier_case()) {
    case RouteMatch::kPath:
      return a.path() == b.path();
    case RouteMatch::kSafeRegex:
      return a.safe_regex().regex() == b.safe_regex().regex();
    case RouteMatch::kPathSeparatedPrefix:
      return a.path_separated_prefix() == b.path_separated_prefix();
    case RouteMatch::kPrefix:
      return a.prefix() == b.prefix();
    default:
      return false;
  }
}

PathRewriteFields encodePathRewrite(config::PathRewriteType type, std::string_view value,
                                    const config::PathMatch& match, bool redirect) {
  PathRewriteFields out;
  switch (type) {
    case config::PathRewriteType::None:
      return out;
    case config::PathRewriteType::ReplaceFullPath:
      if (redirect) {
        out.fullPath = std::string(value);
      } else {
        // An empty replacement means "/" (routing::rewritePath).
        out.regex = std::make_pair(std::string(kWholePath),
                                   escapeSubstitution(value.empty() ? "/" : value));
      }
      return out;
    case config::PathRewriteType::ReplacePrefixMatch:
      break;
  }
  // As routing::rewritePath: the replacement without its trailing slash, then the rest of the
  // path after the matched prefix (empty or starting with '/'); "/" if that leaves nothing.
  const std::string_view replacement = routing::trimTrailingSlash(value);
  const std::string_view prefix = routing::trimTrailingSlash(match.value);
  switch (match.type) {
    case config::PathMatchType::RegularExpression:
      return out;  // no matched prefix: Trellis leaves the path alone
    case config::PathMatchType::Exact: {
      // Envoy's prefix_rewrite on an exact match replaces the whole path.
      std::string result(replacement);
      result.append(match.value.substr(prefix.size()));
      out.prefix = result.empty() ? "/" : result;
      return out;
    }
    case config::PathMatchType::PathPrefix:
      break;
  }
  if (prefix.empty()) {
    // The match is prefix "/", which Envoy replaces whole: "/x" → replacement + "/x".
    out.prefix = std::string(replacement) + "/";
  } else if (!replacement.empty()) {
    out.prefix = std::string(replacement);
  } else {
    // prefix_rewrite "/" would give "//x" for "/foo/x".
    out.regex = std::make_pair(stripPrefixPattern(prefix), std::string("/"));
  }
  return out;
}

std::optional<std::pair<config::PathRewriteType, std::string>> canonicalPathRewrite(
    const PathRewriteFields& fields, const config::PathMatch& match) {
  const int set =
      fields.fullPath.has_value() + fields.prefix.has_value() + fields.regex.has_value();
  if (set == 0) return std::make_pair(config::PathRewriteType::None, std::string());
  if (set > 1) return std::nullopt;
  if (fields.fullPath)
    return std::make_pair(config::PathRewriteType::ReplaceFullPath, *fields.fullPath);
  const std::string_view prefix = routing::trimTrailingSlash(match.value);
  if (fields.regex) {
    const auto& [pattern, substitution] = *fields.regex;
    if (pattern == kWholePath) {
      auto path = unescapeSubstitution(substitution);
      if (!path) return std::nullopt;
      return std::make_pair(config::PathRewriteType::ReplaceFullPath, *path);
    }
    if (match.type == config::PathMatchType::PathPrefix && !prefix.empty() &&
        pattern == stripPrefixPattern(prefix) && substitution == "/") {
      return std::make_pair(config::PathRewriteType::ReplacePrefixMatch, std::string("/"));
    }
    return std::nullopt;
  }
  const std::string& rewritten = *fields.prefix;
  switch (match.type) {
    case config::PathMatchType::RegularExpression:
      return std::nullopt;
    case config::PathMatchType::Exact:
      return std::make_pair(config::PathRewriteType::ReplacePrefixMatch, rewritten);
    case config::PathMatchType::PathPrefix:
      break;
  }
  if (!prefix.empty())
    return std::make_pair(config::PathRewriteType::ReplacePrefixMatch, rewritten);
  if (rewritten.empty() || rewritten.back() != '/') return std::nullopt;
  return std::make_pair(config::PathRewriteType::ReplacePrefixMatch,
                        rewritten == "/" ? rewritten : rewritten.substr(0, rewritten.size() - 1));
}

PathRewriteFields rewriteFieldsOf(const envoy::config::route::v3::RouteAction& action) {
  PathRewriteFields out;
  if (!action.prefix_rewrite().empty()) out.prefix = action.prefix_rewrite();
  if (action.has_regex_rewrite()) {
    out.regex = std::make_pair(action.regex_rewrite().pattern().regex(),
                               action.regex_rewrite().substitution());
  }
  return out;
}

PathRewriteFields rewriteFieldsOf(const envoy::config::route::v3::RedirectAction& action) {
  using envoy::config::route::v3::RedirectAction;
  PathRewriteFields out;
  switch (action.path_rewrite_specifier_case()) {
    case RedirectAction::kPathRedirect:
      out.fullPath = action.path_redirect();
      break;
    case RedirectAction::kPrefixRewrite:
      out.prefix = action.prefix_rewrite();
      break;
    case RedirectAction::kRegexRewrite:
      out.regex = std::make_pair(action.regex_rewrite().pattern().regex(),
                                 action.regex_rewrite().substitution());
      break;
    default:
      break;
  }
  return out;
}

void applyRewriteFields(const PathRewriteFields& fields,
                        envoy::config::route::v3::RouteAction& action) {
  if (fields.prefix) action.set_prefix_rewrite(*fields.prefix);
  if (fields.regex) {
    action.mutable_regex_rewrite()->mutable_pattern()->set_regex(fields.regex->first);
    action.mutable_regex_rewrite()->set_substitution(fields.regex->second);
  }
}

void applyRewriteFields(const PathRewriteFields& fields,
                        envoy::config::route::v3::RedirectAction& action) {
  if (fields.fullPath) action.set_path_redirect(*fields.fullPath);
  if (fields.prefix) action.set_prefix_rewrite(*fields.prefix);
  if (fields.regex) {
    action.mutable_regex_rewrite()->mutable_pattern()->set_regex(fields.regex->first);
    action.mutable_regex_rewrite()->set_substitution(fields.regex->second);
  }
}

const char* pathMatchTypeName(config::PathMatchType type) {
  switch (type) {
    case config::PathMatchType::Exact:
      return "Exact";
    case config::PathMatchType::PathPrefix:
      return "PathPrefix";
    case config::PathMatchType::RegularExpression:
      return "RegularExpression";
  }
  return "PathPrefix";
}

std::optional<config::PathMatchType> pathMatchTypeOf(std::string_view name) {
  for (auto type : {config::PathMatchType::Exact, config::PathMatchType::PathPrefix,
                    config::PathMatchType::RegularExpression}) {
    if (name == pathMatchTypeName(type)) return type;
  }
  return std::nullopt;
}

const char* rewriteTypeName(config::PathRewriteType type) {
  switch (type) {
    case config::PathRewriteType::None:
      return "None";
    case config::PathRewriteType::ReplaceFullPath:
      return "ReplaceFullPath";
    case config::PathRewriteType::ReplacePrefixMatch:
      return "ReplacePrefixMatch";
  }
  return "None";
}

std::optional<config::PathRewriteType> rewriteTypeOf(std::string_view name) {
  for (auto type : {config::PathRewriteType::None, config::PathRewriteType::ReplaceFullPath,
                    config::PathRewriteType::ReplacePrefixMatch}) {
    if (name == rewriteTypeName(type)) return type;
  }
  return std::nullopt;
}

}  // namespace trellis::xds::detail
