#pragma once
// Jittered exponential backoff for reconnecting to the control plane: the ceiling doubles from
// `baseMs` up to `maxMs` with each failure, and each delay is drawn uniformly from the upper half
// of the ceiling, so that proxies restarted together do not reconnect in lockstep while no delay
// collapses to zero.

#include <cstdint>
#include <random>

namespace trellis::xds::client {

class Backoff {
 public:
  Backoff(uint64_t baseMs, uint64_t maxMs, uint64_t seed);

  /// The delay before the next attempt; raises the ceiling for the one after.
  uint64_t nextDelayMs();
  /// After a success: the next delay starts from `baseMs` again.
  void reset() { ceilingMs_ = baseMs_; }
  uint64_t ceilingMs() const { return ceilingMs_; }

 private:
  uint64_t baseMs_;
  uint64_t maxMs_;
  uint64_t ceilingMs_;
  std::mt19937_64 random_;
};

}  // namespace trellis::xds::client
