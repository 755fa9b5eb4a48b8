#include "common/stats.h"

namespace trellis {

void Histogram::observeMicros(uint64_t micros) {
  size_t i = 0;
  while (i < kBoundsMs.size() && static_cast<double>(micros) > kBoundsMs[i] * 1000.0) ++i;
  buckets_[i].inc();
  count_.inc();
  sumMicros_.inc(micros);
}

std::string escapeLabelValue(const std::string& value) {
  std::string out;
  out.reserve(value.size());
  for (char c : value) {
    if (c == '\\' || c == '"') {
      out += '\\';
      out += c;
    } else if (c == '\n') {
      out += "\\n";
    } else {
      out += c;
    }
  }
  return out;
}

}  // namespace trellis
