#include "upstream/lb/round_robin.h"

#include <gtest/gtest.h>

#include <string>
#include <vector>

#include "lb_test_util.h"

namespace trellis::upstream {
namespace {

std::vector<EndpointState> withWeights(const std::vector<uint32_t>& weights) {
  std::vector<EndpointState> states;
  for (uint32_t w : weights) states.push_back({w, 0, true});
  return states;
}

std::string sequence(LoadBalancer& lb, int picks) {
  std::string out;
  for (int i = 0; i < picks; ++i) {
    const int chosen = lb.pick({});
    out += chosen < 0 ? '-' : static_cast<char>('a' + chosen);
  }
  return out;
}

bool isRotationOf(const std::string& candidate, const std::string& cycle) {
  return candidate.size() == cycle.size() && (cycle + cycle).find(candidate) != std::string::npos;
}

TEST(RoundRobin, SmoothSequenceForFiveOneOne) {
  const auto states = withWeights({5, 1, 1});
  for (uint64_t seed = 0; seed < 7; ++seed) {
    RoundRobinBalancer lb(states, seed);
    EXPECT_TRUE(lb.usesSchedule());
    const std::string cycle = sequence(lb, 7);
    EXPECT_TRUE(isRotationOf(cycle, "aabacaa")) << cycle;  // nginx's order, never "aaaaabc"
    EXPECT_EQ(sequence(lb, 7), cycle);                     // and it repeats
  }
}

TEST(RoundRobin, SeedZeroStartsAtTheBeginningOfTheCycle) {
  const auto states = withWeights({5, 1, 1});
  RoundRobinBalancer lb(states, 0);
  EXPECT_EQ(sequence(lb, 7), "aabacaa");
}

TEST(RoundRobin, ExactlyProportionalOverEachCycle) {
  const auto states = withWeights({3, 1, 4, 1, 5, 9, 2, 6});
  RoundRobinBalancer lb(states, 11);
  for (int cycle = 0; cycle < 3; ++cycle) {
    std::vector<int> counts(states.size(), 0);
    for (int i = 0; i < 31; ++i) counts[lb.pick({})]++;
    for (size_t e = 0; e < states.size(); ++e) EXPECT_EQ(counts[e], states[e].weight);
  }
}

TEST(RoundRobin, EqualWeightsVisitEveryEndpointOncePerCycle) {
  const auto states = withWeights({2, 2, 2, 2});
  RoundRobinBalancer lb(states, 1);
  EXPECT_EQ(sequence(lb, 8), "bcdabcda");
}

TEST(RoundRobin, CommonFactorDoesNotLengthenTheCycle) {
  const auto states = withWeights({5000, 1000, 1000});
  RoundRobinBalancer lb(states, 0);
  EXPECT_TRUE(lb.usesSchedule());
  EXPECT_EQ(sequence(lb, 7), "aabacaa");
}

TEST(RoundRobin, LiveAlgorithmForLongCycles) {
  const auto states = withWeights({5000, 1, 1});
  RoundRobinBalancer lb(states, 0);
  EXPECT_FALSE(lb.usesSchedule());
  std::vector<int> counts(3, 0);
  std::string firstPicks;
  for (int i = 0; i < 5002; ++i) {
    const int chosen = lb.pick({});
    counts[chosen]++;
    if (chosen != 0) firstPicks += std::to_string(i) + ",";
  }
  EXPECT_EQ(counts, (std::vector<int>{5000, 1, 1}));
  // Smooth: the light endpoints are spread evenly through the cycle, not bunched at one end.
  EXPECT_EQ(firstPicks, "1667,3334,");
}

TEST(RoundRobin, LiveAndScheduledAgree) {
  const auto states = withWeights({7, 3, 2, 5});
  RoundRobinBalancer scheduled(states, 0);
  RoundRobinBalancer live(states, 0, /*maxScheduleLength=*/1);
  ASSERT_TRUE(scheduled.usesSchedule());
  ASSERT_FALSE(live.usesSchedule());
  EXPECT_EQ(sequence(scheduled, 170), sequence(live, 170));
}

TEST(RoundRobin, UnhealthyTurnsGoToHealthyInWeightProportion) {
  for (uint32_t maxSchedule : {4096u, 1u}) {
    auto states = withWeights({3, 2, 1});
    RoundRobinBalancer lb(states, 0, maxSchedule);
    states[0].healthy = false;
    std::vector<int> counts(3, 0);
    for (int i = 0; i < 600; ++i) counts[lb.pick({})]++;
    EXPECT_EQ(counts[0], 0);
    EXPECT_NEAR(counts[1], 400, 2) << maxSchedule;
    EXPECT_NEAR(counts[2], 200, 2) << maxSchedule;
  }
}

TEST(RoundRobin, PanicFollowsTheNormalCycle) {
  for (uint32_t maxSchedule : {4096u, 1u}) {
    auto states = withWeights({5, 1, 1});
    for (auto& s : states) s.healthy = false;
    RoundRobinBalancer lb(states, 0, maxSchedule);
    EXPECT_EQ(sequence(lb, 14), "aabacaaaabacaa") << maxSchedule;
  }
}

TEST(RoundRobin, ZeroWeightsAreNotInTheCycle) {
  const auto states = withWeights({0, 2, 0, 1});
  RoundRobinBalancer lb(states, 0);
  EXPECT_EQ(sequence(lb, 6), "bdbbdb");
}

}  // namespace
}  // namespace trellis::upstream
