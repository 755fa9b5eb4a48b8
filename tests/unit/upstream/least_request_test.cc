#include "upstream/lb/least_request.h"

#include <gtest/gtest.h>

#include <vector>

#include "lb_test_util.h"

namespace trellis::upstream {
namespace {

using testing::countPicks;

constexpr uint64_t kPicks = 100000;

std::vector<EndpointState> withWeights(const std::vector<uint32_t>& weights) {
  std::vector<EndpointState> states;
  for (uint32_t w : weights) states.push_back({w, 0, true});
  return states;
}

TEST(LeastRequest, OneBusyEndpointOfManyIsNeverChosen) {
  // Two distinct candidates: the busy one always meets an idle one and loses.
  auto states = withWeights(std::vector<uint32_t>(10, 1));
  states[4].activeRequests = 10;
  LeastRequestBalancer lb(states, 1);
  const auto counts = countPicks(lb, states.size(), kPicks);
  EXPECT_EQ(counts[4], 0u);
  for (size_t i = 0; i < 10; ++i) {
    if (i == 4) continue;
    EXPECT_NEAR(counts[i], kPicks / 9.0, kPicks / 9.0 * 0.05);
  }
}

TEST(LeastRequest, BusyHalfOnlyWinsWhenBothCandidatesAreBusy) {
  auto states = withWeights(std::vector<uint32_t>(10, 1));
  for (size_t i = 0; i < 5; ++i) states[i].activeRequests = 3;
  LeastRequestBalancer lb(states, 2);
  const auto counts = countPicks(lb, states.size(), kPicks);
  uint64_t busy = 0;
  for (size_t i = 0; i < 5; ++i) busy += counts[i];
  // P(both busy) = 5/10 * 4/9.
  EXPECT_NEAR(static_cast<double>(busy) / kPicks, 20.0 / 90.0, 0.01);
}

TEST(LeastRequest, FewerActiveRequestsWins) {
  auto states = withWeights({1, 1});
  states[0].activeRequests = 2;
  states[1].activeRequests = 1;
  LeastRequestBalancer lb(states, 3);
  EXPECT_EQ(countPicks(lb, 2, 1000)[1], 1000u);
  states[0].activeRequests = 0;  // read live
  EXPECT_EQ(countPicks(lb, 2, 1000)[0], 1000u);
}

TEST(LeastRequest, TiesGoToTheFirstCandidateSoIdleClusterIsUniform) {
  auto states = withWeights(std::vector<uint32_t>(4, 1));
  for (auto& s : states) s.activeRequests = 7;
  LeastRequestBalancer lb(states, 4);
  const auto counts = countPicks(lb, states.size(), kPicks);
  for (size_t i = 0; i < 4; ++i) EXPECT_NEAR(counts[i], kPicks / 4.0, kPicks / 4.0 * 0.03);
}

TEST(LeastRequest, UnhealthyAreNotCandidates) {
  auto states = withWeights(std::vector<uint32_t>(10, 1));
  states[1].healthy = false;
  states[2].healthy = false;
  states[3].activeRequests = 5;  // busy but healthy: still loses to any other healthy one
  LeastRequestBalancer lb(states, 5);
  const auto counts = countPicks(lb, states.size(), kPicks);
  EXPECT_EQ(counts[1] + counts[2] + counts[3], 0u);
  for (size_t i : {0, 4, 5, 6, 7, 8, 9}) {
    EXPECT_NEAR(counts[i], kPicks / 7.0, kPicks / 7.0 * 0.05);
  }
}

TEST(LeastRequest, PanicStillPrefersIdle) {
  auto states = withWeights(std::vector<uint32_t>(4, 1));
  for (auto& s : states) s.healthy = false;
  states[2].activeRequests = 9;
  LeastRequestBalancer lb(states, 6);
  EXPECT_EQ(countPicks(lb, states.size(), 10000)[2], 0u);
}

TEST(LeastRequest, WeightedIdleClusterFollowsWeights) {
  const std::vector<uint32_t> weights = {1, 2, 3, 4};
  auto states = withWeights(weights);
  LeastRequestBalancer lb(states, 7);
  EXPECT_LT(testing::maxRelativeError(countPicks(lb, 4, kPicks), weights), 0.03);
}

TEST(LeastRequest, WeightedAvoidsTheBusyHeavyEndpoint) {
  auto states = withWeights({1, 2, 3, 4});
  states[3].activeRequests = 100;
  LeastRequestBalancer lb(states, 8);
  const auto counts = countPicks(lb, 4, kPicks);
  // Chosen only when every draw of the pair is the busy endpoint: 0.4^4 ≈ 2.6%.
  EXPECT_LT(static_cast<double>(counts[3]) / kPicks, 0.04);
  EXPECT_GT(counts[0], 0u);
}

TEST(LeastRequest, WeightedComparesActiveRequestsPerWeight) {
  auto states = withWeights({1, 3});
  states[0].activeRequests = 2;  // 2 per unit of weight
  states[1].activeRequests = 3;  // 1 per unit of weight: preferred despite more requests
  LeastRequestBalancer lb(states, 9);
  auto counts = countPicks(lb, 2, kPicks);
  EXPECT_GT(static_cast<double>(counts[1]) / kPicks, 0.99);
  states[0].activeRequests = 1;  // 1 per unit
  states[1].activeRequests = 4;  // 1.33 per unit
  counts = countPicks(lb, 2, kPicks);
  // Plain weighted random would give the light endpoint 25%.
  EXPECT_GT(static_cast<double>(counts[0]) / kPicks, 0.7);
}

TEST(LeastRequest, WeightedSkipsUnhealthy) {
  auto states = withWeights({1, 2, 3, 4});
  states[2].healthy = false;
  LeastRequestBalancer lb(states, 10);
  const auto counts = countPicks(lb, 4, kPicks);
  EXPECT_EQ(counts[2], 0u);
  EXPECT_LT(testing::maxRelativeError({counts[0], counts[1], counts[3]}, {1, 2, 4}), 0.03);
}

}  // namespace
}  // namespace trellis::upstream
