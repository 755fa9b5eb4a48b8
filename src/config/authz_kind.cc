// trellis.dev/v1alpha1 AuthorizationPolicy: Istio's security.istio.io AuthorizationPolicy,
// attached to Services by targetRefs (or to every Service of its namespace), and its attachment
// to the Services of the snapshot. Evaluated by src/authz.

#include <fmt/format.h>

#include <algorithm>
#include <map>
#include <set>
#include <utility>

#include "config/policy_parts.h"
#include "config/resources.h"
#include "config/syntax.h"

namespace trellis::config {
namespace {

constexpr size_t kMaxTargetRefs = 16;
constexpr size_t kMaxRules = 256;
constexpr size_t kMaxClauses = 64;  // items of one rule's from, to and when
constexpr size_t kMaxValues = 1024;
constexpr size_t kMaxValueLength = 2048;
constexpr std::string_view kSpiffeScheme = "spiffe://";
constexpr std::string_view kEmptyList = "must not be empty (omit the field to match anything)";

// Istio fields that trellis does not implement: accepted by the schema so that a ported policy
// gets a reason rather than "unknown field".
constexpr std::pair<std::string_view, std::string_view> kUnsupportedSpec[] = {
    {"selector", "not supported (choose Services with targetRefs)"},
    {"targetRef", "not supported (use targetRefs)"},
    {"provider", "not supported (there is no CUSTOM action)"},
};
constexpr std::pair<std::string_view, std::string_view> kUnsupportedSource[] = {
    {"requestPrincipals", "not supported (trellis does not authenticate JWTs)"},
    {"notRequestPrincipals", "not supported (trellis does not authenticate JWTs)"},
    {"ipBlocks", "not supported (authorize by principals or namespaces)"},
    {"notIpBlocks", "not supported (authorize by principals or namespaces)"},
    {"remoteIpBlocks", "not supported (authorize by principals or namespaces)"},
    {"notRemoteIpBlocks", "not supported (authorize by principals or namespaces)"},
};
constexpr std::pair<std::string_view, std::string_view> kUnsupportedOperation[] = {
    {"hosts", "not supported (a policy applies to the Services it targets)"},
    {"notHosts", "not supported (a policy applies to the Services it targets)"},
};

template <size_t N>
void rejectUnsupported(Scope& scope, const Object& object,
                       const std::pair<std::string_view, std::string_view> (&fields)[N]) {
  for (const auto& [name, reason] : fields) {
    Value value = object.get(name);
    if (value.present) scope.error(value, std::string(reason));
  }
}

// What a value of a field is: decides its validation (and, for principals, its normalization).
enum class ValueKind { Principal, Namespace, Method, Path, HeaderValue };

// Istio's match forms: "exact", "prefix*", "*suffix" or "*".
std::string checkPattern(std::string_view text) {
  if (text.empty()) return "must not be empty";
  size_t stars = static_cast<size_t>(std::count(text.begin(), text.end(), '*'));
  if (stars == 0 || (stars == 1 && (text.front() == '*' || text.back() == '*'))) return "";
  return fmt::format(
      "invalid pattern {} ('*' may only stand alone or at the start or end: "
      "\"exact\", \"prefix*\", \"*suffix\" or \"*\")",
      quote(text));
}

bool hasControlCharacter(std::string_view text) {
  return std::any_of(text.begin(), text.end(), [](char c) {
    auto u = static_cast<unsigned char>(c);
    return (u < 0x20 && c != '\t') || u == 0x7f;
  });
}

bool isTokenChar(char c) {
  return (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9') ||
         std::string_view("!#$%&'*+-.^_`|~").find(c) != std::string_view::npos;
}

// Validates one value of kind `kind` (the pattern already checked) and adds it to `out`.
void addValue(Scope& scope, const Value& at, std::string_view text, ValueKind kind,
              AuthzValues& out) {
  if (text == "*") {
    out.present = true;
    return;
  }
  const bool suffix = text.front() == '*';
  const bool prefix = !suffix && text.back() == '*';
  std::string_view body = suffix ? text.substr(1) : prefix ? text.substr(0, text.size() - 1) : text;
  if (hasControlCharacter(body)) {
    scope.error(at, "must not contain control characters (CR, LF, NUL, ...)");
    return;
  }
  std::string value(body);
  switch (kind) {
    case ValueKind::Principal:
      // Istio writes principals without the scheme ("cluster.local/ns/x/sa/y"); both forms are
      // accepted and compared with the peer certificate's full SPIFFE ID.
      if (!suffix && !value.starts_with(kSpiffeScheme)) value.insert(0, kSpiffeScheme);
      if (!suffix && !prefix) {
        std::string_view rest = std::string_view(value).substr(kSpiffeScheme.size());
        size_t slash = rest.find('/');
        if (slash == std::string_view::npos || slash == 0 || slash + 1 == rest.size()) {
          scope.error(at, fmt::format("principal {} is not a SPIFFE ID (expected "
                                      "\"spiffe://<trust domain>/ns/<namespace>/sa/<service "
                                      "account>\" or Istio's \"<trust domain>/ns/<namespace>/"
                                      "sa/<service account>\")",
                                      quote(text)));
          return;
        }
      }
      break;
    case ValueKind::Namespace:
      if (!suffix && !prefix && !scope.check(at, syntax::checkDnsLabel(value))) return;
      break;
    case ValueKind::Method:
      if (!std::all_of(value.begin(), value.end(), isTokenChar)) {
        scope.error(at, fmt::format("invalid method {} (expected an HTTP method such as GET)",
                                    quote(text)));
        return;
      }
      if (std::any_of(value.begin(), value.end(), [](char c) { return c >= 'a' && c <= 'z'; })) {
        std::string upper = value;
        std::transform(upper.begin(), upper.end(), upper.begin(),
                       [](char c) { return c >= 'a' && c <= 'z' ? static_cast<char>(c - 32) : c; });
        scope.warning(at, fmt::format("methods are case-sensitive: {} does not match {}",
                                      quote(text), upper));
      }
      break;
    case ValueKind::Path:
      if (value.find('?') != std::string::npos) {
        scope.error(at, "must not contain '?' (paths are matched without the query string)");
        return;
      }
      if (!suffix && !value.starts_with('/')) {
        scope.error(at, "must be an absolute path starting with '/' (or \"*suffix\")");
        return;
      }
      break;
    case ValueKind::HeaderValue:
      break;
  }
  if (suffix) {
    out.suffixes.push_back(std::move(value));
  } else if (prefix) {
    out.prefixes.push_back(std::move(value));
  } else {
    out.exact.push_back(std::move(value));
  }
}

// Reads the list at `key` into `out`. Returns whether the field is present.
bool readValues(Scope& scope, const Object& object, std::string_view key, ValueKind kind,
                AuthzValues& out) {
  Value value = object.get(key);
  if (!value.present) return false;
  if (value.node.IsSequence() && value.node.size() == 0) {
    scope.error(value, std::string(kEmptyList));
  }
  for (const Value& item : scope.list(value, kMaxValues)) {
    auto text = scope.string(item, kMaxValueLength);
    if (!text) continue;
    // Istio's templates would otherwise be reported as a misplaced '*'.
    if (kind == ValueKind::Path && text->find_first_of("{}") != std::string::npos) {
      scope.error(item, "path templates ({*}, {**}) are not supported");
      continue;
    }
    if (!scope.check(item, checkPattern(*text))) continue;
    addValue(scope, item, *text, kind, out);
  }
  return true;
}

// Istio writes ports as strings ("8080"); plain integers are accepted too.
std::vector<uint16_t> readPorts(Scope& scope, const Object& object, std::string_view key) {
  std::vector<uint16_t> ports;
  Value value = object.get(key);
  if (!value.present) return ports;
  if (value.node.IsSequence() && value.node.size() == 0) {
    scope.error(value, std::string(kEmptyList));
  }
  for (const Value& item : scope.list(value, kMaxValues)) {
    auto text = scope.string(item, 64);
    if (!text) continue;
    bool digits =
        !text->empty() && text->size() <= 5 &&
        std::all_of(text->begin(), text->end(), [](char c) { return c >= '0' && c <= '9'; });
    int number = digits ? std::stoi(*text) : 0;
    if (number < 1 || number > 65535) {
      scope.error(item,
                  fmt::format("invalid port {} (expected a number from 1 to 65535)", quote(*text)));
      continue;
    }
    ports.push_back(static_cast<uint16_t>(number));
  }
  return ports;
}

// The items of a rule's from, to or when list; an explicitly empty list is an error.
std::vector<Value> clauses(Scope& scope, const Object& rule, std::string_view key) {
  Value value = rule.get(key);
  if (value.present && value.node.IsSequence() && value.node.size() == 0) {
    scope.error(value, std::string(kEmptyList));
  }
  return scope.list(value, kMaxClauses);
}

void parseSource(Scope& scope, const Value& item, AuthzRule& rule) {
  auto from = scope.object(item, {"source"});
  if (!from) return;
  auto object = scope.object(
      scope.require(*from, "source"),
      {"principals", "notPrincipals", "namespaces", "notNamespaces", "requestPrincipals",
       "notRequestPrincipals", "ipBlocks", "notIpBlocks", "remoteIpBlocks", "notRemoteIpBlocks"});
  if (!object) return;
  rejectUnsupported(scope, *object, kUnsupportedSource);
  AuthzSource source;
  readValues(scope, *object, "principals", ValueKind::Principal, source.principals);
  readValues(scope, *object, "notPrincipals", ValueKind::Principal, source.notPrincipals);
  readValues(scope, *object, "namespaces", ValueKind::Namespace, source.namespaces);
  readValues(scope, *object, "notNamespaces", ValueKind::Namespace, source.notNamespaces);
  rule.from.push_back(std::move(source));
}

void parseOperation(Scope& scope, const Value& item, AuthzRule& rule) {
  auto to = scope.object(item, {"operation"});
  if (!to) return;
  auto object = scope.object(
      scope.require(*to, "operation"),
      {"methods", "notMethods", "paths", "notPaths", "ports", "notPorts", "hosts", "notHosts"});
  if (!object) return;
  rejectUnsupported(scope, *object, kUnsupportedOperation);
  AuthzOperation operation;
  bool http = readValues(scope, *object, "methods", ValueKind::Method, operation.methods);
  http = readValues(scope, *object, "notMethods", ValueKind::Method, operation.notMethods) || http;
  http = readValues(scope, *object, "paths", ValueKind::Path, operation.paths) || http;
  http = readValues(scope, *object, "notPaths", ValueKind::Path, operation.notPaths) || http;
  operation.ports = readPorts(scope, *object, "ports");
  operation.notPorts = readPorts(scope, *object, "notPorts");
  rule.usesHttp = rule.usesHttp || http;
  rule.to.push_back(std::move(operation));
}

constexpr std::string_view kConditionKeys =
    "request.headers[<name>], source.principal, source.namespace or destination.port";

// Istio condition keys (https://istio.io/latest/docs/reference/config/security/conditions/)
// that the proxy can evaluate.
std::optional<AuthzCondition> conditionKey(Scope& scope, const Value& keyValue,
                                           std::string_view key) {
  AuthzCondition condition;
  constexpr std::string_view kHeaders = "request.headers[";
  if (key.starts_with(kHeaders) && key.ends_with(']')) {
    std::string_view name = key.substr(kHeaders.size(), key.size() - kHeaders.size() - 1);
    std::string problem = syntax::checkHeaderName(name);
    if (!problem.empty()) {
      scope.error(keyValue, fmt::format("header name {} {}", quote(name), problem));
      return std::nullopt;
    }
    condition.key = AuthzCondition::Key::RequestHeader;
    condition.header = syntax::toLower(name);
  } else if (key == "source.principal") {
    condition.key = AuthzCondition::Key::SourcePrincipal;
  } else if (key == "source.namespace") {
    condition.key = AuthzCondition::Key::SourceNamespace;
  } else if (key == "destination.port") {
    condition.key = AuthzCondition::Key::DestinationPort;
  } else {
    scope.error(keyValue, fmt::format("unsupported condition key {} (expected {})", quote(key),
                                      kConditionKeys));
    return std::nullopt;
  }
  return condition;
}

void parseCondition(Scope& scope, const Value& item, AuthzRule& rule) {
  auto object = scope.object(item, {"key", "values", "notValues"});
  if (!object) return;
  Value keyValue = scope.require(*object, "key");
  if (!object->has("values") && !object->has("notValues")) {
    scope.error(item, "must set values, notValues or both");
  }
  auto key = scope.string(keyValue, 512);
  std::optional<AuthzCondition> condition;
  if (key) condition = conditionKey(scope, keyValue, *key);
  // The values are checked even when the key is not, so that all problems show at once.
  AuthzCondition parsed = condition.value_or(AuthzCondition{});
  switch (condition ? parsed.key : AuthzCondition::Key::RequestHeader) {
    case AuthzCondition::Key::DestinationPort:
      parsed.ports = readPorts(scope, *object, "values");
      parsed.notPorts = readPorts(scope, *object, "notValues");
      break;
    case AuthzCondition::Key::SourcePrincipal:
    case AuthzCondition::Key::SourceNamespace: {
      ValueKind kind = parsed.key == AuthzCondition::Key::SourcePrincipal ? ValueKind::Principal
                                                                          : ValueKind::Namespace;
      readValues(scope, *object, "values", kind, parsed.values);
      readValues(scope, *object, "notValues", kind, parsed.notValues);
      break;
    }
    case AuthzCondition::Key::RequestHeader:
      readValues(scope, *object, "values", ValueKind::HeaderValue, parsed.values);
      readValues(scope, *object, "notValues", ValueKind::HeaderValue, parsed.notValues);
      break;
  }
  if (!condition) return;
  rule.usesHttp = rule.usesHttp || parsed.key == AuthzCondition::Key::RequestHeader;
  rule.when.push_back(std::move(parsed));
}

std::vector<AuthzRule> parseRules(Scope& scope, const Value& value) {
  std::vector<AuthzRule> rules;
  for (const Value& item : scope.list(value, kMaxRules)) {
    auto object = scope.object(item, {"from", "to", "when"});
    if (!object) continue;
    AuthzRule rule;
    for (const Value& from : clauses(scope, *object, "from")) parseSource(scope, from, rule);
    for (const Value& to : clauses(scope, *object, "to")) parseOperation(scope, to, rule);
    for (const Value& when : clauses(scope, *object, "when")) parseCondition(scope, when, rule);
    rules.push_back(std::move(rule));
  }
  return rules;
}

// Memory one copy of `policy` takes, roughly: what the load budget charges per target Service.
size_t approximateBytes(const AuthorizationPolicy& policy) {
  size_t bytes = sizeof(AuthorizationPolicy) + policy.name.size() + policy.ns.size() +
                 policy.qualifiedName.size();
  auto add = [&bytes](const AuthzValues& values) {
    for (const auto* list : {&values.exact, &values.prefixes, &values.suffixes}) {
      for (const std::string& text : *list) bytes += sizeof(std::string) + text.size();
    }
  };
  for (const AuthzRule& rule : policy.rules) {
    bytes += sizeof(AuthzRule);
    for (const AuthzSource& source : rule.from) {
      bytes += sizeof(AuthzSource);
      for (const auto* values :
           {&source.principals, &source.notPrincipals, &source.namespaces, &source.notNamespaces}) {
        add(*values);
      }
    }
    for (const AuthzOperation& operation : rule.to) {
      bytes += sizeof(AuthzOperation) +
               (operation.ports.size() + operation.notPorts.size()) * sizeof(uint16_t);
      for (const auto* values :
           {&operation.methods, &operation.notMethods, &operation.paths, &operation.notPaths}) {
        add(*values);
      }
    }
    for (const AuthzCondition& condition : rule.when) {
      bytes += sizeof(AuthzCondition) + condition.header.size() +
               (condition.ports.size() + condition.notPorts.size()) * sizeof(uint16_t);
      add(condition.values);
      add(condition.notValues);
    }
  }
  return bytes;
}

}  // namespace

bool parseServiceTargetRefs(Scope& scope, const Value& value, std::vector<PolicyTargetRef>& out) {
  if (!value.present) return false;
  if (value.node.IsSequence() && value.node.size() == 0) {
    scope.error(value,
                "must list at least one targetRef (omit targetRefs to apply the policy "
                "to every Service of the namespace)");
  }
  std::set<std::string> seen;
  for (const Value& item : scope.list(value, kMaxTargetRefs)) {
    auto object = scope.object(item, {"group", "kind", "name"});
    if (!object) continue;
    PolicyTargetRef ref;
    ref.at = scope.at(item);
    bool valid = true;
    if (Value group = object->get("group"); group.present) {
      auto text = parseServiceGroup(scope, group);
      valid = text.has_value() && valid;
      if (text) ref.group = *text;
    }
    auto kind = scope.choice<std::string>(scope.require(*object, "kind"), {{"Service", "Service"}});
    valid = kind.has_value() && valid;
    ref.kind = kind.value_or("");
    Value name = scope.require(*object, "name");
    auto nameText = scope.string(name, 253);
    valid = nameText && scope.check(name, syntax::checkDnsLabel(*nameText)) && valid;
    if (!valid) continue;
    ref.name = *nameText;
    if (!seen.insert(ref.name).second) {
      scope.error(item, "duplicate targetRef (same kind and name)");
      continue;
    }
    out.push_back(std::move(ref));
  }
  return true;
}

void parseAuthorizationPolicy(Scope& scope, ResourceMeta meta, const Value& specValue,
                              Resources& out) {
  AuthorizationPolicyDef def;
  def.meta = std::move(meta);
  def.policy.name = def.meta.name;
  def.policy.ns = def.meta.ns;
  def.policy.qualifiedName = def.meta.qualifiedName();
  auto spec = scope.object(specValue,
                           {"targetRefs", "action", "rules", "selector", "targetRef", "provider"});
  if (spec) {
    rejectUnsupported(scope, *spec, kUnsupportedSpec);
    def.namespaceWide = !parseServiceTargetRefs(scope, spec->get("targetRefs"), def.targetRefs);
    Value action = spec->get("action");
    if (auto text = scope.string(action, 64); text && *text == "CUSTOM") {
      scope.error(action, "CUSTOM is not supported (expected ALLOW, DENY or AUDIT)");
    } else if (text) {
      def.policy.action = scope
                              .choice<AuthzAction>(action, {{"ALLOW", AuthzAction::Allow},
                                                            {"DENY", AuthzAction::Deny},
                                                            {"AUDIT", AuthzAction::Audit}})
                              .value_or(AuthzAction::Allow);
    }
    Value rules = spec->get("rules");
    def.policy.rules = parseRules(scope, rules);
    // Istio's allow-nothing is an ALLOW policy without rules; without rules, DENY and AUDIT
    // policies match nothing, which is rarely what their author meant.
    bool noRules = !rules.present || (rules.node.IsSequence() && rules.node.size() == 0);
    if (def.policy.action != AuthzAction::Allow && noRules) {
      scope.warning(action,
                    fmt::format("{} policy without rules matches nothing and has no "
                                "effect (rules: [{{}}] matches every request)",
                                def.policy.action == AuthzAction::Deny ? "a DENY" : "an AUDIT"));
    }
  }
  out.authorizationPolicies.push_back(std::move(def));
}

void attachAuthorizationPolicies(const Resources& resources, Diagnostics& diagnostics,
                                 Snapshot& snapshot) {
  std::map<std::string, std::vector<std::string>> byNamespace;  // namespace → "ns/name"
  std::set<std::string> services;
  for (const ServiceDef& service : resources.services) {
    byNamespace[service.meta.ns].push_back(service.meta.qualifiedName());
    services.insert(service.meta.qualifiedName());
  }
  for (const AuthorizationPolicyDef& def : resources.authorizationPolicies) {
    std::vector<std::string> targets;
    if (def.namespaceWide) {
      auto it = byNamespace.find(def.meta.ns);
      if (it == byNamespace.end()) {
        diagnostics.warning(def.meta.at, fmt::format("namespace {} has no Service; the policy "
                                                     "applies to nothing",
                                                     def.meta.ns));
        continue;
      }
      targets = it->second;
    }
    for (const PolicyTargetRef& ref : def.targetRefs) {
      std::string key = def.meta.ns + "/" + ref.name;
      if (services.count(key) == 0) {
        diagnostics.warning(
            ref.at, fmt::format("Service {} not found; the policy does not apply to it", key));
        continue;
      }
      targets.push_back(std::move(key));
    }
    const size_t bytes = approximateBytes(def.policy);
    for (const std::string& target : targets) {
      if (!diagnostics.charge(bytes, def.meta.at)) return;
      snapshot.authorization[target].push_back(def.policy);
    }
  }
}

}  // namespace trellis::config
