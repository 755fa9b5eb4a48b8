#include "proxy/route_decision.h"

#include <fmt/format.h>

#include <algorithm>

#include "common/logging.h"
#include "http/path_normalize.h"
#include "proxy/head_writer.h"
#include "resilience/outlier_detector.h"
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

/// The key a keyed rate limit counts this request under.
std::string_view rateLimitKey(const config::LocalRateLimit& limit,
                              const routing::RequestView& request, std::string_view peerIp) {
  switch (limit.key) {
    case config::LocalRateLimit::Key::Header:
      for (const auto& field : request.headers) {
        if (field.name == limit.header) return field.value;
      }
      return {};
    case config::LocalRateLimit::Key::SourceIp:
      return peerIp;
    case config::LocalRateLimit::Key::None:
      break;
  }
  return {};
}

bool rateLimited(resilience::RateLimiter* limiter, const routing::RequestView& request,
                 std::string_view peerIp, RouteDecision& d) {
  if (limiter == nullptr) return false;
  const int64_t now = static_cast<int64_t>(EventLoop::monotonicMicros());
  std::string_view key = rateLimitKey(limiter->limit(), request, peerIp);
  if (limiter->tryAcquire(key, now)) return false;
  d.localStatus = 429;
  d.reason = LocalReason::RateLimited;
  d.retryAfter = limiter->retryAfterSeconds(key, now);
  return true;
}

// A value of an `authz ...` log line: as it is when it is a plain token, "-" when empty, else
// quoted with escapes, so that whatever a client sends the line stays one key=value line.
std::string logValue(std::string_view text) {
  constexpr size_t kMaxShown = 256;
  if (text.empty()) return "-";
  auto plain = [](char c) { return c > 0x20 && c < 0x7f && c != '"' && c != '\\'; };
  if (text.size() <= kMaxShown && std::all_of(text.begin(), text.end(), plain)) {
    return std::string(text);
  }
  std::string out = "\"";
  for (size_t i = 0; i < text.size() && i < kMaxShown; ++i) {
    const auto c = static_cast<unsigned char>(text[i]);
    if (c == '"' || c == '\\') {
      out += '\\';
      out += static_cast<char>(c);
    } else if (c >= 0x20 && c < 0x7f) {
      out += static_cast<char>(c);
    } else {
      out += fmt::format("\\x{:02x}", c);
    }
  }
  if (text.size() > kMaxShown) out += "...";
  out += '"';
  return out;
}

}  // namespace

bool authorize(const ListenerRuntime& listener, const authz::Request& request,
               std::string_view peerIp) {
  const ListenerAuthz& policies = listener.authz;
  if (policies.policies.empty()) return true;
  const authz::Decision decision = authz::evaluate(policies.policies, request);
  // The views in the decision point into the policies: their index gives their counters.
  auto statsOf = [&policies](std::string_view name) -> AuthzStats* {
    for (size_t i = 0; i < policies.policies.size(); ++i) {
      if (policies.policies[i].qualifiedName.data() == name.data()) return policies.stats[i];
    }
    return nullptr;
  };
  const std::string_view method = request.isHttp ? request.method : std::string_view();
  const std::string_view path =
      request.isHttp ? request.path.substr(0, request.path.find('?')) : std::string_view();
  const std::string_view result = decision.allowed ? "allowed" : "denied";
  for (std::string_view audited : decision.audited) {
    if (AuthzStats* stats = statsOf(audited)) stats->audited.inc();
    log::info(
        "authz audit listener={} policy={} decision={} principal={} method={} path={} "
        "port={} peer={}",
        logValue(listener.config->name), logValue(audited), result, logValue(request.principal),
        logValue(method), logValue(path), request.port, logValue(peerIp));
  }
  if (decision.allowed) return true;
  const bool byPolicy = decision.reason == authz::Decision::Reason::DenyMatched;
  AuthzStats* stats = byPolicy ? statsOf(decision.policy) : policies.noAllowMatched;
  if (stats != nullptr) stats->denied.inc();
  // No ALLOW policy matched: the ALLOW policies that apply decided together; auditors get
  // their names.
  std::string allowPolicies;
  if (!byPolicy) {
    for (const config::AuthorizationPolicy& policy : policies.policies) {
      if (policy.action != config::AuthzAction::Allow) continue;
      if (!allowPolicies.empty()) allowPolicies += ',';
      allowPolicies += policy.qualifiedName;
    }
  }
  log::info(
      "authz denied listener={} policy={} rule={} principal={} method={} path={} port={} "
      "reason={} peer={}",
      logValue(listener.config->name), logValue(byPolicy ? decision.policy : allowPolicies),
      byPolicy ? std::to_string(decision.rule) : std::string("-"), logValue(request.principal),
      logValue(method), logValue(path), request.port, authz::reasonName(decision.reason),
      logValue(peerIp));
  return false;
}

