#include "resilience/retry_budget.h"

#include <algorithm>

namespace trellis::resilience {

int64_t RetryBudgetWindow::sliceMs(const config::RetryBudget& budget) {
  return std::max<int64_t>(budget.window.count() / kBuckets, 1);
}

RetryBudgetWindow::Bucket& RetryBudgetWindow::current(const config::RetryBudget& budget,
                                                      int64_t nowMs) {
  const int64_t slice = sliceMs(budget);
  const int64_t start = nowMs / slice * slice;  // in ms, so a changed window keeps working
  Bucket& bucket = buckets_[static_cast<size_t>(nowMs / slice % kBuckets)];
  int64_t seen = bucket.slot.load(std::memory_order_acquire);
  if (seen < start && bucket.slot.compare_exchange_strong(seen, start, std::memory_order_acq_rel)) {
    // This thread moved the bucket to a new slice: it starts empty. A count another worker adds
    // between the two stores may be lost; the budget is a rate, one request either way is noise.
    bucket.requests.store(0, std::memory_order_relaxed);
    bucket.retries.store(0, std::memory_order_relaxed);
  }
  return bucket;
}

void RetryBudgetWindow::recordRequest(const config::RetryBudget& budget, int64_t nowMs) {
  current(budget, nowMs).requests.fetch_add(1, std::memory_order_relaxed);
}

RetryBudgetWindow::Totals RetryBudgetWindow::totals(const config::RetryBudget& budget,
                                                    int64_t nowMs) const {
  const int64_t window = std::max<int64_t>(budget.window.count(), 1);
  Totals sum;
  for (const Bucket& bucket : buckets_) {
    const int64_t start = bucket.slot.load(std::memory_order_acquire);
    if (start > nowMs - window && start <= nowMs) {
      sum.requests += bucket.requests.load(std::memory_order_relaxed);
      sum.retries += bucket.retries.load(std::memory_order_relaxed);
    }
  }
  return sum;
}

bool RetryBudgetWindow::tryRetry(const config::RetryBudget& budget, int64_t nowMs) {
  Bucket& bucket = current(budget, nowMs);
  const Totals sum = totals(budget, nowMs);
  const uint64_t byShare = sum.requests * budget.percent / 100;
  const uint64_t floor =
      uint64_t{budget.minRetriesPerSecond} * static_cast<uint64_t>(budget.window.count()) / 1000;
  if (sum.retries + 1 > std::max(byShare, floor)) return false;
  bucket.retries.fetch_add(1, std::memory_order_relaxed);
  return true;
}

}  // namespace trellis::resilience
