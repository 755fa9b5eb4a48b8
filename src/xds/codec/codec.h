#pragma once
// The xDS codec: Trellis' internal model (config::Snapshot) <-> Envoy xDS v3 resources, in both
// directions. trellisd encodes each proxy's snapshot and serves it over ADS; the proxy decodes
// what it receives (a decode error is the NACK message), and static `--config` files take the
// same path (loadFileViaXds), so there is one way into the model.
//
// Standard Envoy fields carry everything Envoy has a field for, so that Envoy and proxyless gRPC
// clients read them; Trellis-only settings travel under metadata["trellis.dev"] (resources.h).
// encode_*.cc describe the mapping field by field.

#include <memory>
#include <optional>
#include <string>
#include <string_view>

#include "config/loader.h"
#include "config/model.h"
#include "envoy/extensions/transport_sockets/tls/v3/secret.pb.h"
#include "xds/codec/resources.h"

namespace trellis::xds {

/// Cluster name that routes and TCP proxies use for a backend the model leaves unresolved (an
/// empty cluster name). It is never in CDS: Envoy answers such requests with
/// `cluster_not_found_response_code` (500) and decode gives the backend back unresolved.
inline constexpr std::string_view kUnresolvedCluster = "trellis.dev/unresolved";

/// The whole snapshot as xDS: one Listener per model listener (HTTP listeners carry an
/// HttpConnectionManager whose RDS route_config_name is the listener's name, config source ADS),
/// one RouteConfiguration per HTTP listener, one Cluster (EDS over ADS) and one
/// ClusterLoadAssignment per cluster.
Resources encode(const config::Snapshot& snapshot);

struct DecodeResult {
  std::shared_ptr<config::Snapshot> snapshot;  // null on error
  std::string error;                           // empty on success
};

/// Validates and converts. Errors name the type, the resource and the field, e.g.
/// `RouteConfiguration "shop/web": virtual_hosts[0].routes[2].match: unsupported
/// path_match_policy`; this text becomes the NACK message. Unknown or unsupported features are
/// errors; never crashes or throws, whatever the input. A cluster named by a route or a TCP proxy
/// but absent from CDS makes that backend unresolved (500), not an error. The snapshot's version
/// is 0 and its source empty: the caller sets them.
DecodeResult decode(const Resources& resources);

/// For proxyless gRPC clients: an API listener named `name` whose HttpConnectionManager takes
/// RDS `routeConfigName` over ADS and has the fault filter (which applies the routes' fault
/// injection) and the router filter last.
envoy::config::listener::v3::Listener encodeApiListener(const std::string& name,
                                                        const std::string& routeConfigName);

/// For proxyless gRPC clients: one VirtualHost per distinct hostname, routes in precedence order,
/// in the forms gRPC 1.51's xDS client accepts (legacy header matchers; path prefixes as gRPC
/// method paths). decode() reads it back.
envoy::config::route::v3::RouteConfiguration encodeRouteConfiguration(
    const std::string& name, const config::RouteTableConfig& routes);

/// One cluster as CDS: EDS over ADS with its policy, timeouts and HTTP protocol options.
envoy::config::cluster::v3::Cluster encodeCluster(const config::Cluster& cluster);

/// One cluster's endpoints as EDS: one locality of weight 1; weight-0 endpoints (never selected)
/// are left out, since xDS weights are at least 1.
envoy::config::endpoint::v3::ClusterLoadAssignment encodeLoadAssignment(
    const config::Cluster& cluster);

/// The trust bundle (PEM roots) as SDS secret "ROOTCA", and back: the PEM, or nullopt and a
/// precise `error` for any other secret or shape.
envoy::extensions::transport_sockets::tls::v3::Secret encodeTrustBundle(const std::string& pem);
std::optional<std::string> decodeTrustBundle(
    const envoy::extensions::transport_sockets::tls::v3::Secret& secret, std::string& error);

/// Static mode: config::loadFile, then encode and decode, so that a --config file takes the same
/// path into the model as xDS. Errors and warnings are loadFile's; a codec failure is an error.
/// The snapshot's source is `path`.
config::LoadResult loadFileViaXds(const std::string& path);

}  // namespace trellis::xds
