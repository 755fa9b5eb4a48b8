#include "upstream/lb/least_request.h"

namespace trellis::upstream {
namespace {

// Redraws of the second weighted candidate when it equals the first; a heavy endpoint may
// still be compared with itself, which only means it wins that pick.
constexpr int kDistinctDrawAttempts = 3;

}  // namespace

LeastRequestBalancer::LeastRequestBalancer(std::span<const EndpointState> endpoints, uint64_t seed)
    : endpoints_(endpoints), sampler_(endpoints), prng_(seed) {
  weights_.reserve(endpoints.size());
  for (const EndpointState& e : endpoints) weights_.push_back(e.weight);
}

int LeastRequestBalancer::pick(const LbContext&) {
  const auto& eligible = sampler_.eligible();
  if (eligible.size() <= 1) return eligible.empty() ? -1 : static_cast<int>(eligible.front());
  return sampler_.uniformWeights() ? pickUniform() : pickWeighted();
}

int LeastRequestBalancer::pickUniform() {
  const auto& eligible = sampler_.eligible();
  const uint64_t count = eligible.size();
  const uint64_t a = prng_.below(count);
  uint64_t b = prng_.below(count - 1);
  if (b >= a) ++b;
  const uint32_t first = eligible[a];
  const uint32_t second = eligible[b];
  if (endpoints_[first].healthy && endpoints_[second].healthy) {
    return static_cast<int>(fewerRequests(first, second));
  }
  return pickUniformAmongHealthy(first, second);
}

int LeastRequestBalancer::pickUniformAmongHealthy(uint32_t first, uint32_t second) {
  const auto& eligible = sampler_.eligible();
  uint64_t healthy = 0;
  for (uint32_t e : eligible) healthy += endpoints_[e].healthy ? 1 : 0;
  if (healthy == 0) return static_cast<int>(fewerRequests(first, second));  // panic
  if (healthy == 1) {
    for (uint32_t e : eligible) {
      if (endpoints_[e].healthy) return static_cast<int>(e);
    }
  }
  const uint64_t rankA = prng_.below(healthy);
  uint64_t rankB = prng_.below(healthy - 1);
  if (rankB >= rankA) ++rankB;
  uint32_t candidateA = 0;
  uint32_t candidateB = 0;
  uint64_t rank = 0;
  for (uint32_t e : eligible) {
    if (!endpoints_[e].healthy) continue;
    if (rank == rankA) candidateA = e;
    if (rank == rankB) candidateB = e;
    ++rank;
  }
  return static_cast<int>(fewerRequests(candidateA, candidateB));
}

int LeastRequestBalancer::pickWeighted() {
  const int first = sampler_.pick(prng_);
  int second = sampler_.pick(prng_);
  for (int attempt = 0; attempt < kDistinctDrawAttempts && second == first; ++attempt) {
    second = sampler_.pick(prng_);
  }
  // active/weight comparison by cross-multiplication; ties keep the first draw so that an idle
  // cluster is served exactly in weight proportion.
  const uint64_t loadA = uint64_t{endpoints_[first].activeRequests} * weights_[second];
  const uint64_t loadB = uint64_t{endpoints_[second].activeRequests} * weights_[first];
  return loadB < loadA ? second : first;
}

}  // namespace trellis::upstream
