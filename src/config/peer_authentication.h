#pragma once
// Which mutual TLS mode a Service's inbound listeners get from the PeerAuthentications
// (Istio's precedence: the most specific policy wins; without any, PERMISSIVE).

#include <string_view>
#include <vector>

#include "config/resources.h"

namespace trellis::config {

/// The mode that applies to a Service, and the policy that set it.
struct ResolvedMtls {
  MtlsMode mode = MtlsMode::Permissive;
  const PeerAuthenticationDef* policy = nullptr;  // null: no policy applies (the default)
};

/// Resolves the mode of Service `service` ("<namespace>/<name>"; the Service need not exist):
/// a policy of that namespace whose targetRefs name the Service wins over a namespace-wide one
/// (no targetRefs); among policies of the same level the first in `policies` wins; with none,
/// PERMISSIVE. Pure: reads nothing but its arguments.
ResolvedMtls resolvePeerAuthentication(const std::vector<PeerAuthenticationDef>& policies,
                                       std::string_view service);

/// Two policies of the same level that set different modes for the same Services: `overridden`
/// comes later in configuration order and has no effect on them (checkPeerAuthentications
/// warns about each).
struct PeerAuthenticationConflict {
  const PeerAuthenticationDef* winner = nullptr;
  const PeerAuthenticationDef* overridden = nullptr;
  std::string_view service;  // the Service's name, or empty for two namespace-wide policies
  const PolicyTargetRef* ref = nullptr;  // overridden's targetRef naming `service`, if any
};

/// Every conflict among `policies`, in configuration order of the overridden policy.
std::vector<PeerAuthenticationConflict> peerAuthenticationConflicts(
    const std::vector<PeerAuthenticationDef>& policies);

/// STRICT, PERMISSIVE or DISABLE, as written in a PeerAuthentication.
std::string_view mtlsModeName(MtlsMode mode);

}  // namespace trellis::config
