#include "xds/client/backoff.h"

#include <algorithm>

namespace trellis::xds::client {

Backoff::Backoff(uint64_t baseMs, uint64_t maxMs, uint64_t seed)
    : baseMs_(std::max<uint64_t>(baseMs, 1)),
      maxMs_(std::max(maxMs, baseMs_)),
      ceilingMs_(baseMs_),
      random_(seed) {}

uint64_t Backoff::nextDelayMs() {
  uint64_t ceiling = ceilingMs_;
  ceilingMs_ = std::min(maxMs_, ceilingMs_ * 2);
  std::uniform_int_distribution<uint64_t> draw(ceiling - ceiling / 2, ceiling);
  return draw(random_);
}

}  // namespace trellis::xds::client
