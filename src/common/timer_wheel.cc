#include "common/timer_wheel.h"

namespace trellis {

void Timer::arm(TimerWheel& wheel, uint64_t ms) {
  cancel();
  // Round up so a timer never fires early.
  deadlineTick_ = (wheel.nowMs_ + ms + TimerWheel::kTickMs - 1) / TimerWheel::kTickMs;
  if (deadlineTick_ <= wheel.currentTick_) deadlineTick_ = wheel.currentTick_ + 1;
  wheel.link(*this);
}

void Timer::cancel() {
  if (wheel_ != nullptr) wheel_->unlink(*this);
}

TimerWheel::TimerWheel(uint64_t nowMs) : nowMs_(nowMs), currentTick_(nowMs / kTickMs) {}

void TimerWheel::link(Timer& t) {
  t.wheel_ = this;
  t.slot_ = static_cast<uint32_t>(t.deadlineTick_ % kSlots);
  t.prev_ = nullptr;
  t.next_ = slots_[t.slot_];
  if (t.next_ != nullptr) t.next_->prev_ = &t;
  slots_[t.slot_] = &t;
  occupied_[t.slot_ / 64] |= uint64_t{1} << (t.slot_ % 64);
  ++armed_;
}

void TimerWheel::unlink(Timer& t) {
  if (t.prev_ != nullptr) {
    t.prev_->next_ = t.next_;
  } else {
    slots_[t.slot_] = t.next_;
    if (t.next_ == nullptr) occupied_[t.slot_ / 64] &= ~(uint64_t{1} << (t.slot_ % 64));
  }
  if (t.next_ != nullptr) t.next_->prev_ = t.prev_;
  t.prev_ = t.next_ = nullptr;
  t.wheel_ = nullptr;
  --armed_;
}

void TimerWheel::advance(uint64_t nowMs) {
  if (nowMs > nowMs_) nowMs_ = nowMs;
  const uint64_t target = nowMs_ / kTickMs;
  // After a long stall, one pass over every slot is enough: each timer's deadline is checked.
  uint64_t tick = currentTick_ + 1;
  if (target > currentTick_ + kSlots) tick = target - kSlots + 1;
  for (; tick <= target; ++tick) {
    currentTick_ = tick;
    uint32_t slot = static_cast<uint32_t>(tick % kSlots);
    Timer* t = slots_[slot];
    while (t != nullptr) {
      Timer* next = t->next_;
      if (t->deadlineTick_ <= tick) {
        unlink(*t);
        t->onExpiry_();  // may re-arm or destroy other timers; `next` is re-read below if so
        // A callback can unlink `next`; restart the slot scan to stay safe.
        next = slots_[slot];
      }
      t = next;
      // Skip timers of later rounds that remain in the slot.
      while (t != nullptr && t->deadlineTick_ > tick) t = t->next_;
    }
  }
  currentTick_ = target;
}

int TimerWheel::nextTimeoutMs() const {
  if (armed_ == 0) return -1;
  for (uint32_t d = 1; d <= kSlots; ++d) {
    uint32_t slot = static_cast<uint32_t>((currentTick_ + d) % kSlots);
    if (occupied_[slot / 64] == 0) {
      // Jump to the end of this empty 64-slot word.
      d += 63 - (slot % 64);
      continue;
    }
    if (occupied_[slot / 64] & (uint64_t{1} << (slot % 64))) {
      uint64_t deadlineMs = (currentTick_ + d) * kTickMs;
      return deadlineMs > nowMs_ ? static_cast<int>(deadlineMs - nowMs_) : 0;
    }
  }
  return static_cast<int>(kSlots * kTickMs);
}

}  // namespace trellis