RouteDecision decideRoute(Worker& worker, const WorkerConfig& config,
                          const ListenerRuntime& listener, const routing::RequestView& request,
                          std::string_view peerIp, std::string_view principal,
                          std::string& pathStorage) {
  RouteDecision d;
  d.path = request.path;
  if (listener.config->mtls == config::MtlsMode::Strict && principal.empty()) {
    // Only a connection accepted in plaintext before its listener turned STRICT has no
    // identity here: a STRICT handshake requires a client certificate with a SPIFFE ID.
    d.stats = listener.unroutedStats;
    d.localStatus = 403;
    d.reason = LocalReason::MtlsRequired;
    return d;
  }
  routing::RequestView normalized = request;
  if (!listener.authz.policies.empty()) {
    auto path = http::normalizePath(request.path, pathStorage);
    if (!path) {
      d.stats = listener.unroutedStats;
      d.localStatus = 400;
      d.reason = LocalReason::BadRequest;
      return d;
    }
    normalized.path = *path;
    d.path = *path;
    // A header sent several times is matched as its values joined with "," (RFC 9110 §5.3);
    // only then does the lookup need storage.
    std::string joined;
    auto headers = [&request, &joined](std::string_view name) -> std::optional<std::string_view> {
      const http::HeaderField* first = nullptr;
      bool several = false;
      for (const http::HeaderField& field : request.headers) {
        if (field.name != name) continue;
        if (first == nullptr) {
          first = &field;
          continue;
        }
        if (!several) joined.assign(first->value);
        several = true;
        joined += ',';
        joined += field.value;
      }
      if (first == nullptr) return std::nullopt;
      return several ? std::string_view(joined) : first->value;
    };
    authz::Request check;
    check.principal = principal;
    check.port = listener.config->port;
    check.isHttp = true;
    check.method = request.method;
    check.path = normalized.path;
    check.headers = authz::HeaderLookup(headers);
    if (!authorize(listener, check, peerIp)) {
      d.stats = listener.unroutedStats;
      d.localStatus = 403;
      d.reason = LocalReason::RbacDenied;
      return d;
    }
  }
  d.rule = listener.routes->match(normalized);
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
                                           normalized.host, normalized.path, normalized.query);
    d.localStatus = d.rule->redirect->statusCode;
    d.reason = LocalReason::Redirect;
    return d;
  }
  if (d.runtime != nullptr && rateLimited(d.runtime->rateLimiter, normalized, peerIp, d)) return d;
  if (d.rule->fault) {
    resilience::FaultDecision fault = resilience::decideFault(
        *d.rule->fault, request.headers, worker.random().next(), worker.random().next());
    if (fault.aborts()) {
      d.localStatus = fault.abortHttpStatus != 0 ? fault.abortHttpStatus : 500;
      d.localGrpcStatus = fault.abortGrpcStatus;
      d.reason = LocalReason::FaultAbort;
      return d;
    }
    d.faultDelay = fault.delay;
  }
  int backend = routing::pickWeightedBackend(d.rule->backends, worker.random().next());
  if (backend < 0 || d.runtime == nullptr || d.runtime->backends[backend] == nullptr) {
    d.localStatus = 500;
    d.reason = LocalReason::NoBackend;
    return d;
  }
  d.cluster = d.runtime->backends[backend];
  d.stats = d.runtime->stats[backend];
  const resilience::ClusterState* state = d.cluster->state;
  if (state != nullptr && rateLimited(state->rateLimiter.get(), request, peerIp, d)) {
    d.cluster->stats.rateLimited.inc();
    return d;
  }
  if (state != nullptr) {
    if (!resilience::tryAcquire(state->shared->requests,
                                d.cluster->config.circuitBreaker.maxRequests)) {
      d.cluster->stats.overflow.inc();
      d.localStatus = 503;
      d.reason = LocalReason::UpstreamOverflow;
      return d;
    }
    d.heldRequest = true;
  }
  const int64_t nowMs = static_cast<int64_t>(worker.loop().nowMs());
  int endpoint = d.cluster->pick(lbContextFor(d.cluster->config.hashKey, request, peerIp), nowMs);
  if (endpoint < 0) {
    releaseEndpoint(d);
    d.cluster->stats.noHealthyEndpoint.inc();
    d.localStatus = 503;
    d.reason = LocalReason::NoHealthyEndpoint;
    return d;
  }
  d.endpoint = endpoint;
  d.cluster->endpoints[endpoint].activeRequests++;
  d.cluster->stats.activeRequests.add();
  if (state != nullptr) {
    state->shared->retryBudget.recordRequest(d.cluster->config.retryBudget, nowMs);
  }
  return d;
}

