#pragma once
// Who is on the other end of an ADS stream: the facts a node announces in its first
// DiscoveryRequest (control-plane-plan.md, "The mesh model"). A trellis-proxy sidecar names its
// service, instance and addresses in `node.metadata`; a proxyless gRPC client names none.

#include <map>
#include <string>

#include "envoy/config/core/v3/base.pb.h"

namespace trellis::controlplane {

/// Metadata keys of `node.metadata`, spelled as Istio spells them.
inline constexpr const char* kMetaNamespace = "NAMESPACE";
inline constexpr const char* kMetaService = "SERVICE";
inline constexpr const char* kMetaInstance = "INSTANCE";
inline constexpr const char* kMetaInboundAddress = "INBOUND_ADDRESS";
inline constexpr const char* kMetaAppAddress = "APP_ADDRESS";
inline constexpr const char* kMetaOutboundAddress = "OUTBOUND_ADDRESS";
inline constexpr const char* kMetaLabels = "LABELS";
/// Present when the proxy has a workload certificate (it then speaks mutual TLS inbound).
inline constexpr const char* kMetaServiceAccount = "SERVICE_ACCOUNT";

/// What a node announces in its first DiscoveryRequest.
struct NodeInfo {
  std::string id;         // node.id: `<instance>.<namespace>` for a trellis-proxy
  std::string userAgent;  // node.user_agent_name
  std::string ns;
  std::string service;
  std::string instance;
  std::string inboundAddress;  // "ip:port"
  std::string appAddress;
  std::string outboundAddress;
  std::string serviceAccount;  // "" without a workload certificate
  std::map<std::string, std::string> labels;

  /// A sidecar names the service it fronts; a node without SERVICE is a proxyless gRPC client.
  bool isTrellisProxy() const { return !service.empty(); }

  bool operator==(const NodeInfo&) const = default;
};

/// Reads the node's id, user agent and Trellis metadata. Metadata values that are not strings
/// are ignored (labels included): they cannot have come from trellis-proxy.
NodeInfo parseNode(const envoy::config::core::v3::Node& node);

}  // namespace trellis::controlplane
