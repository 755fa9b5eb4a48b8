#include "common/timer_wheel.h"

#include <gtest/gtest.h>

#include <memory>
#include <vector>

namespace trellis {
namespace {

TEST(TimerWheel, FiresAtOrAfterDeadlineNeverBefore) {
  TimerWheel wheel(1000);
  int fired = 0;
  Timer timer([&] { ++fired; });
  timer.arm(wheel, 10);
  wheel.advance(1009);
  EXPECT_EQ(fired, 0);
  wheel.advance(1010 + TimerWheel::kTickMs);
  EXPECT_EQ(fired, 1);
  EXPECT_FALSE(timer.armed());
}

TEST(TimerWheel, RearmPushesDeadlineBack) {
  TimerWheel wheel(0);
  int fired = 0;
  Timer timer([&] { ++fired; });
  timer.arm(wheel, 100);
  wheel.advance(80);
  timer.arm(wheel, 100);  // e.g. an idle timer reset by activity
  wheel.advance(150);
  EXPECT_EQ(fired, 0);
  wheel.advance(200);
  EXPECT_EQ(fired, 1);
}

TEST(TimerWheel, CancelAndDestroyPreventFiring) {
  TimerWheel wheel(0);
  int fired = 0;
  Timer kept([&] { ++fired; });
  kept.arm(wheel, 10);
  kept.cancel();
  {
    Timer destroyed([&] { ++fired; });
    destroyed.arm(wheel, 10);
  }
  wheel.advance(100);
  EXPECT_EQ(fired, 0);
  EXPECT_EQ(wheel.armedCount(), 0u);
  EXPECT_EQ(wheel.nextTimeoutMs(), -1);
}

TEST(TimerWheel, LongTimersWaitWholeRevolutions) {
  TimerWheel wheel(0);
  int fired = 0;
  Timer timer([&] { ++fired; });
  const uint64_t revolution = TimerWheel::kSlots * TimerWheel::kTickMs;
  timer.arm(wheel, 3 * revolution + 50);
  for (uint64_t t = 0; t < 3 * revolution + 40; t += 500) wheel.advance(t);
  EXPECT_EQ(fired, 0);
  wheel.advance(3 * revolution + 60);
  EXPECT_EQ(fired, 1);
}

TEST(TimerWheel, LongStallFiresEverythingDue) {
  TimerWheel wheel(0);
  int fired = 0;
  std::vector<std::unique_ptr<Timer>> timers;
  for (int i = 1; i <= 50; ++i) {
    timers.push_back(std::make_unique<Timer>([&] { ++fired; }));
    timers.back()->arm(wheel, static_cast<uint64_t>(i) * 37);
  }
  wheel.advance(100000);
  EXPECT_EQ(fired, 50);
}

TEST(TimerWheel, CallbackMayCancelOrRearmOthers) {
  TimerWheel wheel(0);
  int secondFired = 0;
  Timer second([&] { ++secondFired; });
  Timer first([&] { second.cancel(); });
  first.arm(wheel, 10);
  second.arm(wheel, 10);
  wheel.advance(50);
  // Either order is legal, but never a crash and never a cancelled timer firing afterwards.
  wheel.advance(500);
  EXPECT_LE(secondFired, 1);
  int rearmed = 0;
  Timer again([&] {
    if (++rearmed < 3) again.arm(wheel, 10);
  });
  again.arm(wheel, 10);
  for (uint64_t t = 500; t < 700; t += 4) wheel.advance(t);
  EXPECT_EQ(rearmed, 3);
}

TEST(TimerWheel, NextTimeoutPointsAtEarliestSlot) {
  TimerWheel wheel(0);
  Timer timer([] {});
  timer.arm(wheel, 40);
  int next = wheel.nextTimeoutMs();
  EXPECT_GE(next, 40);
  EXPECT_LE(next, 40 + static_cast<int>(TimerWheel::kTickMs));
}

}  // namespace
}  // namespace trellis
