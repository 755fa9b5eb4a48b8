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
  if (node.ns != id->workloadNamespace() || node.serviceAccount != id->serviceAccount()) {
    return fmt::format(
        "node {} claims namespace '{}' and service account '{}' but its certificate is {}", node.id,
        node.ns, node.serviceAccount, peer.spiffeId);
  }
  return "";
}

}  // namespace trellis::controlplane
