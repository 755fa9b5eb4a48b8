#pragma once
// Maglev consistent hashing (Eisenbud et al., NSDI 2016) with Envoy's weighting: each endpoint
// walks its own permutation of a prime-sized table (offset and skip from two xxHash64 seeds of
// "host:port") and claims its next free slot on its turn; an endpoint of weight w gets a turn in
// w / max-weight of the rounds. A request goes to table[hash % size]. If that endpoint is
// unhealthy, a few re-hashed probes of the table follow, then a deterministic weighted choice
// among the healthy endpoints, so keys of healthy endpoints never move. Without a request hash
// the choice is weighted random.

#include <cstdint>
#include <span>
#include <vector>

#include "config/model.h"
#include "upstream/lb/load_balancer.h"
#include "upstream/lb/prng.h"
#include "upstream/lb/weighted_sampler.h"

namespace trellis::upstream {

class MaglevBalancer final : public LoadBalancer {
 public:
  /// Largest table (Envoy's limit, a prime). Non-prime sizes are raised to the next prime,
  /// since only a prime size guarantees every permutation visits every slot.
  static constexpr uint64_t kMaxTableSize = 5000011;
  static constexpr uint64_t kMinTableSize = 7;

  MaglevBalancer(const config::Cluster& cluster, std::span<const EndpointState> endpoints,
                 uint64_t seed);

  int pick(const LbContext& ctx) override;
  config::LbPolicy policy() const override { return config::LbPolicy::Maglev; }

  size_t tableSize() const { return table_.size(); }

 private:
  std::span<const EndpointState> endpoints_;
  WeightedSampler sampler_;
  Prng prng_;
  std::vector<uint32_t> table_;  // endpoint index per slot
};

/// Smallest prime >= max(value, 2).
uint64_t nextPrime(uint64_t value);

}  // namespace trellis::upstream
