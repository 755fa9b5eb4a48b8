#include "resilience/retry_rules.h"

#include <gtest/gtest.h>

namespace trellis::resilience {
namespace {

config::RetryPolicy policyOn(uint32_t on) {
  config::RetryPolicy policy;
  policy.retryOn = on;
  return policy;
}

TEST(RetryRules, ConnectFailuresNeedNoReplaySafety) {
  auto policy = policyOn(config::kRetryConnectFailure);
  EXPECT_TRUE(retriableFailure(policy, AttemptFailure::ConnectFailure, false));
  EXPECT_TRUE(retriableFailure(policy, AttemptFailure::ConnectTimeout, false));
  EXPECT_FALSE(retriableFailure(policy, AttemptFailure::Reset, true));
  EXPECT_FALSE(retriableFailure(policy, AttemptFailure::PerTryTimeout, true));
}

TEST(RetryRules, ResetsOnlyWhenReplaySafe) {
  auto policy = policyOn(config::kRetryReset);
  EXPECT_TRUE(retriableFailure(policy, AttemptFailure::Reset, true));
  EXPECT_FALSE(retriableFailure(policy, AttemptFailure::Reset, false));
  EXPECT_TRUE(retriableFailure(policy, AttemptFailure::Refused, false));
  EXPECT_FALSE(retriableFailure(policy, AttemptFailure::ConnectFailure, false));
}

TEST(RetryRules, FiveXxCoversGatewayFailuresAndTimeouts) {
  auto policy = policyOn(config::kRetry5xx);
  EXPECT_TRUE(retriableFailure(policy, AttemptFailure::ConnectFailure, false));
  EXPECT_TRUE(retriableFailure(policy, AttemptFailure::PerTryTimeout, true));
  EXPECT_TRUE(retriableResponse(policy, 500, -1, true));
  EXPECT_TRUE(retriableResponse(policy, 599, -1, true));
  EXPECT_FALSE(retriableResponse(policy, 500, -1, false));
  EXPECT_FALSE(retriableResponse(policy, 409, -1, true));
  EXPECT_FALSE(retriableResponse(policy, 200, -1, true));
}

TEST(RetryRules, GatewayErrorIsOnly502To504) {
  auto policy = policyOn(config::kRetryGatewayError);
  EXPECT_FALSE(retriableResponse(policy, 500, -1, true));
  EXPECT_TRUE(retriableResponse(policy, 502, -1, true));
  EXPECT_TRUE(retriableResponse(policy, 503, -1, true));
  EXPECT_TRUE(retriableResponse(policy, 504, -1, true));
  EXPECT_FALSE(retriableResponse(policy, 505, -1, true));
}

TEST(RetryRules, ListedStatusesAndGrpcStatuses) {
  config::RetryPolicy policy = policyOn(0);
  policy.retriableStatusCodes = {429};
  policy.retriableGrpcStatuses = 1u << 14;  // UNAVAILABLE
  EXPECT_TRUE(retriableResponse(policy, 429, -1, true));
  EXPECT_FALSE(retriableResponse(policy, 503, -1, true));
  EXPECT_TRUE(retriableResponse(policy, 200, 14, true));
  EXPECT_FALSE(retriableResponse(policy, 200, 13, true));
  EXPECT_FALSE(retriableResponse(policy, 200, 0, true));
  policy.retryOn = config::kRetryRetriable4xx;
  EXPECT_TRUE(retriableResponse(policy, 409, -1, true));
}

TEST(RetryRules, IdempotentMethods) {
  for (const char* m : {"GET", "HEAD", "OPTIONS", "TRACE", "PUT", "DELETE"}) {
    EXPECT_TRUE(idempotentMethod(m)) << m;
  }
  for (const char* m : {"POST", "PATCH", "CONNECT", "get"}) EXPECT_FALSE(idempotentMethod(m)) << m;
}

TEST(RetryRules, BackoffIsFullJitterAndCapped) {
  config::RetryPolicy policy;
  policy.backoffBase = config::Duration(25);
  policy.backoffMax = config::Duration(250);
  EXPECT_EQ(backoffDelay(policy, 1, 25).count(), 25);
  EXPECT_EQ(backoffDelay(policy, 1, 26).count(), 0);
  EXPECT_EQ(backoffDelay(policy, 2, 50).count(), 50);
  EXPECT_EQ(backoffDelay(policy, 3, 100).count(), 100);
  EXPECT_EQ(backoffDelay(policy, 10, 250).count(), 250);  // capped at backoffMax
  EXPECT_EQ(backoffDelay(policy, 40, 250).count(), 250);  // no overflow
  uint64_t maxSeen = 0;
  for (uint64_t r = 0; r < 1000; ++r) {
    maxSeen = std::max<uint64_t>(maxSeen, backoffDelay(policy, 2, r * 7919).count());
  }
  EXPECT_EQ(maxSeen, 50u);
}

}  // namespace
}  // namespace trellis::resilience
