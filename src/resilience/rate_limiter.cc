#include "resilience/rate_limiter.h"

#include <algorithm>

#include "upstream/lb/load_balancer.h"

namespace trellis::resilience {

RateLimiter::RateLimiter(const config::LocalRateLimit& limit)
    : limit_(limit),
      emissionMicros_(std::max<int64_t>(
          limit.fillInterval.count() * 1000 / std::max<uint32_t>(limit.tokensPerFill, 1), 1)),
      toleranceMicros_(emissionMicros_ * (std::max<uint32_t>(limit.maxTokens, 1) - 1)),
      slots_(std::make_unique<Slot[]>(limit.key == config::LocalRateLimit::Key::None ? 1
                                                                                     : kKeySlots)) {
}

RateLimiter::Slot& RateLimiter::slotFor(std::string_view key, int64_t nowMicros) {
  if (limit_.key == config::LocalRateLimit::Key::None) return slots_[0];
  const uint64_t hash = upstream::stableHash(key) | 1;  // 0 marks an unused slot
  Slot& slot = slots_[hash % kKeySlots];
  uint64_t owner = slot.key.load(std::memory_order_acquire);
  if (owner != hash) {
    // A new key takes the slot over only once the previous key's bucket is full again, so
    // keys that collide cannot hand each other fresh bursts.
    if (slot.arrival.load(std::memory_order_acquire) <= nowMicros &&
        slot.key.compare_exchange_strong(owner, hash, std::memory_order_acq_rel)) {
      slot.arrival.store(0, std::memory_order_release);
    }
  }
  return slot;
}

bool RateLimiter::admit(std::atomic<int64_t>& arrival, int64_t nowMicros) {
  int64_t tat = arrival.load(std::memory_order_acquire);
  while (true) {
    const int64_t start = std::max(tat, nowMicros);
    if (start - nowMicros > toleranceMicros_) return false;
    if (arrival.compare_exchange_weak(tat, start + emissionMicros_, std::memory_order_acq_rel)) {
      return true;
    }
  }
}

bool RateLimiter::tryAcquire(std::string_view key, int64_t nowMicros) {
  if (limit_.tokensPerFill == 0 || limit_.maxTokens == 0) return false;
  return admit(slotFor(key, nowMicros).arrival, nowMicros);
}

uint32_t RateLimiter::retryAfterSeconds(std::string_view key, int64_t nowMicros) const {
  const Slot* slot = &slots_[0];
  if (limit_.key != config::LocalRateLimit::Key::None) {
    slot = &slots_[(upstream::stableHash(key) | 1) % kKeySlots];
  }
  const int64_t wait = slot->arrival.load(std::memory_order_acquire) - toleranceMicros_ - nowMicros;
  return static_cast<uint32_t>(std::max<int64_t>((wait + 999999) / 1000000, 1));
}

}  // namespace trellis::resilience
