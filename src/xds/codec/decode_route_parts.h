#pragma once
// Pieces of RDS decoding shared between decode_match.cc and decode_route.cc.

#include <memory>
#include <string>

#include "config/model.h"
#include "envoy/config/route/v3/route_components.pb.h"
#include "xds/codec/problems.h"
#include "xds/codec/trellis_metadata.h"

namespace trellis::xds::detail {

/// Compiles a routing regex as the loader does (RE2, bounded memory); null after an error.
std::shared_ptr<const re2::RE2> compileRegex(const std::string& pattern, Problems& problems,
                                             const std::string& path);

/// One header matcher (string_match, or the legacy exact_match / safe_regex_match) into
/// out.headers, or out.method for ":method".
bool decodeHeaderMatcher(const envoy::config::route::v3::HeaderMatcher& header, Problems& problems,
                         const std::string& path, config::RouteMatch& out);

/// RouteMatch → model match. `settings` is the route's metadata (its "grpc" and "pathMatch").
bool decodeMatch(const envoy::config::route::v3::RouteMatch& match, FieldsReader& settings,
                 Problems& problems, const std::string& path, config::RouteMatch& out);

}  // namespace trellis::xds::detail
