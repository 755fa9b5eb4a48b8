#pragma once
// One worker's upstream connections to one cluster, counted against the cluster's
// maxConnections (shared by all workers), and the requests waiting for one of them
// (maxPendingRequests). A request that finds the cluster at its limit, with no reusable
// connection on its worker, waits here in FIFO order until a connection of the cluster is
// parked, closed or (HTTP/2) gains stream room on the same worker; beyond maxPendingRequests it
// fails at once.
//
// As in Envoy's pools, a worker with no connection to the cluster (HTTP/2: to the endpoint) may
// always open one, so that every waiter has a connection whose end will wake it; the limit can
// be passed by that much. While requests wait, the front one also re-checks every
// kRecheckMs, for slots freed on other workers or a limit raised by a reload.

#include <cstdint>
#include <deque>
#include <memory>
#include <optional>

#include "common/connection_slot.h"
#include "common/event_loop.h"
#include "resilience/shared_state.h"
#include "upstream/cluster_stats.h"

namespace trellis::upstream {

class ConnectionWaiter {
 public:
  /// Woken, in queue order: try again now. The waiter must either call
  /// ClusterConnections::admitted() or waitAgain() before returning.
  virtual void onConnectionFreed() = 0;

 protected:
  ~ConnectionWaiter() = default;
};

class ClusterConnections final : public SlotOwner,
                                 public std::enable_shared_from_this<ClusterConnections> {
 public:
  static constexpr uint64_t kRecheckMs = 50;

  /// `shared` is the cluster's proxy-wide state (null: this worker counts alone); `stats`, the
  /// worker's counters for the cluster, outlives this object.
  ClusterConnections(EventLoop& loop, std::shared_ptr<resilience::ClusterShared> shared,
                     ClusterStats& stats);

  /// Whether a new connection would get a slot now.
  bool mayOpen(uint32_t maxConnections) const;
  /// A slot for a new connection, or nothing when the cluster is at `maxConnections` and this
  /// worker already has a connection to it. `exempt`: counted even over the limit (an HTTP/2
  /// endpoint with no connection on this worker).
  std::optional<ConnectionSlot> claim(uint32_t maxConnections, bool exempt = false);

  /// Queues `waiter` last; false (nothing queued) when `maxPending` requests of the cluster
  /// (all workers) are already waiting.
  bool wait(ConnectionWaiter& waiter, uint32_t maxPending);
  /// From onConnectionFreed(): still nothing; back to the front of the queue.
  void waitAgain(ConnectionWaiter& waiter);
  /// From onConnectionFreed(): the waiter goes ahead; its place in maxPending is given back.
  void admitted();
  /// Takes a queued `waiter` out (it gave up, or was released); no-op when not queued.
  void cancel(ConnectionWaiter& waiter);

  uint32_t open() const { return open_; }
  size_t waiting() const { return waiters_.size(); }
  const std::shared_ptr<resilience::ClusterShared>& shared() const { return shared_; }

  void slotReleased() override;
  void slotIdle() override;

 private:
  void leaveQueue();
  void wakeWaiters();

  EventLoop& loop_;
  std::shared_ptr<resilience::ClusterShared> shared_;
  ClusterStats& stats_;
  uint32_t open_ = 0;                      // this worker's connections, counted in shared_
  std::deque<ConnectionWaiter*> waiters_;  // oldest first
  uint32_t freed_ = 0;                     // connections freed since the waiters last ran
  Timer wake_;  // waiters run from the loop, never inside the call that freed a connection
};

}  // namespace trellis::upstream
