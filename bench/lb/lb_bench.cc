// ns per pick for every policy, with 10 and 100 endpoints.
//
//   bench_lb --benchmark_filter=Maglev
//
// Weights are equal or mixed (1..4); requests for hash policies carry varied hashes so that the
// ring/table lookups are not all cache hits on one entry.

#include <benchmark/benchmark.h>

#include <string>
#include <vector>

#include "config/model.h"
#include "upstream/lb/load_balancer.h"
#include "upstream/lb/prng.h"

namespace trellis::upstream {
namespace {

enum class Weights { Equal, Mixed };

void benchPick(benchmark::State& state, config::LbPolicy policy, Weights weights) {
  const auto count = static_cast<uint32_t>(state.range(0));
  config::Cluster cluster;
  cluster.lbPolicy = policy;
  std::vector<EndpointState> endpoints;
  for (uint32_t i = 0; i < count; ++i) {
    const uint32_t weight = weights == Weights::Equal ? 1 : 1 + i % 4;
    cluster.endpoints.push_back({"10.0.0." + std::to_string(i), 8080, weight, {}});
    endpoints.push_back({weight, i % 3, true});  // some spread of active requests
  }
  auto lb = makeLoadBalancer(cluster, endpoints, 1);
  const bool hashed = policy == config::LbPolicy::RingHash || policy == config::LbPolicy::Maglev;
  uint64_t key = 0;
  for (auto _ : state) {
    LbContext ctx;
    if (hashed) ctx.hash = mix64(++key);
    benchmark::DoNotOptimize(lb->pick(ctx));
  }
}

void args(benchmark::internal::Benchmark* b) {
  b->Arg(10)->Arg(100);
}

#define TRELLIS_LB_BENCH(policy, weights)                                                      \
  BENCHMARK_CAPTURE(benchPick, policy##_##weights, config::LbPolicy::policy, Weights::weights) \
      ->Apply(args)

TRELLIS_LB_BENCH(RoundRobin, Equal);
TRELLIS_LB_BENCH(RoundRobin, Mixed);
TRELLIS_LB_BENCH(LeastRequest, Equal);
TRELLIS_LB_BENCH(LeastRequest, Mixed);
TRELLIS_LB_BENCH(Random, Equal);
TRELLIS_LB_BENCH(Random, Mixed);
TRELLIS_LB_BENCH(RingHash, Equal);
TRELLIS_LB_BENCH(RingHash, Mixed);
TRELLIS_LB_BENCH(Maglev, Equal);
TRELLIS_LB_BENCH(Maglev, Mixed);

// Degraded mode: one endpoint in ten unhealthy (fallback paths are O(n)).
void benchPickOneUnhealthy(benchmark::State& state, config::LbPolicy policy) {
  const auto count = static_cast<uint32_t>(state.range(0));
  config::Cluster cluster;
  cluster.lbPolicy = policy;
  std::vector<EndpointState> endpoints;
  for (uint32_t i = 0; i < count; ++i) {
    cluster.endpoints.push_back({"10.0.0." + std::to_string(i), 8080, 1 + i % 4, {}});
    endpoints.push_back({1 + i % 4, 0, i % 10 != 0});
  }
  auto lb = makeLoadBalancer(cluster, endpoints, 1);
  uint64_t key = 0;
  for (auto _ : state) {
    benchmark::DoNotOptimize(lb->pick({mix64(++key)}));
  }
}

BENCHMARK_CAPTURE(benchPickOneUnhealthy, RoundRobin, config::LbPolicy::RoundRobin)->Apply(args);
BENCHMARK_CAPTURE(benchPickOneUnhealthy, LeastRequest, config::LbPolicy::LeastRequest)->Apply(args);
BENCHMARK_CAPTURE(benchPickOneUnhealthy, Random, config::LbPolicy::Random)->Apply(args);
BENCHMARK_CAPTURE(benchPickOneUnhealthy, RingHash, config::LbPolicy::RingHash)->Apply(args);
BENCHMARK_CAPTURE(benchPickOneUnhealthy, Maglev, config::LbPolicy::Maglev)->Apply(args);

}  // namespace
}  // namespace trellis::upstream
