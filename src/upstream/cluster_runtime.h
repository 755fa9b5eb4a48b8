#pragma once
// A worker's live view of one cluster: resolved endpoint addresses, per-endpoint state that the
// load balancer reads, the balancer itself, and the cluster's stats. Built per worker whenever
// a new configuration snapshot arrives; in-flight requests keep the one they started with.

#include <memory>
#include <string>
#include <vector>

#include "common/socket.h"
#include "config/model.h"
#include "resilience/shared_state.h"
#include "upstream/cluster_connections.h"
#include "upstream/cluster_stats.h"
#include "upstream/lb/load_balancer.h"

namespace trellis::upstream {

struct ClusterRuntime {
  /// `state` is the cluster's proxy-wide resilience state (null: none, e.g. in unit tests).
  ClusterRuntime(const config::Cluster& config, ClusterStats& stats, uint64_t seed,
                 const resilience::ClusterState* state = nullptr);

  /// Picks an endpoint, first bringing the balancer's view of endpoint health up to date with
  /// ejections and health checks done by any worker.
  int pick(const LbContext& context, int64_t nowMs);

  /// A socket connecting to `endpoint`, with its slot in maxConnections (`exempt`: even over
  /// it). fd < 0 when the limit (`overflow` set, counted) or connect() (counted) refused it.
  struct NewConnection {
    int fd = -1;
    ConnectionSlot slot;
  };
  NewConnection connect(int endpoint, bool& overflow, bool exempt = false);

  const config::Cluster& config;
  ClusterStats& stats;
  const resilience::ClusterState* state;
  std::vector<SocketAddress> addresses;  // parallel to config.endpoints
  /// "cluster|ip:port[|spiffe-id]": the connection-pool and TLS session-cache key.
  std::vector<std::string> endpointKeys;
  std::vector<EndpointState> endpoints;  // parallel to config.endpoints
  std::unique_ptr<LoadBalancer> balancer;
  /// This worker's connections to the cluster and the requests waiting for one (null: no
  /// limit, e.g. in unit tests).
  std::shared_ptr<ClusterConnections> connections;

 private:
  void refreshHealth(int64_t nowMs);
  uint64_t seenHealthVersion_ = 0;
  int64_t nextExpiryMs_ = 0;  // when an ejection ends: health changes then without a version bump
  bool trackHealth_ = false;
};

}  // namespace trellis::upstream
