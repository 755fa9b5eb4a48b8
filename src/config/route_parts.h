#pragma once
// Parsers shared by the route kinds (HTTPRoute, GRPCRoute); internal to the loader. Defined in
// httproute_kind.cc, whose rules GRPCRoute reuses field for field.

#include <memory>
#include <string>
#include <vector>

#include "config/resources.h"

namespace trellis::config {

/// Compiles a routing regex (RE2, bounded memory, charged to the load budget); null and
/// reported when invalid.
std::shared_ptr<const re2::RE2> compileRouteRegex(Scope& scope, const Value& at,
                                                  const std::string& pattern);
/// HTTPHeaderMatch / GRPCHeaderMatch list: Exact or RegularExpression, unique names.
std::vector<ValueMatch> parseHeaderMatches(Scope& scope, const Value& value);
/// spec.parentRefs into `route.parentRefs` (defaults to the route's namespace).
void parseRouteParentRefs(Scope& scope, const Value& value, RouteDef& route);
/// spec.hostnames of an HTTPRoute or GRPCRoute (Gateway API hostname syntax, wildcards allowed).
void parseRouteHostnames(Scope& scope, const Value& value, RouteDef& route);

}  // namespace trellis::config
