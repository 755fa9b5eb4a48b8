#include "resilience/fault.h"

#include <gtest/gtest.h>

#include <vector>

namespace trellis::resilience {
namespace {

TEST(Fault, SharesFollowThePercentages) {
  config::FaultInjection fault;
  fault.abortHttpStatus = 503;
  fault.abortPerMillion = 100000;  // 10 %
  fault.delay = config::Duration(5);
  fault.delayPerMillion = 500000;
  int aborts = 0;
  int delays = 0;
  for (uint64_t i = 0; i < 1000000; i += 7) {
    auto d = decideFault(fault, {}, i * 3 + 1, i);
    aborts += d.aborts() ? 1 : 0;
    delays += d.delay.count() > 0 ? 1 : 0;
  }
  EXPECT_NEAR(aborts / 142858.0, 0.10, 0.001);
  EXPECT_NEAR(delays / 142858.0, 0.50, 0.001);
}

TEST(Fault, HeadersMustAllMatch) {
  config::FaultInjection fault;
  fault.abortGrpcStatus = 14;
  fault.abortPerMillion = 1000000;
  config::ValueMatch match;
  match.name = "x-chaos";
  match.value = "on";
  fault.headers.push_back(match);
  std::vector<http::HeaderField> with = {{"x-chaos", "on"}};
  std::vector<http::HeaderField> without = {{"x-other", "on"}};
  EXPECT_TRUE(decideFault(fault, with, 0, 0).aborts());
  EXPECT_EQ(decideFault(fault, with, 0, 0).abortGrpcStatus, 14);
  EXPECT_FALSE(decideFault(fault, without, 0, 0).aborts());
}

TEST(Fault, NothingConfiguredNothingHappens) {
  config::FaultInjection fault;
  auto d = decideFault(fault, {}, 0, 0);
  EXPECT_FALSE(d.aborts());
  EXPECT_EQ(d.delay.count(), 0);
}

}  // namespace
}  // namespace trellis::resilience
