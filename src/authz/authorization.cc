#include "authz/authorization.h"

#include <algorithm>

namespace trellis::authz {
namespace {

using config::AuthorizationPolicy;
using config::AuthzAction;
using config::AuthzCondition;
using config::AuthzOperation;
using config::AuthzRule;
using config::AuthzSource;
using config::AuthzValues;

/// The peer's identity, parsed once per evaluation.
struct Peer {
  std::string_view principal;
  std::string_view ns;
};

// A field and its negation: `in`, when set, must match; `notIn`, when set, must not.
bool field(const AuthzValues& in, const AuthzValues& notIn, std::string_view value) {
  return (in.empty() || matches(in, value)) && (notIn.empty() || !matches(notIn, value));
}

bool contains(const std::vector<uint16_t>& ports, uint16_t port) {
  return std::find(ports.begin(), ports.end(), port) != ports.end();
}

bool portField(const std::vector<uint16_t>& in, const std::vector<uint16_t>& notIn, uint16_t port) {
  return (in.empty() || contains(in, port)) && !contains(notIn, port);
}

bool sourceMatches(const AuthzSource& source, const Peer& peer) {
  return field(source.principals, source.notPrincipals, peer.principal) &&
         field(source.namespaces, source.notNamespaces, peer.ns);
}

// On a TCP connection, HTTP-only fields only get here in DENY and AUDIT rules, where Istio
// leaves them out (which widens the match): see ruleMatches.
bool operationMatches(const AuthzOperation& operation, const Request& request) {
  if (!portField(operation.ports, operation.notPorts, request.port)) return false;
  if (!request.isHttp) return true;
  std::string_view path = request.path.substr(0, request.path.find('?'));
  return field(operation.methods, operation.notMethods, request.method) &&
         field(operation.paths, operation.notPaths, path);
}

// A header that is absent matches no value, not even "*"; one that is present but empty
// matches "*" (Envoy's present_match).
bool headerMatches(const AuthzValues& values, std::optional<std::string_view> value) {
  return value.has_value() && (values.present || matches(values, *value));
}

bool conditionMatches(const AuthzCondition& condition, const Request& request, const Peer& peer) {
  switch (condition.key) {
    case AuthzCondition::Key::RequestHeader: {
      if (!request.isHttp) return true;
      std::optional<std::string_view> value = request.headers(condition.header);
      return (condition.values.empty() || headerMatches(condition.values, value)) &&
             (condition.notValues.empty() || !headerMatches(condition.notValues, value));
    }
    case AuthzCondition::Key::SourcePrincipal:
      return field(condition.values, condition.notValues, peer.principal);
    case AuthzCondition::Key::SourceNamespace:
      return field(condition.values, condition.notValues, peer.ns);
    case AuthzCondition::Key::DestinationPort:
      return portField(condition.ports, condition.notPorts, request.port);
  }
  return false;
}

bool ruleMatches(const AuthzRule& rule, AuthzAction action, const Request& request,
                 const Peer& peer) {
  // Istio on TCP: an ALLOW rule that uses HTTP-only fields is dropped (it can never be shown
  // to hold), a DENY or AUDIT rule is kept without them (it may hold): both err towards denying.
  if (!request.isHttp && rule.usesHttp && action == AuthzAction::Allow) return false;
  auto source = [&peer](const AuthzSource& s) { return sourceMatches(s, peer); };
  auto operation = [&request](const AuthzOperation& o) { return operationMatches(o, request); };
  auto condition = [&](const AuthzCondition& c) { return conditionMatches(c, request, peer); };
  return (rule.from.empty() || std::any_of(rule.from.begin(), rule.from.end(), source)) &&
         (rule.to.empty() || std::any_of(rule.to.begin(), rule.to.end(), operation)) &&
         std::all_of(rule.when.begin(), rule.when.end(), condition);
}

// The index of the first rule of `policy` that matches, or rules.size().
size_t firstMatch(const AuthorizationPolicy& policy, const Request& request, const Peer& peer) {
  size_t index = 0;
  while (index < policy.rules.size() &&
         !ruleMatches(policy.rules[index], policy.action, request, peer)) {
    ++index;
  }
  return index;
}

}  // namespace

bool matches(const AuthzValues& values, std::string_view value) {
  if (values.present && !value.empty()) return true;
  for (const std::string& exact : values.exact) {
    if (value == exact) return true;
  }
  for (const std::string& prefix : values.prefixes) {
    if (value.starts_with(prefix)) return true;
  }
  for (const std::string& suffix : values.suffixes) {
    if (value.ends_with(suffix)) return true;
  }
  return false;
}

std::string_view principalNamespace(std::string_view principal) {
  constexpr std::string_view kScheme = "spiffe://";
  if (!principal.starts_with(kScheme)) return {};
  std::string_view rest = principal.substr(kScheme.size());
  size_t slash = rest.find('/');
  if (slash == 0 || slash == std::string_view::npos) return {};  // no trust domain, no path
  rest.remove_prefix(slash);
  if (!rest.starts_with("/ns/")) return {};
  rest.remove_prefix(4);
  size_t end = rest.find('/');
  if (end == 0 || end == std::string_view::npos) return {};
  std::string_view ns = rest.substr(0, end);
  rest.remove_prefix(end);
  if (!rest.starts_with("/sa/")) return {};
  rest.remove_prefix(4);
  if (rest.empty() || rest.find('/') != std::string_view::npos) return {};
  return ns;
}

Decision evaluate(std::span<const AuthorizationPolicy> policies, const Request& request) {
  const Peer peer{request.principal, principalNamespace(request.principal)};
  Decision decision;
  const AuthorizationPolicy* denied = nullptr;
  const AuthorizationPolicy* allowed = nullptr;
  size_t rule = 0;
  bool anyAllow = false;
  for (const AuthorizationPolicy& policy : policies) {
    switch (policy.action) {
      case AuthzAction::Deny:
        if (denied == nullptr) {
          size_t index = firstMatch(policy, request, peer);
          if (index < policy.rules.size()) {
            denied = &policy;
            rule = index;
          }
        }
        break;
      case AuthzAction::Allow:
        anyAllow = true;
        if (denied == nullptr && allowed == nullptr) {
          size_t index = firstMatch(policy, request, peer);
          if (index < policy.rules.size()) {
            allowed = &policy;
            rule = index;
          }
        }
        break;
      case AuthzAction::Audit:
        if (firstMatch(policy, request, peer) < policy.rules.size()) {
          decision.audited.push_back(policy.qualifiedName);
        }
        break;
    }
  }
  const AuthorizationPolicy* decider = denied != nullptr ? denied : allowed;
  if (decider != nullptr) {
    decision.allowed = decider == allowed;
    decision.reason =
        decision.allowed ? Decision::Reason::AllowMatched : Decision::Reason::DenyMatched;
    decision.policy = decider->qualifiedName;
    decision.rule = rule;
  } else if (anyAllow) {
    decision.allowed = false;
    decision.reason = Decision::Reason::NoAllowMatched;
  }
  return decision;
}

std::string_view reasonName(Decision::Reason reason) {
  switch (reason) {
    case Decision::Reason::NoPolicy:
      return "no_policy";
    case Decision::Reason::AllowMatched:
      return "allowed_by_policy";
    case Decision::Reason::DenyMatched:
      return "denied_by_policy";
    case Decision::Reason::NoAllowMatched:
      return "no_allow_policy_matched";
  }
  return "unknown";
}

}  // namespace trellis::authz
