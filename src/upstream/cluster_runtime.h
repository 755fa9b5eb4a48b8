#pragma once
// A worker's live view of one cluster: resolved endpoint addresses, per-endpoint state that the
// load balancer reads, the balancer itself, and the cluster's stats. Built per worker whenever
// a new configuration snapshot arrives; in-flight requests keep the one they started with.

#include <memory>
#include <string>
#include <vector>

#include "common/socket.h"
#include "common/stats.h"
#include "config/model.h"
#include "resilience/shared_state.h"
#include "upstream/lb/load_balancer.h"

namespace trellis::upstream {

/// Cluster-level counters, shared across snapshots (keyed by cluster name in the worker).
struct ClusterStats {
  Counter connectionsOpened;
  Counter connectionsReused;
  Counter connectFailures;
  Counter connectTimeouts;
  Counter resets;        // upstream closed or reset before the response completed
  Counter badResponses;  // unparseable response
  Counter noHealthyEndpoint;
  Counter retries;               // attempts after the first
  Counter retryBudgetExhausted;  // retriable failures not retried: the budget was spent
  Counter retryOverflow;         // ... or maxRetries retries were already in flight
  Counter perTryTimeouts;
  Counter requestTimeouts;
  Counter overflow;     // requests refused by a circuit breaker limit
  Counter rateLimited;  // requests refused by the cluster's rate limit
  Counter ejections;    // outlier detection ejected an endpoint
  Gauge activeRequests;
  Gauge activeConnections;
};

struct ClusterRuntime {
  /// `state` is the cluster's proxy-wide resilience state (null: none, e.g. in unit tests).
  ClusterRuntime(const config::Cluster& config, ClusterStats& stats, uint64_t seed,
                 const resilience::ClusterState* state = nullptr);

  /// Picks an endpoint, first bringing the balancer's view of endpoint health up to date with
  /// ejections and health checks done by any worker.
  int pick(const LbContext& context, int64_t nowMs);

  const config::Cluster& config;
  ClusterStats& stats;
  const resilience::ClusterState* state;
  std::vector<SocketAddress> addresses;   // parallel to config.endpoints
  std::vector<std::string> endpointKeys;  // "ip:port", the connection-pool key
  std::vector<EndpointState> endpoints;   // parallel to config.endpoints
  std::unique_ptr<LoadBalancer> balancer;

 private:
  void refreshHealth(int64_t nowMs);
  uint64_t seenHealthVersion_ = 0;
  int64_t nextExpiryMs_ = 0;  // when an ejection ends: health changes then without a version bump
  bool trackHealth_ = false;
};

}  // namespace trellis::upstream
