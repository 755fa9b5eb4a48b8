// The resilience policies through the codec: decode(encode(x)) gives x back for every setting,
// and encode puts each one in the standard Envoy field that Envoy and gRPC read, keeping
// metadata["trellis.dev"] for what Envoy has no field for.

#include <google/protobuf/stubs/logging.h>
#include <google/protobuf/util/message_differencer.h>
#include <gtest/gtest.h>

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
using testing::policyCluster;
using testing::policyRules;
using testing::policySnapshot;

std::shared_ptr<config::Snapshot> roundTrip(const config::Snapshot& snapshot) {
  DecodeResult decoded = decode(encode(snapshot));
  EXPECT_TRUE(decoded.snapshot) << decoded.error;
  return decoded.snapshot;
}

void expectSameFault(const config::FaultInjection& actual, const config::FaultInjection& expected) {
  EXPECT_EQ(actual.delay, expected.delay);
  EXPECT_EQ(actual.delayPerMillion, expected.delayPerMillion);
  EXPECT_EQ(actual.abortHttpStatus, expected.abortHttpStatus);
  EXPECT_EQ(actual.abortGrpcStatus, expected.abortGrpcStatus);
  EXPECT_EQ(actual.abortPerMillion, expected.abortPerMillion);
  ASSERT_EQ(actual.headers.size(), expected.headers.size());
  for (size_t i = 0; i < actual.headers.size(); ++i) {
    EXPECT_EQ(actual.headers[i].type, expected.headers[i].type);
    EXPECT_EQ(actual.headers[i].name, expected.headers[i].name);
    EXPECT_EQ(actual.headers[i].value, expected.headers[i].value);
    // A decoded regex is compiled, ready for the data path.
    EXPECT_EQ(actual.headers[i].regex != nullptr,
              actual.headers[i].type == config::StringMatchType::RegularExpression);
  }
}

void expectSameRulePolicies(const config::RouteRule& actual, const config::RouteRule& expected) {
  SCOPED_TRACE(expected.match.path.value);
  EXPECT_EQ(actual.timeouts, expected.timeouts);
  EXPECT_EQ(actual.retry, expected.retry);
  EXPECT_EQ(actual.rateLimit, expected.rateLimit);
  ASSERT_EQ(actual.fault.has_value(), expected.fault.has_value());
  if (expected.fault) expectSameFault(*actual.fault, *expected.fault);
}

void expectSameClusterPolicies(const config::Cluster& actual, const config::Cluster& expected) {
  EXPECT_EQ(actual.circuitBreaker, expected.circuitBreaker);
  EXPECT_EQ(actual.retryBudget, expected.retryBudget);
  EXPECT_EQ(actual.outlierDetection, expected.outlierDetection);
  EXPECT_EQ(actual.healthCheck, expected.healthCheck);
  EXPECT_EQ(actual.healthyPanicThreshold, expected.healthyPanicThreshold);
  EXPECT_EQ(actual.rateLimit, expected.rateLimit);
}

const google::protobuf::Struct& trellis(const envoy::config::core::v3::Metadata& metadata) {
  return metadata.filter_metadata().at(std::string(kTrellisMetadata));
}

const Route& encodedRoute(const Resources& resources, const std::string& path) {
  for (const auto& host : resources.routes[0].virtual_hosts()) {
    for (const Route& route : host.routes()) {
      if (route.match().path() == path) return route;
    }
  }
  ADD_FAILURE() << "no route " << path;
  return resources.routes[0].virtual_hosts(0).routes(0);
}

// ---------------------------------------------------------------------------------------------
// Round trips

TEST(PolicyRoundTrip, EveryClusterSettingComesBack) {
  config::Snapshot snapshot = policySnapshot();
  auto decoded = roundTrip(snapshot);
  ASSERT_TRUE(decoded);
  expectSameClusterPolicies(decoded->clusters.at("shop/api:80"), policyCluster());
}

