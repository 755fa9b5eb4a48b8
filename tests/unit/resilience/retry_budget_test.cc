#include "resilience/retry_budget.h"

#include <gtest/gtest.h>

namespace trellis::resilience {
namespace {

TEST(RetryBudget, RetriesAreAShareOfRequests) {
  config::RetryBudget budget;  // 20 %, floor 3/s over 10 s = 30
  budget.minRetriesPerSecond = 0;
  RetryBudgetWindow window;
  const int64_t now = 1'000'000;
  for (int i = 0; i < 1000; ++i) window.recordRequest(budget, now);
  int allowed = 0;
  for (int i = 0; i < 1000; ++i) allowed += window.tryRetry(budget, now) ? 1 : 0;
  EXPECT_EQ(allowed, 200);
}

TEST(RetryBudget, FloorLetsQuietServicesRetry) {
  config::RetryBudget budget;
  budget.minRetriesPerSecond = 3;
  budget.window = config::Duration(10000);
  RetryBudgetWindow window;
  int allowed = 0;
  for (int i = 0; i < 100; ++i) allowed += window.tryRetry(budget, 5000) ? 1 : 0;
  EXPECT_EQ(allowed, 30);
}

TEST(RetryBudget, OldSlicesLeaveTheWindow) {
  config::RetryBudget budget;
  budget.minRetriesPerSecond = 0;
  RetryBudgetWindow window;
  for (int i = 0; i < 100; ++i) window.recordRequest(budget, 0);
  EXPECT_EQ(window.totals(budget, 0).requests, 100u);
  for (int i = 0; i < 20; ++i) EXPECT_TRUE(window.tryRetry(budget, 500));
  EXPECT_FALSE(window.tryRetry(budget, 500));
  // Ten seconds later the first slice is out of the window: no requests, no retries allowed.
  EXPECT_EQ(window.totals(budget, 10'000).requests, 0u);
  EXPECT_FALSE(window.tryRetry(budget, 10'000));
  for (int i = 0; i < 10; ++i) window.recordRequest(budget, 10'000);
  EXPECT_TRUE(window.tryRetry(budget, 10'000));
  EXPECT_TRUE(window.tryRetry(budget, 10'001));
  EXPECT_FALSE(window.tryRetry(budget, 10'002));
}

TEST(RetryBudget, ZeroPercentAndNoFloorMeansNoRetries) {
  config::RetryBudget budget;
  budget.percent = 0;
  budget.minRetriesPerSecond = 0;
  RetryBudgetWindow window;
  for (int i = 0; i < 100; ++i) window.recordRequest(budget, 0);
  EXPECT_FALSE(window.tryRetry(budget, 0));
}

}  // namespace
}  // namespace trellis::resilience

namespace trellis::resilience {
namespace {

TEST(RetryBudget, ALongerWindowAfterAReloadStillLimits) {
  config::RetryBudget budget;
  budget.minRetriesPerSecond = 0;
  RetryBudgetWindow window;
  for (int i = 0; i < 100; ++i) window.recordRequest(budget, 1'000'000);
  budget.window = config::Duration(20'000);  // slices of 2 s instead of 1 s
  for (int i = 0; i < 100; ++i) window.recordRequest(budget, 1'000'500);
  int allowed = 0;
  for (int i = 0; i < 100; ++i) allowed += window.tryRetry(budget, 1'000'600) ? 1 : 0;
  EXPECT_EQ(allowed, 40);  // 20 % of the 200 requests in the window
}

}  // namespace
}  // namespace trellis::resilience
