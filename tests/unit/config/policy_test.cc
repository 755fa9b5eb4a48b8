// Resilience configuration: BackendPolicy, RoutePolicy, the Gateway API HTTPRoute timeouts and
// retry fields, and the Listener's streamIdleTimeout and connectionRateLimit.

#include <gtest/gtest.h>

#include <fstream>
#include <sstream>
#include <string>
#include <string_view>

#include "config/dump.h"
#include "config/loader.h"
#include "test_util.h"

namespace trellis::config {
namespace {

using testing::at;
using testing::describe;
using testing::expectSingleError;
using testing::load;

// A two-port Service, a Listener and an HTTPRoute with a named rule (two matches) and an
// unnamed one. 21 lines; the policy documents below start on line 22.
constexpr std::string_view kBase = R"(apiVersion: trellis.dev/v1alpha1
kind: Service
metadata: {name: billing}
spec: {ports: [{port: 80}, {port: 81}], endpoints: [{address: 10.0.0.1}]}
---
apiVersion: trellis.dev/v1alpha1
kind: Listener
metadata: {name: web}
spec: {port: 8080}
---
apiVersion: gateway.networking.k8s.io/v1
kind: HTTPRoute
metadata: {name: shop}
spec:
  parentRefs: [{group: trellis.dev, kind: Listener, name: web}]
  rules:
  - name: api
    matches: [{path: {value: /api}}, {path: {value: /v2}}]
    backendRefs: [{name: billing, port: 80}]
  - backendRefs: [{name: billing, port: 81}]
---
)";

constexpr const char* kBp = "BackendPolicy default/bp";
constexpr const char* kRp = "RoutePolicy default/rp";

// kBase, then a policy whose targetRefs are on line 26 and whose `body` starts on line 27.
std::string policy(std::string_view kind, std::string_view name, std::string_view targetRefs,
                   std::string_view body) {
  return std::string(kBase) + "apiVersion: trellis.dev/v1alpha1\nkind: " + std::string(kind) +
         "\nmetadata: {name: " + std::string(name) + "}\nspec:\n" + std::string(targetRefs) + "\n" +
         std::string(body);
}

std::string backendPolicy(std::string_view body) {
  return policy("BackendPolicy", "bp", "  targetRefs: [{kind: Service, name: billing}]", body);
}

std::string routePolicy(std::string_view body) {
  return policy("RoutePolicy", "rp",
                "  targetRefs: [{group: gateway.networking.k8s.io, kind: HTTPRoute, name: shop}]",
                body);
}

const std::vector<RouteRule>& shopRules(const LoadResult& result) {
  return result.snapshot->listeners.at(0).routes.routes.at(0).rules;
}

std::vector<std::string> rendered(const std::vector<LoadError>& problems) {
  std::vector<std::string> out;
  for (const LoadError& problem : problems) out.push_back(problem.toString());
  return out;
}

// ---------------------------------------------------------------------------------------------
// BackendPolicy

TEST(BackendPolicyTest, FillsEveryClusterFieldOfEveryPort) {
  LoadResult result = load(backendPolicy(R"(  circuitBreaker:
    maxConnections: 10
    maxPendingRequests: 0
    maxRequests: 20
    maxRetries: 3
  retryBudget: {percent: 25, minRetriesPerSecond: 5, window: 30s}
  outlierDetection:
    consecutive5xx: 3
    consecutiveGatewayErrors: 2
    consecutiveLocalOriginFailures: 4
    interval: 5s
    baseEjectionTime: 15s
    maxEjectionTime: 2m
    maxEjectionPercent: 50
    successRate: {minimumHosts: 3, requestVolume: 50, stdevFactor: 2500}
  healthCheck:
    http: {path: "/ready?full=1", host: "billing.internal:8080", expectedStatuses: [200, "204-206"]}
    interval: 2s
    timeout: 500ms
    unhealthyThreshold: 4
    healthyThreshold: 1
  healthyPanicThreshold: 30
  rateLimit: {requests: 100, per: 10s, burst: 150, by: {header: X-Tenant}}
)"));
  ASSERT_TRUE(result.ok()) << describe(result);
  EXPECT_TRUE(result.warnings.empty()) << describe(result);

  OutlierDetection detection;
  detection.consecutive5xx = 3;
  detection.consecutiveGatewayErrors = 2;
  detection.consecutiveLocalOriginFailures = 4;
  detection.interval = Duration(5000);
  detection.baseEjectionTime = Duration(15000);
  detection.maxEjectionTime = Duration(120000);
  detection.maxEjectionPercent = 50;
  detection.successRateMinimumHosts = 3;
  detection.successRateRequestVolume = 50;
  detection.successRateStdevFactor = 2500;
  HealthCheck check;
  check.type = HealthCheck::Type::Http;
  check.path = "/ready?full=1";
  check.host = "billing.internal:8080";
  check.expectedStatuses = {{200, 200}, {204, 206}};
  check.interval = Duration(2000);
  check.timeout = Duration(500);
  check.unhealthyThreshold = 4;
  check.healthyThreshold = 1;
  LocalRateLimit limit{150, 100, Duration(10000), LocalRateLimit::Key::Header, "x-tenant"};

  for (const char* name : {"default/billing:80", "default/billing:81"}) {
    SCOPED_TRACE(name);
    const Cluster& cluster = result.snapshot->clusters.at(name);
    EXPECT_EQ(cluster.circuitBreaker, (CircuitBreaker{10, 0, 20, 3}));
    EXPECT_EQ(cluster.retryBudget, (RetryBudget{25, 5, Duration(30000)}));
    ASSERT_TRUE(cluster.outlierDetection.has_value());
    EXPECT_EQ(*cluster.outlierDetection, detection);
    ASSERT_TRUE(cluster.healthCheck.has_value());
    EXPECT_EQ(*cluster.healthCheck, check);
    EXPECT_EQ(cluster.healthyPanicThreshold, 30u);
    ASSERT_TRUE(cluster.rateLimit.has_value());
    EXPECT_EQ(*cluster.rateLimit, limit);
  }
}

TEST(BackendPolicyTest, EmptyObjectsEnableDefaultsAndUnsetFieldsKeepThem) {
  LoadResult result = load(backendPolicy(R"(  circuitBreaker: {maxRequests: 7}
  outlierDetection: {successRate: {}}
  healthCheck: {tcp: {}}
  rateLimit: {requests: 50, by: {sourceIP: true}}
)"));
  ASSERT_TRUE(result.ok()) << describe(result);
  const Cluster& cluster = result.snapshot->clusters.at("default/billing:80");
  CircuitBreaker breaker;
  breaker.maxRequests = 7;
  EXPECT_EQ(cluster.circuitBreaker, breaker);
  EXPECT_EQ(cluster.retryBudget, RetryBudget{});
  OutlierDetection detection;
  detection.successRateStdevFactor = 1900;  // successRate present: on, with Envoy's 1.9
  ASSERT_TRUE(cluster.outlierDetection.has_value());
  EXPECT_EQ(*cluster.outlierDetection, detection);
  HealthCheck check;
  check.type = HealthCheck::Type::Tcp;
  ASSERT_TRUE(cluster.healthCheck.has_value());
  EXPECT_EQ(*cluster.healthCheck, check);
  EXPECT_EQ(cluster.healthyPanicThreshold, 50u);
  EXPECT_EQ(cluster.rateLimit,
            (LocalRateLimit{50, 50, Duration(1000), LocalRateLimit::Key::SourceIp, ""}));

  LoadResult grpc =
      load(backendPolicy("  healthCheck: {grpc: {service: shop.Billing}}\n"
                         "  outlierDetection: {}\n"));
  ASSERT_TRUE(grpc.ok()) << describe(grpc);
  const Cluster& grpcCluster = grpc.snapshot->clusters.at("default/billing:81");
  ASSERT_TRUE(grpcCluster.healthCheck.has_value());
  EXPECT_EQ(grpcCluster.healthCheck->type, HealthCheck::Type::Grpc);
  EXPECT_EQ(grpcCluster.healthCheck->grpcService, "shop.Billing");
  EXPECT_EQ(grpcCluster.outlierDetection, OutlierDetection{});
}

TEST(BackendPolicyTest, WithoutPolicyClustersHaveModelDefaults) {
  LoadResult result = load(std::string(kBase));
  ASSERT_TRUE(result.ok()) << describe(result);
  const Cluster& cluster = result.snapshot->clusters.at("default/billing:80");
  EXPECT_EQ(cluster.circuitBreaker, CircuitBreaker{});
  EXPECT_EQ(cluster.retryBudget, RetryBudget{});
  EXPECT_FALSE(cluster.outlierDetection.has_value());
  EXPECT_FALSE(cluster.healthCheck.has_value());
  EXPECT_FALSE(cluster.rateLimit.has_value());
  for (const RouteRule& rule : shopRules(result)) {
    EXPECT_EQ(rule.timeouts, RouteTimeouts{});
    EXPECT_FALSE(rule.retry.has_value());
    EXPECT_FALSE(rule.fault.has_value());
    EXPECT_FALSE(rule.rateLimit.has_value());
  }
}

TEST(BackendPolicyTest, ConflictsGoToTheFirstPolicyWithAWarning) {
  // No creationTimestamp on either: configuration order decides, field by field.
  LoadResult result = load(backendPolicy(R"(  circuitBreaker: {maxRequests: 5}
---
apiVersion: trellis.dev/v1alpha1
kind: BackendPolicy
metadata: {name: later}
spec:
  targetRefs: [{group: "", kind: Service, name: billing}]
  circuitBreaker: {maxRequests: 9, maxRetries: 2}
)"));
  ASSERT_TRUE(result.ok()) << describe(result);
  EXPECT_EQ(rendered(result.warnings),
            (std::vector<std::string>{
                "test.yaml:34:33: BackendPolicy default/later: spec.circuitBreaker.maxRequests: "
                "ignored for Service default/billing: BackendPolicy default/bp sets it too and "
                "takes precedence (it comes first in the configuration)"}));
  const Cluster& cluster = result.snapshot->clusters.at("default/billing:81");
  EXPECT_EQ(cluster.circuitBreaker.maxRequests, 5u);
  EXPECT_EQ(cluster.circuitBreaker.maxRetries, 2u);
}

TEST(BackendPolicyTest, Errors) {
  expectSingleError(backendPolicy("  circuitBreaker: {maxConnections: 0}\n"),
                    at(27, 36, kBp, "spec.circuitBreaker.maxConnections",
                       "must be between 1 and 1000000000, got 0"));
  expectSingleError(backendPolicy("  circuitBreaker: {maxConnection: 5}\n"),
                    at(27, 20, kBp, "spec.circuitBreaker.maxConnection",
                       "unknown field \"maxConnection\" (did you mean \"maxConnections\"?)"));
  expectSingleError(
      backendPolicy("  retryBudget: {percent: 101}\n"),
      at(27, 26, kBp, "spec.retryBudget.percent", "must be between 0 and 100, got 101"));
  expectSingleError(backendPolicy("  retryBudget: {window: 10m}\n"),
                    at(27, 25, kBp, "spec.retryBudget.window", "must be at most 5m"));
  expectSingleError(backendPolicy("  outlierDetection: {baseEjectionTime: 1m, maxEjectionTime: "
                                  "30s}\n"),
                    at(27, 61, kBp, "spec.outlierDetection.maxEjectionTime",
                       "must not be shorter than baseEjectionTime"));
  expectSingleError(backendPolicy("  outlierDetection: {baseEjectionTime: 10m}\n"),
                    at(27, 40, kBp, "spec.outlierDetection.baseEjectionTime",
                       "is longer than maxEjectionTime (default 5m); set maxEjectionTime too"));
  expectSingleError(backendPolicy("  outlierDetection: {successRate: {stdevFactor: 0}}\n"),
                    at(27, 49, kBp, "spec.outlierDetection.successRate.stdevFactor",
                       "must be between 1 and 100000, got 0"));
  expectSingleError(
      backendPolicy("  healthyPanicThreshold: 101\n"),
      at(27, 26, kBp, "spec.healthyPanicThreshold", "must be between 0 and 100, got 101"));
}

TEST(BackendPolicyTest, HealthCheckErrors) {
  expectSingleError(backendPolicy("  healthCheck: {http: {}, grpc: {}}\n"),
                    at(27, 16, kBp, "spec.healthCheck",
                       "must set exactly one of http, grpc or tcp, got http and grpc"));
  expectSingleError(
      backendPolicy("  healthCheck: {interval: 5s}\n"),
      at(27, 16, kBp, "spec.healthCheck", "must set exactly one of http, grpc or tcp"));
  expectSingleError(
      backendPolicy("  healthCheck: {http: {expectedStatuses: [200, \"299-200\"]}}\n"),
      at(27, 48, kBp, "spec.healthCheck.http.expectedStatuses[1]",
         "expected a status code from 100 to 599 or a range such as \"200-299\", got "
         "\"299-200\""));
  expectSingleError(
      backendPolicy("  healthCheck: {http: {path: healthz}}\n"),
      at(27, 30, kBp, "spec.healthCheck.http.path", "must be an absolute path starting with '/'"));
  expectSingleError(backendPolicy("  healthCheck: {http: {host: \"a b\"}}\n"),
                    at(27, 30, kBp, "spec.healthCheck.http.host",
                       "must be a host name or an IP address, optionally with :port"));
  expectSingleError(
      backendPolicy("  healthCheck: {tcp: {}, interval: 1s, timeout: 2s}\n"),
      at(27, 49, kBp, "spec.healthCheck.timeout", "must not be longer than interval (1s)"));
  expectSingleError(backendPolicy("  healthCheck: {grpc: {service: \"a-b\"}}\n"),
                    at(27, 33, kBp, "spec.healthCheck.grpc.service",
                       "invalid service name \"a-b\" (expected a Protobuf full name such as "
                       "\"shop.Billing\", or \"\" for the whole server)"));
  expectSingleError(backendPolicy("  healthCheck: {tcp: {port: 80}}\n"),
                    at(27, 23, kBp, "spec.healthCheck.tcp.port", "unknown field \"port\""));
}

TEST(BackendPolicyTest, RateLimitErrors) {
  expectSingleError(
      backendPolicy("  rateLimit: {requests: 10, burst: 5}\n"),
      at(27, 36, kBp, "spec.rateLimit.burst", "must be at least requests (10), got 5"));
  expectSingleError(
      backendPolicy("  rateLimit: {requests: 10, by: {header: x, sourceIP: "
                    "true}}\n"),
      at(27, 33, kBp, "spec.rateLimit.by", "must set exactly one of header or sourceIP"));
  expectSingleError(backendPolicy("  rateLimit: {requests: 10, per: 10ms}\n"),
                    at(27, 34, kBp, "spec.rateLimit.per", "must be at least 50ms"));
  expectSingleError(backendPolicy("  rateLimit: {burst: 5}\n"),
                    at(27, 14, kBp, "spec.rateLimit.requests", "missing required field"));
}

TEST(BackendPolicyTest, TargetRefErrors) {
  auto withRefs = [](std::string_view refs) {
    return policy("BackendPolicy", "bp", refs, "  healthyPanicThreshold: 10\n");
  };
  expectSingleError(withRefs("  targetRefs: [{kind: Deployment, name: billing}]"),
                    at(26, 23, kBp, "spec.targetRefs[0].kind",
                       "unknown value \"Deployment\" (expected Service)"));
  expectSingleError(withRefs("  targetRefs: [{group: apps, kind: Service, name: billing}]"),
                    at(26, 24, kBp, "spec.targetRefs[0].group",
                       "unknown value \"apps\" (expected \"\" or trellis.dev)"));
  expectSingleError(withRefs("  targetRefs: [{kind: Service, name: billing, namespace: x}]"),
                    at(26, 47, kBp, "spec.targetRefs[0].namespace", "unknown field \"namespace\""));
  expectSingleError(withRefs("  targetRefs: [{kind: Service, name: billing}, {kind: Service, "
                             "name: billing}]"),
                    at(26, 48, kBp, "spec.targetRefs[1]",
                       "duplicate targetRef (same kind, name and sectionName)"));
  expectSingleError(withRefs("  targetRefs: []"),
                    at(26, 15, kBp, "spec.targetRefs", "must list at least one targetRef"));
  expectSingleError(
      withRefs("  targetRefs: [{kind: Service, name: billing, sectionName: a}]"),
      at(26, 47, kBp, "spec.targetRefs[0].sectionName", "unknown field \"sectionName\""));
  expectSingleError(withRefs("  circuitBreaker: {}"),
                    at(26, 3, kBp, "spec.targetRefs", "missing required field"));
}

// ---------------------------------------------------------------------------------------------
// RoutePolicy

TEST(RoutePolicyTest, FillsEveryRuleFieldOfEveryRule) {
  LoadResult result = load(routePolicy(R"(  timeouts: {request: 15s, perTry: 3s, streamIdle: 1m}
  retry:
    attempts: 4
    retryOn: [5xx, reset, per-try-timeout]
    retriableStatusCodes: [409, 503]
    retriableGrpcStatuses: [UNAVAILABLE, 8]
    perTryTimeout: 2s
    backoff: {baseInterval: 50ms, maxInterval: 1s}
    retryNonIdempotent: true
  fault:
    delay: {fixedDelay: 2s, percentage: 12.5}
    abort: {httpStatus: 503, grpcStatus: UNAVAILABLE, percentage: 0.0001}
    headers: [{name: X-Chaos, value: "on"}]
  rateLimit: {requests: 5, by: {sourceIP: true}}
)"));
  ASSERT_TRUE(result.ok()) << describe(result);
  EXPECT_TRUE(result.warnings.empty()) << describe(result);
  const RetryPolicy retry{4,
                          kRetry5xx | kRetryReset | kRetryPerTryTimeout,
                          {409, 503},
                          (1u << 14) | (1u << 8),
                          Duration(2000),
                          Duration(50),
                          Duration(1000),
                          true};
  const auto& rules = shopRules(result);
  ASSERT_EQ(rules.size(), 3u);  // rule "api" has two matches
  for (const RouteRule& rule : rules) {
    SCOPED_TRACE(rule.ruleIndex);
    EXPECT_EQ(rule.timeouts, (RouteTimeouts{Duration(15000), Duration(3000), Duration(60000)}));
    ASSERT_TRUE(rule.retry.has_value());
    EXPECT_EQ(*rule.retry, retry);
    ASSERT_TRUE(rule.fault.has_value());
    EXPECT_EQ(rule.fault->delay, Duration(2000));
    EXPECT_EQ(rule.fault->delayPerMillion, 125000u);
    EXPECT_EQ(rule.fault->abortHttpStatus, 503);
    EXPECT_EQ(rule.fault->abortGrpcStatus, 14);
    EXPECT_EQ(rule.fault->abortPerMillion, 1u);
    ASSERT_EQ(rule.fault->headers.size(), 1u);
    EXPECT_EQ(rule.fault->headers[0].name, "x-chaos");
    EXPECT_EQ(rule.fault->headers[0].value, "on");
    EXPECT_EQ(rule.fault->headers[0].type, StringMatchType::Exact);
    EXPECT_EQ(rule.rateLimit,
              (LocalRateLimit{5, 5, Duration(1000), LocalRateLimit::Key::SourceIp, ""}));
  }
}

TEST(RoutePolicyTest, EmptyRetryEnablesDefaultRetries) {
  LoadResult result =
      load(routePolicy("  retry: {}\n  fault: {abort: {grpcStatus: 14, "
                       "percentage: 100}}\n"));
  ASSERT_TRUE(result.ok()) << describe(result);
  for (const RouteRule& rule : shopRules(result)) {
    EXPECT_EQ(rule.retry, RetryPolicy{});
    ASSERT_TRUE(rule.fault.has_value());
    EXPECT_EQ(rule.fault->abortHttpStatus, 0);
    EXPECT_EQ(rule.fault->abortGrpcStatus, 14);
    EXPECT_EQ(rule.fault->abortPerMillion, 1000000u);
    EXPECT_EQ(rule.fault->delayPerMillion, 0u);
  }
}

TEST(RoutePolicyTest, SectionNameSelectsOneRule) {
  LoadResult result = load(policy("RoutePolicy", "rp",
                                  "  targetRefs: [{kind: HTTPRoute, name: shop, sectionName: api}]",
                                  "  timeouts: {request: 1s}\n"));
  ASSERT_TRUE(result.ok()) << describe(result);
  for (const RouteRule& rule : shopRules(result)) {
    EXPECT_EQ(rule.timeouts.request, Duration(rule.ruleIndex == 0 ? 1000 : 0)) << rule.ruleIndex;
  }
}

TEST(RoutePolicyTest, AppliesToGrpcRoutes) {
  LoadResult result = load(R"(apiVersion: trellis.dev/v1alpha1
kind: Listener
metadata: {name: web}
spec: {port: 80}
---
apiVersion: trellis.dev/v1alpha1
kind: Service
metadata: {name: greeter}
spec: {ports: [{port: 50051, appProtocol: grpc}]}
---
apiVersion: gateway.networking.k8s.io/v1
kind: GRPCRoute
metadata: {name: greeter}
spec:
  parentRefs: [{group: trellis.dev, kind: Listener, name: web}]
  rules: [{backendRefs: [{name: greeter}]}]
---
apiVersion: trellis.dev/v1alpha1
kind: RoutePolicy
metadata: {name: rp}
spec:
  targetRefs: [{kind: GRPCRoute, name: greeter}, {kind: HTTPRoute, name: greeter}]
  retry: {retriableGrpcStatuses: [RESOURCE_EXHAUSTED]}
)");
  ASSERT_TRUE(result.ok()) << describe(result);
  EXPECT_EQ(rendered(result.warnings),
            (std::vector<std::string>{"test.yaml:22:50: RoutePolicy default/rp: "
                                      "spec.targetRefs[1]: HTTPRoute default/greeter not found; "
                                      "the policy does not apply to it"}));
  const RouteRule& rule = result.snapshot->listeners[0].routes.routes.at(0).rules.at(0);
  ASSERT_TRUE(rule.retry.has_value());
  EXPECT_EQ(rule.retry->retriableGrpcStatuses, 1u << 8);
  EXPECT_EQ(rule.retry->retryOn, RetryPolicy{}.retryOn);
}

TEST(RoutePolicyTest, OverridesTheRoutesGatewayApiFieldsFieldByField) {
  LoadResult result = load(R"(apiVersion: trellis.dev/v1alpha1
kind: Listener
metadata: {name: web}
spec: {port: 80}
---
apiVersion: trellis.dev/v1alpha1
kind: Service
metadata: {name: svc}
spec: {ports: [{port: 80}]}
---
apiVersion: gateway.networking.k8s.io/v1
kind: HTTPRoute
metadata: {name: shop}
spec:
  parentRefs: [{group: trellis.dev, kind: Listener, name: web}]
  rules:
  - backendRefs: [{name: svc}]
    timeouts: {request: 10s, backendRequest: 2s}
    retry: {codes: [503], attempts: 3, backoff: 100ms}
---
apiVersion: trellis.dev/v1alpha1
kind: RoutePolicy
metadata: {name: rp}
spec:
  targetRefs: [{kind: HTTPRoute, name: shop}]
  timeouts: {request: 5s}
  retry: {attempts: 5, retryOn: [5xx]}
)");
  ASSERT_TRUE(result.ok()) << describe(result);
  const RouteRule& rule = result.snapshot->listeners[0].routes.routes.at(0).rules.at(0);
  EXPECT_EQ(rule.timeouts, (RouteTimeouts{Duration(5000), Duration(2000), Duration(0)}));
  RetryPolicy expected;
  expected.numRetries = 5;
  expected.retryOn = kRetry5xx;
  expected.retriableStatusCodes = {503};
  expected.backoffBase = Duration(100);
  expected.backoffMax = Duration(1000);
  EXPECT_EQ(rule.retry, expected);
}

TEST(RoutePolicyTest, ConflictsFollowGatewayApiPrecedenceWithWarnings) {
  LoadResult result = load(std::string(kBase) + R"(apiVersion: trellis.dev/v1alpha1
kind: RoutePolicy
metadata: {name: newer, creationTimestamp: "2024-06-01T00:00:00Z"}
spec:
  targetRefs: [{kind: HTTPRoute, name: shop}]
  timeouts: {request: 5s, perTry: 1s}
---
apiVersion: trellis.dev/v1alpha1
kind: RoutePolicy
metadata: {name: older, creationTimestamp: "2024-05-01T00:00:00Z"}
spec:
  targetRefs: [{kind: HTTPRoute, name: shop}]
  timeouts: {request: 7s}
---
apiVersion: trellis.dev/v1alpha1
kind: RoutePolicy
metadata: {name: section, creationTimestamp: "2024-07-01T00:00:00Z"}
spec:
  targetRefs: [{kind: HTTPRoute, name: shop, sectionName: api}]
  timeouts: {perTry: 2s}
)");
  ASSERT_TRUE(result.ok()) << describe(result);
  // The oldest policy wins request; on rule "api", the policy naming it wins perTry.
  EXPECT_EQ(rendered(result.warnings),
            (std::vector<std::string>{
                "test.yaml:27:23: RoutePolicy default/newer: spec.timeouts.request: ignored for "
                "HTTPRoute default/shop: RoutePolicy default/older sets it too and takes "
                "precedence (it is older)",
                "test.yaml:27:35: RoutePolicy default/newer: spec.timeouts.perTry: ignored for "
                "HTTPRoute default/shop: RoutePolicy default/section sets it too and takes "
                "precedence (it targets rule \"api\" by sectionName)",
            }));
  for (const RouteRule& rule : shopRules(result)) {
    SCOPED_TRACE(rule.ruleIndex);
    EXPECT_EQ(rule.timeouts.request, Duration(7000));
    EXPECT_EQ(rule.timeouts.perTry, Duration(rule.ruleIndex == 0 ? 2000 : 1000));
  }
}

TEST(RoutePolicyTest, MissingTargetsAreWarnings) {
  LoadResult result = load(std::string(kBase) + R"(apiVersion: trellis.dev/v1alpha1
kind: BackendPolicy
metadata: {name: bp}
spec:
  targetRefs: [{kind: Service, name: gone}, {kind: Service, name: billing, group: trellis.dev}]
  healthyPanicThreshold: 10
---
apiVersion: trellis.dev/v1alpha1
kind: RoutePolicy
metadata: {name: rp, namespace: other}
spec:
  targetRefs: [{kind: HTTPRoute, name: shop}]
  timeouts: {request: 1s}
)");
  ASSERT_TRUE(result.ok()) << describe(result);
  EXPECT_EQ(rendered(result.warnings),
            (std::vector<std::string>{
                "test.yaml:26:16: BackendPolicy default/bp: spec.targetRefs[0]: Service "
                "default/gone not found; the policy does not apply to it",
                "test.yaml:33:16: RoutePolicy other/rp: spec.targetRefs[0]: HTTPRoute other/shop "
                "not found; the policy does not apply to it",
            }));
  EXPECT_EQ(result.snapshot->clusters.at("default/billing:80").healthyPanicThreshold, 10u);
  for (const RouteRule& rule : shopRules(result)) EXPECT_EQ(rule.timeouts, RouteTimeouts{});
}

TEST(RoutePolicyTest, UnknownSectionNameIsAWarningAndThePolicyDoesNotApply) {
  LoadResult result = load(policy(
      "RoutePolicy", "rp", "  targetRefs: [{kind: HTTPRoute, name: shop, sectionName: nope}]",
      "  timeouts: {request: 1s}\n"));
  ASSERT_TRUE(result.ok()) << describe(result);
  EXPECT_EQ(rendered(result.warnings),
            (std::vector<std::string>{
                "test.yaml:26:59: RoutePolicy default/rp: spec.targetRefs[0].sectionName: "
                "HTTPRoute default/shop has no rule named \"nope\" (rule names: api); the policy "
                "does not apply to it",
            }));
  for (const RouteRule& rule : shopRules(result)) EXPECT_EQ(rule.timeouts, RouteTimeouts{});
}

TEST(RoutePolicyTest, KindBelongsToTrellisApi) {
  expectSingleError("apiVersion: gateway.networking.k8s.io/v1\nkind: RoutePolicy\n",
                    at(2, 7, "RoutePolicy in document 1", "kind",
                       "kind RoutePolicy belongs to apiVersion trellis.dev/v1alpha1, not "
                       "gateway.networking.k8s.io/v1"));
}

TEST(RoutePolicyTest, TargetRefErrors) {
  auto withRefs = [](std::string_view refs) {
    return policy("RoutePolicy", "rp", refs, "  timeouts: {request: 1s}\n");
  };
  expectSingleError(withRefs("  targetRefs: [{kind: Service, name: billing}]"),
                    at(26, 23, kRp, "spec.targetRefs[0].kind",
                       "unknown value \"Service\" (expected HTTPRoute or GRPCRoute)"));
  expectSingleError(withRefs("  targetRefs: [{group: trellis.dev, kind: HTTPRoute, name: shop}]"),
                    at(26, 24, kRp, "spec.targetRefs[0].group",
                       "unknown value \"trellis.dev\" (expected gateway.networking.k8s.io)"));
  expectSingleError(withRefs("  targetRefs: [{kind: HTTPRoute}]"),
                    at(26, 16, kRp, "spec.targetRefs[0].name", "missing required field"));
}

TEST(RoutePolicyTest, TimeoutAndRetryErrors) {
  expectSingleError(
      routePolicy("  timeout: {request: 1s}\n"),
      at(27, 3, kRp, "spec.timeout", "unknown field \"timeout\" (did you mean \"timeouts\"?)"));
  expectSingleError(routePolicy("  timeouts: {request: 1s, perTry: 2s}\n"),
                    at(27, 35, kRp, "spec.timeouts.perTry",
                       "perTry timeout cannot be longer than request timeout"));
  expectSingleError(routePolicy("  retry: {retryOn: [5xx, bogus]}\n"),
                    at(27, 26, kRp, "spec.retry.retryOn[1]",
                       "unknown value \"bogus\" (expected connect-failure, reset, 5xx, "
                       "gateway-error, retriable-4xx, refused-stream or per-try-timeout)"));
  expectSingleError(routePolicy("  retry: {retryOn: [5xx, 5xx]}\n"),
                    at(27, 26, kRp, "spec.retry.retryOn[1]", "duplicate condition \"5xx\""));
  expectSingleError(routePolicy("  retry: {retriableGrpcStatuses: [UNAVAILBLE]}\n"),
                    at(27, 35, kRp, "spec.retry.retriableGrpcStatuses[0]",
                       "unknown gRPC status \"UNAVAILBLE\" (expected a code name of the gRPC "
                       "specification such as UNAVAILABLE or RESOURCE_EXHAUSTED, or a number "
                       "from 1 to 16)"));
  expectSingleError(
      routePolicy("  retry: {retriableGrpcStatuses: [OK]}\n"),
      at(27, 35, kRp, "spec.retry.retriableGrpcStatuses[0]", "OK (0) is not a failure status"));
  expectSingleError(
      routePolicy("  retry: {retriableGrpcStatuses: [17]}\n"),
      at(27, 35, kRp, "spec.retry.retriableGrpcStatuses[0]", "must be between 1 and 16, got 17"));
  expectSingleError(
      routePolicy("  retry: {backoff: {baseInterval: 1s, maxInterval: 100ms}}\n"),
      at(27, 52, kRp, "spec.retry.backoff.maxInterval", "must not be shorter than baseInterval"));
  expectSingleError(routePolicy("  retry: {retriableStatusCodes: [503, 200]}\n"),
                    at(27, 39, kRp, "spec.retry.retriableStatusCodes[1]",
                       "must be between 400 and 599, got 200"));
  expectSingleError(routePolicy("  retry: {attempts: 101}\n"),
                    at(27, 21, kRp, "spec.retry.attempts", "must be between 0 and 100, got 101"));
}

TEST(RoutePolicyTest, FaultErrors) {
  const std::string percentMessage =
      "expected a percentage from 0 to 100 with at most 4 decimals (e.g. 12.5), got ";
  expectSingleError(routePolicy("  fault: {delay: {fixedDelay: 1s, percentage: 100.5}}\n"),
                    at(27, 47, kRp, "spec.fault.delay.percentage", percentMessage + "\"100.5\""));
  expectSingleError(routePolicy("  fault: {delay: {fixedDelay: 1s, percentage: 0.00001}}\n"),
                    at(27, 47, kRp, "spec.fault.delay.percentage", percentMessage + "\"0.00001\""));
  expectSingleError(routePolicy("  fault: {delay: {fixedDelay: 1s, percentage: -1}}\n"),
                    at(27, 47, kRp, "spec.fault.delay.percentage", percentMessage + "\"-1\""));
  expectSingleError(
      routePolicy("  fault: {delay: {fixedDelay: 1s, percentage: \"50\"}}\n"),
      at(27, 47, kRp, "spec.fault.delay.percentage", "expected a number, got the string \"50\""));
  expectSingleError(routePolicy("  fault: {headers: [{name: x, value: y}]}\n"),
                    at(27, 10, kRp, "spec.fault", "must set delay, abort or both"));
  expectSingleError(routePolicy("  fault: {abort: {percentage: 10}}\n"),
                    at(27, 18, kRp, "spec.fault.abort", "must set httpStatus, grpcStatus or both"));
  expectSingleError(routePolicy("  fault: {delay: {fixedDelay: 1s}}\n"),
                    at(27, 18, kRp, "spec.fault.delay.percentage", "missing required field"));
  expectSingleError(
      routePolicy("  fault: {abort: {httpStatus: 600, percentage: 1}}\n"),
      at(27, 31, kRp, "spec.fault.abort.httpStatus", "must be between 200 and 599, got 600"));
  expectSingleError(
      routePolicy("  fault: {abort: {grpcStatus: 0, percentage: 1}}\n"),
      at(27, 31, kRp, "spec.fault.abort.grpcStatus", "OK (0) is not a failure status"));
}

// ---------------------------------------------------------------------------------------------
// HTTPRoute timeouts and retry (Gateway API)

// A listener, a service and an HTTPRoute header: `rules` starts on line 16.
std::string gatewayRoute(std::string_view rules) {
  return R"(apiVersion: trellis.dev/v1alpha1
kind: Listener
metadata: {name: web}
spec: {port: 80}
---
apiVersion: trellis.dev/v1alpha1
kind: Service
metadata: {name: svc}
spec: {ports: [{port: 80}]}
---
apiVersion: gateway.networking.k8s.io/v1
kind: HTTPRoute
metadata: {name: shop}
spec:
  parentRefs: [{group: trellis.dev, kind: Listener, name: web}]
)" + std::string(rules);
}

TEST(HttpRouteResilienceTest, TimeoutsAndRetryFillTheRule) {
  LoadResult result = load(gatewayRoute(R"(  rules:
  - backendRefs: [{name: svc}]
    timeouts: {request: 10s, backendRequest: 0s}
    retry: {codes: [503, 504], attempts: 3, backoff: 2s}
  - backendRefs: [{name: svc}]
    timeouts: {backendRequest: 3s}
    retry: {}
  - backendRefs: [{name: svc}]
    retry: {backoff: 20s}
)"));
  ASSERT_TRUE(result.ok()) << describe(result);
  const auto& rules = result.snapshot->listeners[0].routes.routes.at(0).rules;
  ASSERT_EQ(rules.size(), 3u);
  const uint32_t gatewayRetryOn = kRetryConnectFailure | kRetryReset | kRetryRefusedStream;
  EXPECT_EQ(rules[0].timeouts, (RouteTimeouts{Duration(10000), Duration(0), Duration(0)}));
  EXPECT_EQ(
      rules[0].retry,
      (RetryPolicy{
          3, gatewayRetryOn, {503, 504}, 0, Duration(0), Duration(2000), Duration(10000), false}));
  EXPECT_EQ(rules[1].timeouts, (RouteTimeouts{Duration(0), Duration(3000), Duration(0)}));
  RetryPolicy defaults;
  defaults.retryOn = gatewayRetryOn;
  EXPECT_EQ(rules[1].retry, defaults);  // 1 retry, 25ms..250ms
  EXPECT_EQ(rules[2].timeouts, RouteTimeouts{});
  ASSERT_TRUE(rules[2].retry.has_value());
  EXPECT_EQ(rules[2].retry->backoffBase, Duration(20000));
  EXPECT_EQ(rules[2].retry->backoffMax, Duration(20000));  // 10 × base capped at 10s, ≥ base
}

TEST(HttpRouteResilienceTest, RetryErrors) {
  const char* shop = "HTTPRoute default/shop";
  expectSingleError(
      gatewayRoute("  rules: [{retry: {codes: [503, 399]}}]\n"),
      at(16, 33, shop, "spec.rules[0].retry.codes[1]", "must be between 400 and 599, got 399"));
  expectSingleError(gatewayRoute("  rules: [{retry: {codes: [503, 503]}}]\n"),
                    at(16, 33, shop, "spec.rules[0].retry.codes[1]", "duplicate status code 503"));
  expectSingleError(
      gatewayRoute("  rules: [{retry: {attempts: -1}}]\n"),
      at(16, 30, shop, "spec.rules[0].retry.attempts", "must be between 0 and 100, got -1"));
  expectSingleError(gatewayRoute("  rules: [{retry: {backoff: 0s}}]\n"),
                    at(16, 29, shop, "spec.rules[0].retry.backoff", "must be at least 1ms"));
  expectSingleError(gatewayRoute("  rules: [{retry: {attempt: 2}}]\n"),
                    at(16, 20, shop, "spec.rules[0].retry.attempt",
                       "unknown field \"attempt\" (did you mean \"attempts\"?)"));
}

// ---------------------------------------------------------------------------------------------
// Listener

TEST(ListenerResilienceTest, StreamIdleTimeoutAndConnectionRateLimit) {
  LoadResult result = load(R"(apiVersion: trellis.dev/v1alpha1
kind: Listener
metadata: {name: web}
spec: {port: 80, http: {streamIdleTimeout: 2m}}
---
apiVersion: trellis.dev/v1alpha1
kind: Listener
metadata: {name: db}
spec:
  port: 5432
  protocol: AUTO
  tcp: {backendRef: {name: svc}}
  connectionRateLimit: {connections: 100, per: 1s, burst: 200}
---
apiVersion: trellis.dev/v1alpha1
kind: Service
metadata: {name: svc}
spec: {ports: [{port: 80}]}
)");
  ASSERT_TRUE(result.ok()) << describe(result);
  EXPECT_EQ(result.snapshot->listeners[0].http.streamIdleTimeout, Duration(120000));
  EXPECT_FALSE(result.snapshot->listeners[0].connectionRateLimit.has_value());
  EXPECT_EQ(result.snapshot->listeners[1].http.streamIdleTimeout, Duration(300000));
  EXPECT_EQ(result.snapshot->listeners[1].connectionRateLimit,
            (LocalRateLimit{200, 100, Duration(1000), LocalRateLimit::Key::None, ""}));
}

TEST(ListenerResilienceTest, Errors) {
  const char* web = "Listener default/web";
  expectSingleError(
      R"(apiVersion: trellis.dev/v1alpha1
kind: Listener
metadata: {name: web}
spec: {port: 80, connectionRateLimit: {connections: 10}}
)",
      at(4, 39, web, "spec.connectionRateLimit", "is only valid with protocol TCP or AUTO"));
  expectSingleError(R"(apiVersion: trellis.dev/v1alpha1
kind: Listener
metadata: {name: web}
spec:
  port: 80
  protocol: TCP
  tcp: {backendRef: {name: svc}}
  connectionRateLimit: {connections: 10, by: {sourceIP: true}}
)",
                    at(8, 42, web, "spec.connectionRateLimit.by", "unknown field \"by\""));
  expectSingleError(R"(apiVersion: trellis.dev/v1alpha1
kind: Listener
metadata: {name: web}
spec: {port: 80, http: {streamIdleTimeout: 0s}}
)",
                    at(4, 44, web, "spec.http.streamIdleTimeout", "must be at least 1ms"));
}

// ---------------------------------------------------------------------------------------------
// config_dump

TEST(PolicyDumpTest, ShowsResilienceSettingsWhenSet) {
  LoadResult result = load(backendPolicy(R"(  circuitBreaker: {maxRequests: 7}
  healthCheck: {http: {expectedStatuses: [200, "300-302"]}}
---
apiVersion: trellis.dev/v1alpha1
kind: RoutePolicy
metadata: {name: rp}
spec:
  targetRefs: [{kind: HTTPRoute, name: shop, sectionName: api}]
  timeouts: {request: 15s}
  retry: {retryOn: [reset, 5xx], retriableGrpcStatuses: [UNAVAILABLE]}
  fault: {delay: {fixedDelay: 1s, percentage: 12.5}}
  rateLimit: {requests: 5, by: {header: x-user}}
)"));
  ASSERT_TRUE(result.ok()) << describe(result);
  nlohmann::json dump = toJson(*result.snapshot);
  const auto& cluster = dump["clusters"][0];
  EXPECT_EQ(cluster["circuitBreaker"]["maxRequests"], 7);
  EXPECT_EQ(cluster["circuitBreaker"]["maxConnections"], 1024);
  EXPECT_EQ(cluster["healthCheck"]["http"]["expectedStatuses"],
            nlohmann::json::array({"200", "300-302"}));
  EXPECT_EQ(cluster["healthCheck"]["interval"], "5s");
  EXPECT_FALSE(cluster.contains("retryBudget"));  // the defaults are not repeated
  EXPECT_FALSE(cluster.contains("outlierDetection"));
  const auto& web = dump["listeners"][0];
  EXPECT_EQ(web["http"]["streamIdleTimeout"], "5m");
  const auto& rules = web["routes"][0]["rules"];
  EXPECT_EQ(rules[0]["timeouts"], nlohmann::json({{"request", "15s"}}));
  EXPECT_EQ(rules[0]["retry"]["retryOn"], nlohmann::json::array({"reset", "5xx"}));
  EXPECT_EQ(rules[0]["retry"]["retriableGrpcStatuses"], nlohmann::json::array({"UNAVAILABLE"}));
  EXPECT_EQ(rules[0]["retry"]["attempts"], 1);
  EXPECT_EQ(rules[0]["retry"]["backoff"]["maxInterval"], "250ms");
  EXPECT_EQ(rules[0]["fault"]["delay"]["percentage"], 12.5);
  EXPECT_EQ(rules[0]["rateLimit"],
            nlohmann::json(
                {{"requests", 5}, {"per", "1s"}, {"burst", 5}, {"by", {{"header", "x-user"}}}}));
  EXPECT_FALSE(rules[2].contains("timeouts"));  // the unnamed rule
  EXPECT_FALSE(rules[2].contains("retry"));
  EXPECT_FALSE(rules[2].contains("fault"));
}

// ---------------------------------------------------------------------------------------------
// Examples

TEST(PolicyExamplesTest, ResilienceExampleLoads) {
  LoadResult result = loadFile(TRELLIS_EXAMPLES_DIR "/resilience.yaml");
  ASSERT_TRUE(result.ok()) << describe(result);
  EXPECT_TRUE(result.warnings.empty()) << describe(result);
  const Snapshot& snapshot = *result.snapshot;
  for (const char* name : {"shop/billing:80", "shop/billing:50051"}) {
    const Cluster& cluster = snapshot.clusters.at(name);
    EXPECT_EQ(cluster.circuitBreaker, (CircuitBreaker{100, 50, 200, 10})) << name;
    ASSERT_TRUE(cluster.healthCheck.has_value()) << name;
    EXPECT_EQ(cluster.healthCheck->path, "/ready");
  }
  EXPECT_FALSE(snapshot.clusters.at("shop/ledger-db:5432").healthCheck.has_value());
  EXPECT_EQ(snapshot.listeners.at(1).connectionRateLimit,
            (LocalRateLimit{100, 50, Duration(1000), LocalRateLimit::Key::None, ""}));
  const auto& routes = snapshot.listeners.at(0).routes.routes;
  ASSERT_EQ(routes.size(), 2u);
  const RouteRule& api = routes[0].rules.at(0);
  EXPECT_EQ(api.timeouts, (RouteTimeouts{Duration(5000), Duration(2000), Duration(0)}));
  ASSERT_TRUE(api.retry.has_value());
  EXPECT_EQ(api.retry->numRetries, 3u);
  EXPECT_EQ(api.retry->retriableStatusCodes, std::vector<uint16_t>{503});  // from the route
  EXPECT_EQ(api.retry->backoffMax, Duration(1000));
  ASSERT_TRUE(api.fault.has_value());
  EXPECT_EQ(api.fault->abortPerMillion, 5000u);
  const RouteRule& reports = routes[0].rules.at(1);
  EXPECT_EQ(reports.timeouts.request, Duration(60000));
  EXPECT_FALSE(reports.retry.has_value());
  const RouteRule& grpc = routes[1].rules.at(0);
  ASSERT_TRUE(grpc.retry.has_value());
  EXPECT_EQ(grpc.retry->retriableGrpcStatuses, (1u << 14) | (1u << 8));
  ASSERT_TRUE(grpc.fault.has_value());
  EXPECT_EQ(grpc.fault->delayPerMillion, 10000u);
}

// The first yaml block after `heading` in docs/configuration.md.
std::string documentedExample(std::string_view heading) {
  std::ifstream file(TRELLIS_DOCS_DIR "/configuration.md");
  std::stringstream content;
  content << file.rdbuf();
  std::string markdown = content.str();
  size_t section = markdown.find(heading);
  if (section == std::string::npos) return "";
  size_t start = markdown.find("```yaml\n", section);
  if (start == std::string::npos) return "";
  start += 8;
  return markdown.substr(start, markdown.find("```", start) - start);
}

TEST(PolicyExamplesTest, DocumentedExamplesLoad) {
  std::string backend = documentedExample("\n## BackendPolicy\n");
  std::string route = documentedExample("\n## RoutePolicy\n");
  ASSERT_NE(backend.find("kind: BackendPolicy"), std::string::npos);
  ASSERT_NE(route.find("kind: RoutePolicy"), std::string::npos);
  LoadResult result = load(R"(apiVersion: trellis.dev/v1alpha1
kind: Service
metadata: {name: billing, namespace: shop}
spec: {ports: [{port: 80}]}
---
apiVersion: gateway.networking.k8s.io/v1
kind: HTTPRoute
metadata: {name: billing, namespace: shop}
spec:
  parentRefs: [{group: "", kind: Service, name: billing}]
  rules: [{name: api, backendRefs: [{name: billing}]}]
---
)" + backend + "---\n" + route);
  ASSERT_TRUE(result.ok()) << describe(result);
  EXPECT_TRUE(result.warnings.empty()) << describe(result);
  EXPECT_EQ(result.snapshot->clusters.at("shop/billing:80").healthyPanicThreshold, 30u);
}

}  // namespace
}  // namespace trellis::config
