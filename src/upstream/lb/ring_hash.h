#pragma once
// Consistent hashing on a ketama-style ring, with Envoy's ring construction: every endpoint
// gets entries in proportion to its weight, at least `ringHashMinSize` in total, entry j of
// endpoint "host:port" sits at stableHash("host:port_j"). A request goes to the first entry at
// or after its hash (wrapping); a bucket index over the hash's top bits makes that O(1). If that
// endpoint is unhealthy the walk continues along the ring to the next healthy one, so keys of
// healthy endpoints never move. Without a request hash the choice is weighted random.

#include <cstdint>
#include <span>
#include <vector>

#include "config/model.h"
#include "upstream/lb/load_balancer.h"
#include "upstream/lb/prng.h"
#include "upstream/lb/weighted_sampler.h"

namespace trellis::upstream {

class RingHashBalancer final : public LoadBalancer {
 public:
  /// Upper bound on ring entries whatever the weights (Envoy's default is 8M, but our rings are
  /// per worker).
  static constexpr uint64_t kMaxRingSize = uint64_t{1} << 20;

  RingHashBalancer(const config::Cluster& cluster, std::span<const EndpointState> endpoints,
                   uint64_t seed);

  int pick(const LbContext& ctx) override;
  config::LbPolicy policy() const override { return config::LbPolicy::RingHash; }

  size_t ringSize() const { return hashes_.size(); }

 private:
  size_t firstEntryAtOrAfter(uint64_t hash) const;  // hashes_.size() when past the last

  std::span<const EndpointState> endpoints_;
  WeightedSampler sampler_;
  Prng prng_;
  std::vector<uint64_t> hashes_;  // sorted ring positions
  std::vector<uint32_t> owners_;  // endpoint index of hashes_[i]
  // buckets_[b] = first ring index whose hash has top bits >= b, so that a lookup searches
  // only its bucket (about one entry) instead of binary-searching the whole ring.
  std::vector<uint32_t> buckets_;
  int bucketShift_ = 64;
};

}  // namespace trellis::upstream
