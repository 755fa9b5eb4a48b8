#include "config/dump.h"

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
    out["endpoints"].push_back(
        {{"address", endpoint.host}, {"port", endpoint.port}, {"weight", endpoint.weight}});
  }
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
