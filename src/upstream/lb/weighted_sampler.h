#pragma once
// Weighted choice among a cluster's endpoints in O(1), honouring live health.
//
// Built once per balancer (Vose's alias method over the endpoints with weight > 0). A draw that
// lands on an unhealthy endpoint falls back to an exact O(n) draw over the healthy ones, so the
// result is still proportional to weight among healthy endpoints; when none is healthy the
// first draw stands ("panic mode", as in Envoy).

#include <cstdint>
#include <span>
#include <vector>

#include "upstream/lb/load_balancer.h"
#include "upstream/lb/prng.h"

namespace trellis::upstream {

class WeightedSampler {
 public:
  /// Weights are read once, here; health is read at every draw.
  explicit WeightedSampler(std::span<const EndpointState> endpoints);

  /// Endpoint index drawn in proportion to weight among healthy endpoints (among all of them
  /// in panic mode), or -1 when no endpoint has a non-zero weight.
  int pick(Prng& prng) const;

  /// Deterministic weighted draw among healthy endpoints driven by `value` (uniform 64 bits);
  /// -1 when no endpoint with non-zero weight is healthy.
  int pickHealthy(uint64_t value) const;

  bool anyHealthy() const;
  bool hasEligible() const { return !eligible_.empty(); }
  /// Endpoints with weight > 0, in endpoint order.
  const std::vector<uint32_t>& eligible() const { return eligible_; }
  /// Weight of eligible()[i], as read at construction.
  const std::vector<uint32_t>& weights() const { return weights_; }
  /// True when every eligible endpoint has the same weight.
  bool uniformWeights() const { return uniformWeights_; }

 private:
  struct Bucket {
    uint64_t threshold;  // keep `endpoint` when the low 32 random bits are below this
    uint32_t endpoint;
    uint32_t alias;
  };

  std::span<const EndpointState> endpoints_;
  std::vector<uint32_t> eligible_;
  std::vector<uint32_t> weights_;
  std::vector<Bucket> buckets_;
  bool uniformWeights_ = true;
};

}  // namespace trellis::upstream
