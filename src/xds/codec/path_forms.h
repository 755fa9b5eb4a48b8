#pragma once
// The Envoy forms of Gateway API path matches and path modifiers, both ways.
//
// Encoding picks the Envoy field that behaves as the Gateway API asks (segment-wise prefixes,
// ReplacePrefixMatch joining with exactly one '/'). Some model values have no exact Envoy
// spelling (a prefix's trailing slash counts for precedence; "/foo/" and "/foo" rewrite alike), so
// each form has a canonical reading, and when it differs from the model value the encoder adds
// the model value as a metadata override. Decoding accepts an override only if encoding it gives
// back the standard fields that are present: metadata can refine them, never contradict them.

#include <optional>
#include <string>
#include <string_view>
#include <utility>

#include "config/model.h"
#include "envoy/config/route/v3/route_components.pb.h"

namespace trellis::xds::detail {

/// Who reads a RouteConfiguration: Trellis proxies and Envoy, or gRPC 1.51's xDS client (which
/// rejects path_separated_prefix and HeaderMatcher.string_match, and only sees method paths).
enum class RouteDialect { Envoy, Grpc };

/// Sets the path specifier of `match`: Exact → path, PathPrefix "/" → prefix "/", other
/// PathPrefix → path_separated_prefix without the trailing slash (gRPC: prefix "/svc/", or path
/// "/svc/method"), RegularExpression → safe_regex.
void encodePathMatch(const config::PathMatch& path, RouteDialect dialect,
                     envoy::config::route::v3::RouteMatch& match);

/// The (type, value) a path specifier stands for without an override; nullopt for forms that
/// have no Gateway API meaning by themselves (e.g. a plain prefix other than "/").
std::optional<std::pair<config::PathMatchType, std::string>> canonicalPathMatch(
    const envoy::config::route::v3::RouteMatch& match);

/// Whether the path specifiers of `a` and `b` are the same.
bool samePathSpecifier(const envoy::config::route::v3::RouteMatch& a,
                       const envoy::config::route::v3::RouteMatch& b);

/// The path-rewrite fields of a RouteAction or RedirectAction.
struct PathRewriteFields {
  std::optional<std::string> fullPath;                       // RedirectAction.path_redirect
  std::optional<std::string> prefix;                         // prefix_rewrite
  std::optional<std::pair<std::string, std::string>> regex;  // regex_rewrite pattern, substitution
  bool operator==(const PathRewriteFields&) const = default;
};

/// The fields for a URLRewrite (`redirect` false) or RequestRedirect path modifier on a rule
/// whose match is `match`.
PathRewriteFields encodePathRewrite(config::PathRewriteType type, std::string_view value,
                                    const config::PathMatch& match, bool redirect);

/// (type, value) for `fields` without an override; nullopt when they are not a form the encoder
/// produces for `match`.
std::optional<std::pair<config::PathRewriteType, std::string>> canonicalPathRewrite(
    const PathRewriteFields& fields, const config::PathMatch& match);

PathRewriteFields rewriteFieldsOf(const envoy::config::route::v3::RouteAction& action);
PathRewriteFields rewriteFieldsOf(const envoy::config::route::v3::RedirectAction& action);
void applyRewriteFields(const PathRewriteFields& fields,
                        envoy::config::route::v3::RouteAction& action);
void applyRewriteFields(const PathRewriteFields& fields,
                        envoy::config::route::v3::RedirectAction& action);

const char* pathMatchTypeName(config::PathMatchType type);
std::optional<config::PathMatchType> pathMatchTypeOf(std::string_view name);
const char* rewriteTypeName(config::PathRewriteType type);
std::optional<config::PathRewriteType> rewriteTypeOf(std::string_view name);

}  // namespace trellis::xds::detail
