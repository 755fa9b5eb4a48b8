#include "config/dump.h"
#include "http/grpc.h"

#include <fmt/format.h>

#include "config/syntax.h"

namespace trellis::config {
namespace {

using nlohmann::json;

const char* pathMatchName(PathMatchType type) {
  switch (type) {
    case PathMatchType::Exact:
      return "Exact";
    case PathMatchType::PathPrefix:
      return "PathPrefix";
    case PathMatchType::RegularExpression:
      return "RegularExpression";
  }
  return "?";
}

const char* rewriteName(PathRewriteType type) {
  switch (type) {
    case PathRewriteType::None:
      return "None";
    case PathRewriteType::ReplaceFullPath:
      return "ReplaceFullPath";
    case PathRewriteType::ReplacePrefixMatch:
      return "ReplacePrefixMatch";
  }
  return "?";
}

const char* lbPolicyName(LbPolicy policy) {
  switch (policy) {
    case LbPolicy::RoundRobin:
      return "RoundRobin";
    case LbPolicy::LeastRequest:
      return "LeastRequest";
    case LbPolicy::Random:
      return "Random";
    case LbPolicy::RingHash:
      return "RingHash";
    case LbPolicy::Maglev:
      return "Maglev";
  }
  return "?";
}

json valueMatches(const std::vector<ValueMatch>& matches) {
  json out = json::array();
  for (const ValueMatch& match : matches) {
    out.push_back({{"type", match.type == StringMatchType::Exact ? "Exact" : "RegularExpression"},
                   {"name", match.name},
                   {"value", match.value}});
  }
  return out;
}

json headerModifier(const HeaderModifier& modifier) {
  json out = {{"set", json::array()}, {"add", json::array()}, {"remove", modifier.remove}};
  for (const auto& [name, value] : modifier.set)
    out["set"].push_back({{"name", name}, {"value", value}});
  for (const auto& [name, value] : modifier.add)
    out["add"].push_back({{"name", name}, {"value", value}});
  return out;
}

json pathModifier(PathRewriteType type, const std::string& path) {
  if (type == PathRewriteType::None) return nullptr;
  return {{"type", rewriteName(type)}, {"value", path}};
}

// A share in parts per million as the percentage it was written as (125000 → 12.5).
json percentage(uint32_t perMillion) {
  if (perMillion % 10000 == 0) return perMillion / 10000;
  return perMillion / 10000.0;
}

json rateLimitJson(const LocalRateLimit& limit, const char* unit) {
  json out = {{unit, limit.tokensPerFill},
              {"per", syntax::formatDuration(limit.fillInterval)},
              {"burst", limit.maxTokens}};
  if (limit.key == LocalRateLimit::Key::Header) out["by"] = {{"header", limit.header}};
  if (limit.key == LocalRateLimit::Key::SourceIp) out["by"] = {{"sourceIP", true}};
  return out;
}

json retryJson(const RetryPolicy& retry) {
  json retryOn = json::array();
  for (const auto& token : syntax::kRetryOnTokens) {
    if ((retry.retryOn & token.bit) != 0) retryOn.push_back(token.name);
  }
  json out = {{"attempts", retry.numRetries},
              {"retryOn", std::move(retryOn)},
              {"backoff",
               {{"baseInterval", syntax::formatDuration(retry.backoffBase)},
                {"maxInterval", syntax::formatDuration(retry.backoffMax)}}}};
  if (!retry.retriableStatusCodes.empty()) {
    out["retriableStatusCodes"] = retry.retriableStatusCodes;
  }
  if (retry.retriableGrpcStatuses != 0) {
    json statuses = json::array();
    for (int code = 0; code < http::grpc::kStatusCount; ++code) {
      if ((retry.retriableGrpcStatuses & (1u << code)) != 0) {
        statuses.push_back(http::grpc::statusName(static_cast<http::grpc::Status>(code)));
      }
    }
    out["retriableGrpcStatuses"] = std::move(statuses);
  }
  if (retry.perTryTimeout.count() != 0) {
    out["perTryTimeout"] = syntax::formatDuration(retry.perTryTimeout);
  }
  if (retry.retryNonIdempotent) out["retryNonIdempotent"] = true;
  return out;
}

json faultJson(const FaultInjection& fault) {
  json out = json::object();
  if (fault.delayPerMillion != 0 || fault.delay.count() != 0) {
    out["delay"] = {{"fixedDelay", syntax::formatDuration(fault.delay)},
                    {"percentage", percentage(fault.delayPerMillion)}};
  }
  if (fault.abortHttpStatus != 0 || fault.abortGrpcStatus >= 0) {
    json abort = {{"percentage", percentage(fault.abortPerMillion)}};
    if (fault.abortHttpStatus != 0) abort["httpStatus"] = fault.abortHttpStatus;
    if (fault.abortGrpcStatus >= 0) {
      abort["grpcStatus"] =
          http::grpc::statusName(static_cast<http::grpc::Status>(fault.abortGrpcStatus));
    }
    out["abort"] = std::move(abort);
  }
  if (!fault.headers.empty()) out["headers"] = valueMatches(fault.headers);
  return out;
}

json ruleJson(const RouteRule& rule) {
  json match = {
      {"path", {{"type", pathMatchName(rule.match.path.type)}, {"value", rule.match.path.value}}},
      {"headers", valueMatches(rule.match.headers)},
      {"queryParams", valueMatches(rule.match.queryParams)}};
  if (rule.match.method) match["method"] = *rule.match.method;
  json out = {{"route", rule.routeName},       {"creationTimestamp", rule.creationTimestamp},
              {"routeOrder", rule.routeOrder}, {"ruleIndex", rule.ruleIndex},
              {"matchIndex", rule.matchIndex}, {"match", std::move(match)},
              {"backends", json::array()}};
  if (rule.requestHeaders) out["requestHeaderModifier"] = headerModifier(*rule.requestHeaders);
  if (rule.responseHeaders) out["responseHeaderModifier"] = headerModifier(*rule.responseHeaders);
  if (rule.rewrite) {
    json rewrite = {{"path", pathModifier(rule.rewrite->pathType, rule.rewrite->path)}};
    if (rule.rewrite->hostname) rewrite["hostname"] = *rule.rewrite->hostname;
    out["urlRewrite"] = std::move(rewrite);
  }
  if (rule.redirect) {
    const RequestRedirect& redirect = *rule.redirect;
    json value = {{"statusCode", redirect.statusCode},
                  {"path", pathModifier(redirect.pathType, redirect.path)}};
    if (redirect.scheme) value["scheme"] = *redirect.scheme;
    if (redirect.hostname) value["hostname"] = *redirect.hostname;
    if (redirect.port) value["port"] = *redirect.port;
    out["requestRedirect"] = std::move(value);
  }
  if (!rule.mirrors.empty()) {
    out["mirrors"] = json::array();
    for (const RequestMirror& mirror : rule.mirrors) out["mirrors"].push_back(mirror.cluster);
  }
  for (const WeightedBackend& backend : rule.backends) {
    out["backends"].push_back({{"cluster", backend.cluster}, {"weight", backend.weight}});
  }
  if (rule.maxRequestBodyBytes) out["maxRequestBodyBytes"] = *rule.maxRequestBodyBytes;
  if (rule.timeouts != RouteTimeouts{}) {
    json timeouts = json::object();
    const RouteTimeouts& t = rule.timeouts;
    if (t.request.count() != 0) timeouts["request"] = syntax::formatDuration(t.request);
    if (t.perTry.count() != 0) timeouts["perTry"] = syntax::formatDuration(t.perTry);
    if (t.streamIdle.count() != 0) timeouts["streamIdle"] = syntax::formatDuration(t.streamIdle);
    out["timeouts"] = std::move(timeouts);
  }
  if (rule.retry) out["retry"] = retryJson(*rule.retry);
  if (rule.fault) out["fault"] = faultJson(*rule.fault);
  if (rule.rateLimit) out["rateLimit"] = rateLimitJson(*rule.rateLimit, "requests");
  return out;
}

std::string_view listenerProtocolName(ListenerProtocol protocol) {
  switch (protocol) {
    case ListenerProtocol::Http:
      return "HTTP";
    case ListenerProtocol::Http2:
      return "HTTP2";
    case ListenerProtocol::Tcp:
      return "TCP";
    case ListenerProtocol::Auto:
      return "AUTO";
  }
  return "?";
}

// The dump's spelling; PeerAuthentication spells them STRICT, PERMISSIVE and DISABLE.
std::string_view mtlsName(MtlsMode mode) {
  switch (mode) {
    case MtlsMode::Disable:
      return "disable";
    case MtlsMode::Permissive:
      return "permissive";
    case MtlsMode::Strict:
      return "strict";
  }
  return "?";
}

json listenerJson(const Listener& listener) {
  json out = {{"name", listener.name},
              {"address", listener.address},
              {"port", listener.port},
              {"protocol", listenerProtocolName(listener.protocol)}};
  if (listener.servesTcp()) {
    out["tcp"] = {{"cluster", listener.tcpCluster},
                  {"idleTimeout", syntax::formatDuration(listener.tcpIdleTimeout)}};
  }
  if (listener.protocol == ListenerProtocol::Auto) {
    out["detectTimeout"] = syntax::formatDuration(listener.detectTimeout);
  }
  if (listener.connectionRateLimit) {
    out["connectionRateLimit"] = rateLimitJson(*listener.connectionRateLimit, "connections");
  }
  if (!listener.service.empty()) out["service"] = listener.service;
  out["mtls"] = mtlsName(listener.mtls);
  if (listener.mtls != MtlsMode::Disable) {
    out["tlsHandshakeTimeout"] = syntax::formatDuration(listener.tlsHandshakeTimeout);
  }
  if (!listener.servesHttp()) return out;
  const HttpLimits& http = listener.http;
  const Http2Limits& http2 = http.http2;
  out["http"] = {{"maxRequestHeadersBytes", http.maxRequestHeadersBytes},
                 {"maxHeaders", http.maxHeaders},
                 {"maxUrlBytes", http.maxUrlBytes},
                 {"maxRequestBodyBytes", http.maxRequestBodyBytes},
                 {"bufferBytes", http.bufferBytes},
                 {"headerTimeout", syntax::formatDuration(http.headerTimeout)},
                 {"idleTimeout", syntax::formatDuration(http.idleTimeout)},
                 {"drainTimeout", syntax::formatDuration(http.drainTimeout)},
                 {"streamIdleTimeout", syntax::formatDuration(http.streamIdleTimeout)},
                 {"http2",
                  {{"maxConcurrentStreams", http2.maxConcurrentStreams},
                   {"initialStreamWindowSize", http2.initialStreamWindowSize},
                   {"connectionWindowSize", http2.connectionWindowSize},
                   {"maxFrameSize", http2.maxFrameSize},
                   {"maxHeaderListSize", http2.maxHeaderListSize},
                   {"maxResetsPerSecond", http2.maxResetsPerSecond},
                   {"windowStallTimeout", syntax::formatDuration(http2.windowStallTimeout)}}}};
  json routes = json::array();
  for (const auto& host : listener.routes.routes) {
    json rules = json::array();
    for (const RouteRule& rule : host.rules) rules.push_back(ruleJson(rule));
    routes.push_back({{"hostnames", host.hostnames}, {"rules", std::move(rules)}});
  }
  out["routes"] = std::move(routes);
  return out;
}

json outlierDetectionJson(const OutlierDetection& od) {
  json out = {{"consecutive5xx", od.consecutive5xx},
              {"consecutiveGatewayErrors", od.consecutiveGatewayErrors},
              {"consecutiveLocalOriginFailures", od.consecutiveLocalOriginFailures},
              {"interval", syntax::formatDuration(od.interval)},
              {"baseEjectionTime", syntax::formatDuration(od.baseEjectionTime)},
              {"maxEjectionTime", syntax::formatDuration(od.maxEjectionTime)},
              {"maxEjectionPercent", od.maxEjectionPercent}};
  if (od.successRateStdevFactor != 0) {
    out["successRate"] = {{"minimumHosts", od.successRateMinimumHosts},
                          {"requestVolume", od.successRateRequestVolume},
                          {"stdevFactor", od.successRateStdevFactor}};
  }
  return out;
}

json healthCheckJson(const HealthCheck& check) {
  json out = {{"interval", syntax::formatDuration(check.interval)},
              {"timeout", syntax::formatDuration(check.timeout)},
              {"unhealthyThreshold", check.unhealthyThreshold},
              {"healthyThreshold", check.healthyThreshold}};
  switch (check.type) {
    case HealthCheck::Type::Http: {
      json statuses = json::array();
      for (const auto& [from, to] : check.expectedStatuses) {
        statuses.push_back(from == to ? std::to_string(from) : fmt::format("{}-{}", from, to));
      }
      out["http"] = {{"path", check.path}, {"expectedStatuses", std::move(statuses)}};
      if (!check.host.empty()) out["http"]["host"] = check.host;
      break;
    }
    case HealthCheck::Type::Grpc:
      out["grpc"] = {{"service", check.grpcService}};
      break;
    case HealthCheck::Type::Tcp:
      out["tcp"] = json::object();
      break;
  }
  return out;
}

// BackendPolicy settings, where they differ from the defaults.
void addResilience(const Cluster& cluster, json& out) {
  if (cluster.circuitBreaker != CircuitBreaker{}) {
    const CircuitBreaker& cb = cluster.circuitBreaker;
    out["circuitBreaker"] = {{"maxConnections", cb.maxConnections},
                             {"maxPendingRequests", cb.maxPendingRequests},
                             {"maxRequests", cb.maxRequests},
                             {"maxRetries", cb.maxRetries}};
  }
  if (cluster.retryBudget != RetryBudget{}) {
    out["retryBudget"] = {{"percent", cluster.retryBudget.percent},
                          {"minRetriesPerSecond", cluster.retryBudget.minRetriesPerSecond},
                          {"window", syntax::formatDuration(cluster.retryBudget.window)}};
  }
  if (cluster.outlierDetection) {
    out["outlierDetection"] = outlierDetectionJson(*cluster.outlierDetection);
  }
  if (cluster.healthCheck) out["healthCheck"] = healthCheckJson(*cluster.healthCheck);
  if (cluster.healthyPanicThreshold != Cluster{}.healthyPanicThreshold) {
    out["healthyPanicThreshold"] = cluster.healthyPanicThreshold;
  }
  if (cluster.rateLimit) out["rateLimit"] = rateLimitJson(*cluster.rateLimit, "requests");
}

json clusterJson(const Cluster& cluster) {
  static constexpr const char* kProtocols[] = {"HTTP/1.1", "HTTP/2", "TCP"};
  json out = {{"name", cluster.name},
              {"protocol", kProtocols[static_cast<size_t>(cluster.protocol)]},
              {"loadBalancer", {{"policy", lbPolicyName(cluster.lbPolicy)}}},
              {"connectionPool",
               {{"connectTimeout", syntax::formatDuration(cluster.connectTimeout)},
                {"idleTimeout", syntax::formatDuration(cluster.idleTimeout)},
                {"maxIdlePerEndpoint", cluster.maxIdlePerEndpoint},
                {"http2",
                 {{"initialStreamWindowSize", cluster.http2InitialStreamWindowSize},
                  {"connectionWindowSize", cluster.http2ConnectionWindowSize}}}}},
              {"endpoints", json::array()}};
  json& lb = out["loadBalancer"];
  switch (cluster.hashKey.source) {
    case HashKey::Source::None:
      break;
    case HashKey::Source::Header:
      lb["hashOn"] = {{"header", cluster.hashKey.name}};
      break;
    case HashKey::Source::Cookie:
      lb["hashOn"] = {{"cookie", cluster.hashKey.name}};
      break;
    case HashKey::Source::SourceIp:
      lb["hashOn"] = {{"sourceIP", true}};
      break;
  }
  if (cluster.lbPolicy == LbPolicy::RingHash) lb["ringHashMinSize"] = cluster.ringHashMinSize;
  if (cluster.lbPolicy == LbPolicy::Maglev) lb["maglevTableSize"] = cluster.maglevTableSize;
  for (const Endpoint& endpoint : cluster.endpoints) {
    json item = {{"address", endpoint.host}, {"port", endpoint.port}, {"weight", endpoint.weight}};
    if (!endpoint.identity.empty()) item["identity"] = endpoint.identity;
    out["endpoints"].push_back(std::move(item));
  }
  addResilience(cluster, out);
  return out;
}

}  // namespace

json toJson(const Snapshot& snapshot) {
  json listeners = json::array();
  for (const Listener& listener : snapshot.listeners) listeners.push_back(listenerJson(listener));
  json clusters = json::array();
  for (const auto& [name, cluster] : snapshot.clusters) clusters.push_back(clusterJson(cluster));
  return {{"version", snapshot.version},
          {"source", snapshot.source},
          {"listeners", std::move(listeners)},
          {"clusters", std::move(clusters)}};
}

}  // namespace trellis::config
