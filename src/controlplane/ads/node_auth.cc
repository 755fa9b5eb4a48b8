#include "controlplane/ads/node_auth.h"

#include <fmt/format.h>

#include "tls/pki/spiffe_id.h"

namespace trellis::controlplane {

std::string refuseNode(const NodeInfo& node, const StreamPeer& peer, const NodeAuthPolicy& policy) {
  if (!peer.mutualTls) {
    if (!node.serviceAccount.empty()) {
      return fmt::format(
          "node {} claims service account {} over plaintext xDS, where nothing proves it: a "
          "sidecar with a workload certificate connects to the mutual-TLS xDS port",
          node.id, node.serviceAccount);
    }
    if (node.isTrellisProxy() && policy.requireMutualTlsForSidecars) {
      return fmt::format(
          "node {} registers service {}.{} over plaintext xDS, and trellisd requires mutual TLS "
          "of sidecars (--xds-require-mtls): give it a workload identity",
          node.id, node.service, node.ns);
    }
    return "";
  }
  std::string why;
  const auto id = pki::SpiffeId::parse(peer.spiffeId, &why);
  if (!id) return fmt::format("node {}: client certificate without a SPIFFE ID ({})", node.id, why);
  if (id->trustDomain != policy.trustDomain) {
    return fmt::format("node {}: certificate {} is not of trust domain {}", node.id, peer.spiffeId,
                       policy.trustDomain);
  }
  if (!node.isTrellisProxy()) return "";  // a proxyless client registers nothing
  if (id->workloadNamespace().empty() || id->serviceAccount().empty()) {
    return fmt::format("node {}: certificate {} names no workload (/ns/<namespace>/sa/<account>)",
                       node.id, peer.spiffeId);
  }
  if (node.ns != id->workloadNamespace() || node.serviceAccount != id->serviceAccount()) {
    return fmt::format(
        "node {} claims namespace '{}' and service account '{}' but its certificate is {}", node.id,
        node.ns, node.serviceAccount, peer.spiffeId);
  }
  return "";
}

std::string provenIdentity(const StreamPeer& peer) {
  if (!peer.mutualTls) return "";
  auto id = pki::SpiffeId::parse(peer.spiffeId);
  return id ? id->uri() : peer.spiffeId;
}

std::string refuseTakeover(const NodeInfo& node, const StreamPeer& peer, const NodeHolder* holder) {
  const std::string suffix = "." + node.ns;
  if (node.isTrellisProxy() && (node.id.size() <= suffix.size() || !node.id.ends_with(suffix))) {
    return fmt::format("node id {} does not end in .{}: a sidecar's id is <instance>.<namespace>",
                       node.id, node.ns);
  }
  // Gone, and nothing proved: free. Proxyless clients and plaintext nodes hold nothing worth
  // keeping once disconnected (and would otherwise hold an id forever).
  if (holder == nullptr || (!holder->connected && holder->identity.empty())) return "";
  const std::string identity = provenIdentity(peer);
  if (holder->connected && holder->sidecar != node.isTrellisProxy()) {
    return fmt::format("node id {} is held by a connected {}", node.id,
                       holder->sidecar ? "sidecar" : "proxyless client");
  }
  if (identity == holder->identity) return "";
  return fmt::format(
      "node id {} is held by {} ({}); another identity may take it once trellisd forgets that "
      "node",
      node.id, holder->identity.empty() ? std::string("a node without identity") : holder->identity,
      holder->connected ? "connected" : "in its grace period");
}

}  // namespace trellis::controlplane
