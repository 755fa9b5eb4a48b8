#pragma once
// The retry budget of one cluster, shared by every worker of the proxy: over a sliding window,
// retries may be at most `percent` % of the requests (and never fewer than a small floor), so
// that when every endpoint fails, retries add at most that share of load instead of
// multiplying it. Lock-free: the window is ten buckets of atomic counters.

#include <array>
#include <atomic>
#include <cstdint>

#include "config/model.h"

namespace trellis::resilience {

class RetryBudgetWindow {
 public:
  /// A first attempt of a request was sent (retries are not requests).
  void recordRequest(const config::RetryBudget& budget, int64_t nowMs);
  /// Takes one retry from the budget if it has room; false when exhausted.
  bool tryRetry(const config::RetryBudget& budget, int64_t nowMs);

  struct Totals {
    uint64_t requests = 0;
    uint64_t retries = 0;
  };
  Totals totals(const config::RetryBudget& budget, int64_t nowMs) const;

 private:
  static constexpr int64_t kBuckets = 10;
  struct Bucket {
    std::atomic<int64_t> slot{-1};  // start (ms) of the window slice the counts belong to
    std::atomic<uint32_t> requests{0};
    std::atomic<uint32_t> retries{0};
  };
  Bucket& current(const config::RetryBudget& budget, int64_t nowMs);
  static int64_t sliceMs(const config::RetryBudget& budget);

  std::array<Bucket, kBuckets> buckets_;
};

}  // namespace trellis::resilience
