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
  Gauge activeRequests;
  Gauge activeConnections;
};

struct ClusterRuntime {
  ClusterRuntime(const config::Cluster& config, ClusterStats& stats, uint64_t seed);

  const config::Cluster& config;
  ClusterStats& stats;
  std::vector<SocketAddress> addresses;   // parallel to config.endpoints
  std::vector<std::string> endpointKeys;  // "ip:port", the connection-pool key
  std::vector<EndpointState> endpoints;   // parallel to config.endpoints
  std::unique_ptr<LoadBalancer> balancer;
};

}  // namespace trellis::upstream
