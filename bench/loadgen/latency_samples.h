#pragma once
// Every latency sample of a run, kept in full: at the rates a benchmark on loopback reaches
// (well under a million requests per run) exact percentiles cost only a few megabytes.

#include <cstddef>
#include <cstdint>
#include <vector>

namespace trellis::loadgen {

/// Latency percentiles in microseconds.
struct LatencySummary {
  uint64_t count = 0;
  double mean = 0;
  double p50 = 0;
  double p90 = 0;
  double p99 = 0;
  double p999 = 0;
  double max = 0;
};

class LatencySamples {
 public:
  void reserve(size_t n) { samplesNs_.reserve(n); }
  void record(uint64_t latencyNs) { samplesNs_.push_back(latencyNs); }
  size_t size() const { return samplesNs_.size(); }
  /// Sorts the samples (nearest-rank percentiles).
  LatencySummary summarize();

 private:
  std::vector<uint64_t> samplesNs_;
};

}  // namespace trellis::loadgen
