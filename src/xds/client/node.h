#pragma once
// The proxy's identity as trellisd sees it: the Node of the first DiscoveryRequest on every ADS
// stream (docs/design/control-plane-plan.md, "The mesh model").

#include <map>
#include <string>

#include "envoy/config/core/v3/base.pb.h"

namespace trellis::xds::client {

/// What the proxy's command line says about the instance it fronts. Empty addresses are left
/// out of the metadata.
struct NodeIdentity {
  std::string id;  // "<instance>.<namespace>"
  std::string service;
  std::string ns;
  std::string instance;
  std::string inboundAddress;   // "ip:port" where the mesh reaches this instance
  std::string appAddress;       // "ip:port" of the application behind the proxy
  std::string outboundAddress;  // "ip:port" where the application calls the mesh
  std::map<std::string, std::string> labels;
  std::string serviceAccount;  // set when the proxy has a workload certificate
};

inline constexpr const char* kUserAgentName = "trellis-proxy";

/// node.id, node.cluster = service, node.user_agent_name = "trellis-proxy", and node.metadata
/// with the keys as Istio spells them: NAMESPACE, SERVICE, INSTANCE, INBOUND_ADDRESS,
/// APP_ADDRESS, OUTBOUND_ADDRESS, SERVICE_ACCOUNT and LABELS (a Struct of strings).
envoy::config::core::v3::Node buildNode(const NodeIdentity& identity);

}  // namespace trellis::xds::client
