// Behaviour every policy shares: empty and all-zero clusters, zero weights, distribution by
// weight, health (skipping and panic mode), live state, determinism by seed.

#include <gtest/gtest.h>
#include <xxhash.h>

#include <string>
#include <vector>

#include "lb_test_util.h"
#include "upstream/lb/load_balancer.h"

namespace trellis::upstream {
namespace {

using config::LbPolicy;
using testing::countPicks;
using testing::makeCluster;
using testing::maxRelativeError;
using testing::statesOf;

constexpr uint64_t kPicks = 100000;

struct PolicyCase {
  LbPolicy policy;
  bool hashed;       // pass a request hash (meaningful for RingHash and Maglev)
  double tolerance;  // max relative error of the 1:2:3:4 distribution over kPicks
  const char* name;
};

class AllPolicies : public ::testing::TestWithParam<PolicyCase> {
 protected:
  std::vector<uint64_t> run(const std::vector<EndpointState>& states, uint64_t picks = kPicks,
                            uint64_t seed = 7) {
    cluster_ = makeCluster(GetParam().policy, std::vector<uint32_t>(states.size(), 1));
    auto lb = makeLoadBalancer(cluster_, states, seed);
    return countPicks(*lb, states.size(), picks, GetParam().hashed);
  }
  static std::vector<EndpointState> withWeights(const std::vector<uint32_t>& weights) {
    std::vector<EndpointState> states;
    for (uint32_t w : weights) states.push_back({w, 0, true});
    return states;
  }
  config::Cluster cluster_;
};

TEST_P(AllPolicies, ReportsItsPolicy) {
  const auto cluster = makeCluster(GetParam().policy, {1});
  const auto states = statesOf(cluster);
  EXPECT_EQ(makeLoadBalancer(cluster, states, 1)->policy(), GetParam().policy);
}

TEST_P(AllPolicies, EmptyClusterGivesMinusOne) {
  const auto counts = run({}, 100);
  EXPECT_EQ(counts[0], 100u);  // the -1 slot
}

TEST_P(AllPolicies, AllZeroWeightsGiveMinusOne) {
  auto states = withWeights({0, 0, 0});
  EXPECT_EQ(run(states, 1000)[3], 1000u);
  states[1].healthy = false;  // no panic-mode escape either
  EXPECT_EQ(run(states, 1000)[3], 1000u);
}

TEST_P(AllPolicies, SingleEndpointAlwaysChosen) {
  EXPECT_EQ(run(withWeights({3}), 1000)[0], 1000u);
}

TEST_P(AllPolicies, ZeroWeightNeverChosen) {
  const std::vector<uint32_t> weights = {0, 1, 0, 2, 0};
  auto counts = run(withWeights(weights), 20000);
  EXPECT_EQ(counts[0] + counts[2] + counts[4] + counts[5], 0u);
  EXPECT_GT(counts[1], 0u);
  EXPECT_GT(counts[3], counts[1]);
  // Nor in panic mode.
  auto states = withWeights(weights);
  for (auto& s : states) s.healthy = false;
  counts = run(states, 20000);
  EXPECT_EQ(counts[0] + counts[2] + counts[4] + counts[5], 0u);
}

TEST_P(AllPolicies, DistributionFollowsWeights) {
  const std::vector<uint32_t> weights = {1, 2, 3, 4};
  const auto counts = run(withWeights(weights));
  EXPECT_EQ(counts[4], 0u);
  EXPECT_LT(maxRelativeError(counts, weights), GetParam().tolerance);
}

TEST_P(AllPolicies, EqualWeightsSpreadEvenly) {
  const std::vector<uint32_t> weights(10, 5);
  const auto counts = run(withWeights(weights));
  EXPECT_LT(maxRelativeError(counts, weights), GetParam().tolerance);
}

TEST_P(AllPolicies, UnhealthyEndpointsAreSkipped) {
  auto states = withWeights({1, 2, 3, 4});
  states[3].healthy = false;
  states[0].healthy = false;
  const auto counts = run(states);
  EXPECT_EQ(counts[0], 0u);
  EXPECT_EQ(counts[3], 0u);
  EXPECT_EQ(counts[4], 0u);
  // The survivors keep their relative weights (hash policies: loosely, it is the displaced
  // keys that are spread).
  const double ratio = static_cast<double>(counts[2]) / static_cast<double>(counts[1]);
  EXPECT_NEAR(ratio, 1.5, GetParam().hashed ? 0.4 : 0.1);
}

TEST_P(AllPolicies, PanicModeUsesAllWhenNoneHealthy) {
  const std::vector<uint32_t> weights = {1, 2, 3, 4};
  auto states = withWeights(weights);
  for (auto& s : states) s.healthy = false;
  const auto counts = run(states);
  EXPECT_EQ(counts[4], 0u);
  EXPECT_LT(maxRelativeError(counts, weights), GetParam().tolerance);
}

TEST_P(AllPolicies, OnlyHealthyEndpointTakesEverything) {
  auto states = withWeights({1, 1, 1, 1, 1, 1, 1, 1});
  for (auto& s : states) s.healthy = false;
  states[5].healthy = true;
  EXPECT_EQ(run(states, 5000)[5], 5000u);
}

TEST_P(AllPolicies, HealthIsReadAtPickTime) {
  auto states = withWeights({1, 1, 1});
  cluster_ = makeCluster(GetParam().policy, {1, 1, 1});
  auto lb = makeLoadBalancer(cluster_, states, 3);
  states[1].healthy = false;
  auto counts = countPicks(*lb, 3, 3000, GetParam().hashed);
  EXPECT_EQ(counts[1], 0u);
  states[1].healthy = true;
  counts = countPicks(*lb, 3, 3000, GetParam().hashed);
  EXPECT_GT(counts[1], 500u);
}

TEST_P(AllPolicies, SameSeedSameSequence) {
  const auto states = withWeights({1, 2, 3, 4, 5});
  cluster_ = makeCluster(GetParam().policy, {1, 2, 3, 4, 5});
  auto first = makeLoadBalancer(cluster_, states, 42);
  auto second = makeLoadBalancer(cluster_, states, 42);
  for (uint64_t i = 0; i < 1000; ++i) {
    LbContext ctx;
    if (GetParam().hashed) ctx.hash = testing::keyHash(i);
    ASSERT_EQ(first->pick(ctx), second->pick(ctx)) << "pick " << i;
  }
}

INSTANTIATE_TEST_SUITE_P(
    Policies, AllPolicies,
    ::testing::Values(PolicyCase{LbPolicy::RoundRobin, false, 0.001, "RoundRobin"},
                      PolicyCase{LbPolicy::LeastRequest, false, 0.04, "LeastRequest"},
                      PolicyCase{LbPolicy::Random, false, 0.04, "Random"},
                      PolicyCase{LbPolicy::RingHash, false, 0.04, "RingHashNoKey"},
                      PolicyCase{LbPolicy::RingHash, true, 0.2, "RingHash"},
                      PolicyCase{LbPolicy::Maglev, false, 0.04, "MaglevNoKey"},
                      PolicyCase{LbPolicy::Maglev, true, 0.04, "Maglev"}),
    [](const auto& info) { return std::string(info.param.name); });

// Unseeded choices differ between seeds, so workers do not move in lockstep.
TEST(LoadBalancerSeed, DifferentSeedsDiffer) {
  for (LbPolicy policy : {LbPolicy::RoundRobin, LbPolicy::LeastRequest, LbPolicy::Random,
                          LbPolicy::RingHash, LbPolicy::Maglev}) {
    const auto cluster = makeCluster(policy, std::vector<uint32_t>(10, 1));
    const auto states = statesOf(cluster);
    auto first = makeLoadBalancer(cluster, states, 1);
    auto second = makeLoadBalancer(cluster, states, 2);
    int differences = 0;
    for (int i = 0; i < 100; ++i) differences += first->pick({}) != second->pick({}) ? 1 : 0;
    EXPECT_GT(differences, 0) << static_cast<int>(policy);
  }
}

TEST(StableHash, IsXxHash64WithSeedZero) {
  EXPECT_EQ(stableHash(""), 0xEF46DB3751D8E999ULL);  // XXH64 reference value for ""
  const std::string key = "10.0.0.1:8080_0";
  EXPECT_EQ(stableHash(key), XXH64(key.data(), key.size(), 0));
  EXPECT_NE(stableHash("a"), stableHash("b"));
}

TEST(Prng, DeterministicAndBounded) {
  Prng a(123);
  Prng b(123);
  Prng c(124);
  bool anyDifferent = false;
  for (int i = 0; i < 1000; ++i) {
    const uint64_t va = a.next();
    ASSERT_EQ(va, b.next());
    anyDifferent |= va != c.next();
  }
  EXPECT_TRUE(anyDifferent);
  std::vector<int> buckets(7, 0);
  for (int i = 0; i < 70000; ++i) {
    const uint64_t v = a.below(7);
    ASSERT_LT(v, 7u);
    buckets[v]++;
  }
  for (int count : buckets) EXPECT_NEAR(count, 10000, 500);
}

}  // namespace
}  // namespace trellis::upstream
