#pragma once
// Local rate limiting: a token bucket shared by every worker of the proxy, kept as one atomic
// "theoretical arrival time" (GCRA, the generic cell rate algorithm), so admitting a request is
// one compare-and-swap and the admitted rate is exact whatever worker a request lands on.
// Keyed limits (per header value or source address) give each key its own bucket in a fixed
// table; two live keys that hash to the same slot share it (the table is sized so that this is
// rare, and sharing only makes the limit stricter for those two).

#include <atomic>
#include <cstdint>
#include <memory>
#include <string_view>

#include "config/model.h"

namespace trellis::resilience {

class RateLimiter {
 public:
  explicit RateLimiter(const config::LocalRateLimit& limit);

  /// Takes one token from the bucket of `key` (ignored for unkeyed limits); false = limited.
  bool tryAcquire(std::string_view key, int64_t nowMicros);
  /// Seconds until the bucket of `key` holds a token again (for `retry-after`), at least 1.
  uint32_t retryAfterSeconds(std::string_view key, int64_t nowMicros) const;

  const config::LocalRateLimit& limit() const { return limit_; }

  static constexpr size_t kKeySlots = 4096;

 private:
  struct Slot {
    std::atomic<uint64_t> key{0};
    std::atomic<int64_t> arrival{0};  // theoretical arrival time, µs; 0 = bucket full
  };
  Slot& slotFor(std::string_view key, int64_t nowMicros);
  bool admit(std::atomic<int64_t>& arrival, int64_t nowMicros);

  config::LocalRateLimit limit_;
  int64_t emissionMicros_;   // one token's worth of time
  int64_t toleranceMicros_;  // burst: (maxTokens - 1) tokens' worth
  std::unique_ptr<Slot[]> slots_;
};

}  // namespace trellis::resilience
