#include "upstream/lb/round_robin.h"

#include <numeric>

namespace trellis::upstream {

RoundRobinBalancer::RoundRobinBalancer(std::span<const EndpointState> endpoints, uint64_t seed,
                                       uint32_t maxScheduleLength)
    : endpoints_(endpoints) {
  uint64_t divisor = 0;
  for (uint32_t i = 0; i < endpoints.size(); ++i) {
    if (endpoints[i].weight == 0) continue;
    eligible_.push_back(i);
    weights_.push_back(endpoints[i].weight);
    divisor = std::gcd(divisor, uint64_t{endpoints[i].weight});
  }
  current_.assign(eligible_.size(), 0);
  if (eligible_.empty()) return;

  uint64_t cycle = 0;
  for (int64_t w : weights_) cycle += static_cast<uint64_t>(w) / divisor;
  if (cycle > maxScheduleLength) return;

  // Reduced weights give the same sequence (every `current` scales by the same factor) with
  // the shortest cycle.
  std::vector<int64_t> fullWeights = weights_;
  for (int64_t& w : weights_) w /= static_cast<int64_t>(divisor);
  schedule_.reserve(cycle);
  for (uint64_t i = 0; i < cycle; ++i) {
    schedule_.push_back(static_cast<uint32_t>(smoothPick(false)));
  }
  weights_ = std::move(fullWeights);
  current_.assign(eligible_.size(), 0);
  position_ = seed % cycle;
}

int RoundRobinBalancer::pick(const LbContext&) {
  if (!schedule_.empty()) {
    const uint32_t scheduled = schedule_[position_];
    if (++position_ == schedule_.size()) position_ = 0;
    if (endpoints_[scheduled].healthy) return static_cast<int>(scheduled);
    // The turn of an unhealthy endpoint goes to the healthy ones by a separate smooth WRR, so
    // that over time each healthy endpoint still gets a share proportional to its weight.
    const int healthy = smoothPick(true);
    return healthy >= 0 ? healthy : static_cast<int>(scheduled);  // none healthy: panic
  }
  const int healthy = smoothPick(true);
  return healthy >= 0 ? healthy : smoothPick(false);
}

int RoundRobinBalancer::smoothPick(bool healthyOnly) {
  int64_t total = 0;
  size_t best = eligible_.size();
  for (size_t i = 0; i < eligible_.size(); ++i) {
    if (healthyOnly && !endpoints_[eligible_[i]].healthy) continue;
    current_[i] += weights_[i];
    total += weights_[i];
    if (best == eligible_.size() || current_[i] > current_[best]) best = i;
  }
  if (best == eligible_.size()) return -1;
  current_[best] -= total;
  return static_cast<int>(eligible_[best]);
}

}  // namespace trellis::upstream
