#include "resilience/shared_state.h"

namespace trellis::resilience {

std::shared_ptr<ClusterShared> SharedState::cluster(const std::string& name) {
  auto& slot = clusters_[name];
  if (!slot) slot = std::make_shared<ClusterShared>();
  return slot;
}

std::shared_ptr<EndpointHealth> SharedState::endpoint(const std::string& cluster,
                                                      const std::string& key) {
  auto& slot = endpoints_[{cluster, key}];
  if (!slot) slot = std::make_shared<EndpointHealth>();
  return slot;
}

std::shared_ptr<RateLimiter> SharedState::limiter(const std::string& key,
                                                  const config::LocalRateLimit& limit) {
  auto& slot = limiters_[key];
  if (!slot || !(slot->limit() == limit)) slot = std::make_shared<RateLimiter>(limit);
  return slot;
}

void SharedState::prune() {
  auto sweep = [](auto& map) {
    for (auto it = map.begin(); it != map.end();) {
      it = it->second.use_count() == 1 ? map.erase(it) : std::next(it);
    }
  };
  sweep(clusters_);
  sweep(endpoints_);
  sweep(limiters_);
}

}  // namespace trellis::resilience
