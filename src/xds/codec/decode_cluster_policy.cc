// A cluster's resilience policies → model (the reverse of encode_cluster_policy.cc). Fields a
// control plane other than trellisd leaves out mean what they mean to Envoy: no circuit_breakers
// gives Envoy's thresholds (max_retries 3), an outlier_detection with only consecutive_5xx set
// also runs success-rate detection (stdev factor 1900), a health check without
// expected_statuses expects 200.

#include <fmt/format.h>

#include <algorithm>
#include <cmath>

#include "config/syntax.h"
#include "xds/codec/policy.h"

namespace trellis::xds::detail {
namespace {

using envoy::config::cluster::v3::Cluster;
using envoy::config::cluster::v3::OutlierDetection;
using envoy::config::core::v3::HealthCheck;
using google::protobuf::UInt32Value;

// Envoy's defaults for the fields of a threshold that are absent.
constexpr uint32_t kEnvoyMaxConnections = 1024;
constexpr uint32_t kEnvoyMaxPendingRequests = 1024;
constexpr uint32_t kEnvoyMaxRequests = 1024;
constexpr uint32_t kEnvoyMaxRetries = 3;
constexpr uint32_t kEnvoyConsecutiveErrors = 5;
constexpr uint32_t kEnvoyStdevFactor = 1900;
constexpr uint32_t kEnvoyHealthyPanicThreshold = 50;

bool checkText(const std::string& error, Problems& problems, const std::string& path) {
  return error.empty() || problems.fail(path, error);
}

bool decodeCircuitBreakers(const Cluster& in, Problems& problems, config::CircuitBreaker& out) {
  out = {kEnvoyMaxConnections, kEnvoyMaxPendingRequests, kEnvoyMaxRequests, kEnvoyMaxRetries};
  if (!in.has_circuit_breakers()) return true;
  const auto& breakers = in.circuit_breakers();
  if (!onlyFields(breakers, {"thresholds"}, problems, "circuit_breakers")) return false;
  if (breakers.thresholds_size() > 1) {
    return problems.fail("circuit_breakers.thresholds",
                         "only one threshold (priority DEFAULT) is supported");
  }
  if (breakers.thresholds().empty()) return true;
  const auto& threshold = breakers.thresholds(0);
  const std::string path = "circuit_breakers.thresholds[0]";
  if (threshold.has_retry_budget()) {
    return problems.fail(path + ".retry_budget",
                         "unsupported (Envoy's budget caps concurrent retries; Trellis' budget is "
                         "a rate, in metadata retryBudget)");
  }
  if (!onlyFields(
          threshold,
          {"priority", "max_connections", "max_pending_requests", "max_requests", "max_retries"},
          problems, path)) {
    return false;
  }
  if (threshold.priority() != envoy::config::core::v3::DEFAULT) {
    return problems.fail(path + ".priority", "only priority DEFAULT is supported");
  }
  if (threshold.has_max_connections()) out.maxConnections = threshold.max_connections().value();
  if (threshold.has_max_pending_requests()) {
    out.maxPendingRequests = threshold.max_pending_requests().value();
  }
  if (threshold.has_max_requests()) out.maxRequests = threshold.max_requests().value();
  if (threshold.has_max_retries()) out.maxRetries = threshold.max_retries().value();
  return true;
}

// An enforcing_* percentage: absent → `enabledByDefault`, 0 → off, 100 → on.
std::optional<bool> enforcing(bool present, const UInt32Value& value, bool enabledByDefault,
                              Problems& problems, const std::string& path) {
  if (!present) return enabledByDefault;
  if (value.value() == 0) return false;
  if (value.value() == 100) return true;
  problems.fail(path, fmt::format("only 0 (off) or 100 are supported, got {}", value.value()));
  return std::nullopt;
}

// The threshold of a detector that is on: absent → Envoy's 5.
std::optional<uint32_t> threshold(bool present, const UInt32Value& value, Problems& problems,
                                  const std::string& path, std::string_view enforcingField) {
  if (!present) return kEnvoyConsecutiveErrors;
  if (value.value() == 0) {
    problems.fail(path,
                  fmt::format("must be at least 1 (set {} to 0 to turn it off)", enforcingField));
    return std::nullopt;
  }
  return value.value();
}

// Optional duration with a default.
bool durationOr(bool present, const google::protobuf::Duration& value, Problems& problems,
                const std::string& path, config::Duration& out) {
  if (!present) return true;
  auto duration = toDuration(value, problems, path);
  if (!duration) return false;
  out = *duration;
  return true;
}

bool decodeOutlierDetection(const OutlierDetection& in, Problems& problems,
                            config::OutlierDetection& out) {
  const std::string path = "outlier_detection";
  if (!onlyFields(in,
                  {"consecutive_5xx", "enforcing_consecutive_5xx", "consecutive_gateway_failure",
                   "enforcing_consecutive_gateway_failure", "split_external_local_origin_errors",
                   "consecutive_local_origin_failure", "enforcing_consecutive_local_origin_failure",
                   "interval", "base_ejection_time", "max_ejection_time", "max_ejection_percent",
                   "always_eject_one_host", "success_rate_minimum_hosts",
                   "success_rate_request_volume", "success_rate_stdev_factor",
                   "enforcing_success_rate", "enforcing_local_origin_success_rate",
                   "enforcing_failure_percentage", "enforcing_failure_percentage_local_origin"},
                  problems, path)) {
    return false;
  }
  // Detectors the model does not have may only be off.
  const struct {
    const char* field;
    bool present;
    uint32_t value;
  } unsupported[] = {
      {"enforcing_local_origin_success_rate", in.has_enforcing_local_origin_success_rate(),
       in.enforcing_local_origin_success_rate().value()},
      {"enforcing_failure_percentage", in.has_enforcing_failure_percentage(),
       in.enforcing_failure_percentage().value()},
      {"enforcing_failure_percentage_local_origin",
       in.has_enforcing_failure_percentage_local_origin(),
       in.enforcing_failure_percentage_local_origin().value()},
  };
  for (const auto& detector : unsupported) {
    if (detector.present && detector.value != 0) {
      return problems.fail(fieldPath(path, detector.field),
                           "only 0 is supported (Trellis has no such detector)");
    }
  }

  auto on5xx = enforcing(in.has_enforcing_consecutive_5xx(), in.enforcing_consecutive_5xx(), true,
                         problems, path + ".enforcing_consecutive_5xx");
  if (!on5xx) return false;
  out.consecutive5xx = 0;
  if (*on5xx) {
    auto value = threshold(in.has_consecutive_5xx(), in.consecutive_5xx(), problems,
                           path + ".consecutive_5xx", "enforcing_consecutive_5xx");
    if (!value) return false;
    out.consecutive5xx = *value;
  }

  auto onGateway = enforcing(in.has_enforcing_consecutive_gateway_failure(),
                             in.enforcing_consecutive_gateway_failure(), false, problems,
                             path + ".enforcing_consecutive_gateway_failure");
  if (!onGateway) return false;
  out.consecutiveGatewayErrors = 0;
  if (*onGateway) {
    auto value =
        threshold(in.has_consecutive_gateway_failure(), in.consecutive_gateway_failure(), problems,
                  path + ".consecutive_gateway_failure", "enforcing_consecutive_gateway_failure");
    if (!value) return false;
    out.consecutiveGatewayErrors = *value;
  }

  // Envoy counts local-origin failures apart only with split_external_local_origin_errors.
  const bool split = in.split_external_local_origin_errors();
  auto onLocal = enforcing(in.has_enforcing_consecutive_local_origin_failure(),
                           in.enforcing_consecutive_local_origin_failure(), split, problems,
                           path + ".enforcing_consecutive_local_origin_failure");
  if (!onLocal) return false;
  if (!split && (*onLocal || in.has_consecutive_local_origin_failure())) {
    return problems.fail(path + ".consecutive_local_origin_failure",
                         "only with split_external_local_origin_errors");
  }
  out.consecutiveLocalOriginFailures = 0;
  if (*onLocal) {
    auto value = threshold(
        in.has_consecutive_local_origin_failure(), in.consecutive_local_origin_failure(), problems,
        path + ".consecutive_local_origin_failure", "enforcing_consecutive_local_origin_failure");
    if (!value) return false;
    out.consecutiveLocalOriginFailures = *value;
  }

  out.interval = config::Duration(10000);
  out.baseEjectionTime = config::Duration(30000);
  out.maxEjectionTime = config::Duration(300000);
  if (!durationOr(in.has_interval(), in.interval(), problems, path + ".interval", out.interval) ||
      !durationOr(in.has_base_ejection_time(), in.base_ejection_time(), problems,
                  path + ".base_ejection_time", out.baseEjectionTime) ||
      !durationOr(in.has_max_ejection_time(), in.max_ejection_time(), problems,
                  path + ".max_ejection_time", out.maxEjectionTime)) {
    return false;
  }
  out.maxEjectionPercent = 10;
  if (in.has_max_ejection_percent()) {
    auto percent = inRange(in.max_ejection_percent().value(), 0, 100, problems,
                           path + ".max_ejection_percent");
    if (!percent) return false;
    out.maxEjectionPercent = static_cast<uint32_t>(*percent);
  }

  out.successRateMinimumHosts =
      in.has_success_rate_minimum_hosts() ? in.success_rate_minimum_hosts().value() : 5;
  out.successRateRequestVolume =
      in.has_success_rate_request_volume() ? in.success_rate_request_volume().value() : 100;
  auto onSuccessRate = enforcing(in.has_enforcing_success_rate(), in.enforcing_success_rate(), true,
                                 problems, path + ".enforcing_success_rate");
  if (!onSuccessRate) return false;
  out.successRateStdevFactor = 0;
  if (*onSuccessRate) {
    out.successRateStdevFactor = in.has_success_rate_stdev_factor()
                                     ? in.success_rate_stdev_factor().value()
                                     : kEnvoyStdevFactor;
    if (out.successRateStdevFactor == 0) {
      return problems.fail(path + ".success_rate_stdev_factor",
                           "must be at least 1 (set enforcing_success_rate to 0 to turn "
                           "success-rate detection off)");
    }
  }
  return true;
}

bool decodeExpectedStatuses(const HealthCheck::HttpHealthCheck& http, Problems& problems,
                            const std::string& path, config::HealthCheck& out) {
  out.expectedStatuses.clear();
  if (http.expected_statuses().empty()) {
    out.expectedStatuses.emplace_back(200, 200);  // Envoy's default
    return true;
  }
  for (int i = 0; i < http.expected_statuses_size(); ++i) {
    const auto& range = http.expected_statuses(i);
    const std::string rangePath = fieldPath(path, "expected_statuses", static_cast<size_t>(i));
    if (range.start() < 100 || range.start() > 599 || range.end() <= range.start() ||
        range.end() > 600) {
      return problems.fail(rangePath, fmt::format("[{}, {}) is not a range of status codes in "
                                                  "[100, 600) (end is exclusive)",
                                                  range.start(), range.end()));
    }
    out.expectedStatuses.emplace_back(static_cast<uint16_t>(range.start()),
                                      static_cast<uint16_t>(range.end() - 1));
  }
  return true;
}

bool decodeHealthCheck(const Cluster& in, Problems& problems, config::HealthCheck& out) {
  if (in.health_checks_size() > 1) {
    return problems.fail("health_checks", "only one health check is supported");
  }
  const HealthCheck& check = in.health_checks(0);
  const std::string path = "health_checks[0]";
  if (!onlyFields(check,
                  {"timeout", "interval", "unhealthy_threshold", "healthy_threshold",
                   "http_health_check", "grpc_health_check", "tcp_health_check"},
                  problems, path)) {
    return false;
  }
  // Envoy requires these four.
  if (!check.has_timeout()) return problems.fail(path + ".timeout", "missing");
  if (!check.has_interval()) return problems.fail(path + ".interval", "missing");
  if (!check.has_unhealthy_threshold()) {
    return problems.fail(path + ".unhealthy_threshold", "missing");
  }
  if (!check.has_healthy_threshold()) return problems.fail(path + ".healthy_threshold", "missing");
  auto timeout = toDuration(check.timeout(), problems, path + ".timeout");
  auto interval =
      timeout ? toDuration(check.interval(), problems, path + ".interval") : std::nullopt;
  if (!interval) return false;
  out.timeout = *timeout;
  out.interval = *interval;
  auto unhealthy = inRange(check.unhealthy_threshold().value(), 1, UINT32_MAX, problems,
                           path + ".unhealthy_threshold");
  auto healthy = unhealthy ? inRange(check.healthy_threshold().value(), 1, UINT32_MAX, problems,
                                     path + ".healthy_threshold")
                           : std::nullopt;
  if (!healthy) return false;
  out.unhealthyThreshold = static_cast<uint32_t>(*unhealthy);
  out.healthyThreshold = static_cast<uint32_t>(*healthy);
  switch (check.health_checker_case()) {
    case HealthCheck::kHttpHealthCheck: {
      const auto& http = check.http_health_check();
      const std::string httpPath = path + ".http_health_check";
      if (!onlyFields(http, {"host", "path", "expected_statuses"}, problems, httpPath)) {
        return false;
      }
      out.type = config::HealthCheck::Type::Http;
      if (http.path().empty() || http.path()[0] != '/') {
        return problems.fail(httpPath + ".path", "must start with '/'");
      }
      if (!checkText(config::syntax::checkHeaderValue(http.path()), problems, httpPath + ".path") ||
          (!http.host().empty() && !checkText(config::syntax::checkHeaderValue(http.host()),
                                              problems, httpPath + ".host"))) {
        return false;
      }
      out.path = http.path();
      out.host = http.host();
      return decodeExpectedStatuses(http, problems, httpPath, out);
    }
    case HealthCheck::kGrpcHealthCheck: {
      const auto& grpc = check.grpc_health_check();
      const std::string grpcPath = path + ".grpc_health_check";
      if (!onlyFields(grpc, {"service_name"}, problems, grpcPath)) return false;
      if (!grpc.service_name().empty() &&
          !checkText(config::syntax::checkHeaderValue(grpc.service_name()), problems,
                     grpcPath + ".service_name")) {
        return false;
      }
      out.type = config::HealthCheck::Type::Grpc;
      out.grpcService = grpc.service_name();
      return true;
    }
    case HealthCheck::kTcpHealthCheck:
      // send/receive payloads are not in the model: a TCP check only connects.
      if (!onlyFields(check.tcp_health_check(), {}, problems, path + ".tcp_health_check")) {
        return false;
      }
      out.type = config::HealthCheck::Type::Tcp;
      return true;
    default:
      return problems.fail(path,
                           "missing http_health_check, grpc_health_check or tcp_health_check");
  }
}

bool decodePanicThreshold(const Cluster& in, Problems& problems, uint32_t& out) {
  out = kEnvoyHealthyPanicThreshold;
  if (!in.has_common_lb_config()) return true;
  const auto& common = in.common_lb_config();
  if (!onlyFields(common, {"healthy_panic_threshold"}, problems, "common_lb_config")) return false;
  if (!common.has_healthy_panic_threshold()) return true;
  const double value = common.healthy_panic_threshold().value();
  if (!std::isfinite(value) || value < 0 || value > 100 || value != std::floor(value)) {
    return problems.fail("common_lb_config.healthy_panic_threshold",
                         fmt::format("must be a whole percentage in [0, 100], got {}", value));
  }
  out = static_cast<uint32_t>(value);
  return true;
}

}  // namespace

bool readRateLimit(FieldsReader& settings, std::string_view key,
                   std::optional<config::LocalRateLimit>& out) {
  Problems& problems = settings.problems();
  const Struct* fields = settings.object(key);
  if (fields == nullptr) return !problems.failed();
  const std::string path = settings.pathOf(key);
  FieldsReader reader(*fields, problems, path);
  config::LocalRateLimit limit;
  auto maxTokens = reader.integer("maxTokens", 1, UINT32_MAX);
  auto tokensPerFill = reader.integer("tokensPerFill", 1, UINT32_MAX);
  auto fillInterval = reader.duration("fillIntervalMs");
  auto header = reader.string("header");
  auto sourceIp = reader.boolean("sourceIP");
  if (!reader.finish()) return false;
  if (!maxTokens || !tokensPerFill || !fillInterval) {
    return problems.fail(path,
                         "expected {maxTokens, tokensPerFill, fillIntervalMs} and at most "
                         "one of header or sourceIP");
  }
  limit.maxTokens = static_cast<uint32_t>(*maxTokens);
  limit.tokensPerFill = static_cast<uint32_t>(*tokensPerFill);
  limit.fillInterval = *fillInterval;
  if (header && sourceIp) return problems.fail(path, "set header or sourceIP, not both");
  if (header) {
    if (!checkText(config::syntax::checkHeaderName(*header), problems, reader.pathOf("header"))) {
      return false;
    }
    limit.key = config::LocalRateLimit::Key::Header;
    limit.header = config::syntax::toLower(*header);
  } else if (sourceIp) {
    if (!*sourceIp) return problems.fail(reader.pathOf("sourceIP"), "must be true when set");
    limit.key = config::LocalRateLimit::Key::SourceIp;
  }
  out = std::move(limit);
  return true;
}

bool decodeClusterPolicy(const Cluster& in, Problems& problems, config::Cluster& out) {
  if (!decodeCircuitBreakers(in, problems, out.circuitBreaker) ||
      !decodePanicThreshold(in, problems, out.healthyPanicThreshold)) {
    return false;
  }
  if (in.has_outlier_detection()) {
    config::OutlierDetection detection;
    if (!decodeOutlierDetection(in.outlier_detection(), problems, detection)) return false;
    out.outlierDetection = detection;
  }
  if (!in.health_checks().empty()) {
    config::HealthCheck check;
    if (!decodeHealthCheck(in, problems, check)) return false;
    out.healthCheck = std::move(check);
  }
  return true;
}

bool decodeClusterPolicySettings(FieldsReader& settings, config::Cluster& out) {
  Problems& problems = settings.problems();
  if (const Struct* budget = settings.object("retryBudget")) {
    FieldsReader reader(*budget, problems, settings.pathOf("retryBudget"));
    auto percent = reader.integer("percent", 0, 100);
    auto minimum = reader.integer("minRetriesPerSecond", 0, UINT32_MAX);
    auto window = reader.duration("windowMs");
    if (!reader.finish()) return false;
    if (!percent || !minimum || !window) {
      return problems.fail(settings.pathOf("retryBudget"),
                           "expected {percent, minRetriesPerSecond, windowMs}");
    }
    out.retryBudget = {static_cast<uint32_t>(*percent), static_cast<uint32_t>(*minimum), *window};
  }
  if (problems.failed()) return false;
  return readRateLimit(settings, "rateLimit", out.rateLimit);
}

}  // namespace trellis::xds::detail
