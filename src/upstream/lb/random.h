#pragma once
// Weighted random choice: O(1) per pick (alias method), proportional to weight among healthy
// endpoints.

#include <cstdint>
#include <span>

#include "upstream/lb/load_balancer.h"
#include "upstream/lb/prng.h"
#include "upstream/lb/weighted_sampler.h"

namespace trellis::upstream {

class RandomBalancer final : public LoadBalancer {
 public:
  RandomBalancer(std::span<const EndpointState> endpoints, uint64_t seed)
      : sampler_(endpoints), prng_(seed) {}

  int pick(const LbContext&) override { return sampler_.pick(prng_); }
  config::LbPolicy policy() const override { return config::LbPolicy::Random; }

 private:
  WeightedSampler sampler_;
  Prng prng_;
};

}  // namespace trellis::upstream
