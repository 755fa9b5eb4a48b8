#pragma once
// One epoll event loop per thread. Handlers are registered edge-triggered once per fd (no
// epoll_ctl churn per request); timers ride on a TimerWheel; objects closed while a batch of
// events is dispatched are destroyed after the batch, so no handler sees a dangling pointer.

#include <sys/epoll.h>

#include <cstdint>
#include <functional>
#include <memory>
#include <mutex>
#include <vector>

#include "common/timer_wheel.h"

namespace trellis {

/// Receives readiness events for one fd.
class EventHandler {
 public:
  virtual ~EventHandler() = default;
  /// `events` is an EPOLLIN/EPOLLOUT/EPOLLERR/EPOLLHUP/EPOLLRDHUP mask.
  virtual void onEvents(uint32_t events) = 0;
};

/// Something the loop destroys after the current event batch.
class Deferred {
 public:
  virtual ~Deferred() = default;
};

class EventLoop;

/// Something that wants one call after the current batch of events, e.g. to write once what
/// several events queued (an HTTP/2 session coalescing frames of many streams into one write).
class BatchEndHandler {
 public:
  virtual void onBatchEnd() = 0;

 protected:
  ~BatchEndHandler();

 private:
  friend class EventLoop;
  EventLoop* scheduledOn_ = nullptr;
};

class EventLoop {
 public:
  EventLoop();
  ~EventLoop();
  EventLoop(const EventLoop&) = delete;
  EventLoop& operator=(const EventLoop&) = delete;

  /// Registers `fd` for EPOLLIN|EPOLLOUT|EPOLLRDHUP, edge-triggered.
  bool watch(int fd, EventHandler* handler);
  /// Registers `fd` for EPOLLIN only, level-triggered (listening sockets).
  bool watchReadable(int fd, EventHandler* handler);
  void unwatch(int fd);

  /// Runs until stop(). Must be called on the owning thread.
  void run();
  /// Thread-safe: makes run() return after the current batch.
  void stop();
  /// Thread-safe: runs `task` on the loop's thread. Control-plane path only (takes a mutex).
  void post(std::function<void()> task);
  /// Destroys `object` after the current event batch.
  void deferDelete(std::unique_ptr<Deferred> object);
  /// Destroys now what was deferred (for teardown, after run() returned).
  void flushDeferred() {
    // Destructors may defer more objects: they land in deferred_ while the batch is cleared.
    while (!deferred_.empty()) {
      deferredBatch_.swap(deferred_);
      deferredBatch_.clear();
    }
  }
  /// Destroys any owned object after the current event batch.
  template <typename T>
  void deferDestroy(std::unique_ptr<T> object) {
    struct Holder final : Deferred {
      explicit Holder(std::unique_ptr<T> o) : held(std::move(o)) {}
      std::unique_ptr<T> held;
    };
    if (object) deferDelete(std::make_unique<Holder>(std::move(object)));
  }

  /// Calls handler->onBatchEnd() once after the current batch (idempotent until then).
  void callAtBatchEnd(BatchEndHandler* handler) {
    if (handler->scheduledOn_ != nullptr) return;
    handler->scheduledOn_ = this;
    batchEnd_.push_back(handler);
  }
  void cancelBatchEnd(BatchEndHandler* handler);

  TimerWheel& timers() { return timers_; }
  /// Monotonic milliseconds, cached once per loop iteration.
  uint64_t nowMs() const { return timers_.nowMs(); }
  static uint64_t monotonicMs();
  static uint64_t monotonicMicros();

 private:
  class Wakeup;
  void runPosted();
  void runBatchEnd();

  int epollFd_;
  int wakeFd_;
  bool running_ = false;
  std::unique_ptr<Wakeup> wakeHandler_;
  TimerWheel timers_;
  std::vector<std::unique_ptr<Deferred>> deferred_;
  std::vector<std::unique_ptr<Deferred>> deferredBatch_;
  std::vector<BatchEndHandler*> batchEnd_;
  std::mutex postedMutex_;
  std::vector<std::function<void()>> posted_;
  bool stopRequested_ = false;  // guarded by postedMutex_
};

}  // namespace trellis
