// trellis.dev/v1alpha1 BackendPolicy and RoutePolicy: resilience settings attached to Services
// and to routes by GEP-713 targetRefs (attached in policy_attach.cc).

#include <fmt/format.h>

#include <algorithm>
#include <set>
#include <tuple>

#include "config/policy_parts.h"
#include "config/resources.h"
#include "config/route_parts.h"
#include "config/syntax.h"
#include "http/grpc.h"

namespace trellis::config {
namespace {

constexpr size_t kMaxTargetRefs = 16;
constexpr int64_t kMaxCount = 1000000000;  // connections, requests, tokens
constexpr int64_t kMaxConsecutive = 1000000;
constexpr int64_t kMaxAttempts = 100;
constexpr size_t kMaxStatusCodes = 32;
constexpr size_t kMaxExpectedStatuses = 16;
constexpr std::string_view kGatewayGroup = "gateway.networking.k8s.io";

template <typename T>
void setField(Scope& scope, PolicyField<T>& field, const Value& value, std::optional<T> parsed) {
  if (!parsed) return;
  field.value = std::move(*parsed);
  field.at = scope.at(value);
}

void readCount(Scope& scope, const Object& object, std::string_view key, int64_t min, int64_t max,
               PolicyField<uint32_t>& field) {
  Value value = object.get(key);
  auto number = scope.integer(value, min, max);
  setField(scope, field, value,
           number ? std::optional<uint32_t>(static_cast<uint32_t>(*number)) : std::nullopt);
}

template <typename T>
void readCount(Scope& scope, const Object& object, std::string_view key, int64_t min, int64_t max,
               T& target) {
  if (auto number = scope.integer(object.get(key), min, max)) target = static_cast<T>(*number);
}

void readDuration(Scope& scope, const Object& object, std::string_view key, Duration min,
                  Duration max, Duration& target) {
  if (auto duration = scope.duration(object.get(key), min, max)) target = *duration;
}

// ---------------------------------------------------------------------------------------------
// targetRefs (GEP-713 LocalPolicyTargetReference[WithSectionName])

}  // namespace

std::optional<std::string> parseServiceGroup(Scope& scope, const Value& group) {
  // Our Service kind lives in trellis.dev; "" is the Kubernetes core group of a Service.
  auto text = scope.string(group, 253);
  if (text && *text != "" && *text != "trellis.dev") {
    scope.error(group,
                fmt::format("unknown value {} (expected \"\" or trellis.dev)", quote(*text)));
    text.reset();
  }
  return text;
}

namespace {

std::vector<PolicyTargetRef> parseTargetRefs(Scope& scope, const Object& spec, bool routes) {
  std::vector<PolicyTargetRef> refs;
  Value value = scope.require(spec, "targetRefs");
  if (value.present && value.node.IsSequence() && value.node.size() == 0) {
    scope.error(value, "must list at least one targetRef");
  }
  std::set<std::tuple<std::string, std::string, std::string>> seen;
  for (const Value& item : scope.list(value, kMaxTargetRefs)) {
    auto object = routes ? scope.object(item, {"group", "kind", "name", "sectionName"})
                         : scope.object(item, {"group", "kind", "name"});
    if (!object) continue;
    PolicyTargetRef ref;
    ref.at = scope.at(item);
    bool valid = true;
    Value group = object->get("group");
    if (routes) {
      ref.group = std::string(kGatewayGroup);
      if (group.present) {
        auto text = scope.choice<std::string>(group, {{kGatewayGroup, std::string(kGatewayGroup)}});
        valid = text.has_value() && valid;
      }
    } else if (group.present) {
      auto text = parseServiceGroup(scope, group);
      valid = text.has_value() && valid;
      if (text) ref.group = *text;
    }
    Value kind = scope.require(*object, "kind");
    auto kindText = routes ? scope.choice<std::string>(
                                 kind, {{"HTTPRoute", "HTTPRoute"}, {"GRPCRoute", "GRPCRoute"}})
                           : scope.choice<std::string>(kind, {{"Service", "Service"}});
    valid = kindText.has_value() && valid;
    if (kindText) ref.kind = *kindText;
    Value name = scope.require(*object, "name");
    auto nameText = scope.string(name, 253);
    valid = nameText &&
            scope.check(name, routes ? syntax::checkDnsSubdomain(*nameText)
                                     : syntax::checkDnsLabel(*nameText)) &&
            valid;
    if (nameText) ref.name = *nameText;
    if (Value section = object->get("sectionName"); section.present) {
      auto text = scope.string(section, 253);
      valid = text && scope.check(section, syntax::checkDnsSubdomain(*text)) && valid;
      if (text) ref.sectionName = *text;
      ref.sectionNameAt = scope.at(section);
    }
    if (!valid) continue;
    if (!seen.emplace(ref.kind, ref.name, ref.sectionName.value_or("")).second) {
      scope.error(item, "duplicate targetRef (same kind, name and sectionName)");
      continue;
    }
    refs.push_back(std::move(ref));
  }
  return refs;
}

// ---------------------------------------------------------------------------------------------
// BackendPolicy

void parseCircuitBreaker(Scope& scope, const Value& value, BackendPolicyDef& def) {
  auto object =
      scope.object(value, {"maxConnections", "maxPendingRequests", "maxRequests", "maxRetries"});
  if (!object) return;
  // 0 pending requests means "never queue: fail fast"; 0 retries disables retries to the
  // cluster. No connection or request at all would only make the cluster unusable.
  readCount(scope, *object, "maxConnections", 1, kMaxCount, def.maxConnections);
  readCount(scope, *object, "maxPendingRequests", 0, kMaxCount, def.maxPendingRequests);
  readCount(scope, *object, "maxRequests", 1, kMaxCount, def.maxRequests);
  readCount(scope, *object, "maxRetries", 0, kMaxCount, def.maxRetries);
}

void parseRetryBudget(Scope& scope, const Value& value, BackendPolicyDef& def) {
  auto object = scope.object(value, {"percent", "minRetriesPerSecond", "window"});
  if (!object) return;
  readCount(scope, *object, "percent", 0, 100, def.retryBudgetPercent);
  readCount(scope, *object, "minRetriesPerSecond", 0, 100000, def.retryBudgetMinRetriesPerSecond);
  Value window = object->get("window");
  setField(scope, def.retryBudgetWindow, window,
           scope.duration(window, Duration(1000), Duration(300000)));
}

void parseOutlierDetection(Scope& scope, const Value& value, BackendPolicyDef& def) {
  auto object =
      scope.object(value, {"consecutive5xx", "consecutiveGatewayErrors",
                           "consecutiveLocalOriginFailures", "interval", "baseEjectionTime",
                           "maxEjectionTime", "maxEjectionPercent", "successRate"});
  if (!object) return;
  OutlierDetection detection;
  readCount(scope, *object, "consecutive5xx", 0, kMaxConsecutive, detection.consecutive5xx);
  readCount(scope, *object, "consecutiveGatewayErrors", 0, kMaxConsecutive,
            detection.consecutiveGatewayErrors);
  readCount(scope, *object, "consecutiveLocalOriginFailures", 0, kMaxConsecutive,
            detection.consecutiveLocalOriginFailures);
  const Duration day(86400000);
  readDuration(scope, *object, "interval", Duration(10), day, detection.interval);
  Value base = object->get("baseEjectionTime");
  Value max = object->get("maxEjectionTime");
  auto baseTime = scope.duration(base, Duration(1), day);
  auto maxTime = scope.duration(max, Duration(1), day);
  if (baseTime) detection.baseEjectionTime = *baseTime;
  if (maxTime) detection.maxEjectionTime = *maxTime;
  if (baseTime && maxTime && *maxTime < *baseTime) {
    scope.error(max, "must not be shorter than baseEjectionTime");
  } else if (baseTime && !max.present && detection.maxEjectionTime < *baseTime) {
    scope.error(base, fmt::format("is longer than maxEjectionTime (default {}); set "
                                  "maxEjectionTime too",
                                  syntax::formatDuration(detection.maxEjectionTime)));
  }
  readCount(scope, *object, "maxEjectionPercent", 0, 100, detection.maxEjectionPercent);
  if (auto rate = scope.object(object->get("successRate"),
                               {"minimumHosts", "requestVolume", "stdevFactor"})) {
    detection.successRateStdevFactor = 1900;  // Envoy's default: 1.9 standard deviations
    readCount(scope, *rate, "minimumHosts", 1, 10000, detection.successRateMinimumHosts);
    readCount(scope, *rate, "requestVolume", 1, kMaxCount, detection.successRateRequestVolume);
    readCount(scope, *rate, "stdevFactor", 1, 100000, detection.successRateStdevFactor);
  }
  def.outlierDetection.value = detection;
  def.outlierDetection.at = scope.at(value);
}

// An HTTP health check path: absolute, visible ASCII, a query allowed.
std::string checkHealthPath(std::string_view path) {
  if (!path.starts_with('/')) return "must be an absolute path starting with '/'";
  for (char c : path) {
    if (c <= ' ' || c >= 0x7f || c == '#') {
      return "may contain only visible ASCII characters, without '#'";
    }
  }
  return {};
}

// A Host header value: a host name or IP address, optionally with ":port" ("[v6]:port").
std::string checkHealthHost(std::string_view host) {
  const std::string message = "must be a host name or an IP address, optionally with :port";
  if (syntax::canonicalIp(host)) return {};  // IPv4, or IPv6 without brackets
  std::string_view name = host;
  std::string_view port;
  bool bracketed = host.starts_with('[');
  if (bracketed) {
    size_t close = host.find(']');
    if (close == std::string_view::npos) return message;
    name = host.substr(1, close - 1);
    std::string_view rest = host.substr(close + 1);
    if (name.find(':') == std::string_view::npos || !syntax::canonicalIp(name)) return message;
    if (!rest.empty()) {
      if (!rest.starts_with(':') || rest.size() == 1) return message;
      port = rest.substr(1);
    }
  } else if (size_t colon = host.rfind(':'); colon != std::string_view::npos) {
    name = host.substr(0, colon);
    port = host.substr(colon + 1);
    if (port.empty()) return message;
  }
  if (!port.empty()) {
    bool numeric = port.size() <= 5 && std::all_of(port.begin(), port.end(),
                                                   [](char c) { return c >= '0' && c <= '9'; });
    int number = numeric ? std::stoi(std::string(port)) : 0;
    if (number < 1 || number > 65535) return message;
  }
  if (bracketed || syntax::canonicalIp(name)) return {};
  return syntax::checkHostname(name, false).empty() ? std::string() : message;
}

// "200" or "200-299" (or a plain integer) → [from, to].
std::optional<std::pair<uint16_t, uint16_t>> parseStatusRange(Scope& scope, const Value& value) {
  auto text = scope.string(value, 16);
  if (!text) return std::nullopt;
  auto number = [](std::string_view digits) -> std::optional<int> {
    if (digits.size() != 3 ||
        !std::all_of(digits.begin(), digits.end(), [](char c) { return c >= '0' && c <= '9'; })) {
      return std::nullopt;
    }
    return std::stoi(std::string(digits));
  };
  size_t dash = text->find('-');
  auto from = number(std::string_view(*text).substr(0, dash));
  auto to = dash == std::string::npos ? from : number(std::string_view(*text).substr(dash + 1));
  if (!from || !to || *from < 100 || *to > 599 || *from > *to) {
    scope.error(value, fmt::format("expected a status code from 100 to 599 or a range such as "
                                   "\"200-299\", got {}",
                                   quote(*text)));
    return std::nullopt;
  }
  return std::make_pair(static_cast<uint16_t>(*from), static_cast<uint16_t>(*to));
}

// A gRPC service name for grpc.health.v1: "" (the whole server) or a Protobuf full name.
bool isGrpcServiceName(std::string_view name) {
  if (name.empty()) return true;
  size_t start = 0;
  while (true) {
    size_t dot = name.find('.', start);
    std::string_view part = name.substr(start, dot - start);
    bool identifier = !part.empty() && !(part.front() >= '0' && part.front() <= '9') &&
                      std::all_of(part.begin(), part.end(), [](char c) {
                        return (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') ||
                               (c >= '0' && c <= '9') || c == '_';
                      });
    if (!identifier) return false;
    if (dot == std::string_view::npos) return true;
    start = dot + 1;
  }
}

void parseHealthCheck(Scope& scope, const Value& value, BackendPolicyDef& def) {
  auto object = scope.object(value, {"http", "grpc", "tcp", "interval", "timeout",
                                     "unhealthyThreshold", "healthyThreshold"});
  if (!object) return;
  HealthCheck check;
  std::vector<std::string_view> types;
  for (std::string_view type : {"http", "grpc", "tcp"}) {
    if (object->has(type)) types.push_back(type);
  }
  bool valid = true;
  if (types.size() != 1) {
    scope.error(value, types.empty() ? "must set exactly one of http, grpc or tcp"
                                     : fmt::format("must set exactly one of http, grpc or tcp, "
                                                   "got {}",
                                                   fmt::join(types, " and ")));
    valid = false;
  }
  if (auto http = scope.object(object->get("http"), {"path", "host", "expectedStatuses"})) {
    check.type = HealthCheck::Type::Http;
    Value path = http->get("path");
    if (auto text = scope.string(path, 1024)) {
      if (scope.check(path, checkHealthPath(*text))) check.path = *text;
    }
    Value host = http->get("host");
    if (auto text = scope.string(host, 261)) {
      if (scope.check(host, checkHealthHost(*text))) check.host = *text;
    }
    Value statuses = http->get("expectedStatuses");
    if (statuses.present) {
      check.expectedStatuses.clear();
      if (statuses.node.IsSequence() && statuses.node.size() == 0) {
        scope.error(statuses, "must list at least one status or range");
      }
      for (const Value& item : scope.list(statuses, kMaxExpectedStatuses)) {
        if (auto range = parseStatusRange(scope, item)) check.expectedStatuses.push_back(*range);
      }
    }
  }
  if (auto grpc = scope.object(object->get("grpc"), {"service"})) {
    check.type = HealthCheck::Type::Grpc;
    Value service = grpc->get("service");
    if (auto text = scope.string(service, 1024)) {
      if (isGrpcServiceName(*text)) {
        check.grpcService = *text;
      } else {
        scope.error(service, fmt::format("invalid service name {} (expected a Protobuf full "
                                         "name such as \"shop.Billing\", or \"\" for the whole "
                                         "server)",
                                         quote(*text)));
      }
    }
  }
  if (scope.object(object->get("tcp"), {})) check.type = HealthCheck::Type::Tcp;
  const Duration hour(3600000);
  Value interval = object->get("interval");
  Value timeout = object->get("timeout");
  readDuration(scope, *object, "interval", Duration(100), hour, check.interval);
  auto timeoutValue = scope.duration(timeout, Duration(1), hour);
  if (timeoutValue) {
    check.timeout = *timeoutValue;
    if (check.timeout > check.interval) {
      scope.error(timeout, fmt::format("must not be longer than interval ({})",
                                       syntax::formatDuration(check.interval)));
    }
  } else if (interval.present && check.timeout > check.interval) {
    scope.error(interval, fmt::format("must not be shorter than timeout (default {})",
                                      syntax::formatDuration(check.timeout)));
  }
  readCount(scope, *object, "unhealthyThreshold", 1, 1000, check.unhealthyThreshold);
  readCount(scope, *object, "healthyThreshold", 1, 1000, check.healthyThreshold);
  if (!valid) return;
  def.healthCheck.value = std::move(check);
  def.healthCheck.at = scope.at(value);
}

// ---------------------------------------------------------------------------------------------
// RoutePolicy

void parseRouteTimeouts(Scope& scope, const Value& value, RoutePolicyDef& def) {
  auto object = scope.object(value, {"request", "perTry", "streamIdle"});
  if (!object) return;
  Value request = object->get("request");
  Value perTry = object->get("perTry");
  Value streamIdle = object->get("streamIdle");
  setField(scope, def.requestTimeout, request, scope.duration(request, Duration(0)));
  setField(scope, def.perTryTimeout, perTry, scope.duration(perTry, Duration(0)));
  setField(scope, def.streamIdleTimeout, streamIdle, scope.duration(streamIdle, Duration(0)));
  const auto& requestTimeout = def.requestTimeout.value;
  const auto& perTryTimeout = def.perTryTimeout.value;
  if (requestTimeout && perTryTimeout && requestTimeout->count() != 0 &&
      *perTryTimeout > *requestTimeout) {
    scope.error(perTry, "perTry timeout cannot be longer than request timeout");
  }
}

void parseRetry(Scope& scope, const Value& value, RoutePolicyDef& def) {
  auto object =
      scope.object(value, {"attempts", "retryOn", "retriableStatusCodes", "retriableGrpcStatuses",
                           "perTryTimeout", "backoff", "retryNonIdempotent"});
  if (!object) return;
  def.retryAt = scope.at(value);
  readCount(scope, *object, "attempts", 0, kMaxAttempts, def.attempts);

  if (Value retryOn = object->get("retryOn"); retryOn.present) {
    uint32_t bits = 0;
    bool valid = true;
    for (const Value& item : scope.list(retryOn, std::size(syntax::kRetryOnTokens))) {
      auto text = scope.string(item, 64);
      if (!text) {
        valid = false;
        continue;
      }
      auto token =
          std::find_if(std::begin(syntax::kRetryOnTokens), std::end(syntax::kRetryOnTokens),
                       [&](const syntax::RetryOnToken& t) { return t.name == *text; });
      if (token == std::end(syntax::kRetryOnTokens)) {
        std::vector<std::string_view> names;
        for (const syntax::RetryOnToken& t : syntax::kRetryOnTokens) names.push_back(t.name);
        scope.error(item, Scope::unknownValueMessage(*text, names));
        valid = false;
      } else if ((bits & token->bit) != 0) {
        scope.error(item, fmt::format("duplicate condition {}", quote(*text)));
        valid = false;
      }
      if (token != std::end(syntax::kRetryOnTokens)) bits |= token->bit;
    }
    if (valid && retryOn.node.IsSequence()) setField(scope, def.retryOn, retryOn, {bits});
  }

  if (Value codes = object->get("retriableStatusCodes"); codes.present) {
    auto list = parseStatusCodes(scope, codes, 400, kMaxStatusCodes);
    if (codes.node.IsSequence()) setField(scope, def.retriableStatusCodes, codes, {list});
  }
  if (Value statuses = object->get("retriableGrpcStatuses"); statuses.present) {
    uint32_t bits = 0;
    for (const Value& item : scope.list(statuses, 16)) {
      auto code = parseGrpcStatus(scope, item);
      if (!code) continue;
      if ((bits & (1u << *code)) != 0) {
        scope.error(item,
                    fmt::format("duplicate status {}",
                                http::grpc::statusName(static_cast<http::grpc::Status>(*code))));
      }
      bits |= 1u << *code;
    }
    if (statuses.node.IsSequence()) setField(scope, def.retriableGrpcStatuses, statuses, {bits});
  }
  Value perTry = object->get("perTryTimeout");
  setField(scope, def.retryPerTryTimeout, perTry, scope.duration(perTry, Duration(0)));

  if (auto backoff = scope.object(object->get("backoff"), {"baseInterval", "maxInterval"})) {
    Value base = backoff->get("baseInterval");
    Value max = backoff->get("maxInterval");
    const Duration minute(60000);
    setField(scope, def.backoffBase, base, scope.duration(base, Duration(1), minute));
    setField(scope, def.backoffMax, max, scope.duration(max, Duration(1), minute));
    if (def.backoffMax.value &&
        *def.backoffMax.value < def.backoffBase.value.value_or(RetryPolicy{}.backoffBase)) {
      scope.error(max, def.backoffBase.value ? "must not be shorter than baseInterval"
                                             : "must not be shorter than baseInterval (default "
                                               "25ms)");
      def.backoffMax.value.reset();
    }
  }
  Value nonIdempotent = object->get("retryNonIdempotent");
  setField(scope, def.retryNonIdempotent, nonIdempotent, scope.boolean(nonIdempotent));
}

void parseFault(Scope& scope, const Value& value, RoutePolicyDef& def) {
  auto object = scope.object(value, {"delay", "abort", "headers"});
  if (!object) return;
  FaultInjection fault;
  bool valid = true;
  if (!object->has("delay") && !object->has("abort")) {
    scope.error(value, "must set delay, abort or both");
    valid = false;
  }
  if (auto delay = scope.object(object->get("delay"), {"fixedDelay", "percentage"})) {
    auto fixed =
        scope.duration(scope.require(*delay, "fixedDelay"), Duration(1), Duration(3600000));
    auto share = scope.percentage(scope.require(*delay, "percentage"));
    valid = fixed && share && valid;
    fault.delay = fixed.value_or(Duration(0));
    fault.delayPerMillion = share.value_or(0);
  }
  Value abortValue = object->get("abort");
  if (auto abort = scope.object(abortValue, {"httpStatus", "grpcStatus", "percentage"})) {
    Value http = abort->get("httpStatus");
    Value grpc = abort->get("grpcStatus");
    if (!http.present && !grpc.present) {
      scope.error(abortValue, "must set httpStatus, grpcStatus or both");
      valid = false;
    }
    auto status = scope.integer(http, 200, 599);
    auto code = parseGrpcStatus(scope, grpc);
    auto share = scope.percentage(scope.require(*abort, "percentage"));
    valid = (status || !http.present) && (code || !grpc.present) && share && valid;
    fault.abortHttpStatus = static_cast<uint16_t>(status.value_or(0));
    fault.abortGrpcStatus = code ? static_cast<int16_t>(*code) : -1;
    fault.abortPerMillion = share.value_or(0);
  }
  fault.headers = parseHeaderMatches(scope, object->get("headers"));
  if (!valid) return;
  def.fault.value = std::move(fault);
  def.fault.at = scope.at(value);
}

}  // namespace

// ---------------------------------------------------------------------------------------------

Duration defaultBackoffMax(Duration base) {
  return std::max(base, std::min(base * 10, Duration(10000)));
}

std::optional<LocalRateLimit> parseRateLimit(Scope& scope, const Value& value, RateLimitForm form) {
  const bool requests = form == RateLimitForm::Requests;
  auto object = requests ? scope.object(value, {"requests", "per", "burst", "by"})
                         : scope.object(value, {"connections", "per", "burst"});
  if (!object) return std::nullopt;
  LocalRateLimit limit;
  Value rateValue = scope.require(*object, requests ? "requests" : "connections");
  auto rate = scope.integer(rateValue, 1, kMaxCount);
  // Envoy's token bucket refills no more often than every 50ms.
  auto per = scope.duration(object->get("per"), Duration(50), Duration(86400000));
  Value burstValue = object->get("burst");
  auto burst = scope.integer(burstValue, 1, kMaxCount);
  bool valid = rate && (per || !object->has("per")) && (burst || !burstValue.present);
  if (rate && burst && *burst < *rate) {
    // A smaller bucket would silently cap the rate at `burst` per `per`.
    scope.error(burstValue, fmt::format("must be at least {} ({}), got {}",
                                        requests ? "requests" : "connections", *rate, *burst));
    valid = false;
  }
  if (rate) limit.tokensPerFill = static_cast<uint32_t>(*rate);
  limit.maxTokens = static_cast<uint32_t>(burst.value_or(rate.value_or(0)));
  if (per) limit.fillInterval = *per;
  if (requests) {
    Value byValue = object->get("by");
    if (auto by = scope.object(byValue, {"header", "sourceIP"})) {
      if (by->has("header") == by->has("sourceIP")) {
        scope.error(byValue, "must set exactly one of header or sourceIP");
        valid = false;
      } else if (Value header = by->get("header"); header.present) {
        auto name = scope.string(header, 256);
        if (name && scope.check(header, syntax::checkHeaderName(*name))) {
          limit.key = LocalRateLimit::Key::Header;
          limit.header = syntax::toLower(*name);
        } else {
          valid = false;
        }
      } else {
        Value sourceIp = by->get("sourceIP");
        auto enabled = scope.boolean(sourceIp);
        if (enabled && !*enabled) {
          scope.error(sourceIp, "must be true when set (omit by.sourceIP otherwise)");
        }
        valid = enabled.value_or(false) && valid;
        limit.key = LocalRateLimit::Key::SourceIp;
      }
    } else if (byValue.present) {
      valid = false;
    }
  }
  if (!valid) return std::nullopt;
  return limit;
}

std::optional<uint8_t> parseGrpcStatus(Scope& scope, const Value& value) {
  auto text = scope.string(value, 64);
  if (!text) return std::nullopt;
  std::optional<uint8_t> code;
  if (!text->empty() && text->size() <= 2 &&
      std::all_of(text->begin(), text->end(), [](char c) { return c >= '0' && c <= '9'; })) {
    int number = std::stoi(*text);
    if (number > 16) {
      scope.error(value, fmt::format("must be between 1 and 16, got {}", *text));
      return std::nullopt;
    }
    code = static_cast<uint8_t>(number);
  } else {
    if (auto status = http::grpc::statusFromName(*text)) code = static_cast<uint8_t>(*status);
    if (!code) {
      scope.error(value, fmt::format("unknown gRPC status {} (expected a code name of the gRPC "
                                     "specification such as UNAVAILABLE or "
                                     "RESOURCE_EXHAUSTED, or a number from 1 to 16)",
                                     quote(*text)));
      return std::nullopt;
    }
  }
  if (*code == 0) {
    scope.error(value, "OK (0) is not a failure status");
    return std::nullopt;
  }
  return code;
}

std::vector<uint16_t> parseStatusCodes(Scope& scope, const Value& value, int64_t min,
                                       size_t maxItems) {
  std::vector<uint16_t> codes;
  for (const Value& item : scope.list(value, maxItems)) {
    auto code = scope.integer(item, min, 599);
    if (!code) continue;
    if (std::find(codes.begin(), codes.end(), *code) != codes.end()) {
      scope.error(item, fmt::format("duplicate status code {}", *code));
      continue;
    }
    codes.push_back(static_cast<uint16_t>(*code));
  }
  return codes;
}

void parseBackendPolicy(Scope& scope, ResourceMeta meta, const Value& specValue, Resources& out) {
  BackendPolicyDef def;
  def.meta = std::move(meta);
  auto spec =
      scope.object(specValue, {"targetRefs", "circuitBreaker", "retryBudget", "outlierDetection",
                               "healthCheck", "healthyPanicThreshold", "rateLimit"});
  if (spec) {
    def.targetRefs = parseTargetRefs(scope, *spec, false);
    parseCircuitBreaker(scope, spec->get("circuitBreaker"), def);
    parseRetryBudget(scope, spec->get("retryBudget"), def);
    parseOutlierDetection(scope, spec->get("outlierDetection"), def);
    parseHealthCheck(scope, spec->get("healthCheck"), def);
    readCount(scope, *spec, "healthyPanicThreshold", 0, 100, def.healthyPanicThreshold);
    Value rateLimit = spec->get("rateLimit");
    setField(scope, def.rateLimit, rateLimit,
             parseRateLimit(scope, rateLimit, RateLimitForm::Requests));
  }
  out.backendPolicies.push_back(std::move(def));
}

void parseRoutePolicy(Scope& scope, ResourceMeta meta, const Value& specValue, Resources& out) {
  RoutePolicyDef def;
  def.meta = std::move(meta);
  auto spec = scope.object(specValue, {"targetRefs", "timeouts", "retry", "fault", "rateLimit"});
  if (spec) {
    def.targetRefs = parseTargetRefs(scope, *spec, true);
    parseRouteTimeouts(scope, spec->get("timeouts"), def);
    parseRetry(scope, spec->get("retry"), def);
    parseFault(scope, spec->get("fault"), def);
    Value rateLimit = spec->get("rateLimit");
    setField(scope, def.rateLimit, rateLimit,
             parseRateLimit(scope, rateLimit, RateLimitForm::Requests));
  }
  out.routePolicies.push_back(std::move(def));
}

}  // namespace trellis::config
