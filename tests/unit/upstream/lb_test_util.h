#pragma once
// Helpers shared by the load balancer tests.

#include <cstdint>
#include <string>
#include <vector>

#include "config/model.h"
#include "upstream/lb/load_balancer.h"
#include "upstream/lb/prng.h"

namespace trellis::upstream::testing {

inline config::Cluster makeCluster(config::LbPolicy policy, const std::vector<uint32_t>& weights,
                                   uint32_t firstHost = 0) {
  config::Cluster cluster;
  cluster.name = "default/svc:80";
  cluster.lbPolicy = policy;
  for (size_t i = 0; i < weights.size(); ++i) {
    const uint32_t host = firstHost + static_cast<uint32_t>(i);
    cluster.endpoints.push_back(
        {"10.0." + std::to_string(host / 256) + "." + std::to_string(host % 256),
         8080,
         weights[i],
         {}});
  }
  return cluster;
}

inline std::vector<EndpointState> statesOf(const config::Cluster& cluster) {
  std::vector<EndpointState> states;
  for (const auto& endpoint : cluster.endpoints) states.push_back({endpoint.weight, 0, true});
  return states;
}

/// Key `i` of a synthetic key population (request hashes are uniform 64-bit values).
inline uint64_t keyHash(uint64_t i) {
  return mix64(i + 0x1234567);
}

/// Pick counts per endpoint; index `size` counts -1 results. With `hashed`, pick i uses
/// keyHash(i).
inline std::vector<uint64_t> countPicks(LoadBalancer& lb, size_t size, uint64_t picks,
                                        bool hashed = false) {
  std::vector<uint64_t> counts(size + 1, 0);
  for (uint64_t i = 0; i < picks; ++i) {
    LbContext ctx;
    if (hashed) ctx.hash = keyHash(i);
    const int chosen = lb.pick(ctx);
    counts[chosen < 0 ? size : static_cast<size_t>(chosen)]++;
  }
  return counts;
}

/// Largest relative deviation of counts[i] from its weight share (weight 0 entries must be 0).
inline double maxRelativeError(const std::vector<uint64_t>& counts,
                               const std::vector<uint32_t>& weights) {
  uint64_t total = 0;
  uint64_t weightSum = 0;
  for (size_t i = 0; i < weights.size(); ++i) {
    total += counts[i];
    weightSum += weights[i];
  }
  double worst = 0;
  for (size_t i = 0; i < weights.size(); ++i) {
    const double expected = static_cast<double>(total) * weights[i] / weightSum;
    if (expected == 0) {
      if (counts[i] != 0) return 1e9;
      continue;
    }
    const double error = (static_cast<double>(counts[i]) - expected) / expected;
    worst = std::max(worst, error < 0 ? -error : error);
  }
  return worst;
}

}  // namespace trellis::upstream::testing
