#pragma once
// Hashed timing wheel: O(1) arm, re-arm and cancel, so that every connection can afford an idle
// timer that is pushed back on each request without heap operations.

#include <array>
#include <cstdint>
#include <functional>

namespace trellis {

class TimerWheel;

/// A one-shot timer owned by its user; destroying it cancels it.
class Timer {
 public:
  explicit Timer(std::function<void()> onExpiry) : onExpiry_(std::move(onExpiry)) {}
  ~Timer() { cancel(); }
  Timer(const Timer&) = delete;
  Timer& operator=(const Timer&) = delete;

  /// (Re)arms the timer to fire `ms` milliseconds from the wheel's current time.
  void arm(TimerWheel& wheel, uint64_t ms);
  void cancel();
  bool armed() const { return wheel_ != nullptr; }

 private:
  friend class TimerWheel;
  std::function<void()> onExpiry_;
  TimerWheel* wheel_ = nullptr;
  Timer* prev_ = nullptr;
  Timer* next_ = nullptr;
  uint64_t deadlineTick_ = 0;
  uint32_t slot_ = 0;
};

class TimerWheel {
 public:
  static constexpr uint64_t kTickMs = 4;
  static constexpr uint32_t kSlots = 1024;  // ~4 s per revolution; longer timers wait rounds

  explicit TimerWheel(uint64_t nowMs);
  /// Fires every timer whose deadline is at or before `nowMs`.
  void advance(uint64_t nowMs);
  /// Milliseconds until the next slot holding a timer, or -1 when none is armed.
  int nextTimeoutMs() const;
  uint64_t nowMs() const { return nowMs_; }
  size_t armedCount() const { return armed_; }

 private:
  friend class Timer;
  void link(Timer& t);
  void unlink(Timer& t);

  std::array<Timer*, kSlots> slots_{};
  std::array<uint64_t, kSlots / 64> occupied_{};  // bitmap of non-empty slots
  uint64_t nowMs_;
  uint64_t currentTick_;
  size_t armed_ = 0;
};

}  // namespace trellis
