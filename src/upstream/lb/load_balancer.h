#pragma once
// Load balancers: pick one endpoint of a cluster for a request.
//
// Each worker thread owns its own balancer per cluster (no sharing, no locks); balancers are
// rebuilt when the configuration snapshot changes. A balancer sees the cluster's endpoints
// through a span of EndpointState that the worker keeps current (active request counts,
// health); it never allocates in `pick`.

#include <cstdint>
#include <memory>
#include <optional>
#include <span>
#include <string_view>

#include "config/model.h"

namespace trellis::upstream {

/// Live per-worker view of one endpoint, owned and updated by the worker.
struct EndpointState {
  uint32_t weight = 1;          // from config; 0 = never selected
  uint32_t activeRequests = 0;  // in flight on this worker
  bool healthy = true;          // false = skip unless nothing else is usable
};

/// Per-request input to a balancer. `hash` is set by the caller for RingHash and Maglev from the
/// cluster's HashKey (see hashKeyOf); when absent those policies fall back to random choice.
struct LbContext {
  std::optional<uint64_t> hash;
};

/// Common to all policies: weights are read once, at construction; `activeRequests` and
/// `healthy` at every pick. Weight-0 endpoints are never picked. Unhealthy endpoints are skipped
/// unless none is healthy, in which case all are used ("panic mode", as in Envoy).
class LoadBalancer {
 public:
  virtual ~LoadBalancer() = default;
  /// Index into the endpoint span given at construction, or -1 if no endpoint is usable.
  virtual int pick(const LbContext& ctx) = 0;
  virtual config::LbPolicy policy() const = 0;
};

/// Builds the balancer `cluster.lbPolicy` asks for over `endpoints` (same order as
/// cluster.endpoints; the span must outlive the balancer). `seed` makes random choices
/// reproducible in tests and different between workers.
std::unique_ptr<LoadBalancer> makeLoadBalancer(const config::Cluster& cluster,
                                               std::span<const EndpointState> endpoints,
                                               uint64_t seed);

/// Stable 64-bit hash (xxHash64) used by consistent-hash balancers; identical across processes
/// so that every sidecar maps the same key to the same endpoint.
uint64_t stableHash(std::string_view bytes);

}  // namespace trellis::upstream
