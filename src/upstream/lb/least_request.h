#pragma once
// Least request by the power of two choices.
//
// Equal weights: two distinct endpoints are drawn uniformly and the one with fewer active
// requests wins (ties go to the first drawn), as Envoy does. Unequal weights: both candidates
// are drawn in proportion to weight and compared by activeRequests / weight, so an idle cluster
// is served in exact weight proportion and load shifts away from busy endpoints. (Envoy instead
// runs an EDF scheduler over weight / (active + 1)^bias; P2C keeps pick() O(1) and needs no
// rebuild when counts change.) Unhealthy endpoints are never candidates unless none is healthy.

#include <cstdint>
#include <span>
#include <vector>

#include "upstream/lb/load_balancer.h"
#include "upstream/lb/prng.h"
#include "upstream/lb/weighted_sampler.h"

namespace trellis::upstream {

class LeastRequestBalancer final : public LoadBalancer {
 public:
  LeastRequestBalancer(std::span<const EndpointState> endpoints, uint64_t seed);

  int pick(const LbContext& ctx) override;
  config::LbPolicy policy() const override { return config::LbPolicy::LeastRequest; }

 private:
  int pickUniform();
  int pickWeighted();
  // Uniform P2C restricted to healthy endpoints, O(n); used when a fast draw hit an unhealthy
  // one. `first`/`second` are the fast draw, kept in panic mode.
  int pickUniformAmongHealthy(uint32_t first, uint32_t second);
  uint32_t fewerRequests(uint32_t first, uint32_t second) const {
    return endpoints_[second].activeRequests < endpoints_[first].activeRequests ? second : first;
  }

  std::span<const EndpointState> endpoints_;
  std::vector<uint32_t> weights_;  // per endpoint, as read at construction
  WeightedSampler sampler_;
  Prng prng_;
};

}  // namespace trellis::upstream
