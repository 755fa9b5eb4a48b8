#pragma once
// One worker's counters for one cluster; the metrics endpoint sums them over workers.

#include "common/stats.h"

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
  Gauge activeConnections;  // TCP relays
  Gauge openConnections;    // every upstream connection, counted against maxConnections
  Gauge pendingRequests;    // requests waiting for a connection (maxPendingRequests)
};

}  // namespace trellis::upstream
