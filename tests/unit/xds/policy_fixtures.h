#pragma once
// Model values with every resilience setting away from its default, built directly (the YAML
// loader does not read these kinds yet), for the policy codec tests.

#include <string>

#include "config/model.h"
#include "xds/codec/codec.h"

namespace trellis::xds::testing {

using config::Duration;

inline config::Cluster policyCluster() {
  config::Cluster c;
  c.name = "shop/api:80";
  c.endpoints = {{"10.0.0.1", 80, 1, {}}};
  c.circuitBreaker = {10, 20, 30, 40};
  c.retryBudget = {35, 7, Duration(2500)};
  config::OutlierDetection od;
  od.consecutive5xx = 3;
  od.consecutiveGatewayErrors = 4;
  od.consecutiveLocalOriginFailures = 6;
  od.interval = Duration(1500);
  od.baseEjectionTime = Duration(20000);
  od.maxEjectionTime = Duration(90000);
  od.maxEjectionPercent = 40;
  od.successRateMinimumHosts = 3;
  od.successRateRequestVolume = 50;
  od.successRateStdevFactor = 1500;
  c.outlierDetection = od;
  config::HealthCheck hc;
  hc.path = "/ready";
  hc.host = "api.internal";
  hc.expectedStatuses = {{200, 204}, {301, 301}};
  hc.interval = Duration(2000);
  hc.timeout = Duration(500);
  hc.unhealthyThreshold = 4;
  hc.healthyThreshold = 1;
  c.healthCheck = hc;
  c.healthyPanicThreshold = 0;
  c.rateLimit =
      config::LocalRateLimit{100, 10, Duration(500), config::LocalRateLimit::Key::SourceIp, ""};
  return c;
}

inline config::ValueMatch exactHeader(std::string name, std::string value) {
  return config::ValueMatch{config::StringMatchType::Exact, std::move(name), std::move(value),
                            nullptr};
}

inline config::RouteRule ruleFor(const std::string& path, uint32_t index) {
  config::RouteRule rule;
  rule.match.path = {config::PathMatchType::Exact, path, nullptr};
  rule.routeName = "shop/r";
  rule.ruleIndex = index;
  return rule;
}

/// "/a": every route setting in standard fields where Envoy has them.
inline config::RouteRule fullRule() {
  config::RouteRule rule = ruleFor("/a", 0);
  rule.backends = {{"shop/api:80", 1}};
  rule.timeouts = {Duration(4000), Duration(1200), Duration(30000)};
  config::RetryPolicy retry;
  retry.numRetries = 3;
  retry.retryOn = config::kRetryConnectFailure | config::kRetryReset | config::kRetry5xx |
                  config::kRetryGatewayError | config::kRetryRetriable4xx |
                  config::kRetryRefusedStream | config::kRetryPerTryTimeout;
  retry.retriableStatusCodes = {503, 429};
  // UNAVAILABLE and DEADLINE_EXCEEDED have tokens; UNKNOWN and UNAUTHENTICATED do not.
  retry.retriableGrpcStatuses = (1u << 14) | (1u << 4) | (1u << 2) | (1u << 16);
  retry.perTryTimeout = Duration(800);
  retry.backoffBase = Duration(50);
  retry.backoffMax = Duration(2000);
  retry.retryNonIdempotent = true;
  rule.retry = retry;
  config::FaultInjection fault;
  fault.delay = Duration(250);
  fault.delayPerMillion = 125000;
  fault.abortHttpStatus = 503;
  fault.abortGrpcStatus = 8;
  fault.abortPerMillion = 1000;
  fault.headers = {
      exactHeader("x-fault", "on"),
      config::ValueMatch{config::StringMatchType::RegularExpression, "x-user", "test-.*", nullptr}};
  rule.fault = fault;
  rule.rateLimit =
      config::LocalRateLimit{20, 5, Duration(1000), config::LocalRateLimit::Key::None, ""};
  return rule;
}

/// The rules of the "shop/web" listener: "/a" (fullRule), "/b" (defaults, keyed rate limit), "/c"
/// (a redirect with a timeout, a retry and a gRPC-only abort), "/d" (no backend: a direct
/// response, with idle and per-try timeouts but no retry).
inline std::vector<config::RouteRule> policyRules() {
  std::vector<config::RouteRule> rules = {fullRule()};
  config::RouteRule b = ruleFor("/b", 1);
  b.backends = {{"shop/api:80", 1}};
  b.rateLimit = config::LocalRateLimit{7, 1, Duration(60000), config::LocalRateLimit::Key::Header,
                                       "x-tenant"};
  rules.push_back(b);
  config::RouteRule c = ruleFor("/c", 2);
  c.redirect = config::RequestRedirect{};
  c.timeouts.request = Duration(3000);
  c.retry = config::RetryPolicy{};
  c.retry->numRetries = 2;
  c.fault = config::FaultInjection{};
  c.fault->abortGrpcStatus = 14;
  c.fault->abortPerMillion = 1000000;
  rules.push_back(c);
  config::RouteRule d = ruleFor("/d", 3);
  d.timeouts.streamIdle = Duration(5000);
  d.timeouts.perTry = Duration(700);
  rules.push_back(d);
  return rules;
}

inline config::Snapshot policySnapshot() {
  config::Snapshot snapshot;
  config::Listener web;
  web.name = "shop/web";
  web.port = 8080;
  web.http.streamIdleTimeout = Duration(45000);
  config::RouteTableConfig::HostRules host;
  host.rules = policyRules();
  web.routes.routes.push_back(host);
  snapshot.listeners.push_back(web);
  config::Listener tcp;
  tcp.name = "shop/db";
  tcp.port = 5432;
  tcp.protocol = config::ListenerProtocol::Tcp;
  tcp.tcpCluster = "shop/api:80";
  tcp.connectionRateLimit =
      config::LocalRateLimit{50, 25, Duration(1000), config::LocalRateLimit::Key::None, ""};
  snapshot.listeners.push_back(tcp);
  config::Cluster cluster = policyCluster();
  snapshot.clusters.emplace(cluster.name, cluster);
  return snapshot;
}

/// The decoded rule whose exact path is `path` (decode groups rules per host, by precedence).
inline const config::RouteRule* findRule(const config::Snapshot& snapshot,
                                         const std::string& path) {
  for (const config::Listener& listener : snapshot.listeners) {
    for (const auto& host : listener.routes.routes) {
      for (const config::RouteRule& rule : host.rules) {
        if (rule.match.path.value == path) return &rule;
      }
    }
  }
  return nullptr;
}

}  // namespace trellis::xds::testing
