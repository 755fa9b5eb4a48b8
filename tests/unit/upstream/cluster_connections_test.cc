// ClusterConnections: the maxConnections count shared by workers, the per-worker exception for
// a worker with no connection, and the maxPendingRequests queue woken by freed connections.

#include "upstream/cluster_connections.h"

#include <gtest/gtest.h>

#include <vector>

namespace trellis::upstream {
namespace {

/// Logs its wake-ups; goes ahead, or (while `stillBlocked`) goes back to the front.
struct RecordingWaiter final : ConnectionWaiter {
  RecordingWaiter(ClusterConnections& owner, std::vector<int>& log, int id)
      : owner(owner), log(log), id(id) {}
  void onConnectionFreed() override {
    log.push_back(id);
    if (stillBlocked) {
      owner.waitAgain(*this);
    } else {
      owner.admitted();
    }
  }
  ClusterConnections& owner;
  std::vector<int>& log;
  int id;
  bool stillBlocked = false;
};

class ClusterConnectionsTest : public ::testing::Test {
 protected:
  std::shared_ptr<ClusterConnections> make() {
    return std::make_shared<ClusterConnections>(loop, shared, stats);
  }
  /// Fires the timers due within `ms` (the wheel's clock is moved, not the loop's).
  void runTimers(uint64_t ms = 2 * TimerWheel::kTickMs) {
    now += ms;
    loop.timers().advance(now);
  }

  EventLoop loop;
  uint64_t now = loop.nowMs();
  std::shared_ptr<resilience::ClusterShared> shared = std::make_shared<resilience::ClusterShared>();
  ClusterStats stats;
};

TEST_F(ClusterConnectionsTest, SlotsStopAtTheLimitAndComeBackWhenReleased) {
  auto worker = make();
  auto first = worker->claim(2);
  auto second = worker->claim(2);
  ASSERT_TRUE(first && second);
  EXPECT_FALSE(worker->claim(2));
  EXPECT_FALSE(worker->mayOpen(2));
  EXPECT_EQ(shared->connections.load(), 2u);
  EXPECT_EQ(stats.openConnections.value(), 2);
  first->reset();
  EXPECT_TRUE(worker->mayOpen(2));
  EXPECT_TRUE(worker->claim(2));  // the temporary slot is released at once
  EXPECT_EQ(shared->connections.load(), 1u);
  EXPECT_EQ(worker->open(), 1u);
}

TEST_F(ClusterConnectionsTest, AWorkerWithoutAConnectionMayAlwaysOpenOne) {
  auto busy = make();
  auto idle = make();
  auto a = busy->claim(1);
  ASSERT_TRUE(a);
  EXPECT_FALSE(busy->claim(1));
  EXPECT_TRUE(idle->mayOpen(1));
  auto b = idle->claim(1);  // the limit is passed by one for this worker
  ASSERT_TRUE(b);
  EXPECT_EQ(shared->connections.load(), 2u);
  EXPECT_FALSE(idle->claim(1));
}

TEST_F(ClusterConnectionsTest, WaitersBeyondMaxPendingAreRefused) {
  auto worker = make();
  std::vector<int> log;
  RecordingWaiter w1(*worker, log, 1), w2(*worker, log, 2), w3(*worker, log, 3);
  EXPECT_TRUE(worker->wait(w1, 2));
  EXPECT_TRUE(worker->wait(w2, 2));
  EXPECT_FALSE(worker->wait(w3, 2));
  EXPECT_EQ(shared->pendingRequests.load(), 2u);
  EXPECT_EQ(stats.pendingRequests.value(), 2);
  worker->cancel(w1);
  worker->cancel(w1);  // no-op: not queued any more
  EXPECT_EQ(shared->pendingRequests.load(), 1u);
  EXPECT_TRUE(worker->wait(w3, 2));
}

TEST_F(ClusterConnectionsTest, EachFreedConnectionWakesOneWaiterInOrderFromTheLoop) {
  auto worker = make();
  auto slot = worker->claim(1);
  auto other = worker->claim(5);
  std::vector<int> log;
  RecordingWaiter w1(*worker, log, 1), w2(*worker, log, 2), w3(*worker, log, 3);
  worker->wait(w1, 10);
  worker->wait(w2, 10);
  worker->wait(w3, 10);
  slot->idle();              // parked in a pool
  other->reset();            // closed
  EXPECT_TRUE(log.empty());  // never inside the call that freed the connection
  runTimers();
  EXPECT_EQ(log, (std::vector<int>{1, 2}));
  EXPECT_EQ(worker->waiting(), 1u);
  EXPECT_EQ(shared->pendingRequests.load(), 1u);
  EXPECT_EQ(stats.pendingRequests.value(), 1);
}

TEST_F(ClusterConnectionsTest, NothingWakesACancelledWaiter) {
  auto worker = make();
  auto slot = worker->claim(1);
  std::vector<int> log;
  RecordingWaiter w1(*worker, log, 1);
  worker->wait(w1, 10);
  worker->cancel(w1);
  slot->reset();
  runTimers();
  EXPECT_TRUE(log.empty());
}

TEST_F(ClusterConnectionsTest, AWokenWaiterStillBlockedKeepsItsPlaceAndItsPendingUnit) {
  auto worker = make();
  auto slot = worker->claim(1);
  std::vector<int> log;
  RecordingWaiter w1(*worker, log, 1), w2(*worker, log, 2);
  worker->wait(w1, 2);
  worker->wait(w2, 2);
  w1.stillBlocked = true;
  slot->idle();
  runTimers();
  EXPECT_EQ(log, (std::vector<int>{1}));  // w2 is not woken past w1
  EXPECT_EQ(shared->pendingRequests.load(), 2u);
  RecordingWaiter w3(*worker, log, 3);
  EXPECT_FALSE(worker->wait(w3, 2));  // w1 kept its unit: the queue is still full
  w1.stillBlocked = false;
  slot->idle();
  slot->idle();
  runTimers();
  EXPECT_EQ(log, (std::vector<int>{1, 1, 2}));
  EXPECT_EQ(worker->waiting(), 0u);
  EXPECT_EQ(shared->pendingRequests.load(), 0u);
}

TEST_F(ClusterConnectionsTest, TheFrontWaiterRechecksWithoutAFreedConnection) {
  // A slot freed on another worker, or a limit raised by a reload, sends no event here.
  auto worker = make();
  auto slot = worker->claim(1);
  std::vector<int> log;
  RecordingWaiter w1(*worker, log, 1);
  worker->wait(w1, 2);
  runTimers(ClusterConnections::kRecheckMs / 2);
  EXPECT_TRUE(log.empty());
  runTimers(ClusterConnections::kRecheckMs);
  EXPECT_EQ(log, (std::vector<int>{1}));
}

TEST_F(ClusterConnectionsTest, SlotsKeepTheirWorkerRecordAlive) {
  auto worker = make();
  auto slot = worker->claim(1);
  std::weak_ptr<ClusterConnections> weak = worker;
  worker.reset();
  EXPECT_FALSE(weak.expired());
  slot->reset();
  EXPECT_TRUE(weak.expired());
  EXPECT_EQ(shared->connections.load(), 0u);
}

}  // namespace
}  // namespace trellis::upstream
