#pragma once
// Stat primitives. Each worker owns its own instances (single writer), so updates are plain
// relaxed load+store — no locked instructions on the request path. The admin thread reads them
// with relaxed loads and sums the worker shards on scrape.

#include <array>
#include <atomic>
#include <cstdint>
#include <string>

namespace trellis {

class Counter {
 public:
  void inc(uint64_t n = 1) {
    value_.store(value_.load(std::memory_order_relaxed) + n, std::memory_order_relaxed);
  }
  uint64_t value() const { return value_.load(std::memory_order_relaxed); }

 private:
  std::atomic<uint64_t> value_{0};
};

class Gauge {
 public:
  void add(int64_t n = 1) {
    value_.store(value_.load(std::memory_order_relaxed) + n, std::memory_order_relaxed);
  }
  void sub(int64_t n = 1) { add(-n); }
  int64_t value() const { return value_.load(std::memory_order_relaxed); }

 private:
  std::atomic<int64_t> value_{0};
};

/// Latency histogram with fixed bucket bounds in milliseconds (Prometheus `le` labels).
class Histogram {
 public:
  static constexpr std::array<double, 14> kBoundsMs = {0.5, 1,   2.5, 5,    10,   25,   50,
                                                       100, 250, 500, 1000, 2500, 5000, 10000};
  void observeMicros(uint64_t micros);
  uint64_t bucket(size_t i) const { return buckets_[i].value(); }  // non-cumulative; last = +Inf
  uint64_t count() const { return count_.value(); }
  uint64_t sumMicros() const { return sumMicros_.value(); }

 private:
  std::array<Counter, kBoundsMs.size() + 1> buckets_;
  Counter count_;
  Counter sumMicros_;
};

/// Escapes a Prometheus label value (backslash, quote, newline).
std::string escapeLabelValue(const std::string& value);

}  // namespace trellis