TEST(PolicyRoundTrip, OtherHealthChecksDetectorsOffAndKeyedLimitsComeBack) {
  config::Cluster grpc = policyCluster();
  grpc.healthCheck->type = config::HealthCheck::Type::Grpc;
  grpc.healthCheck->grpcService = "shop.Api";
  grpc.healthCheck->path = "/healthz";  // not used by gRPC checks: the model's default
  grpc.healthCheck->host = "";
  grpc.healthCheck->expectedStatuses = {{200, 299}};
  grpc.outlierDetection->consecutive5xx = 0;
  grpc.outlierDetection->consecutiveGatewayErrors = 0;
  grpc.outlierDetection->consecutiveLocalOriginFailures = 0;
  grpc.outlierDetection->successRateStdevFactor = 0;
  grpc.rateLimit->key = config::LocalRateLimit::Key::Header;
  grpc.rateLimit->header = "x-client";
  grpc.healthyPanicThreshold = 100;
  config::Cluster tcp = policyCluster();
  tcp.name = "shop/tcp:1";
  tcp.healthCheck = config::HealthCheck{};
  tcp.healthCheck->type = config::HealthCheck::Type::Tcp;
  tcp.outlierDetection.reset();
  tcp.rateLimit.reset();
  tcp.circuitBreaker = {};

  config::Snapshot snapshot;
  snapshot.clusters.emplace(grpc.name, grpc);
  snapshot.clusters.emplace(tcp.name, tcp);
  auto decoded = roundTrip(snapshot);
  ASSERT_TRUE(decoded);
  expectSameClusterPolicies(decoded->clusters.at(grpc.name), grpc);
  expectSameClusterPolicies(decoded->clusters.at(tcp.name), tcp);
}

TEST(PolicyRoundTrip, EveryRouteSettingComesBackOnEveryKindOfRoute) {
  config::Snapshot snapshot = policySnapshot();
  auto decoded = roundTrip(snapshot);
  ASSERT_TRUE(decoded);
  for (const config::RouteRule& expected : policyRules()) {
    const config::RouteRule* actual = findRule(*decoded, expected.match.path.value);
    ASSERT_NE(actual, nullptr) << expected.match.path.value;
    expectSameRulePolicies(*actual, expected);
  }
}

TEST(PolicyRoundTrip, PerTryTimeoutsInEveryCombination) {
  const int64_t values[][2] = {{0, 0}, {0, 900}, {900, 0}, {900, 900}, {300, 900}, {900, 300}};
  for (const auto& [routePerTry, retryPerTry] : values) {
    for (bool withRetry : {false, true}) {
      config::Snapshot snapshot = policySnapshot();
      config::RouteRule& rule = snapshot.listeners[0].routes.routes[0].rules[0];
      rule.timeouts.perTry = config::Duration(routePerTry);
      rule.retry->perTryTimeout = config::Duration(retryPerTry);
      if (!withRetry) rule.retry.reset();
      auto decoded = roundTrip(snapshot);
      ASSERT_TRUE(decoded);
      SCOPED_TRACE(::testing::Message() << routePerTry << " " << retryPerTry << " " << withRetry);
      expectSameRulePolicies(*findRule(*decoded, "/a"), rule);
    }
  }
}

TEST(PolicyRoundTrip, FaultsOfEveryShape) {
  config::FaultInjection grpcOnly;
  grpcOnly.abortGrpcStatus = 0;
  grpcOnly.abortPerMillion = 7;
  config::FaultInjection delayOnly;
  delayOnly.delay = config::Duration(1);
  config::FaultInjection httpOnly;
  httpOnly.abortHttpStatus = 200;
  httpOnly.abortPerMillion = 1000000;
  for (const config::FaultInjection& fault :
       {config::FaultInjection{}, grpcOnly, delayOnly, httpOnly}) {
    config::Snapshot snapshot = policySnapshot();
    config::RouteRule& rule = snapshot.listeners[0].routes.routes[0].rules[1];
    rule.fault = fault;
    auto decoded = roundTrip(snapshot);
    ASSERT_TRUE(decoded);
    expectSameRulePolicies(*findRule(*decoded, "/b"), rule);
  }
}

TEST(PolicyRoundTrip, ListenerSettingsComeBack) {
  config::Snapshot snapshot = policySnapshot();
  snapshot.listeners[1].connectionRateLimit->key = config::LocalRateLimit::Key::SourceIp;
  auto decoded = roundTrip(snapshot);
  ASSERT_TRUE(decoded);
  EXPECT_EQ(decoded->listeners[0].http.streamIdleTimeout, config::Duration(45000));
  EXPECT_FALSE(decoded->listeners[0].connectionRateLimit);
  EXPECT_EQ(decoded->listeners[1].connectionRateLimit, snapshot.listeners[1].connectionRateLimit);

  snapshot.listeners[0].http.streamIdleTimeout = config::Duration(0);  // none
  decoded = roundTrip(snapshot);
  ASSERT_TRUE(decoded);
  EXPECT_EQ(decoded->listeners[0].http.streamIdleTimeout, config::Duration(0));
}

