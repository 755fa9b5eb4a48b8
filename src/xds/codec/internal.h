#pragma once
// The codec's per-resource halves, which codec.cc puts together (internal to the library).

#include <map>
#include <optional>
#include <set>
#include <span>
#include <string>
#include <string_view>
#include <vector>

#include "config/model.h"
#include "xds/codec/path_forms.h"
#include "xds/codec/problems.h"
#include "xds/codec/resources.h"

namespace trellis::xds::detail {

inline constexpr std::string_view kHttpConnectionManagerFilter =
    "envoy.filters.network.http_connection_manager";
inline constexpr std::string_view kTcpProxyFilter = "envoy.filters.network.tcp_proxy";
inline constexpr std::string_view kRouterFilter = "envoy.filters.http.router";
inline constexpr std::string_view kHttpInspectorFilter = "envoy.filters.listener.http_inspector";
inline constexpr std::string_view kHttpInspectorType =
    "type.googleapis.com/envoy.extensions.filters.listener.http_inspector.v3.HttpInspector";
inline constexpr std::string_view kHttpProtocolOptionsKey =
    "envoy.extensions.upstreams.http.v3.HttpProtocolOptions";

inline constexpr std::string_view kTransportSocketMatchMetadata = "envoy.transport_socket_match";

using ClusterMap = std::map<std::string, config::Cluster>;

// Encode.
envoy::config::route::v3::RouteConfiguration encodeRouteTable(
    const std::string& name, const config::RouteTableConfig& routes, RouteDialect dialect);
/// `authorization`: the policies of the listener's Service (authz_codec.h).
envoy::config::listener::v3::Listener encodeListener(
    const config::Listener& listener, std::span<const config::AuthorizationPolicy> authorization);

// Decode. Each returns false after recording the error in `problems`.

/// Clusters (CDS) with their endpoints (EDS), by name.
bool decodeClusters(const Resources& resources, Problems& problems, ClusterMap& out);
/// `path` prefixes field names: empty for an RDS resource, the HttpConnectionManager's path for
/// an inline route_config.
bool decodeRouteConfiguration(const envoy::config::route::v3::RouteConfiguration& config,
                              const ClusterMap& clusters, Problems& problems,
                              const std::string& path, config::RouteTableConfig& out);
/// `routeTables`: the decoded RouteConfigurations by name, for RDS references. `authorization`
/// gets the policies of the listener's Service that it carries.
bool decodeListener(const envoy::config::listener::v3::Listener& listener,
                    const std::map<std::string, config::RouteTableConfig>& routeTables,
                    const ClusterMap& clusters, Problems& problems, config::Listener& out,
                    std::vector<config::AuthorizationPolicy>& authorization);

// Mutual TLS (mesh_tls_codec.cc).
/// Adds the TLS filter chains of a listener whose mode is not Disable to its plaintext form.
void encodeInboundMtls(const config::Listener& listener,
                       envoy::config::listener::v3::Listener& out);
/// The reverse: `stripped` gets the listener without its TLS parts and `out` the mode and
/// handshake timeout; a listener without the tls_inspector leaves `stripped` empty (no copy).
bool decodeInboundMtls(const envoy::config::listener::v3::Listener& in,
                       std::optional<envoy::config::listener::v3::Listener>& stripped,
                       Problems& problems, config::Listener& out);
/// transport_socket_matches for a cluster with identity endpoints.
void encodeUpstreamTls(const config::Cluster& cluster, envoy::config::cluster::v3::Cluster& out);
/// Checks them; `identities` gets the SPIFFE IDs its endpoints may have.
bool decodeUpstreamTls(const envoy::config::cluster::v3::Cluster& in, Problems& problems,
                       std::set<std::string>& identities);
void encodeEndpointIdentity(const config::Endpoint& endpoint,
                            envoy::config::endpoint::v3::LbEndpoint& out);
bool decodeEndpointIdentity(const envoy::config::endpoint::v3::LbEndpoint& in,
                            const std::set<std::string>& identities, Problems& problems,
                            const std::string& path, config::Endpoint& out);

/// `name` when CDS has it, otherwise "" (an unresolved backend: 500, as the Gateway API asks).
std::string resolveCluster(const std::string& name, const ClusterMap& clusters);

}  // namespace trellis::xds::detail
