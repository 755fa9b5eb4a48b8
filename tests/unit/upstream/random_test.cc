#include "upstream/lb/random.h"

#include <gtest/gtest.h>

#include <vector>

#include "lb_test_util.h"
#include "upstream/lb/weighted_sampler.h"

namespace trellis::upstream {
namespace {

using testing::countPicks;
using testing::maxRelativeError;

std::vector<EndpointState> withWeights(const std::vector<uint32_t>& weights) {
  std::vector<EndpointState> states;
  for (uint32_t w : weights) states.push_back({w, 0, true});
  return states;
}

TEST(Random, SkewedWeights) {
  const std::vector<uint32_t> weights = {1, 1000};
  const auto states = withWeights(weights);
  RandomBalancer lb(states, 1);
  const auto counts = countPicks(lb, 2, 1001000);
  EXPECT_NEAR(counts[0], 1000, 150);
}

TEST(Random, HugeWeightsDoNotOverflow) {
  const std::vector<uint32_t> weights = {0xffffffffu, 1, 0x7fffffffu, 0xffffffffu};
  const auto states = withWeights(weights);
  RandomBalancer lb(states, 2);
  const auto counts = countPicks(lb, 4, 100000);
  EXPECT_LT(counts[1], 5u);
  EXPECT_LT(
      maxRelativeError({counts[0], counts[2], counts[3]}, {0xffffffffu, 0x7fffffffu, 0xffffffffu}),
      0.03);
}

TEST(Random, UnhealthyDrawsAreRedistributedByWeight) {
  const std::vector<uint32_t> weights = {5, 1, 2, 3};
  auto states = withWeights(weights);
  states[0].healthy = false;  // the heaviest, so most first draws fall back
  RandomBalancer lb(states, 3);
  const auto counts = countPicks(lb, 4, 100000);
  EXPECT_EQ(counts[0], 0u);
  EXPECT_LT(maxRelativeError({counts[1], counts[2], counts[3]}, {1, 2, 3}), 0.03);
}

TEST(WeightedSampler, EligibleAndUniformity) {
  const auto states = withWeights({0, 4, 4, 0, 4});
  WeightedSampler sampler(states);
  EXPECT_EQ(sampler.eligible(), (std::vector<uint32_t>{1, 2, 4}));
  EXPECT_TRUE(sampler.uniformWeights());
  const auto skewed = withWeights({1, 4});
  EXPECT_FALSE(WeightedSampler(skewed).uniformWeights());
}

TEST(WeightedSampler, PickHealthyIsDeterministicAndWeighted) {
  const std::vector<uint32_t> weights = {1, 3, 0, 6};
  auto states = withWeights(weights);
  WeightedSampler sampler(states);
  std::vector<uint64_t> counts(4, 0);
  for (uint64_t i = 0; i < 100000; ++i) {
    const int chosen = sampler.pickHealthy(mix64(i));
    ASSERT_GE(chosen, 0);
    ASSERT_EQ(chosen, sampler.pickHealthy(mix64(i)));
    counts[chosen]++;
  }
  EXPECT_LT(maxRelativeError(counts, weights), 0.03);
  for (auto& s : states) s.healthy = false;
  EXPECT_EQ(sampler.pickHealthy(1), -1);
  EXPECT_FALSE(sampler.anyHealthy());
}

}  // namespace
}  // namespace trellis::upstream