void releaseEndpoint(RouteDecision& decision) {
  if (decision.cluster != nullptr && decision.endpoint >= 0) {
    decision.cluster->endpoints[decision.endpoint].activeRequests--;
    decision.cluster->stats.activeRequests.sub();
  }
  if (decision.heldRequest) {
    resilience::release(decision.cluster->state->shared->requests);
    decision.heldRequest = false;
  }
  decision.endpoint = -1;
}

bool repickEndpoint(Worker& worker, RouteDecision& decision, int avoid) {
  upstream::ClusterRuntime& cluster = *decision.cluster;
  if (decision.endpoint >= 0) {
    cluster.endpoints[decision.endpoint].activeRequests--;
    cluster.stats.activeRequests.sub();
    decision.endpoint = -1;
  }
  const int64_t nowMs = static_cast<int64_t>(worker.loop().nowMs());
  int endpoint = -1;
  // Hash policies would return the same endpoint every time: they get a random draw instead.
  for (int tries = 0; tries < 3; ++tries) {
    upstream::LbContext context;
    if (cluster.config.hashKey.source != config::HashKey::Source::None) {
      context.hash = worker.random().next();
    }
    endpoint = cluster.pick(context, nowMs);
    if (endpoint != avoid || cluster.endpoints.size() < 2) break;
  }
  if (endpoint < 0) return false;
  decision.endpoint = endpoint;
  cluster.endpoints[endpoint].activeRequests++;
  cluster.stats.activeRequests.add();
  return true;
}

void reportOutcome(Worker& worker, upstream::ClusterRuntime& cluster, int endpoint, int status) {
  if (!cluster.config.outlierDetection || cluster.state == nullptr || endpoint < 0) return;
  const resilience::Outcome outcome = status == 0     ? resilience::Outcome::LocalOriginFailure
                                      : status >= 500 ? resilience::Outcome::ServerError
                                                      : resilience::Outcome::Success;
  if (resilience::OutlierDetector::report(*cluster.config.outlierDetection, *cluster.state->shared,
                                          cluster.state->endpoints, static_cast<size_t>(endpoint),
                                          outcome, status,
                                          static_cast<int64_t>(worker.loop().nowMs()))) {
    cluster.stats.ejections.inc();
  }
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
