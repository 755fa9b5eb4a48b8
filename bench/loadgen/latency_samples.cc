#include "latency_samples.h"

#include <algorithm>
#include <cmath>

namespace trellis::loadgen {

namespace {

double toMicros(uint64_t ns) {
  return static_cast<double>(ns) / 1000.0;
}

}  // namespace

LatencySummary LatencySamples::summarize() {
  LatencySummary summary;
  summary.count = samplesNs_.size();
  if (samplesNs_.empty()) return summary;
  std::sort(samplesNs_.begin(), samplesNs_.end());
  auto rank = [this](double quantile) {
    auto n = static_cast<double>(samplesNs_.size());
    auto index = static_cast<size_t>(std::ceil(quantile * n));
    return samplesNs_[index == 0 ? 0 : std::min(index, samplesNs_.size()) - 1];
  };
  long double total = 0;
  for (uint64_t sample : samplesNs_) total += sample;
  summary.mean = static_cast<double>(total / samplesNs_.size()) / 1000.0;
  summary.p50 = toMicros(rank(0.50));
  summary.p90 = toMicros(rank(0.90));
  summary.p99 = toMicros(rank(0.99));
  summary.p999 = toMicros(rank(0.999));
  summary.max = toMicros(samplesNs_.back());
  return summary;
}

}  // namespace trellis::loadgen
