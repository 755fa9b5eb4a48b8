#include "upstream/lb/load_balancer.h"

#include <xxhash.h>

#include "upstream/lb/least_request.h"
#include "upstream/lb/maglev.h"
#include "upstream/lb/random.h"
#include "upstream/lb/ring_hash.h"
#include "upstream/lb/round_robin.h"

namespace trellis::upstream {

std::unique_ptr<LoadBalancer> makeLoadBalancer(const config::Cluster& cluster,
                                               std::span<const EndpointState> endpoints,
                                               uint64_t seed) {
  switch (cluster.lbPolicy) {
    case config::LbPolicy::LeastRequest:
      return std::make_unique<LeastRequestBalancer>(endpoints, seed);
    case config::LbPolicy::Random:
      return std::make_unique<RandomBalancer>(endpoints, seed);
    case config::LbPolicy::RingHash:
      return std::make_unique<RingHashBalancer>(cluster, endpoints, seed);
    case config::LbPolicy::Maglev:
      return std::make_unique<MaglevBalancer>(cluster, endpoints, seed);
    case config::LbPolicy::RoundRobin:
      break;
  }
  return std::make_unique<RoundRobinBalancer>(endpoints, seed);
}

uint64_t stableHash(std::string_view bytes) {
  return XXH64(bytes.data(), bytes.size(), 0);
}

}  // namespace trellis::upstream
