// Model → a cluster's resilience policies. Standard fields:
//   circuit_breakers.thresholds[0] (priority DEFAULT): max_connections, max_pending_requests,
//     max_requests, max_retries;
//   outlier_detection: each detector's threshold with its enforcing_* at 100, and enforcing_* 0
//     for the detectors that are off (Envoy turns some on by default); local-origin failures
//     with split_external_local_origin_errors; always_eject_one_host (the model may always
//     eject one endpoint, whatever max_ejection_percent says);
//   health_checks[0]: timeout, interval, thresholds and one of http_health_check (expected
//     statuses as half-open Int64Ranges), grpc_health_check, tcp_health_check;
//   common_lb_config.healthy_panic_threshold.
// metadata["trellis.dev"]: retryBudget {percent, minRetriesPerSecond, windowMs} (Envoy's
// retry_budget caps concurrent retries, ours their rate over a window) and rateLimit.

#include "xds/codec/policy.h"

namespace trellis::xds::detail {
namespace {

using envoy::config::cluster::v3::Cluster;

constexpr uint32_t kEnforced = 100;

void encodeCircuitBreaker(const config::CircuitBreaker& breaker, Cluster& out) {
  auto* threshold = out.mutable_circuit_breakers()->add_thresholds();
  threshold->set_priority(envoy::config::core::v3::DEFAULT);
  threshold->mutable_max_connections()->set_value(breaker.maxConnections);
  threshold->mutable_max_pending_requests()->set_value(breaker.maxPendingRequests);
  threshold->mutable_max_requests()->set_value(breaker.maxRequests);
  threshold->mutable_max_retries()->set_value(breaker.maxRetries);
}

void encodeOutlierDetection(const config::OutlierDetection& od, Cluster& out) {
  auto* detection = out.mutable_outlier_detection();
  if (od.consecutive5xx != 0) detection->mutable_consecutive_5xx()->set_value(od.consecutive5xx);
  detection->mutable_enforcing_consecutive_5xx()->set_value(od.consecutive5xx != 0 ? kEnforced : 0);
  if (od.consecutiveGatewayErrors != 0) {
    detection->mutable_consecutive_gateway_failure()->set_value(od.consecutiveGatewayErrors);
  }
  detection->mutable_enforcing_consecutive_gateway_failure()->set_value(
      od.consecutiveGatewayErrors != 0 ? kEnforced : 0);
  if (od.consecutiveLocalOriginFailures != 0) {
    detection->set_split_external_local_origin_errors(true);
    detection->mutable_consecutive_local_origin_failure()->set_value(
        od.consecutiveLocalOriginFailures);
  }
  detection->mutable_enforcing_consecutive_local_origin_failure()->set_value(
      od.consecutiveLocalOriginFailures != 0 ? kEnforced : 0);
  setDuration(detection->mutable_interval(), od.interval);
  setDuration(detection->mutable_base_ejection_time(), od.baseEjectionTime);
  setDuration(detection->mutable_max_ejection_time(), od.maxEjectionTime);
  detection->mutable_max_ejection_percent()->set_value(od.maxEjectionPercent);
  detection->mutable_always_eject_one_host()->set_value(true);
  detection->mutable_success_rate_minimum_hosts()->set_value(od.successRateMinimumHosts);
  detection->mutable_success_rate_request_volume()->set_value(od.successRateRequestVolume);
  if (od.successRateStdevFactor != 0) {
    detection->mutable_success_rate_stdev_factor()->set_value(od.successRateStdevFactor);
  }
  detection->mutable_enforcing_success_rate()->set_value(od.successRateStdevFactor != 0 ? kEnforced
                                                                                        : 0);
  // Detectors the model does not have.
  detection->mutable_enforcing_local_origin_success_rate()->set_value(0);
  detection->mutable_enforcing_failure_percentage()->set_value(0);
  detection->mutable_enforcing_failure_percentage_local_origin()->set_value(0);
}

void encodeHealthCheck(const config::HealthCheck& hc, Cluster& out) {
  auto* check = out.add_health_checks();
  setDuration(check->mutable_timeout(), hc.timeout);
  setDuration(check->mutable_interval(), hc.interval);
  check->mutable_unhealthy_threshold()->set_value(hc.unhealthyThreshold);
  check->mutable_healthy_threshold()->set_value(hc.healthyThreshold);
  switch (hc.type) {
    case config::HealthCheck::Type::Http: {
      auto* http = check->mutable_http_health_check();
      http->set_path(hc.path);
      http->set_host(hc.host);
      for (const auto& [from, to] : hc.expectedStatuses) {
        auto* range = http->add_expected_statuses();
        range->set_start(from);
        range->set_end(int64_t{to} + 1);  // Envoy's end is exclusive, the model's inclusive
      }
      break;
    }
    case config::HealthCheck::Type::Grpc:
      check->mutable_grpc_health_check()->set_service_name(hc.grpcService);
      break;
    case config::HealthCheck::Type::Tcp:
      check->mutable_tcp_health_check();
      break;
  }
}

}  // namespace

void setRateLimit(Struct& metadata, std::string_view key, const config::LocalRateLimit& limit) {
  Struct& fields = setObject(metadata, key);
  setNumber(fields, "maxTokens", limit.maxTokens);
  setNumber(fields, "tokensPerFill", limit.tokensPerFill);
  setDurationMs(fields, "fillIntervalMs", limit.fillInterval);
  switch (limit.key) {
    case config::LocalRateLimit::Key::None:
      break;
    case config::LocalRateLimit::Key::Header:
      setString(fields, "header", limit.header);
      break;
    case config::LocalRateLimit::Key::SourceIp:
      setBool(fields, "sourceIP", true);
      break;
  }
}

void encodeClusterPolicy(const config::Cluster& cluster, Cluster& out, Struct& metadata) {
  encodeCircuitBreaker(cluster.circuitBreaker, out);
  if (cluster.outlierDetection) encodeOutlierDetection(*cluster.outlierDetection, out);
  if (cluster.healthCheck) encodeHealthCheck(*cluster.healthCheck, out);
  out.mutable_common_lb_config()->mutable_healthy_panic_threshold()->set_value(
      cluster.healthyPanicThreshold);
  Struct& budget = setObject(metadata, "retryBudget");
  setNumber(budget, "percent", cluster.retryBudget.percent);
  setNumber(budget, "minRetriesPerSecond", cluster.retryBudget.minRetriesPerSecond);
  setDurationMs(budget, "windowMs", cluster.retryBudget.window);
  if (cluster.rateLimit) setRateLimit(metadata, "rateLimit", *cluster.rateLimit);
}

}  // namespace trellis::xds::detail
