#pragma once
// Per-worker one-shot timers keyed by connection id. Cancellation is lazy: a connection ignores
// a firing whose token is not its current one, and ids of closed connections find nothing.

#include <chrono>
#include <cstdint>
#include <queue>
#include <vector>

namespace trellis::echo {

using Clock = std::chrono::steady_clock;

class TimerQueue {
 public:
  struct Entry {
    Clock::time_point deadline;
    uint64_t connectionId;
    uint64_t token;
    bool operator>(const Entry& other) const { return deadline > other.deadline; }
  };

  void schedule(Clock::time_point deadline, uint64_t connectionId, uint64_t token) {
    heap_.push(Entry{deadline, connectionId, token});
  }

  /// Milliseconds epoll_wait may sleep: -1 without timers, rounded up so timers never fire early.
  int waitMillis(Clock::time_point now) const {
    if (heap_.empty()) return -1;
    auto left = heap_.top().deadline - now;
    if (left <= Clock::duration::zero()) return 0;
    return static_cast<int>(std::chrono::ceil<std::chrono::milliseconds>(left).count());
  }

  /// Pops every timer due at `now`, calling `fire(connectionId, token)` for each.
  template <typename Fire>
  void runExpired(Clock::time_point now, Fire&& fire) {
    while (!heap_.empty() && heap_.top().deadline <= now) {
      Entry entry = heap_.top();
      heap_.pop();
      fire(entry.connectionId, entry.token);
    }
  }

 private:
  std::priority_queue<Entry, std::vector<Entry>, std::greater<Entry>> heap_;
};

}  // namespace trellis::echo
