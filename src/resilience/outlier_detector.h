#pragma once
// Passive health checking (outlier detection, as Envoy's): every attempt's outcome is reported
// for its endpoint; an endpoint with too many consecutive failures, or a success rate far below
// its peers', is ejected from load balancing for baseEjectionTime × times ejected (capped),
// never more than maxEjectionPercent of the cluster (but at least one endpoint). Lock-free: the
// counters are the endpoints' shared atomics, and the periodic sweep runs on whichever worker
// first reports after it is due.

#include <cstdint>
#include <span>

#include "config/model.h"
#include "resilience/shared_state.h"

namespace trellis::resilience {

/// How an attempt ended, as outlier detection counts it.
enum class Outcome : uint8_t {
  Success,             // a response below 500
  ServerError,         // a 5xx response (status given separately)
  LocalOriginFailure,  // connect failure or timeout, reset, timeout: no response at all
};

class OutlierDetector {
 public:
  /// `endpoints` are the cluster's endpoints (one snapshot's list), `index` the one that served.
  /// Returns true when this report ejected it.
  static bool report(const config::OutlierDetection& config, ClusterShared& cluster,
                     std::span<EndpointHealth* const> endpoints, size_t index, Outcome outcome,
                     int status, int64_t nowMs);
  /// Success-rate ejections and ejection-count decay; runs at most once per interval.
  static void sweepIfDue(const config::OutlierDetection& config, ClusterShared& cluster,
                         std::span<EndpointHealth* const> endpoints, int64_t nowMs);

 private:
  static bool eject(const config::OutlierDetection& config, ClusterShared& cluster,
                    std::span<EndpointHealth* const> endpoints, EndpointHealth& endpoint,
                    int64_t nowMs);
};

}  // namespace trellis::resilience
