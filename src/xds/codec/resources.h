#pragma once
// One proxy's configuration in xDS v3 form: what travels over ADS (LDS, RDS, CDS, EDS) and what
// the codec turns into the internal model and back (see codec.h).

#include <string_view>
#include <vector>

#include "envoy/config/cluster/v3/cluster.pb.h"
#include "envoy/config/endpoint/v3/endpoint.pb.h"
#include "envoy/config/listener/v3/listener.pb.h"
#include "envoy/config/route/v3/route.pb.h"
#include "envoy/extensions/transport_sockets/tls/v3/secret.pb.h"

namespace trellis::xds {

inline constexpr std::string_view kListenerType =
    "type.googleapis.com/envoy.config.listener.v3.Listener";
inline constexpr std::string_view kRouteType =
    "type.googleapis.com/envoy.config.route.v3.RouteConfiguration";
inline constexpr std::string_view kClusterType =
    "type.googleapis.com/envoy.config.cluster.v3.Cluster";
inline constexpr std::string_view kEndpointType =
    "type.googleapis.com/envoy.config.endpoint.v3.ClusterLoadAssignment";
inline constexpr std::string_view kSecretType =
    "type.googleapis.com/envoy.extensions.transport_sockets.tls.v3.Secret";

/// SDS secret names, as Istio's: the workload certificate and key ("default", which a proxy
/// answers from its own identity agent, so the key never leaves it) and the trust bundle.
inline constexpr std::string_view kWorkloadSecret = "default";
inline constexpr std::string_view kTrustBundleSecret = "ROOTCA";

/// Metadata filter name under which Trellis-only settings travel (fields Envoy has no place for).
inline constexpr std::string_view kTrellisMetadata = "trellis.dev";

struct Resources {
  std::vector<envoy::config::listener::v3::Listener> listeners;
  std::vector<envoy::config::route::v3::RouteConfiguration> routes;
  std::vector<envoy::config::cluster::v3::Cluster> clusters;
  std::vector<envoy::config::endpoint::v3::ClusterLoadAssignment> endpoints;
  /// SDS: only the trust bundle ("ROOTCA") reaches a proxy; the model does not hold it (the
  /// proxy's TLS contexts do), so encode and decode leave it alone.
  std::vector<envoy::extensions::transport_sockets::tls::v3::Secret> secrets;
};

}  // namespace trellis::xds
