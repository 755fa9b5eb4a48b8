#pragma once
// What one proxy runs, in the internal model: its inbound side (the mesh reaches its
// application through it) and its outbound side (the Services its Workload calls, with the
// routes attached to them), and nothing else, so a sidecar's configuration does not grow with
// the size of the mesh. Built through the same assembler as a static --config file.

#include <memory>
#include <string>
#include <vector>

#include "config/model.h"
#include "controlplane/mesh/mesh_state.h"
#include "controlplane/registry/registry.h"

namespace trellis::controlplane {

/// The instance facts a sidecar announces (node metadata; see docs/design/control-plane-plan.md).
struct SidecarFacts {
  std::string ns;
  std::string service;
  std::string inboundAddress;   // "ip:port" the mesh reaches this instance at
  std::string appAddress;       // "ip:port" of the local application
  std::string outboundAddress;  // "ip:port" the application sends outbound calls to
};

/// Why a registered instance whose proxy proved `identity` ("" : none) may not be an endpoint of
/// `service`, or "". With an identity it must run as one of the Service's service accounts
/// (spec.serviceAccounts; by default the Service's own name): a certificate of the namespace
/// does not make any workload of it billing. Without one it may not serve a STRICT Service,
/// whose own sidecars refuse plaintext: only an impostor would register so.
std::string admissionProblem(const config::Resources& resources, const config::ServiceDef& service,
                             const std::string& identity);

/// Listener names in every sidecar's configuration.
inline constexpr const char* kInboundListener = "mesh/inbound";
inline constexpr const char* kOutboundListener = "mesh/outbound";

struct ProxyModel {
  std::shared_ptr<config::Snapshot> snapshot;  // null on error
  std::string error;
  std::vector<std::string> notes;  // why a part is missing (e.g. no Workload), for status
};

/// A sidecar's configuration. Endpoints are the Services' own plus the registry's live ones.
ProxyModel buildSidecarModel(const MeshState& mesh, const Registry& registry,
                             const SidecarFacts& facts);

/// One target a proxyless gRPC client asked for ("billing.shop:50051"): the routes of the
/// Service it names, with the requested name as their only hostname.
struct ApiTarget {
  std::string name;
  config::RouteTableConfig routes;
};

struct ProxylessModel {
  std::vector<ApiTarget> targets;                     // the names that resolve to a Service
  std::shared_ptr<config::Snapshot> clusterSnapshot;  // clusters only (no listeners)
  std::string error;
};

/// Resolves `names` ("service[.namespace[.svc[.cluster.local]]][:port]"; namespace "default"
/// when absent) to Services and builds their routes and clusters.
ProxylessModel buildProxylessModel(const MeshState& mesh, const Registry& registry,
                                   const std::vector<std::string>& names);

}  // namespace trellis::controlplane