TEST(PolicyRoundTrip, EncodingTheDecodedSnapshotGivesTheSameResources) {
  Resources first = encode(policySnapshot());
  DecodeResult decoded = decode(first);
  ASSERT_TRUE(decoded.snapshot) << decoded.error;
  Resources again = encode(*decoded.snapshot);
  google::protobuf::LogSilencer silencer;
  auto same = [](const google::protobuf::Message& a, const google::protobuf::Message& b) {
    std::string difference;
    google::protobuf::util::MessageDifferencer differencer;
    differencer.ReportDifferencesToString(&difference);
    EXPECT_TRUE(differencer.Compare(a, b)) << difference;
  };
  ASSERT_EQ(again.listeners.size(), first.listeners.size());
  for (size_t i = 0; i < first.listeners.size(); ++i) same(again.listeners[i], first.listeners[i]);
  same(again.routes[0], first.routes[0]);
  same(again.clusters[0], first.clusters[0]);
}

TEST(PolicyRoundTrip, GrpcRouteConfigurationsComeBackToo) {
  config::Snapshot snapshot = policySnapshot();
  Resources resources = encode(snapshot);
  resources.routes[0] = encodeRouteConfiguration("shop/web", snapshot.listeners[0].routes);
  DecodeResult decoded = decode(resources);
  ASSERT_TRUE(decoded.snapshot) << decoded.error;
  for (const config::RouteRule& expected : policyRules()) {
    expectSameRulePolicies(*findRule(*decoded.snapshot, expected.match.path.value), expected);
  }
}

// ---------------------------------------------------------------------------------------------
// Standard fields

TEST(PolicyEncode, ClusterPoliciesUseEnvoysFields) {
  Cluster out = encodeCluster(policyCluster());
  ASSERT_EQ(out.circuit_breakers().thresholds_size(), 1);
  const auto& threshold = out.circuit_breakers().thresholds(0);
  EXPECT_EQ(threshold.priority(), envoy::config::core::v3::DEFAULT);
  EXPECT_EQ(threshold.max_connections().value(), 10u);
  EXPECT_EQ(threshold.max_pending_requests().value(), 20u);
  EXPECT_EQ(threshold.max_requests().value(), 30u);
  EXPECT_EQ(threshold.max_retries().value(), 40u);
  EXPECT_FALSE(threshold.has_retry_budget());

  const auto& od = out.outlier_detection();
  EXPECT_EQ(od.consecutive_5xx().value(), 3u);
  EXPECT_EQ(od.enforcing_consecutive_5xx().value(), 100u);
  EXPECT_EQ(od.consecutive_gateway_failure().value(), 4u);
  EXPECT_EQ(od.enforcing_consecutive_gateway_failure().value(), 100u);
  EXPECT_TRUE(od.split_external_local_origin_errors());
  EXPECT_EQ(od.consecutive_local_origin_failure().value(), 6u);
  EXPECT_EQ(od.enforcing_consecutive_local_origin_failure().value(), 100u);
  EXPECT_EQ(od.interval().seconds(), 1);
  EXPECT_EQ(od.interval().nanos(), 500000000);
  EXPECT_EQ(od.base_ejection_time().seconds(), 20);
  EXPECT_EQ(od.max_ejection_time().seconds(), 90);
  EXPECT_EQ(od.max_ejection_percent().value(), 40u);
  EXPECT_TRUE(od.always_eject_one_host().value());
  EXPECT_EQ(od.success_rate_minimum_hosts().value(), 3u);
  EXPECT_EQ(od.success_rate_request_volume().value(), 50u);
  EXPECT_EQ(od.success_rate_stdev_factor().value(), 1500u);
  EXPECT_EQ(od.enforcing_success_rate().value(), 100u);
  // Detectors Trellis does not have are off explicitly (Envoy's default for some is on).
  EXPECT_TRUE(od.has_enforcing_local_origin_success_rate());
  EXPECT_EQ(od.enforcing_local_origin_success_rate().value(), 0u);
  EXPECT_TRUE(od.has_enforcing_failure_percentage());
  EXPECT_EQ(od.enforcing_failure_percentage().value(), 0u);

  ASSERT_EQ(out.health_checks_size(), 1);
  const auto& hc = out.health_checks(0);
  EXPECT_EQ(hc.timeout().nanos(), 500000000);
  EXPECT_EQ(hc.interval().seconds(), 2);
  EXPECT_EQ(hc.unhealthy_threshold().value(), 4u);
  EXPECT_EQ(hc.healthy_threshold().value(), 1u);
  ASSERT_TRUE(hc.has_http_health_check());
  EXPECT_EQ(hc.http_health_check().path(), "/ready");
  EXPECT_EQ(hc.http_health_check().host(), "api.internal");
  ASSERT_EQ(hc.http_health_check().expected_statuses_size(), 2);
  // Envoy's ranges end exclusively; the model's [200, 204] and [301, 301] are inclusive.
  EXPECT_EQ(hc.http_health_check().expected_statuses(0).start(), 200);
  EXPECT_EQ(hc.http_health_check().expected_statuses(0).end(), 205);
  EXPECT_EQ(hc.http_health_check().expected_statuses(1).start(), 301);
  EXPECT_EQ(hc.http_health_check().expected_statuses(1).end(), 302);

  EXPECT_EQ(out.common_lb_config().healthy_panic_threshold().value(), 0.0);
  EXPECT_TRUE(out.common_lb_config().has_healthy_panic_threshold());
}

