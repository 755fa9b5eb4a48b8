#pragma once
// Resilience state that belongs to the proxy, not to a worker or a configuration snapshot:
// circuit-breaker counts, the retry budget, endpoint ejections and health-check verdicts, and
// rate-limit buckets. Workers share it through atomics (no locks on the request path); it is
// keyed by name so that it survives configuration changes (an endpoint ejected before a reload
// stays ejected after it, and in-flight counts stay right).

#include <atomic>
#include <cstdint>
#include <map>
#include <memory>
#include <string>
#include <tuple>
#include <vector>

#include "config/model.h"
#include "resilience/rate_limiter.h"
#include "resilience/retry_budget.h"

namespace trellis::resilience {

/// What the proxy knows about one endpoint's health, from all workers.
struct EndpointHealth {
  std::atomic<int64_t> ejectedUntilMs{0};  // outlier detection: out of rotation until then
  std::atomic<uint32_t> timesEjected{0};   // multiplies the ejection time; decays when healthy
  std::atomic<int64_t> lastEjectionEndMs{0};
  std::atomic<uint32_t> consecutive5xx{0};
  std::atomic<uint32_t> consecutiveGateway{0};
  std::atomic<uint32_t> consecutiveLocal{0};
  std::atomic<uint32_t> sweepSuccess{0};  // success-rate detection, this interval
  std::atomic<uint32_t> sweepTotal{0};
  enum Verdict : int8_t { kUnknown = 0, kHealthy = 1, kUnhealthy = -1 };
  std::atomic<int8_t> activeHealth{kUnknown};  // active health checks; unknown counts as healthy

  bool ejected(int64_t nowMs) const {
    return ejectedUntilMs.load(std::memory_order_relaxed) > nowMs;
  }
};

/// Per-cluster counts shared by every worker.
struct ClusterShared {
  // Circuit breaker (config::CircuitBreaker).
  std::atomic<uint32_t> connections{0};
  std::atomic<uint32_t> pendingRequests{0};
  std::atomic<uint32_t> requests{0};
  std::atomic<uint32_t> retries{0};
  RetryBudgetWindow retryBudget;
  /// Bumped whenever an endpoint is ejected or changes health-check verdict, so that workers
  /// know to recompute which endpoints their balancers may pick.
  std::atomic<uint64_t> healthVersion{0};
  std::atomic<int64_t> nextSweepMs{0};  // outlier detection's periodic sweep
  std::atomic<bool> ejecting{false};    // a worker is deciding an ejection (maxEjectionPercent)
};

/// One cluster's proxy-wide state as one configuration sees it: endpoints in config order.
struct ClusterState {
  std::shared_ptr<ClusterShared> shared;
  std::vector<std::shared_ptr<EndpointHealth>> endpointState;
  std::vector<EndpointHealth*> endpoints;    // parallel to Cluster::endpoints
  std::shared_ptr<RateLimiter> rateLimiter;  // null = no limit
};

/// Takes one unit of `counter` if that keeps it at or below `max`.
inline bool tryAcquire(std::atomic<uint32_t>& counter, uint32_t max) {
  if (counter.fetch_add(1, std::memory_order_relaxed) + 1 <= max) return true;
  counter.fetch_sub(1, std::memory_order_relaxed);
  return false;
}
inline void release(std::atomic<uint32_t>& counter) {
  counter.fetch_sub(1, std::memory_order_relaxed);
}

/// The proxy's registry of shared state, used on the main thread when a configuration is
/// activated; workers only hold shared_ptrs handed to them in the ActiveConfig.
class SharedState {
 public:
  std::shared_ptr<ClusterShared> cluster(const std::string& name);
  std::shared_ptr<EndpointHealth> endpoint(const std::string& cluster, const std::string& key);
  /// The limiter registered under `key`, or a new one when there is none or its limit changed
  /// (a changed limit starts with a full bucket).
  std::shared_ptr<RateLimiter> limiter(const std::string& key, const config::LocalRateLimit& limit);
  /// Forgets state nothing refers to any more (removed clusters, endpoints, rules).
  void prune();

 private:
  std::map<std::string, std::shared_ptr<ClusterShared>> clusters_;
  std::map<std::pair<std::string, std::string>, std::shared_ptr<EndpointHealth>> endpoints_;
  std::map<std::string, std::shared_ptr<RateLimiter>> limiters_;
};

}  // namespace trellis::resilience
