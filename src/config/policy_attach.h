#pragma once
// Attaches BackendPolicies to the clusters built from their target Services and RoutePolicies
// to the rules of their target routes (GEP-713 direct policy attachment); internal to the
// loader, used by assemble.cc.

#include <map>
#include <set>
#include <string>
#include <vector>

#include "config/resources.h"

namespace trellis::config {

/// A policy that applies to one target, with what decides its precedence there.
template <typename Def>
struct RankedPolicy {
  const Def* policy = nullptr;
  size_t index = 0;       // position in the configuration
  bool specific = false;  // targets this very rule by sectionName
};

class PolicyAttacher {
 public:
  /// Checks every targetRef: a missing Service or route is a warning (the policy applies to
  /// nothing there), a sectionName naming no rule of an existing route an error.
  PolicyAttacher(const Resources& resources, Diagnostics& diagnostics);

  /// Applies the BackendPolicies targeting `service` to `cluster`, built from one of its ports.
  void apply(const ServiceDef& service, Cluster& cluster);
  /// Applies the RoutePolicies targeting `route` to `rules`, its flattened rules.
  void apply(const RouteDef& route, std::vector<RouteRule>& rules);

 private:
  const Resources& resources_;
  Diagnostics& diagnostics_;
  std::map<std::string, std::vector<RankedPolicy<BackendPolicyDef>>> byService_;
  std::set<std::string> reported_;  // conflict warnings already given
};

}  // namespace trellis::config
