#pragma once
// Smooth weighted round robin (nginx's algorithm): every pick adds each endpoint's weight to its
// running `current`, takes the largest, and subtracts the total from it. For weights 5,1,1 one
// cycle is "aabacaa", not "aaaaabc".
//
// When the weights (divided by their gcd) sum to at most `maxScheduleLength`, one full cycle is
// precomputed and a pick is an array read. Otherwise, and to redistribute the turns of unhealthy
// endpoints, the algorithm runs live over the endpoints (O(n), as nginx does). Each balancer
// starts its cycle at a seed-dependent offset so that workers do not all hit the same endpoint
// first.

#include <cstdint>
#include <span>
#include <vector>

#include "upstream/lb/load_balancer.h"

namespace trellis::upstream {

class RoundRobinBalancer final : public LoadBalancer {
 public:
  static constexpr uint32_t kDefaultMaxScheduleLength = 4096;

  RoundRobinBalancer(std::span<const EndpointState> endpoints, uint64_t seed,
                     uint32_t maxScheduleLength = kDefaultMaxScheduleLength);

  int pick(const LbContext& ctx) override;
  config::LbPolicy policy() const override { return config::LbPolicy::RoundRobin; }

  /// True when picks come from the precomputed cycle (exposed for tests and benchmarks).
  bool usesSchedule() const { return !schedule_.empty(); }

 private:
  // One step of the live algorithm over eligible endpoints; -1 if none qualifies.
  int smoothPick(bool healthyOnly);

  std::span<const EndpointState> endpoints_;
  std::vector<uint32_t> eligible_;  // endpoints with weight > 0
  std::vector<int64_t> weights_;    // of eligible_[i]
  std::vector<int64_t> current_;    // nginx's `current_weight` of eligible_[i]
  std::vector<uint32_t> schedule_;  // one precomputed cycle of endpoint indices
  size_t position_ = 0;
};

}  // namespace trellis::upstream
