// gateway.networking.k8s.io/v1 HTTPRoute: parentRefs, hostnames, rules (matches, filters,
// backendRefs, timeouts, retry), validated as the Gateway API CRD and its CEL rules do.

#include <fmt/format.h>
#include <re2/re2.h>

#include <set>
#include <tuple>

#include "config/httproute_filters.h"
#include "config/policy_parts.h"
#include "config/resources.h"
#include "config/route_parts.h"
#include "config/syntax.h"

namespace trellis::config {
namespace {

constexpr size_t kMaxParentRefs = 32;
constexpr size_t kMaxHostnames = 16;
constexpr size_t kMaxRules = 16;
constexpr size_t kMaxMatchesPerRule = 64;
constexpr size_t kMaxMatchesPerRoute = 128;
constexpr size_t kMaxValueMatches = 16;
constexpr size_t kMaxBackendRefs = 16;
// Per regex: bounds the compiled program and the lazily built DFA. Routing regexes are small.
constexpr int64_t kMaxRegexMemory = 1 << 20;

std::shared_ptr<const re2::RE2> compileRegex(Scope& scope, const Value& at,
                                             const std::string& pattern) {
  re2::RE2::Options options;
  options.set_log_errors(false);
  options.set_max_mem(kMaxRegexMemory);
  auto regex = std::make_shared<const re2::RE2>(pattern, options);
  if (!regex->ok()) {
    scope.error(at, fmt::format("invalid regular expression: {}", regex->error()));
    return nullptr;
  }
  // A compiled instruction takes about 16 bytes (the DFA, built when matching, is bounded by
  // max_mem).
  if (!scope.charge(static_cast<size_t>(regex->ProgramSize()) * 16 + 1024, at)) {
    return nullptr;
  }
  return regex;
}

PathMatch parsePathMatch(Scope& scope, const Value& value) {
  PathMatch path;
  auto object = scope.object(value, {"type", "value"});
  if (!object) return path;
  path.type = scope
                  .choice<PathMatchType>(object->get("type"),
                                         {{"Exact", PathMatchType::Exact},
                                          {"PathPrefix", PathMatchType::PathPrefix},
                                          {"RegularExpression", PathMatchType::RegularExpression}})
                  .value_or(PathMatchType::PathPrefix);
  Value text = object->get("value");
  if (auto pattern = scope.string(text, 1024)) path.value = *pattern;
  if (path.type == PathMatchType::RegularExpression) {
    path.regex = compileRegex(scope, text, path.value);
  } else if (text.present) {
    scope.check(text, syntax::checkMatchPath(path.value));
  }
  return path;
}

// Header (`isHeader`) or query parameter matches.
std::vector<ValueMatch> parseValueMatches(Scope& scope, const Value& value, bool isHeader) {
  std::vector<ValueMatch> matches;
  std::set<std::string> names;
  for (const Value& item : scope.list(value, kMaxValueMatches)) {
    auto object = scope.object(item, {"type", "name", "value"});
    if (!object) continue;
    ValueMatch match;
    match.type =
        scope
            .choice<StringMatchType>(object->get("type"),
                                     {{"Exact", StringMatchType::Exact},
                                      {"RegularExpression", StringMatchType::RegularExpression}})
            .value_or(StringMatchType::Exact);
    Value nameValue = scope.require(*object, "name");
    Value textValue = scope.require(*object, "value");
    auto name = scope.string(nameValue, 256);
    auto text = scope.string(textValue, isHeader ? 4096 : 1024);
    if (name && scope.check(nameValue, syntax::checkHeaderName(*name))) {
      match.name = isHeader ? syntax::toLower(*name) : *name;
      if (!names.insert(match.name).second) {
        scope.error(nameValue, fmt::format("duplicate {} name {}",
                                           isHeader ? "header" : "query parameter", quote(*name)));
      }
    }
    if (text) {
      match.value = *text;
      if (match.type == StringMatchType::RegularExpression) {
        match.regex = compileRegex(scope, textValue, match.value);
      } else if (isHeader) {
        scope.check(textValue, syntax::checkHeaderValue(match.value));
      } else if (match.value.empty()) {
        scope.error(textValue, "must not be empty");
      }
    }
    matches.push_back(std::move(match));
  }
  return matches;
}

RouteMatch parseMatch(Scope& scope, const Value& value) {
  RouteMatch match;
  auto object = scope.object(value, {"path", "headers", "queryParams", "method"});
  if (!object) return match;
  match.path = parsePathMatch(scope, object->get("path"));
  match.headers = parseValueMatches(scope, object->get("headers"), true);
  match.queryParams = parseValueMatches(scope, object->get("queryParams"), false);
  match.method = scope.choice<std::string>(object->get("method"), {{"GET", "GET"},
                                                                   {"HEAD", "HEAD"},
                                                                   {"POST", "POST"},
                                                                   {"PUT", "PUT"},
                                                                   {"DELETE", "DELETE"},
                                                                   {"CONNECT", "CONNECT"},
                                                                   {"OPTIONS", "OPTIONS"},
                                                                   {"TRACE", "TRACE"},
                                                                   {"PATCH", "PATCH"}});
  return match;
}

// Gateway API timeouts: `request` bounds the whole exchange (retries included), `backendRequest`
// each attempt. "0s" means no timeout.
void parseTimeouts(Scope& scope, const Value& value, RouteTimeouts& out) {
  auto timeouts = scope.object(value, {"request", "backendRequest"});
  if (!timeouts) return;
  Value backendValue = timeouts->get("backendRequest");
  auto request = scope.duration(timeouts->get("request"), Duration(0));
  auto backend = scope.duration(backendValue, Duration(0));
  if (request && backend && request->count() != 0 && *backend > *request) {
    scope.error(backendValue, "backendRequest timeout cannot be longer than request timeout");
  }
  if (request) out.request = *request;
  if (backend) out.perTry = *backend;
}

// Gateway API HTTPRouteRetry (GEP-1731): retry connection errors, and the listed response codes.
std::optional<RetryPolicy> parseRetry(Scope& scope, const Value& value) {
  auto retry = scope.object(value, {"codes", "attempts", "backoff"});
  if (!retry) return std::nullopt;
  RetryPolicy policy;
  policy.retryOn = kRetryConnectFailure | kRetryReset | kRetryRefusedStream;
  policy.retriableStatusCodes = parseStatusCodes(scope, retry->get("codes"), 400, 32);
  if (auto attempts = scope.integer(retry->get("attempts"), 0, 100)) {
    policy.numRetries = static_cast<uint32_t>(*attempts);
  }
  if (auto backoff = scope.duration(retry->get("backoff"), Duration(1), Duration(60000))) {
    policy.backoffBase = *backoff;
    policy.backoffMax = defaultBackoffMax(*backoff);
  }
  return policy;
}

RuleDef parseRule(Scope& scope, const Value& value, const std::string& routeNamespace,
                  std::set<std::string>& ruleNames) {
  RuleDef rule;
  rule.at = scope.at(value);
  auto object = scope.object(value, {"name", "matches", "filters", "backendRefs", "timeouts",
                                     "retry", "sessionPersistence"});
  if (!object) {
    rule.matches.emplace_back();
    return rule;
  }
  Value name = object->get("name");
  if (auto text = scope.string(name, 253)) {
    if (scope.check(name, syntax::checkDnsSubdomain(*text))) {
      if (ruleNames.insert(*text).second) {
        rule.name = *text;
      } else {
        scope.error(name,
                    fmt::format("rule name {} must be unique within the route", quote(*text)));
      }
    }
  }
  if (Value field = object->get("sessionPersistence"); field.present) {
    scope.error(field, "is not supported by trellis-proxy yet");
  }

  Value matchesValue = object->get("matches");
  for (const Value& item : scope.list(matchesValue, kMaxMatchesPerRule)) {
    rule.matches.push_back(parseMatch(scope, item));
  }
  bool defaultedMatch = rule.matches.empty();
  if (defaultedMatch) rule.matches.emplace_back();  // PathPrefix "/"

  RuleFilterInfo filters = parseRuleFilters(scope, object->get("filters"), routeNamespace, rule);

  Value backendRefs = object->get("backendRefs");
  for (const Value& item : scope.list(backendRefs, kMaxBackendRefs)) {
    if (auto ref = parseServiceRef(scope, item, RefForm::Backend, routeNamespace)) {
      rule.backends.push_back(std::move(*ref));
    }
  }
  parseTimeouts(scope, object->get("timeouts"), rule.actions.timeouts);
  rule.actions.retry = parseRetry(scope, object->get("retry"));

  if (filters.redirectAt && backendRefs.present && backendRefs.node.IsSequence() &&
      backendRefs.node.size() > 0) {
    scope.error(backendRefs, "a rule with a RequestRedirect filter must not have backendRefs");
  }
  if (filters.replacePrefixMatchAt) {
    // CEL rule of HTTPRouteRule: exactly one match, and it is a PathPrefix one.
    bool single =
        rule.matches.size() == 1 && rule.matches.front().path.type == PathMatchType::PathPrefix;
    if (!single) {
      scope.error(*filters.replacePrefixMatchAt,
                  "ReplacePrefixMatch requires the rule to have exactly one match, with a "
                  "PathPrefix path");
    }
  }
  return rule;
}

void parseParentRefs(Scope& scope, const Value& value, RouteDef& route) {
  std::set<std::tuple<std::string, std::string, std::string, std::string, std::string>> seen;
  for (const Value& item : scope.list(value, kMaxParentRefs)) {
    auto object = scope.object(item, {"group", "kind", "namespace", "name", "sectionName", "port"});
    if (!object) continue;
    ParentRef ref;
    ref.at = scope.at(item);
    ref.ns = route.meta.ns;
    bool valid = true;
    if (Value group = object->get("group"); group.present) {
      auto text = scope.string(group, 253);
      valid = text && scope.check(group, syntax::checkGroup(*text)) && valid;
      if (text) ref.group = *text;
    }
    if (Value kind = object->get("kind"); kind.present) {
      auto text = scope.string(kind, 63);
      valid = text && scope.check(kind, syntax::checkKind(*text)) && valid;
      if (text) ref.kind = *text;
    }
    if (Value ns = object->get("namespace"); ns.present) {
      auto text = scope.string(ns, 63);
      valid = text && scope.check(ns, syntax::checkDnsLabel(*text)) && valid;
      if (text) ref.ns = *text;
    }
    Value name = scope.require(*object, "name");
    auto nameText = scope.string(name, 253);
    valid = nameText && scope.check(name, nameText->empty() ? "must not be empty" : "") && valid;
    if (nameText) ref.name = *nameText;
    if (Value section = object->get("sectionName"); section.present) {
      auto text = scope.string(section, 253);
      valid = text && scope.check(section, syntax::checkDnsSubdomain(*text)) && valid;
      if (text) ref.sectionName = *text;
    }
    if (Value port = object->get("port"); port.present) {
      auto number = scope.integer(port, 1, 65535);
      valid = number.has_value() && valid;
      if (number) ref.port = static_cast<uint16_t>(*number);
    }
    if (!valid) continue;
    auto key = std::make_tuple(ref.group, ref.kind, ref.ns, ref.name, ref.sectionName.value_or(""));
    if (!seen.insert(key).second) {
      scope.error(item, "duplicate parentRef (same group, kind, namespace, name and sectionName)");
      continue;
    }
    route.parentRefs.push_back(std::move(ref));
  }
}

}  // namespace

std::shared_ptr<const re2::RE2> compileRouteRegex(Scope& scope, const Value& at,
                                                  const std::string& pattern) {
  return compileRegex(scope, at, pattern);
}

std::vector<ValueMatch> parseHeaderMatches(Scope& scope, const Value& value) {
  return parseValueMatches(scope, value, true);
}

void parseRouteParentRefs(Scope& scope, const Value& value, RouteDef& route) {
  parseParentRefs(scope, value, route);
}

void parseRouteHostnames(Scope& scope, const Value& value, RouteDef& route) {
  for (const Value& item : scope.list(value, kMaxHostnames)) {
    auto hostname = scope.string(item, 253);
    if (hostname && scope.check(item, syntax::checkHostname(*hostname, true))) {
      route.hostnames.push_back(*hostname);
    }
  }
}

void parseHttpRoute(Scope& scope, ResourceMeta meta, const Value& specValue, Resources& out) {
  RouteDef route;
  route.meta = std::move(meta);
  auto spec = scope.object(specValue, {"parentRefs", "hostnames", "rules"});
  if (spec) {
    parseParentRefs(scope, spec->get("parentRefs"), route);
    parseRouteHostnames(scope, spec->get("hostnames"), route);
    Value rulesValue = spec->get("rules");
    std::set<std::string> ruleNames;
    size_t totalMatches = 0;
    for (const Value& item : scope.list(rulesValue, kMaxRules)) {
      route.rules.push_back(parseRule(scope, item, route.meta.ns, ruleNames));
      totalMatches += route.rules.back().matches.size();
    }
    if (rulesValue.present && rulesValue.node.IsSequence() && rulesValue.node.size() == 0) {
      scope.error(rulesValue, "must have at least one rule (omit rules for the default rule)");
    }
    if (totalMatches > kMaxMatchesPerRoute) {
      scope.error(rulesValue, fmt::format("a route may have at most {} matches across all rules, "
                                          "got {}",
                                          kMaxMatchesPerRoute, totalMatches));
    }
  }
  if (route.rules.empty()) {
    // Gateway API default: one rule matching PathPrefix "/" (with no backends: 500).
    RuleDef rule;
    rule.at = route.meta.at;
    rule.matches.emplace_back();
    route.rules.push_back(std::move(rule));
  }
  out.routes.push_back(std::move(route));
}

}  // namespace trellis::config