TEST(PolicyEncode, DetectorsThatAreOffHaveEnforcingZero) {
  config::Cluster cluster = policyCluster();
  cluster.outlierDetection = config::OutlierDetection{};
  cluster.outlierDetection->consecutive5xx = 0;
  const auto od = encodeCluster(cluster).outlier_detection();
  EXPECT_FALSE(od.has_consecutive_5xx());
  EXPECT_EQ(od.enforcing_consecutive_5xx().value(), 0u);
  EXPECT_TRUE(od.has_enforcing_consecutive_gateway_failure());
  EXPECT_EQ(od.enforcing_consecutive_gateway_failure().value(), 0u);
  EXPECT_FALSE(od.split_external_local_origin_errors());
  EXPECT_EQ(od.enforcing_consecutive_local_origin_failure().value(), 0u);
  EXPECT_TRUE(od.has_enforcing_success_rate());
  EXPECT_EQ(od.enforcing_success_rate().value(), 0u);
  EXPECT_FALSE(od.has_success_rate_stdev_factor());
}

TEST(PolicyEncode, GrpcAndTcpHealthChecks) {
  config::Cluster cluster = policyCluster();
  cluster.healthCheck->type = config::HealthCheck::Type::Grpc;
  cluster.healthCheck->grpcService = "shop.Api";
  auto hc = encodeCluster(cluster).health_checks(0);
  ASSERT_TRUE(hc.has_grpc_health_check());
  EXPECT_EQ(hc.grpc_health_check().service_name(), "shop.Api");
  cluster.healthCheck->type = config::HealthCheck::Type::Tcp;
  hc = encodeCluster(cluster).health_checks(0);
  EXPECT_TRUE(hc.has_tcp_health_check());
  EXPECT_FALSE(hc.has_http_health_check());
}

TEST(PolicyEncode, RetryBudgetAndClusterRateLimitAreTrellisMetadata) {
  const Cluster cluster = encodeCluster(policyCluster());
  const auto& fields = trellis(cluster.metadata()).fields();
  const auto& budget = fields.at("retryBudget").struct_value().fields();
  EXPECT_EQ(budget.at("percent").number_value(), 35);
  EXPECT_EQ(budget.at("minRetriesPerSecond").number_value(), 7);
  EXPECT_EQ(budget.at("windowMs").number_value(), 2500);
  const auto& limit = fields.at("rateLimit").struct_value().fields();
  EXPECT_EQ(limit.at("maxTokens").number_value(), 100);
  EXPECT_EQ(limit.at("tokensPerFill").number_value(), 10);
  EXPECT_EQ(limit.at("fillIntervalMs").number_value(), 500);
  EXPECT_TRUE(limit.at("sourceIP").bool_value());
}

