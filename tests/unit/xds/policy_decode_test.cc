// Decoding resilience policies that another control plane wrote (absent fields mean what they
// mean to Envoy), and the NACKs for values the model cannot take, each naming its field.

#include <gtest/gtest.h>

#include <functional>

#include "envoy/config/route/v3/route.pb.h"
#include "envoy/extensions/filters/http/fault/v3/fault.pb.h"
#include "envoy/extensions/filters/http/local_ratelimit/v3/local_rate_limit.pb.h"
#include "envoy/extensions/filters/network/http_connection_manager/v3/http_connection_manager.pb.h"
#include "policy_fixtures.h"
#include "xds/codec/codec.h"

namespace trellis::xds {
namespace {

using envoy::config::cluster::v3::Cluster;
using envoy::config::route::v3::Route;
using envoy::extensions::filters::http::fault::v3::HTTPFault;
using envoy::extensions::filters::network::http_connection_manager::v3::HttpConnectionManager;
using envoy::type::v3::FractionalPercent;
using LocalRateLimitConfig = envoy::extensions::filters::http::local_ratelimit::v3::LocalRateLimit;
using testing::findRule;
using testing::policySnapshot;

class PolicyDecode : public ::testing::Test {
 protected:
  void SetUp() override {
    resources_ = encode(policySnapshot());
    ASSERT_TRUE(decode(resources_).snapshot) << decode(resources_).error;
  }

  Cluster& cluster() { return resources_.clusters[0]; }
  Route& route(const std::string& path) {
    for (auto& host : *resources_.routes[0].mutable_virtual_hosts()) {
      for (Route& route : *host.mutable_routes()) {
        if (route.match().path() == path) return route;
      }
    }
    ADD_FAILURE() << "no route " << path;
    return *resources_.routes[0].mutable_virtual_hosts(0)->mutable_routes(0);
  }
  google::protobuf::Struct& routeSettings(const std::string& path) {
    return (
        *route(path).mutable_metadata()->mutable_filter_metadata())[std::string(kTrellisMetadata)];
  }
  HTTPFault fault(const std::string& path) {
    HTTPFault out;
    EXPECT_TRUE(
        route(path).typed_per_filter_config().at("envoy.filters.http.fault").UnpackTo(&out));
    return out;
  }
  void setFault(const std::string& path, const HTTPFault& value) {
    (*route(path).mutable_typed_per_filter_config())["envoy.filters.http.fault"].PackFrom(value);
  }
  LocalRateLimitConfig rateLimit() {
    LocalRateLimitConfig out;
    EXPECT_TRUE(route("/a")
                    .typed_per_filter_config()
                    .at("envoy.filters.http.local_ratelimit")
                    .UnpackTo(&out));
    return out;
  }
  void setRateLimit(const LocalRateLimitConfig& value) {
    (*route("/a").mutable_typed_per_filter_config())["envoy.filters.http.local_ratelimit"].PackFrom(
        value);
  }
  void editHcm(const std::function<void(HttpConnectionManager&)>& edit) {
    auto* any = resources_.listeners[0]
                    .mutable_filter_chains(0)
                    ->mutable_filters(0)
                    ->mutable_typed_config();
    HttpConnectionManager hcm;
    ASSERT_TRUE(any->UnpackTo(&hcm));
    edit(hcm);
    any->PackFrom(hcm);
  }

  std::shared_ptr<config::Snapshot> decoded() {
    DecodeResult result = decode(resources_);
    EXPECT_TRUE(result.snapshot) << result.error;
    return result.snapshot;
  }
  std::string error() {
    DecodeResult result = decode(resources_);
    EXPECT_EQ(result.snapshot, nullptr);
    return result.error;
  }

