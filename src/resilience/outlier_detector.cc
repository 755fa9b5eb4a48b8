#include "resilience/outlier_detector.h"

#include <algorithm>
#include <cmath>
#include <vector>

namespace trellis::resilience {
namespace {

void resetIfSet(std::atomic<uint32_t>& counter) {
  // Most reports are successes: read first, so that they do not write a shared cache line.
  if (counter.load(std::memory_order_relaxed) != 0) counter.store(0, std::memory_order_relaxed);
}

bool reached(uint32_t threshold, uint32_t count) {
  return threshold != 0 && count >= threshold;
}

}  // namespace

bool OutlierDetector::report(const config::OutlierDetection& config, ClusterShared& cluster,
                             std::span<EndpointHealth* const> endpoints, size_t index,
                             Outcome outcome, int status, int64_t nowMs) {
  if (index >= endpoints.size() || endpoints[index] == nullptr) return false;
  EndpointHealth& endpoint = *endpoints[index];
  sweepIfDue(config, cluster, endpoints, nowMs);
  if (config.successRateStdevFactor != 0) {
    endpoint.sweepTotal.fetch_add(1, std::memory_order_relaxed);
    if (outcome == Outcome::Success) endpoint.sweepSuccess.fetch_add(1, std::memory_order_relaxed);
  }
  if (outcome == Outcome::Success) {
    resetIfSet(endpoint.consecutive5xx);
    resetIfSet(endpoint.consecutiveGateway);
    resetIfSet(endpoint.consecutiveLocal);
    return false;
  }
  // As Envoy does without split_external_local_origin_errors, failures with no response count
  // as 5xx and as gateway errors too.
  const bool local = outcome == Outcome::LocalOriginFailure;
  const bool gateway = local || status == 502 || status == 503 || status == 504;
  const uint32_t errors = endpoint.consecutive5xx.fetch_add(1, std::memory_order_relaxed) + 1;
  uint32_t gatewayErrors = 0;
  if (gateway) {
    gatewayErrors = endpoint.consecutiveGateway.fetch_add(1, std::memory_order_relaxed) + 1;
  } else {
    resetIfSet(endpoint.consecutiveGateway);
  }
  uint32_t localErrors = 0;
  if (local) {
    localErrors = endpoint.consecutiveLocal.fetch_add(1, std::memory_order_relaxed) + 1;
  } else {
    resetIfSet(endpoint.consecutiveLocal);
  }
  if (reached(config.consecutive5xx, errors) ||
      reached(config.consecutiveGatewayErrors, gatewayErrors) ||
      reached(config.consecutiveLocalOriginFailures, localErrors)) {
    return eject(config, cluster, endpoints, endpoint, nowMs);
  }
  return false;
}

bool OutlierDetector::eject(const config::OutlierDetection& config, ClusterShared& cluster,
                            std::span<EndpointHealth* const> endpoints, EndpointHealth& endpoint,
                            int64_t nowMs) {
  int64_t until = endpoint.ejectedUntilMs.load(std::memory_order_acquire);
  if (until > nowMs) return false;
  // One worker decides at a time, so that two cannot both see room under maxEjectionPercent.
  // A worker that finds the decision taken skips it: the endpoint's failure counts stay, and
  // its next failure asks again. Never a wait.
  if (cluster.ejecting.exchange(true, std::memory_order_acquire)) return false;
  struct Unlock {
    std::atomic<bool>& flag;
    ~Unlock() { flag.store(false, std::memory_order_release); }
  } unlock{cluster.ejecting};
  size_t ejected = 0;
  for (const EndpointHealth* other : endpoints) {
    if (other != nullptr && other->ejected(nowMs)) ++ejected;
  }
  const size_t allowed = std::max<size_t>(1, endpoints.size() * config.maxEjectionPercent / 100);
  if (ejected >= allowed) return false;
  const uint32_t times = endpoint.timesEjected.load(std::memory_order_relaxed) + 1;
  const int64_t base = config.baseEjectionTime.count();
  const int64_t duration =
      std::min<int64_t>(base * times, std::max<int64_t>(base, config.maxEjectionTime.count()));
  if (!endpoint.ejectedUntilMs.compare_exchange_strong(until, nowMs + duration,
                                                       std::memory_order_acq_rel)) {
    return false;  // another worker ejected it first
  }
  endpoint.timesEjected.store(times, std::memory_order_relaxed);
  endpoint.lastEjectionEndMs.store(nowMs + duration, std::memory_order_relaxed);
  endpoint.consecutive5xx.store(0, std::memory_order_relaxed);
  endpoint.consecutiveGateway.store(0, std::memory_order_relaxed);
  endpoint.consecutiveLocal.store(0, std::memory_order_relaxed);
  cluster.healthVersion.fetch_add(1, std::memory_order_release);
  return true;
}

void OutlierDetector::sweepIfDue(const config::OutlierDetection& config, ClusterShared& cluster,
                                 std::span<EndpointHealth* const> endpoints, int64_t nowMs) {
  int64_t due = cluster.nextSweepMs.load(std::memory_order_relaxed);
  if (due > nowMs) return;
  if (!cluster.nextSweepMs.compare_exchange_strong(due, nowMs + config.interval.count(),
                                                   std::memory_order_acq_rel)) {
    return;
  }
  if (due == 0) return;  // first report: the interval starts now
  // An endpoint that stayed in rotation for a whole interval earns one ejection back.
  for (EndpointHealth* endpoint : endpoints) {
    if (endpoint == nullptr || endpoint->ejected(nowMs)) continue;
    uint32_t times = endpoint->timesEjected.load(std::memory_order_relaxed);
    if (times > 0 &&
        endpoint->lastEjectionEndMs.load(std::memory_order_relaxed) + config.interval.count() <=
            nowMs) {
      endpoint->timesEjected.store(times - 1, std::memory_order_relaxed);
    }
  }
  if (config.successRateStdevFactor == 0) return;
  struct Rate {
    EndpointHealth* endpoint;
    double rate;
  };
  std::vector<Rate> rates;
  for (EndpointHealth* endpoint : endpoints) {
    if (endpoint == nullptr) continue;
    const uint32_t total = endpoint->sweepTotal.exchange(0, std::memory_order_relaxed);
    const uint32_t success = endpoint->sweepSuccess.exchange(0, std::memory_order_relaxed);
    if (total >= config.successRateRequestVolume && total > 0) {
      rates.push_back({endpoint, 100.0 * success / total});
    }
  }
  if (rates.size() < config.successRateMinimumHosts || rates.empty()) return;
  double mean = 0;
  for (const Rate& r : rates) mean += r.rate;
  mean /= static_cast<double>(rates.size());
  double variance = 0;
  for (const Rate& r : rates) variance += (r.rate - mean) * (r.rate - mean);
  const double stdev = std::sqrt(variance / static_cast<double>(rates.size()));
  const double threshold = mean - config.successRateStdevFactor / 1000.0 * stdev;
  for (const Rate& r : rates) {
    if (r.rate < threshold) eject(config, cluster, endpoints, *r.endpoint, nowMs);
  }
}

}  // namespace trellis::resilience
