#include "proxy/active_config.h"

#include <fmt/format.h>

namespace trellis::proxy {

ActiveConfig::ActiveConfig(std::shared_ptr<const config::Snapshot> s,
                           resilience::SharedState* state)
    : snapshot(std::move(s)) {
  resilience::SharedState own;
  if (state == nullptr) state = &own;
  routeTables.reserve(snapshot->listeners.size());
  for (const auto& listener : snapshot->listeners) routeTables.emplace_back(listener.routes);

  for (const auto& [name, cluster] : snapshot->clusters) {
    resilience::ClusterState& entry = clusters[name];
    entry.shared = state->cluster(name);
    for (const auto& endpoint : cluster.endpoints) {
      entry.endpointState.push_back(
          state->endpoint(name, fmt::format("{}:{}", endpoint.host, endpoint.port)));
      entry.endpoints.push_back(entry.endpointState.back().get());
    }
    if (cluster.rateLimit) {
      entry.rateLimiter = state->limiter("cluster/" + name, *cluster.rateLimit);
    }
  }
  for (const auto& listener : snapshot->listeners) {
    connectionLimiters.push_back(
        listener.connectionRateLimit
            ? state->limiter("listener/" + listener.name, *listener.connectionRateLimit)
            : nullptr);
    for (const auto& host : listener.routes.routes) {
      for (const auto& rule : host.rules) {
        if (!rule.rateLimit) continue;
        // One bucket per rule, shared by the rule's matches (they are flattened per match).
        ruleLimiters[&rule] = state->limiter(
            fmt::format("route/{}/{}/{}", listener.name, rule.routeName, rule.ruleIndex),
            *rule.rateLimit);
      }
    }
  }
  state->prune();
}

}  // namespace trellis::proxy
