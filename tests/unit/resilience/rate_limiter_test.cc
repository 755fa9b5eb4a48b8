#include "resilience/rate_limiter.h"

#include "upstream/lb/load_balancer.h"

#include <gtest/gtest.h>

#include <atomic>
#include <string>
#include <thread>
#include <vector>

namespace trellis::resilience {
namespace {

config::LocalRateLimit limitOf(uint32_t perSecond, uint32_t burst) {
  config::LocalRateLimit limit;
  limit.tokensPerFill = perSecond;
  limit.fillInterval = config::Duration(1000);
  limit.maxTokens = burst;
  return limit;
}

TEST(RateLimiter, BurstThenSteadyRate) {
  RateLimiter limiter(limitOf(100, 10));
  const int64_t t0 = 5'000'000;
  int admitted = 0;
  for (int i = 0; i < 50; ++i) admitted += limiter.tryAcquire({}, t0) ? 1 : 0;
  EXPECT_EQ(admitted, 10);
  // 100/s: one token every 10 ms.
  EXPECT_FALSE(limiter.tryAcquire({}, t0 + 9'000));
  EXPECT_TRUE(limiter.tryAcquire({}, t0 + 10'000));
  EXPECT_FALSE(limiter.tryAcquire({}, t0 + 10'001));
}

TEST(RateLimiter, AdmittedRateAtTwiceTheLimitIsTheLimit) {
  RateLimiter limiter(limitOf(200, 200));
  int64_t t = 1'000'000;
  int admitted = 0;
  // 400 requests/s for 10 s, after the initial burst.
  for (int i = 0; i < 4000; ++i, t += 2500) admitted += limiter.tryAcquire({}, t) ? 1 : 0;
  EXPECT_NEAR(admitted, 200 * 10 + 200, 3);
}

TEST(RateLimiter, KeysHaveTheirOwnBuckets) {
  config::LocalRateLimit limit = limitOf(1, 2);
  limit.key = config::LocalRateLimit::Key::Header;
  limit.header = "x-user";
  RateLimiter limiter(limit);
  EXPECT_TRUE(limiter.tryAcquire("alice", 1'000'000));
  EXPECT_TRUE(limiter.tryAcquire("alice", 1'000'000));
  EXPECT_FALSE(limiter.tryAcquire("alice", 1'000'000));
  EXPECT_TRUE(limiter.tryAcquire("bob", 1'000'000));
  EXPECT_GE(limiter.retryAfterSeconds("alice", 1'000'000), 1u);
}

TEST(RateLimiter, ConcurrentWorkersNeverOverAdmit) {
  RateLimiter limiter(limitOf(1000, 500));
  std::atomic<int> admitted{0};
  std::vector<std::thread> threads;
  for (int w = 0; w < 4; ++w) {
    threads.emplace_back([&] {
      for (int i = 0; i < 10000; ++i) {
        if (limiter.tryAcquire({}, 7'000'000)) admitted.fetch_add(1);
      }
    });
  }
  for (auto& t : threads) t.join();
  EXPECT_EQ(admitted.load(), 500);
}

TEST(RateLimiter, ZeroTokensAdmitsNothing) {
  RateLimiter limiter(limitOf(0, 0));
  EXPECT_FALSE(limiter.tryAcquire({}, 1'000'000));
}

}  // namespace
}  // namespace trellis::resilience

namespace trellis::resilience {
namespace {

TEST(RateLimiter, CollidingKeysNeverGetMoreThanTheirLimit) {
  config::LocalRateLimit limit;
  limit.tokensPerFill = 1;
  limit.fillInterval = config::Duration(1000);
  limit.maxTokens = 2;
  limit.key = config::LocalRateLimit::Key::Header;
  RateLimiter limiter(limit);
  // Find two keys that share a slot.
  std::string first = "k0";
  std::string second;
  const uint64_t slot = (upstream::stableHash(first) | 1) % RateLimiter::kKeySlots;
  for (int i = 1; second.empty(); ++i) {
    std::string key = "k" + std::to_string(i);
    if ((upstream::stableHash(key) | 1) % RateLimiter::kKeySlots == slot) second = key;
  }
  int64_t t = 10'000'000;
  int admitted = 0;
  // Alternating keys for 10 s at 20 requests/s: each key's limit is 1/s (+2 burst), so both
  // together may not exceed 2 + 2 + 10 + 10.
  for (int i = 0; i < 200; ++i, t += 50'000) {
    admitted += limiter.tryAcquire(i % 2 ? first : second, t) ? 1 : 0;
  }
  EXPECT_LE(admitted, 24);
  EXPECT_GE(admitted, 10);
}

}  // namespace
}  // namespace trellis::resilience
