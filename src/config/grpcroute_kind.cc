// gateway.networking.k8s.io/v1 GRPCRoute: parentRefs, hostnames, rules (method and header
// matches, filters, backendRefs), validated as the Gateway API CRD and its CEL rules do.
//
// A gRPC call is an HTTP/2 POST to "/<service>/<method>", so each GRPCRouteMatch becomes an
// ordinary RouteMatch on that path and the data path routes gRPC with the HTTP route table:
//   Exact service + method  → path Exact "/pkg.Svc/Method"
//   Exact service only      → path RegularExpression "/pkg\.Svc/[^/]+"
//   Exact method only       → path RegularExpression "/[^/]+/Method"
//   RegularExpression       → path RegularExpression "/(?:<service>)/(?:<method>)"
//   no method match         → path PathPrefix "/" (every call)
// Regexes rather than PathPrefix "/pkg.Svc/" for the service-only case because a gRPC path has
// exactly two segments: a prefix would also take "/pkg.Svc" and "/pkg.Svc/a/b".

#include <fmt/format.h>
#include <re2/re2.h>

#include <set>

#include "config/httproute_filters.h"
#include "config/resources.h"
#include "config/route_parts.h"
#include "config/syntax.h"

namespace trellis::config {
namespace {

constexpr size_t kMaxRules = 16;
constexpr size_t kMaxMatchesPerRule = 8;
constexpr size_t kMaxBackendRefs = 16;
constexpr size_t kMaxNameLength = 1024;
constexpr std::string_view kAnySegment = "[^/]+";

bool isIdentifierStart(char c) {
  return (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || c == '_';
}

bool isIdentifierChar(char c) {
  return isIdentifierStart(c) || (c >= '0' && c <= '9');
}

// CRD pattern ^[A-Za-z_][A-Za-z_0-9]*$.
bool isMethodName(std::string_view name) {
  if (name.empty() || !isIdentifierStart(name.front())) return false;
  for (char c : name) {
    if (!isIdentifierChar(c)) return false;
  }
  return true;
}

// A Protobuf type name, CRD pattern ^(?i)\.?[a-z_][a-z_0-9]*(\.[a-z_][a-z_0-9]*)*$.
bool isServiceName(std::string_view name) {
  if (!name.empty() && name.front() == '.') name.remove_prefix(1);
  while (true) {
    const size_t dot = name.find('.');
    if (!isMethodName(name.substr(0, dot))) return false;
    if (dot == std::string_view::npos) return true;
    name.remove_prefix(dot + 1);
  }
}

PathMatch regexPath(Scope& scope, const Value& at, std::string pattern) {
  PathMatch path;
  path.type = PathMatchType::RegularExpression;
  path.value = std::move(pattern);
  path.regex = compileRouteRegex(scope, at, path.value);
  return path;
}

// GRPCMethodMatch → the path match described at the top of this file.
PathMatch parseMethodMatch(Scope& scope, const Value& value, GrpcMethodRank& rank) {
  PathMatch every;  // PathPrefix "/"
  auto object = scope.object(value, {"type", "service", "method"});
  if (!object) return every;
  Value typeValue = object->get("type");
  auto regex = scope.choice<bool>(typeValue, {{"Exact", false}, {"RegularExpression", true}});
  Value serviceValue = object->get("service");
  Value methodValue = object->get("method");
  auto service = scope.string(serviceValue, kMaxNameLength);
  auto method = scope.string(methodValue, kMaxNameLength);
  // An empty string means "any", as an absent field does.
  const bool hasService = service && !service->empty();
  const bool hasMethod = method && !method->empty();
  // A leading '.' (fully-qualified protobuf name) does not make a service more specific.
  const bool leadingDot = hasService && service->front() == '.';
  rank.serviceChars = hasService ? static_cast<uint32_t>(service->size() - leadingDot) : 0;
  rank.methodChars = hasMethod ? static_cast<uint32_t>(method->size()) : 0;
  rank.regex = typeValue.present && regex.value_or(false);
  const bool readable =
      (!serviceValue.present || service.has_value()) && (!methodValue.present || method);
  if (!hasService && !hasMethod) {
    if (readable) scope.error(*object, "one or both of service and method must be specified");
    return every;
  }
  if (typeValue.present && !regex) return every;  // reported

  if (!regex.value_or(false)) {
    bool valid = true;
    if (hasService && !isServiceName(*service)) {
      scope.error(serviceValue, fmt::format("invalid service name {} (expected a Protobuf type "
                                            "name such as \"helloworld.Greeter\")",
                                            quote(*service)));
      valid = false;
    }
    if (hasMethod && !isMethodName(*method)) {
      scope.error(methodValue, fmt::format("invalid method name {} (expected letters, digits "
                                           "and '_', not starting with a digit)",
                                           quote(*method)));
      valid = false;
    }
    if (!valid) return every;
    // A leading '.' marks a fully qualified Protobuf name; the :path never carries it.
    std::string_view serviceName = *service;
    if (hasService && serviceName.front() == '.') serviceName.remove_prefix(1);
    if (hasService && hasMethod) {
      PathMatch path;
      path.type = PathMatchType::Exact;
      path.value = fmt::format("/{}/{}", serviceName, *method);
      return path;
    }
    if (hasService) {
      return regexPath(scope, value,
                       fmt::format("/{}/{}", re2::RE2::QuoteMeta(serviceName), kAnySegment));
    }
    return regexPath(scope, value, fmt::format("/{}/{}", kAnySegment, *method));
  }

  // RegularExpression: check each part at its own field, then combine them.
  bool valid = true;
  if (hasService) valid = compileRouteRegex(scope, serviceValue, *service) != nullptr;
  if (hasMethod) valid = compileRouteRegex(scope, methodValue, *method) != nullptr && valid;
  if (!valid) return every;
  std::string servicePattern = hasService ? *service : std::string(kAnySegment);
  std::string methodPattern = hasMethod ? *method : std::string(kAnySegment);
  return regexPath(scope, value, fmt::format("/(?:{})/(?:{})", servicePattern, methodPattern));
}

RouteMatch parseMatch(Scope& scope, const Value& value) {
  RouteMatch match;
  auto object = scope.object(value, {"method", "headers"});
  if (!object) return match;
  GrpcMethodRank rank;
  match.path = parseMethodMatch(scope, object->get("method"), rank);
  match.grpc = rank;
  match.headers = parseHeaderMatches(scope, object->get("headers"));
  return match;
}

RuleDef parseRule(Scope& scope, const Value& value, const std::string& routeNamespace,
                  std::set<std::string>& ruleNames) {
  RuleDef rule;
  rule.at = scope.at(value);
  auto object =
      scope.object(value, {"name", "matches", "filters", "backendRefs", "sessionPersistence"});
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
  for (const Value& item : scope.list(object->get("matches"), kMaxMatchesPerRule)) {
    rule.matches.push_back(parseMatch(scope, item));
  }
  if (rule.matches.empty()) rule.matches.emplace_back();  // every call
  parseRuleFilters(scope, object->get("filters"), routeNamespace, rule, "GRPCRoute");
  for (const Value& item : scope.list(object->get("backendRefs"), kMaxBackendRefs)) {
    if (auto ref = parseServiceRef(scope, item, RefForm::Backend, routeNamespace)) {
      rule.backends.push_back(std::move(*ref));
    }
  }
  return rule;
}

}  // namespace

void parseGrpcRoute(Scope& scope, ResourceMeta meta, const Value& specValue, Resources& out) {
  RouteDef route;
  route.meta = std::move(meta);
  auto spec = scope.object(specValue, {"parentRefs", "hostnames", "rules"});
  if (spec) {
    parseRouteParentRefs(scope, spec->get("parentRefs"), route);
    parseRouteHostnames(scope, spec->get("hostnames"), route);
    Value rulesValue = spec->get("rules");
    std::set<std::string> ruleNames;
    for (const Value& item : scope.list(rulesValue, kMaxRules)) {
      route.rules.push_back(parseRule(scope, item, route.meta.ns, ruleNames));
    }
    if (rulesValue.present && rulesValue.node.IsSequence() && rulesValue.node.size() == 0) {
      scope.error(rulesValue, "must have at least one rule (omit rules for the default rule)");
    }
  }
  if (route.rules.empty()) {
    // As HTTPRoute: one rule taking every call (with no backends: 500).
    RuleDef rule;
    rule.at = route.meta.at;
    rule.matches.emplace_back();
    route.rules.push_back(std::move(rule));
  }
  out.routes.push_back(std::move(route));
}

}  // namespace trellis::config
