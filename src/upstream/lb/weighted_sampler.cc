#include "upstream/lb/weighted_sampler.h"

namespace trellis::upstream {

WeightedSampler::WeightedSampler(std::span<const EndpointState> endpoints) : endpoints_(endpoints) {
  for (uint32_t i = 0; i < endpoints.size(); ++i) {
    if (endpoints[i].weight == 0) continue;
    if (!weights_.empty() && weights_.front() != endpoints[i].weight) uniformWeights_ = false;
    eligible_.push_back(i);
    weights_.push_back(endpoints[i].weight);
  }
  const uint64_t count = eligible_.size();
  if (count == 0) return;

  // Vose's alias method in exact integer arithmetic: scaled weight w*count against the
  // per-bucket capacity `total`. Both fit in 64 bits (weights are 32-bit, count < 2^32).
  uint64_t total = 0;
  for (uint32_t w : weights_) total += w;
  std::vector<uint64_t> scaled(count);
  std::vector<uint32_t> small;
  std::vector<uint32_t> large;
  for (uint32_t i = 0; i < count; ++i) {
    scaled[i] = weights_[i] * count;
    (scaled[i] < total ? small : large).push_back(i);
  }
  buckets_.resize(count);
  while (!small.empty() && !large.empty()) {
    const uint32_t s = small.back();
    small.pop_back();
    const uint32_t l = large.back();
    buckets_[s] = {static_cast<uint64_t>((static_cast<Uint128>(scaled[s]) << 32) / total),
                   eligible_[s], eligible_[l]};
    scaled[l] -= total - scaled[s];
    if (scaled[l] < total) {
      large.pop_back();
      small.push_back(l);
    }
  }
  for (const auto* rest : {&small, &large}) {
    for (uint32_t i : *rest) buckets_[i] = {uint64_t{1} << 32, eligible_[i], eligible_[i]};
  }
}

int WeightedSampler::pick(Prng& prng) const {
  if (buckets_.empty()) return -1;
  const uint64_t bits = prng.next();
  const Bucket& bucket = buckets_[((bits >> 32) * buckets_.size()) >> 32];
  const uint32_t chosen =
      (bits & 0xffffffffULL) < bucket.threshold ? bucket.endpoint : bucket.alias;
  if (endpoints_[chosen].healthy) return static_cast<int>(chosen);
  const int healthy = pickHealthy(prng.next());
  return healthy >= 0 ? healthy : static_cast<int>(chosen);
}

int WeightedSampler::pickHealthy(uint64_t value) const {
  uint64_t healthyWeight = 0;
  for (size_t i = 0; i < eligible_.size(); ++i) {
    if (endpoints_[eligible_[i]].healthy) healthyWeight += weights_[i];
  }
  if (healthyWeight == 0) return -1;
  uint64_t target = scaleToRange(value, healthyWeight);
  for (size_t i = 0; i < eligible_.size(); ++i) {
    if (!endpoints_[eligible_[i]].healthy) continue;
    if (target < weights_[i]) return static_cast<int>(eligible_[i]);
    target -= weights_[i];
  }
  return -1;  // unreachable: target < healthyWeight
}

bool WeightedSampler::anyHealthy() const {
  for (uint32_t e : eligible_) {
    if (endpoints_[e].healthy) return true;
  }
  return false;
}

}  // namespace trellis::upstream
