#include "proxy/route_decision.h"

#include <algorithm>

#include "proxy/head_writer.h"
#include "upstream/lb/load_balancer.h"

namespace trellis::proxy {
namespace {

std::string_view cookieValue(std::string_view cookies, std::string_view name) {
  while (!cookies.empty()) {
    size_t semi = cookies.find(';');
    std::string_view pair = cookies.substr(0, semi);
    while (!pair.empty() && pair.front() == ' ') pair.remove_prefix(1);
    if (pair.size() > name.size() && pair.substr(0, name.size()) == name &&
        pair[name.size()] == '=') {
      return pair.substr(name.size() + 1);
    }
    if (semi == std::string_view::npos) break;
    cookies.remove_prefix(semi + 1);
  }
  return {};
}

upstream::LbContext lbContextFor(const config::HashKey& hashKey,
                                 const routing::RequestView& request, std::string_view peerIp) {
  upstream::LbContext context;
  switch (hashKey.source) {
    case config::HashKey::Source::Header:
      for (const auto& field : request.headers) {
        if (field.name == hashKey.name) {
          context.hash = upstream::stableHash(field.value);
          break;
        }
      }
      break;
    case config::HashKey::Source::Cookie:
      for (const auto& field : request.headers) {
        if (field.name != "cookie") continue;
        std::string_view value = cookieValue(field.value, hashKey.name);
        if (!value.empty()) {
          context.hash = upstream::stableHash(value);
          break;
        }
      }
      break;
    case config::HashKey::Source::SourceIp:
      context.hash = upstream::stableHash(peerIp);
      break;
    case config::HashKey::Source::None:
      break;
  }
  return context;
}

}  // namespace

RouteDecision decideRoute(Worker& worker, const WorkerConfig& config,
                          const ListenerRuntime& listener, const routing::RequestView& request,
                          std::string_view peerIp) {
  RouteDecision d;
  d.rule = listener.routes->match(request);
  if (d.rule == nullptr) {
    d.stats = listener.unroutedStats;
    d.localStatus = 404;
    d.reason = LocalReason::RouteNotFound;
    return d;
  }
  d.runtime = config.rule(d.rule);
  d.stats = d.runtime != nullptr ? d.runtime->localStats : listener.unroutedStats;
  if (d.rule->redirect) {
    d.location = routing::redirectLocation(*d.rule->redirect, d.rule->match.path, "http",
                                           request.host, request.path, request.query);
    d.localStatus = d.rule->redirect->statusCode;
    d.reason = LocalReason::Redirect;
    return d;
  }
  int backend = routing::pickWeightedBackend(d.rule->backends, worker.random().next());
  if (backend < 0 || d.runtime == nullptr || d.runtime->backends[backend] == nullptr) {
    d.localStatus = 500;
    d.reason = LocalReason::NoBackend;
    return d;
  }
  d.cluster = d.runtime->backends[backend];
  d.stats = d.runtime->stats[backend];
  int endpoint =
      d.cluster->balancer->pick(lbContextFor(d.cluster->config.hashKey, request, peerIp));
  if (endpoint < 0) {
    d.cluster->stats.noHealthyEndpoint.inc();
    d.localStatus = 503;
    d.reason = LocalReason::NoHealthyEndpoint;
    return d;
  }
  d.endpoint = endpoint;
  d.cluster->endpoints[endpoint].activeRequests++;
  d.cluster->stats.activeRequests.add();
  return d;
}

void releaseEndpoint(RouteDecision& decision) {
  if (decision.cluster != nullptr && decision.endpoint >= 0) {
    decision.cluster->endpoints[decision.endpoint].activeRequests--;
    decision.cluster->stats.activeRequests.sub();
  }
  decision.endpoint = -1;
}

RewrittenTarget rewriteTarget(const config::RouteRule& rule, std::string_view path,
                              std::string_view host, std::string& storage) {
  RewrittenTarget target{path, host};
  if (!rule.rewrite) return target;
  if (rule.rewrite->pathType != config::PathRewriteType::None) {
    storage =
        routing::rewritePath(rule.rewrite->pathType, rule.rewrite->path, rule.match.path, path);
    target.path = storage;
  }
  if (rule.rewrite->hostname) target.host = *rule.rewrite->hostname;
  return target;
}

void chooseRequestId(Worker& worker, const http::HeaderField* supplied, std::string& out) {
  auto printable = [](std::string_view id) {
    return !id.empty() && id.size() <= 128 &&
           std::all_of(id.begin(), id.end(), [](char c) { return c > 0x20 && c < 0x7f; });
  };
  if (supplied != nullptr && printable(supplied->value)) {
    out.assign(supplied->value);
    return;
  }
  char uuid[36];
  formatUuid(worker.random().next(), worker.random().next(), uuid);
  out.assign(uuid, sizeof uuid);
}

}  // namespace trellis::proxy
