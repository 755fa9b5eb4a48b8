#include "upstream/lb/ring_hash.h"

#include <algorithm>
#include <bit>
#include <cmath>
#include <string>
#include <utility>

#include "upstream/lb/endpoint_key.h"

namespace trellis::upstream {

RingHashBalancer::RingHashBalancer(const config::Cluster& cluster,
                                   std::span<const EndpointState> endpoints, uint64_t seed)
    : endpoints_(endpoints), sampler_(endpoints), prng_(seed) {
  const auto& eligible = sampler_.eligible();
  const auto& weights = sampler_.weights();
  if (eligible.empty()) return;

  // Envoy's sizing: scale so that the lightest endpoint gets ceil(its share * minimum size)
  // entries, then give every endpoint scale * its share, capped.
  double total = 0;
  uint32_t lightest = weights.front();
  for (uint32_t w : weights) {
    total += w;
    lightest = std::min(lightest, w);
  }
  const double minRingSize = std::clamp<double>(cluster.ringHashMinSize, 1, kMaxRingSize);
  const double lightestShare = lightest / total;
  const double scale = std::min(std::ceil(lightestShare * minRingSize) / lightestShare,
                                static_cast<double>(kMaxRingSize));

  std::vector<std::pair<uint64_t, uint32_t>> ring;
  ring.reserve(static_cast<size_t>(scale) + eligible.size());
  double target = 0;
  uint64_t placed = 0;
  std::string key;
  for (size_t i = 0; i < eligible.size(); ++i) {
    const std::string prefix = endpointHashKey(cluster, eligible[i]) + "_";
    target += scale * weights[i] / total;
    for (uint64_t entry = 0; placed < target; ++entry, ++placed) {
      key = prefix;
      key += std::to_string(entry);
      ring.emplace_back(stableHash(key), eligible[i]);
    }
  }
  std::sort(ring.begin(), ring.end());
  hashes_.reserve(ring.size());
  owners_.reserve(ring.size());
  for (const auto& [hash, owner] : ring) {
    hashes_.push_back(hash);
    owners_.push_back(owner);
  }

  if (hashes_.empty()) return;
  // About one entry per bucket, with the index capped at 256 KiB for huge rings.
  const int bucketBits = std::min(static_cast<int>(std::bit_width(hashes_.size())), 16);
  bucketShift_ = 64 - bucketBits;
  buckets_.resize((size_t{1} << bucketBits) + 1);
  size_t index = 0;
  for (size_t bucket = 0; bucket + 1 < buckets_.size(); ++bucket) {
    while (index < hashes_.size() && (hashes_[index] >> bucketShift_) < bucket) ++index;
    buckets_[bucket] = static_cast<uint32_t>(index);
  }
  buckets_.back() = static_cast<uint32_t>(hashes_.size());
}

size_t RingHashBalancer::firstEntryAtOrAfter(uint64_t hash) const {
  const uint64_t bucket = hash >> bucketShift_;
  size_t index = buckets_[bucket];
  const size_t end = buckets_[bucket + 1];
  if (end - index > 8) {
    return std::lower_bound(hashes_.begin() + index, hashes_.begin() + end, hash) - hashes_.begin();
  }
  while (index < end && hashes_[index] < hash) ++index;
  return index;
}

int RingHashBalancer::pick(const LbContext& ctx) {
  if (hashes_.empty()) return -1;
  if (!ctx.hash) return sampler_.pick(prng_);
  size_t index = firstEntryAtOrAfter(*ctx.hash);
  if (index == hashes_.size()) index = 0;
  const uint32_t chosen = owners_[index];
  if (endpoints_[chosen].healthy) return static_cast<int>(chosen);
  if (!sampler_.anyHealthy()) return static_cast<int>(chosen);  // panic
  for (size_t step = 1; step < hashes_.size(); ++step) {
    if (++index == hashes_.size()) index = 0;
    if (endpoints_[owners_[index]].healthy) return static_cast<int>(owners_[index]);
  }
  // Only reachable when the size cap left the healthy endpoints without entries.
  return static_cast<int>(chosen);
}

}  // namespace trellis::upstream
