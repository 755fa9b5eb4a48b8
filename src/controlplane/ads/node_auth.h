#pragma once
// Who may say what on an ADS stream. A sidecar's first DiscoveryRequest registers an endpoint
// (its namespace, service and service account); over the mutual-TLS port trellisd holds those
// claims to the SPIFFE ID of the client certificate, so no process can register as another
// workload, and an endpoint published with an identity is one that proved it (docs/zero-trust.md).

#include <string>

#include "controlplane/ads/node_info.h"

namespace trellis::controlplane {

/// The transport an ADS stream arrived on, as gRPC saw it.
struct StreamPeer {
  bool mutualTls = false;  // the mutual-TLS port: a verified client certificate
  std::string spiffeId;    // its URI SAN, when mutualTls
};

/// What trellisd demands of nodes.
struct NodeAuthPolicy {
  std::string trustDomain = "trellis.local";
  /// Sidecars (nodes naming SERVICE) must register over mutual TLS; plaintext keeps proxyless
  /// gRPC clients, which only read. Off: plaintext sidecars register without an identity.
  bool requireMutualTlsForSidecars = false;
};

/// Why `node` may not use a stream from `peer`, or "" when it may. Refused: a claimed service
/// account over plaintext (nothing proves it); over mutual TLS, a certificate from another trust
/// domain, or a sidecar whose NAMESPACE or SERVICE_ACCOUNT differs from its certificate's (or is
/// missing); a plaintext sidecar when `policy` requires mutual TLS.
std::string refuseNode(const NodeInfo& node, const StreamPeer& peer, const NodeAuthPolicy& policy);

/// Who holds a node id: trellisd's state is keyed by it, so whoever takes an id takes over that
/// node's registration and configuration.
struct NodeHolder {
  bool sidecar = false;
  std::string identity;  // the SPIFFE ID its stream proved; "" over plaintext
  bool connected = false;
};

/// The identity a stream proved, canonical (trust domain lower-cased): its SPIFFE ID over
/// mutual TLS, "" over plaintext.
std::string provenIdentity(const StreamPeer& peer);

/// Why `node` (from `peer`) may not take its id from `holder` (null: none), or "". A sidecar's
/// id must end in ".<namespace>", so a certificate reaches only ids of its own namespace. An id
/// whose holder proved an identity goes only to that identity, until trellisd forgets the holder
/// (its grace period over); a connected holder's id goes only to the same kind of node too. A
/// disconnected holder that proved nothing holds nothing.
std::string refuseTakeover(const NodeInfo& node, const StreamPeer& peer, const NodeHolder* holder);

}  // namespace trellis::controlplane