  Resources resources_;
};

constexpr const char* kCluster = "Cluster \"shop/api:80\": ";
constexpr const char* kRoutes = "RouteConfiguration \"shop/web\": ";

// ---------------------------------------------------------------------------------------------
// Written by another control plane

TEST_F(PolicyDecode, OutlierDetectionWithOnlyConsecutive5xxTakesEnvoysDefaults) {
  cluster().clear_outlier_detection();
  cluster().mutable_outlier_detection()->mutable_consecutive_5xx()->set_value(7);
  auto snapshot = decoded();
  ASSERT_TRUE(snapshot);
  const auto& od = snapshot->clusters.at("shop/api:80").outlierDetection;
  ASSERT_TRUE(od);
  EXPECT_EQ(od->consecutive5xx, 7u);
  EXPECT_EQ(od->consecutiveGatewayErrors, 0u);  // Envoy enforces it 0% by default
  EXPECT_EQ(od->consecutiveLocalOriginFailures, 0u);
  EXPECT_EQ(od->successRateStdevFactor, 1900u);  // Envoy enforces success rate 100% by default
  EXPECT_EQ(od->successRateMinimumHosts, 5u);
  EXPECT_EQ(od->successRateRequestVolume, 100u);
  EXPECT_EQ(od->interval, config::Duration(10000));
  EXPECT_EQ(od->baseEjectionTime, config::Duration(30000));
  EXPECT_EQ(od->maxEjectionTime, config::Duration(300000));
  EXPECT_EQ(od->maxEjectionPercent, 10u);

  // Empty: Envoy's consecutive_5xx detector (5) is on.
  cluster().clear_outlier_detection();
  cluster().mutable_outlier_detection();
  snapshot = decoded();
  ASSERT_TRUE(snapshot);
  EXPECT_EQ(snapshot->clusters.at("shop/api:80").outlierDetection->consecutive5xx, 5u);

  // Local-origin failures count apart only when split, with Envoy's threshold of 5.
  cluster().mutable_outlier_detection()->set_split_external_local_origin_errors(true);
  snapshot = decoded();
  ASSERT_TRUE(snapshot);
  EXPECT_EQ(snapshot->clusters.at("shop/api:80").outlierDetection->consecutiveLocalOriginFailures,
            5u);
}

TEST_F(PolicyDecode, AbsentThresholdsAndPanicThresholdAreEnvoys) {
  cluster().clear_circuit_breakers();
  cluster().clear_common_lb_config();
  cluster().clear_outlier_detection();
  cluster().clear_health_checks();
  auto snapshot = decoded();
  ASSERT_TRUE(snapshot);
  const config::Cluster& decodedCluster = snapshot->clusters.at("shop/api:80");
  EXPECT_EQ(decodedCluster.circuitBreaker, (config::CircuitBreaker{1024, 1024, 1024, 3}));
  EXPECT_EQ(decodedCluster.healthyPanicThreshold, 50u);
  EXPECT_FALSE(decodedCluster.outlierDetection);
  EXPECT_FALSE(decodedCluster.healthCheck);

  auto* threshold = cluster().mutable_circuit_breakers()->add_thresholds();
  threshold->mutable_max_requests()->set_value(50);
  snapshot = decoded();
  ASSERT_TRUE(snapshot);
  EXPECT_EQ(snapshot->clusters.at("shop/api:80").circuitBreaker,
            (config::CircuitBreaker{1024, 1024, 50, 3}));
}

TEST_F(PolicyDecode, HealthCheckWithoutExpectedStatusesExpects200) {
  auto* http = cluster().mutable_health_checks(0)->mutable_http_health_check();
  http->clear_expected_statuses();
  http->clear_host();
  auto snapshot = decoded();
  ASSERT_TRUE(snapshot);
  const auto& check = snapshot->clusters.at("shop/api:80").healthCheck;
  ASSERT_TRUE(check);
  EXPECT_EQ(check->expectedStatuses, (std::vector<std::pair<uint16_t, uint16_t>>{{200, 200}}));
  EXPECT_EQ(check->host, "");
  EXPECT_EQ(check->path, "/ready");
}

TEST_F(PolicyDecode, ClustersWithoutTrellisMetadataGetTheModelsBudget) {
  cluster().clear_metadata();
  auto snapshot = decoded();
  ASSERT_TRUE(snapshot);
  EXPECT_EQ(snapshot->clusters.at("shop/api:80").retryBudget, config::RetryBudget{});
  EXPECT_FALSE(snapshot->clusters.at("shop/api:80").rateLimit);
}

TEST_F(PolicyDecode, RetryPolicyWithEnvoysDefaults) {
  auto* action = route("/a").mutable_route();
  action->clear_timeout();
  action->clear_idle_timeout();
  action->clear_retry_policy();
  action->mutable_retry_policy()->set_retry_on(" 5xx , unavailable,");
  routeSettings("/a").mutable_fields()->erase("retry");
  routeSettings("/a").mutable_fields()->erase("perTryTimeoutMs");
  auto snapshot = decoded();
  ASSERT_TRUE(snapshot);
  const config::RouteRule* rule = findRule(*snapshot, "/a");
  // An absent timeout is none (the model's default), not Envoy's 15s.
  EXPECT_EQ(rule->timeouts, config::RouteTimeouts{});
  ASSERT_TRUE(rule->retry);
  config::RetryPolicy expected;
  expected.retryOn = config::kRetry5xx;
  expected.retriableGrpcStatuses = 1u << 14;
  EXPECT_EQ(*rule->retry, expected);  // 1 retry, backoff 25ms..250ms, no per-try timeout

  // A per-try timeout without metadata is the retry policy's.
  action->mutable_retry_policy()->mutable_per_try_timeout()->set_nanos(600000000);
  action->mutable_retry_policy()->mutable_retry_back_off()->mutable_base_interval()->set_seconds(1);
  snapshot = decoded();
  ASSERT_TRUE(snapshot);
  rule = findRule(*snapshot, "/a");
  EXPECT_EQ(rule->retry->perTryTimeout, config::Duration(600));
  EXPECT_EQ(rule->timeouts.perTry, config::Duration(0));
  EXPECT_EQ(rule->retry->backoffMax, config::Duration(10000));  // 10 × base, as Envoy
}

TEST_F(PolicyDecode, SharesInEveryDenominatorAndEnvoysDefaultTokensPerFill) {
  HTTPFault value = fault("/a");
  value.mutable_delay()->mutable_percentage()->set_numerator(5);
  value.mutable_delay()->mutable_percentage()->set_denominator(FractionalPercent::HUNDRED);
  value.mutable_abort()->mutable_percentage()->set_numerator(15);
  value.mutable_abort()->mutable_percentage()->set_denominator(FractionalPercent::TEN_THOUSAND);
  setFault("/a", value);
  LocalRateLimitConfig limit = rateLimit();
  limit.mutable_token_bucket()->clear_tokens_per_fill();
  setRateLimit(limit);
  auto snapshot = decoded();
  ASSERT_TRUE(snapshot);
  const config::RouteRule* rule = findRule(*snapshot, "/a");
  EXPECT_EQ(rule->fault->delayPerMillion, 50000u);
  EXPECT_EQ(rule->fault->abortPerMillion, 1500u);
  EXPECT_EQ(rule->rateLimit->tokensPerFill, 1u);
}

TEST_F(PolicyDecode, ConnectionManagerWithoutStreamIdleTimeoutOrPolicyFilters) {
  editHcm([](HttpConnectionManager& hcm) {
    hcm.clear_stream_idle_timeout();
    hcm.mutable_http_filters()->DeleteSubrange(0, 2);
  });
  auto snapshot = decoded();
  ASSERT_TRUE(snapshot);
  EXPECT_EQ(snapshot->listeners[0].http.streamIdleTimeout, config::Duration(300000));
}

// ---------------------------------------------------------------------------------------------
// NACKs: clusters

TEST_F(PolicyDecode, CircuitBreakersTrellisDoesNotHave) {
  auto* breakers = cluster().mutable_circuit_breakers();
  breakers->mutable_thresholds(0)->set_priority(envoy::config::core::v3::HIGH);
  EXPECT_EQ(error(), std::string(kCluster) +
                         "circuit_breakers.thresholds[0].priority: only priority DEFAULT is "
                         "supported");
  breakers->mutable_thresholds(0)->set_priority(envoy::config::core::v3::DEFAULT);
  breakers->mutable_thresholds(0)->mutable_retry_budget()->mutable_budget_percent();
  EXPECT_EQ(error(), std::string(kCluster) +
                         "circuit_breakers.thresholds[0].retry_budget: unsupported (Envoy's "
                         "budget caps concurrent retries; Trellis' budget is a rate, in metadata "
                         "retryBudget)");
  breakers->mutable_thresholds(0)->clear_retry_budget();
  breakers->add_thresholds();
  EXPECT_EQ(error(), std::string(kCluster) +
                         "circuit_breakers.thresholds: only one threshold (priority DEFAULT) is "
                         "supported");
}

TEST_F(PolicyDecode, OutlierDetectionRangesAndPartialEnforcement) {
  auto* od = cluster().mutable_outlier_detection();
  od->mutable_max_ejection_percent()->set_value(101);
  EXPECT_EQ(error(), std::string(kCluster) +
                         "outlier_detection.max_ejection_percent: 101 is out of range [0, 100]");
  od->mutable_max_ejection_percent()->set_value(100);
  od->mutable_enforcing_consecutive_5xx()->set_value(50);
  EXPECT_EQ(error(), std::string(kCluster) +
                         "outlier_detection.enforcing_consecutive_5xx: only 0 (off) or 100 are "
                         "supported, got 50");
  od->mutable_enforcing_consecutive_5xx()->set_value(100);
  od->mutable_consecutive_5xx()->set_value(0);
  EXPECT_EQ(error(), std::string(kCluster) +
                         "outlier_detection.consecutive_5xx: must be at least 1 (set "
                         "enforcing_consecutive_5xx to 0 to turn it off)");
  od->mutable_consecutive_5xx()->set_value(5);
  od->mutable_interval()->set_seconds(-1);
  EXPECT_EQ(error(),
            std::string(kCluster) + "outlier_detection.interval: must be a non-negative duration");
  od->mutable_interval()->set_seconds(1);
  od->set_split_external_local_origin_errors(false);
  EXPECT_EQ(error(), std::string(kCluster) +
                         "outlier_detection.consecutive_local_origin_failure: only with "
                         "split_external_local_origin_errors");
  od->set_split_external_local_origin_errors(true);
  od->mutable_enforcing_failure_percentage()->set_value(100);
  EXPECT_EQ(error(), std::string(kCluster) +
                         "outlier_detection.enforcing_failure_percentage: only 0 is supported "
                         "(Trellis has no such detector)");
  od->mutable_enforcing_failure_percentage()->set_value(0);
  od->mutable_failure_percentage_threshold()->set_value(90);
  EXPECT_EQ(error(),
            std::string(kCluster) + "outlier_detection: unsupported failure_percentage_threshold");
}

TEST_F(PolicyDecode, HealthChecksTrellisCannotRun) {
  auto* check = cluster().mutable_health_checks(0);
  auto* range = check->mutable_http_health_check()->mutable_expected_statuses(0);
  range->set_end(range->start());
  EXPECT_EQ(error(), std::string(kCluster) +
                         "health_checks[0].http_health_check.expected_statuses[0]: [200, 200) is "
                         "not a range of status codes in [100, 600) (end is exclusive)");
  range->set_end(601);
  EXPECT_NE(error().find("[200, 601)"), std::string::npos);
  range->set_end(205);
  check->mutable_http_health_check()->set_path("ready");
  EXPECT_EQ(error(),
            std::string(kCluster) + "health_checks[0].http_health_check.path: must start with '/'");
  check->mutable_http_health_check()->set_path("/ready");
  check->clear_timeout();
  EXPECT_EQ(error(), std::string(kCluster) + "health_checks[0].timeout: missing");
  check->mutable_timeout()->set_nanos(-1);
  EXPECT_EQ(error(),
            std::string(kCluster) + "health_checks[0].timeout: must be a non-negative duration");
  check->mutable_timeout()->set_seconds(1);
  check->mutable_timeout()->set_nanos(0);
  check->mutable_unhealthy_threshold()->set_value(0);
  EXPECT_EQ(error(), std::string(kCluster) +
                         "health_checks[0].unhealthy_threshold: 0 is out of range [1, 4294967295]");
  check->mutable_unhealthy_threshold()->set_value(1);
  check->mutable_http_health_check()->mutable_receive()->Add();
  EXPECT_EQ(error(), std::string(kCluster) +
                         "health_checks[0].http_health_check: unsupported "
                         "receive");
  check->mutable_http_health_check()->clear_receive();
  *cluster().add_health_checks() = *check;
  EXPECT_EQ(error(), std::string(kCluster) + "health_checks: only one health check is supported");
  cluster().mutable_health_checks()->RemoveLast();
  check->mutable_custom_health_check()->set_name("redis");
  EXPECT_EQ(error(), std::string(kCluster) + "health_checks[0]: unsupported custom_health_check");
}

TEST_F(PolicyDecode, PanicThresholdMustBeAWholePercentage) {
  auto* threshold = cluster().mutable_common_lb_config()->mutable_healthy_panic_threshold();
  threshold->set_value(100.5);
  EXPECT_EQ(error(), std::string(kCluster) +
                         "common_lb_config.healthy_panic_threshold: must be a whole percentage in "
                         "[0, 100], got 100.5");
  threshold->set_value(12.5);
  EXPECT_NE(error().find("got 12.5"), std::string::npos);
}

TEST_F(PolicyDecode, RetryBudgetAndRateLimitSettingsAreChecked) {
  auto& fields =
      *(*cluster().mutable_metadata()->mutable_filter_metadata())[std::string(kTrellisMetadata)]
           .mutable_fields();
  auto& budget = *fields["retryBudget"].mutable_struct_value()->mutable_fields();
  budget["percent"].set_number_value(101);
  EXPECT_EQ(error(), std::string(kCluster) +
                         "metadata.filter_metadata[\"trellis.dev\"].retryBudget.percent: 101 is "
                         "out of range [0, 100]");
  budget["percent"].set_number_value(20);
  budget.erase("windowMs");
  EXPECT_EQ(error(), std::string(kCluster) +
                         "metadata.filter_metadata[\"trellis.dev\"].retryBudget: expected "
                         "{percent, minRetriesPerSecond, windowMs}");
  budget["windowMs"].set_number_value(1000);
  auto& limit = *fields["rateLimit"].mutable_struct_value()->mutable_fields();
  limit["maxTokens"].set_number_value(0);
  EXPECT_EQ(error(), std::string(kCluster) +
                         "metadata.filter_metadata[\"trellis.dev\"].rateLimit.maxTokens: 0 is out "
                         "of range [1, 4294967295]");
  limit["maxTokens"].set_number_value(1);
  limit["header"].set_string_value("x-a");
  EXPECT_EQ(error(), std::string(kCluster) +
                         "metadata.filter_metadata[\"trellis.dev\"].rateLimit: set header or "
                         "sourceIP, not both");
}

// ---------------------------------------------------------------------------------------------
// NACKs: routes

TEST_F(PolicyDecode, RetryConditionsEnvoyHasButTrellisDoesNot) {
  auto* retry = route("/a").mutable_route()->mutable_retry_policy();
  retry->set_retry_on("5xx,reset-before-request");
  EXPECT_EQ(error(), std::string(kRoutes) +
                         "virtual_hosts[0].routes[0].route.retry_policy.retry_on: unsupported "
                         "retry condition \"reset-before-request\" (expected connect-failure, "
                         "reset, 5xx, gateway-error, retriable-4xx, refused-stream, "
                         "retriable-status-codes, cancelled, deadline-exceeded, "
                         "resource-exhausted, internal, unavailable)");
  retry->set_retry_on("per-try-timeout");  // not an Envoy token: metadata carries it
  EXPECT_NE(error().find("unsupported retry condition \"per-try-timeout\""), std::string::npos);
  retry->set_retry_on("5xx");
  EXPECT_EQ(error(), std::string(kRoutes) +
                         "virtual_hosts[0].routes[0].route.retry_policy.retriable_status_codes: "
                         "listed without the retry_on condition retriable-status-codes (Envoy "
                         "would not retry them)");
  retry->set_retry_on("retriable-status-codes");
  retry->set_retriable_status_codes(0, 600);
  EXPECT_EQ(error(), std::string(kRoutes) +
                         "virtual_hosts[0].routes[0].route.retry_policy.retriable_status_codes[0]: "
                         "600 is out of range [100, 599]");
  retry->set_retriable_status_codes(0, 503);
  retry->mutable_retry_back_off()->mutable_max_interval()->set_seconds(0);
  retry->mutable_retry_back_off()->mutable_max_interval()->set_nanos(10000000);
  EXPECT_EQ(error(), std::string(kRoutes) +
                         "virtual_hosts[0].routes[0].route.retry_policy.retry_back_off."
                         "max_interval: must be at least base_interval");
  retry->mutable_retry_back_off()->mutable_max_interval()->set_seconds(2);
  retry->mutable_per_try_timeout()->set_seconds(-2);
  EXPECT_EQ(error(), std::string(kRoutes) +
                         "virtual_hosts[0].routes[0].route.retry_policy.per_try_timeout: must be "
                         "a non-negative duration");
  retry->mutable_per_try_timeout()->set_seconds(5);  // not the earlier of 1.2s and 0.8s
  EXPECT_EQ(error(), std::string(kRoutes) +
                         "virtual_hosts[0].routes[0].route.retry_policy.per_try_timeout: does not "
                         "agree with the per-try timeouts in metadata (it must be the earlier of "
                         "them)");
}

TEST_F(PolicyDecode, RouteTimeoutsAndRetryMetadata) {
  auto* action = route("/a").mutable_route();
  action->mutable_idle_timeout()->set_seconds(0);
  EXPECT_EQ(error(), std::string(kRoutes) +
                         "virtual_hosts[0].routes[0].route.idle_timeout: 0s (no idle timeout) is "
                         "unsupported: leave it out for the listener's stream_idle_timeout");
  action->mutable_idle_timeout()->set_seconds(-1);
  EXPECT_EQ(error(), std::string(kRoutes) +
                         "virtual_hosts[0].routes[0].route.idle_timeout: must be a non-negative "
                         "duration");
  action->clear_idle_timeout();
  action->mutable_timeout()->set_nanos(1500);
  EXPECT_EQ(error(), std::string(kRoutes) +
                         "virtual_hosts[0].routes[0].route.timeout: must be a whole number of "
                         "milliseconds");
  action->mutable_timeout()->set_nanos(0);
  action->clear_retry_policy();
  EXPECT_EQ(error(), std::string(kRoutes) +
                         "virtual_hosts[0].routes[0].metadata.filter_metadata[\"trellis.dev\"]."
                         "retry: only with retry_policy");
  resources_ = encode(policySnapshot());
  auto& extras =
      *routeSettings("/a").mutable_fields()->at("retry").mutable_struct_value()->mutable_fields();
  extras["grpcStatuses"].mutable_list_value()->add_values()->set_number_value(17);
  EXPECT_EQ(error(), std::string(kRoutes) +
                         "virtual_hosts[0].routes[0].metadata.filter_metadata[\"trellis.dev\"]."
                         "retry.grpcStatuses[2]: expected a gRPC status code in [0, 16]");
  extras.erase("grpcStatuses");
  extras["perTryTimeout"].set_bool_value(false);
  EXPECT_EQ(error(), std::string(kRoutes) +
                         "virtual_hosts[0].routes[0].metadata.filter_metadata[\"trellis.dev\"]."
                         "retry.perTryTimeout: must be true when set");
  extras["perTryTimeout"].set_bool_value(true);
  extras["hedge"].set_bool_value(true);
  EXPECT_EQ(error(), std::string(kRoutes) +
                         "virtual_hosts[0].routes[0].metadata.filter_metadata[\"trellis.dev\"]."
                         "retry: unknown Trellis setting \"hedge\"");
}

TEST_F(PolicyDecode, FaultsTrellisCannotInject) {
  const HTTPFault original = fault("/a");
  HTTPFault value = original;
  value.mutable_abort()->mutable_percentage()->set_numerator(101);
  value.mutable_abort()->mutable_percentage()->set_denominator(FractionalPercent::HUNDRED);
  setFault("/a", value);
  EXPECT_EQ(error(), std::string(kRoutes) +
                         "virtual_hosts[0].routes[0].typed_per_filter_config[\"envoy.filters."
                         "http.fault\"].abort.percentage.numerator: 101 is out of range [0, 100]");
  value = original;
  value.mutable_abort()->set_http_status(600);
  setFault("/a", value);
  EXPECT_EQ(error(), std::string(kRoutes) +
                         "virtual_hosts[0].routes[0].typed_per_filter_config[\"envoy.filters."
                         "http.fault\"].abort.http_status: 600 is out of range [200, 599]");
  value.mutable_abort()->mutable_header_abort();
  setFault("/a", value);
  EXPECT_EQ(error(), std::string(kRoutes) +
                         "virtual_hosts[0].routes[0].typed_per_filter_config[\"envoy.filters."
                         "http.fault\"].abort: unsupported header_abort");
  value = original;
  value.mutable_delay()->mutable_fixed_delay()->set_seconds(-3);
  setFault("/a", value);
  EXPECT_EQ(error(), std::string(kRoutes) +
                         "virtual_hosts[0].routes[0].typed_per_filter_config[\"envoy.filters."
                         "http.fault\"].delay.fixed_delay: must be a non-negative duration");
  value = original;
  value.mutable_max_active_faults()->set_value(3);
  setFault("/a", value);
  EXPECT_EQ(error(), std::string(kRoutes) +
                         "virtual_hosts[0].routes[0].typed_per_filter_config[\"envoy.filters."
                         "http.fault\"]: unsupported max_active_faults");
  value = original;
  value.mutable_headers(0)->set_name(":method");
  setFault("/a", value);
  EXPECT_NE(error().find("headers[0]"), std::string::npos);
  value = original;
  value.mutable_abort()->set_grpc_status(8);  // with metadata abortGrpcStatus
  setFault("/a", value);
  EXPECT_EQ(error(), std::string(kRoutes) +
                         "virtual_hosts[0].routes[0].metadata.filter_metadata[\"trellis.dev\"]."
                         "fault.abortGrpcStatus: only with an abort of http_status (otherwise use "
                         "grpc_status)");
}

TEST_F(PolicyDecode, RateLimitsTrellisCannotApply) {
  const LocalRateLimitConfig original = rateLimit();
  LocalRateLimitConfig limit = original;
  limit.clear_filter_enabled();
  setRateLimit(limit);
  EXPECT_EQ(error(), std::string(kRoutes) +
                         "virtual_hosts[0].routes[0].typed_per_filter_config[\"envoy.filters."
                         "http.local_ratelimit\"].filter_enabled: missing (Envoy's default of 0% "
                         "would turn the limit off)");
  limit = original;
  limit.mutable_filter_enforced()->mutable_default_value()->set_numerator(50);
  setRateLimit(limit);
  EXPECT_EQ(error(), std::string(kRoutes) +
                         "virtual_hosts[0].routes[0].typed_per_filter_config[\"envoy.filters."
                         "http.local_ratelimit\"].filter_enforced.default_value: only 100% is "
                         "supported");
  limit = original;
  limit.mutable_token_bucket()->set_max_tokens(0);
  setRateLimit(limit);
  EXPECT_EQ(error(), std::string(kRoutes) +
                         "virtual_hosts[0].routes[0].typed_per_filter_config[\"envoy.filters."
                         "http.local_ratelimit\"].token_bucket.max_tokens: 0 is out of range [1, "
                         "4294967295]");
  limit = original;
  limit.add_descriptors();
  setRateLimit(limit);
  EXPECT_EQ(error(), std::string(kRoutes) +
                         "virtual_hosts[0].routes[0].typed_per_filter_config[\"envoy.filters."
                         "http.local_ratelimit\"]: unsupported descriptors");
  setRateLimit(original);
  routeSettings("/a").mutable_fields()->insert(
      {"rateLimit", routeSettings("/b").fields().at("rateLimit")});
  EXPECT_EQ(error(), std::string(kRoutes) +
                         "virtual_hosts[0].routes[0].metadata.filter_metadata[\"trellis.dev\"]."
                         "rateLimit: the route also has a envoy.filters.http.local_ratelimit "
                         "config");
  routeSettings("/a").mutable_fields()->erase("rateLimit");
  (*route("/a").mutable_typed_per_filter_config())["envoy.filters.http.cors"].PackFrom(HTTPFault());
  EXPECT_EQ(error(), std::string(kRoutes) +
                         "virtual_hosts[0].routes[0].typed_per_filter_config[\"envoy.filters."
                         "http.cors\"]: unsupported filter (expected envoy.filters.http.fault or "
                         "envoy.filters.http.local_ratelimit)");
}

TEST_F(PolicyDecode, RouteActionMetadataOnlyWhereThereIsNoRouteAction) {
  auto& fields = *routeSettings("/a").mutable_fields();
  fields["routeAction"] = routeSettings("/c").fields().at("routeAction");
  EXPECT_EQ(error(), std::string(kRoutes) +
                         "virtual_hosts[0].routes[0].metadata.filter_metadata[\"trellis.dev\"]."
                         "routeAction: only for redirect and direct_response routes (use the "
                         "route action)");
  fields.erase("routeAction");
  auto& action = *routeSettings("/c").mutable_fields()->at("routeAction").mutable_struct_value();
  (*action.mutable_fields())["cluster"].set_string_value("shop/api:80");
  EXPECT_EQ(error(), std::string(kRoutes) +
                         "virtual_hosts[0].routes[2].metadata.filter_metadata[\"trellis.dev\"]."
                         "routeAction: unsupported cluster");
  action.mutable_fields()->erase("cluster");
  (*action.mutable_fields())["timeout"].set_string_value("soon");
  EXPECT_NE(error().find("routeAction: not a RouteAction: "), std::string::npos);
}

// ---------------------------------------------------------------------------------------------
// NACKs: listeners

TEST_F(PolicyDecode, PolicyFiltersOnlyApplyTheRoutesSettings) {
  editHcm([](HttpConnectionManager& hcm) {
    HTTPFault fault;
    fault.mutable_delay()->mutable_fixed_delay()->set_seconds(1);
    hcm.mutable_http_filters(0)->mutable_typed_config()->PackFrom(fault);
  });
  EXPECT_EQ(error(),
            "Listener \"shop/web\": filter_chains[0].filters[0].typed_config.http_filters[0]."
            "typed_config: unsupported delay");
  resources_ = encode(policySnapshot());
  editHcm([](HttpConnectionManager& hcm) { *hcm.mutable_http_filters(1) = hcm.http_filters(0); });
  EXPECT_EQ(error(),
            "Listener \"shop/web\": filter_chains[0].filters[0].typed_config.http_filters[1]: "
            "duplicate HTTP filter \"envoy.filters.http.fault\"");
  resources_ = encode(policySnapshot());
  editHcm([](HttpConnectionManager& hcm) { hcm.mutable_http_filters(1)->set_name("limits"); });
  EXPECT_EQ(error(),
            "Listener \"shop/web\": filter_chains[0].filters[0].typed_config.http_filters[1].name: "
            "must be envoy.filters.http.local_ratelimit (the key of the routes' "
            "typed_per_filter_config)");
  resources_ = encode(policySnapshot());
  editHcm([](HttpConnectionManager& hcm) { hcm.mutable_stream_idle_timeout()->set_seconds(-5); });
  EXPECT_EQ(error(),
            "Listener \"shop/web\": filter_chains[0].filters[0].typed_config.stream_idle_timeout: "
            "must be a non-negative duration");
}

TEST_F(PolicyDecode, ConnectionRateLimitIsChecked) {
  auto& limit = *(*resources_.listeners[1]
                       .mutable_metadata()
                       ->mutable_filter_metadata())[std::string(kTrellisMetadata)]
                     .mutable_fields()
                     ->at("connectionRateLimit")
                     .mutable_struct_value()
                     ->mutable_fields();
  limit["fillIntervalMs"].set_number_value(0);
  EXPECT_EQ(error(),
            "Listener \"shop/db\": metadata.filter_metadata[\"trellis.dev\"].connectionRateLimit."
            "fillIntervalMs: 0 is out of range [1, 366096438999]");
}

}  // namespace
}  // namespace trellis::xds
