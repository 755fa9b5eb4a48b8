#pragma once
// A configuration snapshot plus everything compiled from it that workers share read-only (route
// tables) or share through atomics (resilience state). Built on the main thread, handed to
// workers as shared_ptr<const ActiveConfig>; a request keeps the one it started with, so a
// reload never changes a request mid-flight.

#include <map>
#include <memory>
#include <string>
#include <unordered_map>
#include <vector>

#include "config/model.h"
#include "proxy/mesh_tls.h"
#include "resilience/shared_state.h"
#include "routing/route_table.h"

namespace trellis::proxy {

struct ActiveConfig {
  /// `state` keeps resilience state across configurations; null gives this config its own
  /// (tests, tools).
  explicit ActiveConfig(std::shared_ptr<const config::Snapshot> snapshot,
                        resilience::SharedState* state = nullptr);

  std::shared_ptr<const config::Snapshot> snapshot;
  std::vector<routing::RouteTable> routeTables;  // parallel to snapshot->listeners
  std::map<std::string, resilience::ClusterState> clusters;
  std::unordered_map<const config::RouteRule*, std::shared_ptr<resilience::RateLimiter>>
      ruleLimiters;
  std::vector<std::shared_ptr<resilience::RateLimiter>> connectionLimiters;  // per listener
  /// This proxy's certificate as TLS contexts; null without a workload identity. Set by
  /// ProxyServer after construction; a renewed certificate comes with a new ActiveConfig.
  std::shared_ptr<const MeshTls> meshTls;

  const resilience::ClusterState* cluster(const std::string& name) const {
    auto it = clusters.find(name);
    return it == clusters.end() ? nullptr : &it->second;
  }
};

}  // namespace trellis::proxy
