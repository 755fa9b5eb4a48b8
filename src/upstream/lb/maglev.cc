#include "upstream/lb/maglev.h"

#include <xxhash.h>

#include <algorithm>
#include <limits>
#include <string>

#include "upstream/lb/endpoint_key.h"

namespace trellis::upstream {
namespace {

// Re-hashed table probes tried before the O(n) fallback when the first slot is unhealthy.
constexpr uint64_t kUnhealthyProbes = 8;
constexpr uint32_t kEmptySlot = std::numeric_limits<uint32_t>::max();

struct BuildEntry {
  uint32_t endpoint;
  uint64_t weight;
  uint64_t offset;
  uint64_t skip;
  uint64_t next = 0;    // position in this endpoint's permutation
  uint64_t target = 0;  // turns are taken when round * weight reaches this
};

bool isPrime(uint64_t value) {
  if (value < 2) return false;
  for (uint64_t d = 2; d * d <= value; ++d) {
    if (value % d == 0) return false;
  }
  return true;
}

}  // namespace

uint64_t nextPrime(uint64_t value) {
  value = std::max<uint64_t>(value, 2);
  while (!isPrime(value)) ++value;
  return value;
}

MaglevBalancer::MaglevBalancer(const config::Cluster& cluster,
                               std::span<const EndpointState> endpoints, uint64_t seed)
    : endpoints_(endpoints), sampler_(endpoints), prng_(seed) {
  const auto& eligible = sampler_.eligible();
  const auto& weights = sampler_.weights();
  if (eligible.empty()) return;

  const uint64_t size =
      nextPrime(std::clamp<uint64_t>(cluster.maglevTableSize, kMinTableSize, kMaxTableSize));
  uint64_t heaviest = 0;
  std::vector<BuildEntry> entries;
  entries.reserve(eligible.size());
  for (size_t i = 0; i < eligible.size(); ++i) {
    const std::string key = endpointHashKey(cluster, eligible[i]);
    entries.push_back({.endpoint = eligible[i],
                       .weight = weights[i],
                       .offset = XXH64(key.data(), key.size(), 0) % size,
                       .skip = XXH64(key.data(), key.size(), 1) % (size - 1) + 1});
    heaviest = std::max<uint64_t>(heaviest, weights[i]);
  }

  table_.assign(size, kEmptySlot);
  uint64_t filled = 0;
  for (uint64_t round = 1; filled < size; ++round) {
    for (BuildEntry& entry : entries) {
      if (filled == size) break;
      if (round * entry.weight < entry.target) continue;
      entry.target += heaviest;
      uint64_t slot = (entry.offset + entry.skip * entry.next) % size;
      while (table_[slot] != kEmptySlot) {
        ++entry.next;
        slot = (entry.offset + entry.skip * entry.next) % size;
      }
      table_[slot] = entry.endpoint;
      ++entry.next;
      ++filled;
    }
  }
}

int MaglevBalancer::pick(const LbContext& ctx) {
  if (table_.empty()) return -1;
  if (!ctx.hash) return sampler_.pick(prng_);
  const uint64_t hash = *ctx.hash;
  const uint32_t chosen = table_[hash % table_.size()];
  if (endpoints_[chosen].healthy) return static_cast<int>(chosen);
  for (uint64_t probe = 1; probe <= kUnhealthyProbes; ++probe) {
    const uint32_t candidate = table_[mix64(hash + probe) % table_.size()];
    if (endpoints_[candidate].healthy) return static_cast<int>(candidate);
  }
  const int healthy = sampler_.pickHealthy(mix64(hash ^ 0x5bd1e9955bd1e995ULL));
  return healthy >= 0 ? healthy : static_cast<int>(chosen);  // none healthy: panic
}

}  // namespace trellis::upstream
