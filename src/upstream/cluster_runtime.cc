#include "upstream/cluster_runtime.h"

#include <limits>

namespace trellis::upstream {

ClusterRuntime::ClusterRuntime(const config::Cluster& cfg, ClusterStats& clusterStats,
                               uint64_t seed, const resilience::ClusterState* clusterState)
    : config(cfg), stats(clusterStats), state(clusterState) {
  addresses.reserve(cfg.endpoints.size());
  endpoints.reserve(cfg.endpoints.size());
  for (const auto& endpoint : cfg.endpoints) {
    // The loader validated the literal; an unparsable one would be a loader bug, so it gets
    // weight 0 rather than a crash.
    auto address = SocketAddress::parse(endpoint.host, endpoint.port);
    addresses.push_back(address.value_or(SocketAddress{}));
    // Per cluster: a pooled connection is counted in its own cluster's maxConnections (and, with
    // TLS, carries that cluster's settings), so clusters sharing an address do not share it.
    // The expected identity is part of the key: a connection made in plaintext, or verified for
    // another identity, is never reused once the endpoint must present this one.
    std::string key = address ? cfg.name + '|' + address->toString() : std::string();
    if (address && !endpoint.identity.empty()) key += '|' + endpoint.identity;
    endpointKeys.push_back(std::move(key));
    endpoints.push_back(EndpointState{address ? endpoint.weight : 0, 0, true});
  }
  balancer = makeLoadBalancer(cfg, endpoints, seed);
  trackHealth_ = state != nullptr && state->endpoints.size() == endpoints.size() &&
                 (cfg.outlierDetection || cfg.healthCheck);
  if (trackHealth_) {
    // Ejections made before this snapshot (or on other workers) apply from the first pick.
    seenHealthVersion_ = std::numeric_limits<uint64_t>::max();
  }
}

int ClusterRuntime::pick(const LbContext& context, int64_t nowMs) {
  if (trackHealth_ &&
      (state->shared->healthVersion.load(std::memory_order_acquire) != seenHealthVersion_ ||
       nowMs >= nextExpiryMs_)) {
    refreshHealth(nowMs);
  }
  return balancer->pick(context);
}

ClusterRuntime::NewConnection ClusterRuntime::connect(int endpoint, bool& overflow, bool exempt) {
  NewConnection result;
  overflow = false;
  if (connections) {
    auto slot = connections->claim(config.circuitBreaker.maxConnections, exempt);
    if (!slot) {
      overflow = true;
      stats.overflow.inc();
      return result;
    }
    result.slot = std::move(*slot);
  }
  result.fd = connectTo(addresses[endpoint]);
  if (result.fd < 0) {
    stats.connectFailures.inc();
    result.slot.reset();
    return result;
  }
  stats.connectionsOpened.inc();
  return result;
}

void ClusterRuntime::refreshHealth(int64_t nowMs) {
  seenHealthVersion_ = state->shared->healthVersion.load(std::memory_order_acquire);
  nextExpiryMs_ = std::numeric_limits<int64_t>::max();
  uint64_t totalWeight = 0;
  uint64_t healthyWeight = 0;
  for (size_t i = 0; i < endpoints.size(); ++i) {
    const resilience::EndpointHealth& health = *state->endpoints[i];
    const int64_t until = health.ejectedUntilMs.load(std::memory_order_relaxed);
    const bool ejected = until > nowMs;
    if (ejected && until < nextExpiryMs_) nextExpiryMs_ = until;
    const bool checkedBad = health.activeHealth.load(std::memory_order_relaxed) ==
                            resilience::EndpointHealth::kUnhealthy;
    endpoints[i].healthy = !ejected && !checkedBad;
    totalWeight += endpoints[i].weight;
    if (endpoints[i].healthy) healthyWeight += endpoints[i].weight;
  }
  // Panic mode (as Envoy's): below the threshold, the few healthy endpoints would take the
  // whole load; spreading it over every endpoint is the lesser harm.
  if (totalWeight > 0 && healthyWeight * 100 < totalWeight * config.healthyPanicThreshold) {
    for (auto& endpoint : endpoints) endpoint.healthy = true;
  }
}

}  // namespace trellis::upstream
