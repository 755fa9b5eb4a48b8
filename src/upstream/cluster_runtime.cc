#include "upstream/cluster_runtime.h"

namespace trellis::upstream {

ClusterRuntime::ClusterRuntime(const config::Cluster& cfg, ClusterStats& clusterStats,
                               uint64_t seed)
    : config(cfg), stats(clusterStats) {
  addresses.reserve(cfg.endpoints.size());
  endpoints.reserve(cfg.endpoints.size());
  for (const auto& endpoint : cfg.endpoints) {
    // The loader validated the literal; an unparsable one would be a loader bug, so it gets
    // weight 0 rather than a crash.
    auto address = SocketAddress::parse(endpoint.host, endpoint.port);
    addresses.push_back(address.value_or(SocketAddress{}));
    endpointKeys.push_back(address ? address->toString() : std::string());
    endpoints.push_back(EndpointState{address ? endpoint.weight : 0, 0, true});
  }
  balancer = makeLoadBalancer(cfg, endpoints, seed);
}

}  // namespace trellis::upstream
