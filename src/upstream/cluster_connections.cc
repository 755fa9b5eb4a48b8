#include "upstream/cluster_connections.h"

#include <algorithm>

namespace trellis::upstream {

ClusterConnections::ClusterConnections(EventLoop& loop,
                                       std::shared_ptr<resilience::ClusterShared> shared,
                                       ClusterStats& stats)
    : loop_(loop),
      shared_(shared ? std::move(shared) : std::make_shared<resilience::ClusterShared>()),
      stats_(stats),
      wake_([this] { wakeWaiters(); }) {}

bool ClusterConnections::mayOpen(uint32_t maxConnections) const {
  return open_ == 0 || shared_->connections.load(std::memory_order_relaxed) < maxConnections;
}

std::optional<ConnectionSlot> ClusterConnections::claim(uint32_t maxConnections, bool exempt) {
  if (open_ == 0 || exempt) {
    shared_->connections.fetch_add(1, std::memory_order_relaxed);
  } else if (!resilience::tryAcquire(shared_->connections, maxConnections)) {
    return std::nullopt;
  }
  ++open_;
  stats_.openConnections.add();
  return ConnectionSlot(shared_from_this());
}

bool ClusterConnections::wait(ConnectionWaiter& waiter, uint32_t maxPending) {
  if (!resilience::tryAcquire(shared_->pendingRequests, maxPending)) return false;
  waiters_.push_back(&waiter);
  stats_.pendingRequests.add();
  if (!wake_.armed()) wake_.arm(loop_.timers(), kRecheckMs);
  return true;
}

void ClusterConnections::waitAgain(ConnectionWaiter& waiter) {
  waiters_.push_front(&waiter);  // still holds its place in maxPending
}

void ClusterConnections::admitted() {
  leaveQueue();
}

void ClusterConnections::cancel(ConnectionWaiter& waiter) {
  auto it = std::find(waiters_.begin(), waiters_.end(), &waiter);
  if (it == waiters_.end()) return;
  waiters_.erase(it);
  leaveQueue();
}

void ClusterConnections::leaveQueue() {
  resilience::release(shared_->pendingRequests);
  stats_.pendingRequests.sub();
}

void ClusterConnections::slotReleased() {
  --open_;
  stats_.openConnections.sub();
  resilience::release(shared_->connections);
  slotIdle();
}

void ClusterConnections::slotIdle() {
  if (waiters_.empty()) return;
  ++freed_;
  wake_.arm(loop_.timers(), 0);
}

void ClusterConnections::wakeWaiters() {
  auto self = shared_from_this();  // a waiter's callback may drop the last other reference
  // One waiter per freed connection, and at least one per re-check. A woken waiter that still
  // finds nothing goes back to the front, so it ends this round.
  uint32_t budget = std::max<uint32_t>(std::exchange(freed_, 0), 1);
  while (budget-- > 0 && !waiters_.empty()) {
    ConnectionWaiter* waiter = waiters_.front();
    waiters_.pop_front();
    waiter->onConnectionFreed();
    if (!waiters_.empty() && waiters_.front() == waiter) break;
  }
  if (!waiters_.empty() && !wake_.armed()) wake_.arm(loop_.timers(), kRecheckMs);
}

}  // namespace trellis::upstream
