// Reconnect delays: jittered within the upper half of a ceiling that doubles to the maximum.
#include "xds/client/backoff.h"

#include <gtest/gtest.h>

#include <set>

namespace trellis::xds::client {
namespace {

TEST(Backoff, DoublesFromBaseToMaxWithJitterInTheUpperHalf) {
  Backoff backoff(250, 10000, 42);
  uint64_t ceilings[] = {250, 500, 1000, 2000, 4000, 8000, 10000, 10000, 10000};
  for (uint64_t ceiling : ceilings) {
    uint64_t delay = backoff.nextDelayMs();
    EXPECT_GE(delay, ceiling / 2) << "ceiling " << ceiling;
    EXPECT_LE(delay, ceiling) << "ceiling " << ceiling;
  }
  EXPECT_EQ(backoff.ceilingMs(), 10000u);
}

TEST(Backoff, ResetStartsOverFromTheBase) {
  Backoff backoff(250, 10000, 7);
  for (int i = 0; i < 6; ++i) backoff.nextDelayMs();
  backoff.reset();
  EXPECT_LE(backoff.nextDelayMs(), 250u);
}

TEST(Backoff, DelaysVaryWithTheSeed) {
  // Proxies restarted together must not retry in lockstep.
  std::set<uint64_t> firsts;
  for (uint64_t seed = 1; seed <= 20; ++seed)
    firsts.insert(Backoff(10000, 10000, seed).nextDelayMs());
  EXPECT_GT(firsts.size(), 10u);
}

}  // namespace
}  // namespace trellis::xds::client