TEST(PolicyEncode, TimeoutsAndRetriesUseTheRouteAction) {
  Resources resources = encode(policySnapshot());
  const Route& route = encodedRoute(resources, "/a");
  const auto& action = route.route();
  EXPECT_EQ(action.timeout().seconds(), 4);
  EXPECT_EQ(action.idle_timeout().seconds(), 30);
  const auto& retry = action.retry_policy();
  EXPECT_EQ(retry.retry_on(),
            "connect-failure,reset,5xx,gateway-error,retriable-4xx,refused-stream,"
            "retriable-status-codes,deadline-exceeded,unavailable");
  EXPECT_EQ(retry.num_retries().value(), 3u);
  // The earlier of the rule's per-try timeout (1.2s) and the retry policy's (0.8s).
  EXPECT_EQ(retry.per_try_timeout().nanos(), 800000000);
  ASSERT_EQ(retry.retriable_status_codes_size(), 2);
  EXPECT_EQ(retry.retriable_status_codes(0), 503u);
  EXPECT_EQ(retry.retriable_status_codes(1), 429u);
  EXPECT_EQ(retry.retry_back_off().base_interval().nanos(), 50000000);
  EXPECT_EQ(retry.retry_back_off().max_interval().seconds(), 2);

  const auto& fields = trellis(route.metadata()).fields();
  EXPECT_EQ(fields.at("perTryTimeoutMs").number_value(), 1200);
  const auto& extras = fields.at("retry").struct_value().fields();
  EXPECT_TRUE(extras.at("perTryTimeout").bool_value());
  EXPECT_TRUE(extras.at("nonIdempotent").bool_value());
  const auto& statuses = extras.at("grpcStatuses").list_value();
  ASSERT_EQ(statuses.values_size(), 2);
  EXPECT_EQ(statuses.values(0).number_value(), 2);
  EXPECT_EQ(statuses.values(1).number_value(), 16);
  EXPECT_EQ(extras.count("perTryTimeoutMs"), 0u);  // it is per_try_timeout
}

TEST(PolicyEncode, NoRequestTimeoutIsAnExplicitZeroAndNoIdleTimeoutIsAbsent) {
  Resources resources = encode(policySnapshot());
  const auto& action = encodedRoute(resources, "/b").route();
  // Absent, Envoy would time requests out after 15s.
  EXPECT_TRUE(action.has_timeout());
  EXPECT_EQ(action.timeout().seconds(), 0);
  EXPECT_EQ(action.timeout().nanos(), 0);
  EXPECT_FALSE(action.has_idle_timeout());
  EXPECT_FALSE(action.has_retry_policy());
}

TEST(PolicyEncode, FaultsAndRateLimitsArePerFilterConfigs) {
  Resources resources = encode(policySnapshot());
  const Route& route = encodedRoute(resources, "/a");
  HTTPFault fault;
  ASSERT_TRUE(route.typed_per_filter_config().at("envoy.filters.http.fault").UnpackTo(&fault));
  EXPECT_EQ(fault.delay().fixed_delay().nanos(), 250000000);
  EXPECT_EQ(fault.delay().percentage().numerator(), 125000u);
  EXPECT_EQ(fault.delay().percentage().denominator(), FractionalPercent::MILLION);
  EXPECT_EQ(fault.abort().http_status(), 503u);
  EXPECT_EQ(fault.abort().percentage().numerator(), 1000u);
  EXPECT_EQ(fault.abort().percentage().denominator(), FractionalPercent::MILLION);
  ASSERT_EQ(fault.headers_size(), 2);
  EXPECT_EQ(fault.headers(0).name(), "x-fault");
  EXPECT_EQ(fault.headers(0).string_match().exact(), "on");
  EXPECT_EQ(fault.headers(1).string_match().safe_regex().regex(), "test-.*");
  // Envoy would derive UNAVAILABLE from 503; the model names RESOURCE_EXHAUSTED.
  EXPECT_EQ(trellis(route.metadata())
                .fields()
                .at("fault")
                .struct_value()
                .fields()
                .at("abortGrpcStatus")
                .number_value(),
            8);

  LocalRateLimitConfig limit;
  ASSERT_TRUE(
      route.typed_per_filter_config().at("envoy.filters.http.local_ratelimit").UnpackTo(&limit));
  EXPECT_FALSE(limit.stat_prefix().empty());
  EXPECT_EQ(limit.token_bucket().max_tokens(), 20u);
  EXPECT_EQ(limit.token_bucket().tokens_per_fill().value(), 5u);
  EXPECT_EQ(limit.token_bucket().fill_interval().seconds(), 1);
  for (const auto& percent : {limit.filter_enabled(), limit.filter_enforced()}) {
    EXPECT_EQ(percent.default_value().numerator(), 100u);
    EXPECT_EQ(percent.default_value().denominator(), FractionalPercent::HUNDRED);
  }
}

TEST(PolicyEncode, KeyedRateLimitsAndGrpcOnlyAbortsAndNonForwardingTimeouts) {
  Resources resources = encode(policySnapshot());
  // Envoy's filter would share one bucket between all tenants: the whole limit is metadata.
  const Route& keyed = encodedRoute(resources, "/b");
  EXPECT_EQ(keyed.typed_per_filter_config().count("envoy.filters.http.local_ratelimit"), 0u);
  const auto& limit = trellis(keyed.metadata()).fields().at("rateLimit").struct_value().fields();
  EXPECT_EQ(limit.at("header").string_value(), "x-tenant");
  EXPECT_EQ(limit.at("maxTokens").number_value(), 7);

  const Route& redirect = encodedRoute(resources, "/c");
  HTTPFault fault;
  ASSERT_TRUE(redirect.typed_per_filter_config().at("envoy.filters.http.fault").UnpackTo(&fault));
  EXPECT_EQ(fault.abort().grpc_status(), 14u);
  EXPECT_EQ(fault.abort().percentage().numerator(), 1000000u);
  EXPECT_FALSE(fault.has_delay());
  // A redirect has no RouteAction: its timeout and retry policy are kept as metadata.
  const auto& action =
      trellis(redirect.metadata()).fields().at("routeAction").struct_value().fields();
  EXPECT_EQ(action.at("timeout").string_value(), "3s");
  EXPECT_EQ(action.at("retryPolicy").struct_value().fields().at("numRetries").number_value(), 2);
}

TEST(PolicyEncode, ListenerStreamIdleTimeoutAndConnectionRateLimit) {
  Resources resources = encode(policySnapshot());
  HttpConnectionManager hcm;
  ASSERT_TRUE(resources.listeners[0].filter_chains(0).filters(0).typed_config().UnpackTo(&hcm));
  EXPECT_EQ(hcm.stream_idle_timeout().seconds(), 45);
  const auto& limit =
      trellis(resources.listeners[1].metadata()).fields().at("connectionRateLimit").struct_value();
  EXPECT_EQ(limit.fields().at("maxTokens").number_value(), 50);
  EXPECT_EQ(limit.fields().at("tokensPerFill").number_value(), 25);
  EXPECT_EQ(limit.fields().at("fillIntervalMs").number_value(), 1000);

  config::Snapshot none = policySnapshot();
  none.listeners[0].http.streamIdleTimeout = config::Duration(0);
  resources = encode(none);
  ASSERT_TRUE(resources.listeners[0].filter_chains(0).filters(0).typed_config().UnpackTo(&hcm));
  EXPECT_TRUE(hcm.has_stream_idle_timeout());  // 0s: Envoy turns it off
  EXPECT_EQ(hcm.stream_idle_timeout().seconds(), 0);
}

TEST(PolicyEncode, GrpcClientsGetFormsTheyAccept) {
  config::Snapshot snapshot = policySnapshot();
  auto routes = encodeRouteConfiguration("web", snapshot.listeners[0].routes);
  const Route* a = nullptr;
  for (const Route& route : routes.virtual_hosts(0).routes()) {
    if (route.match().path() == "/a") a = &route;
  }
  ASSERT_NE(a, nullptr);
  // gRPC NACKs per-route configs of filters it lacks unless they are optional.
  envoy::config::route::v3::FilterConfig wrapper;
  ASSERT_TRUE(
      a->typed_per_filter_config().at("envoy.filters.http.local_ratelimit").UnpackTo(&wrapper));
  EXPECT_TRUE(wrapper.is_optional());
  EXPECT_TRUE(wrapper.config().Is<LocalRateLimitConfig>());
  // gRPC 1.51 reads the legacy header matchers only.
  HTTPFault fault;
  ASSERT_TRUE(a->typed_per_filter_config().at("envoy.filters.http.fault").UnpackTo(&fault));
#pragma GCC diagnostic push
#pragma GCC diagnostic ignored "-Wdeprecated-declarations"
  EXPECT_EQ(fault.headers(0).exact_match(), "on");
#pragma GCC diagnostic pop
  EXPECT_FALSE(fault.headers(0).has_string_match());

  // gRPC NACKs num_retries 0: no retry policy retries as little.
  snapshot.listeners[0].routes.routes[0].rules[0].retry->numRetries = 0;
  routes = encodeRouteConfiguration("web", snapshot.listeners[0].routes);
  for (const Route& route : routes.virtual_hosts(0).routes()) {
    if (route.match().path() == "/a") {
      EXPECT_FALSE(route.route().has_retry_policy());
    }
  }
}

}  // namespace
}  // namespace trellis::xds
