// Model AuthorizationPolicies → a listener's metadata["trellis.dev"].authorization (the form is
// described in authz_codec.h).

#include <google/protobuf/util/message_differencer.h>

#include "xds/codec/authz_codec.h"

namespace trellis::xds::detail {
namespace {

using google::protobuf::ListValue;

void addStrings(Struct& fields, std::string_view key, const std::vector<std::string>& values) {
  if (values.empty()) return;
  ListValue& list = setList(fields, key);
  for (const std::string& value : values) list.add_values()->set_string_value(value);
}

void setValues(Struct& fields, std::string_view key, const config::AuthzValues& values) {
  if (values.empty()) return;
  Struct& out = setObject(fields, key);
  addStrings(out, "exact", values.exact);
  addStrings(out, "prefixes", values.prefixes);
  addStrings(out, "suffixes", values.suffixes);
  if (values.present) setBool(out, "present", true);
}

void setPorts(Struct& fields, std::string_view key, const std::vector<uint16_t>& ports) {
  if (ports.empty()) return;
  ListValue& list = setList(fields, key);
  for (uint16_t port : ports) list.add_values()->set_number_value(port);
}

std::string conditionKey(const config::AuthzCondition& condition) {
  switch (condition.key) {
    case config::AuthzCondition::Key::RequestHeader:
      return "request.headers[" + condition.header + "]";
    case config::AuthzCondition::Key::SourcePrincipal:
      return "source.principal";
    case config::AuthzCondition::Key::SourceNamespace:
      return "source.namespace";
    case config::AuthzCondition::Key::DestinationPort:
      return "destination.port";
  }
  return "";
}

std::string_view actionName(config::AuthzAction action) {
  switch (action) {
    case config::AuthzAction::Allow:
      return "ALLOW";
    case config::AuthzAction::Deny:
      return "DENY";
    case config::AuthzAction::Audit:
      return "AUDIT";
  }
  return "";
}

void encodeRule(const config::AuthzRule& rule, Struct& out) {
  if (!rule.from.empty()) {
    ListValue& from = setList(out, "from");
    for (const config::AuthzSource& source : rule.from) {
      Struct& item = *from.add_values()->mutable_struct_value();
      setValues(item, "principals", source.principals);
      setValues(item, "notPrincipals", source.notPrincipals);
      setValues(item, "namespaces", source.namespaces);
      setValues(item, "notNamespaces", source.notNamespaces);
    }
  }
  if (!rule.to.empty()) {
    ListValue& to = setList(out, "to");
    for (const config::AuthzOperation& operation : rule.to) {
      Struct& item = *to.add_values()->mutable_struct_value();
      setValues(item, "methods", operation.methods);
      setValues(item, "notMethods", operation.notMethods);
      setValues(item, "paths", operation.paths);
      setValues(item, "notPaths", operation.notPaths);
      setPorts(item, "ports", operation.ports);
      setPorts(item, "notPorts", operation.notPorts);
    }
  }
  if (!rule.when.empty()) {
    ListValue& when = setList(out, "when");
    for (const config::AuthzCondition& condition : rule.when) {
      Struct& item = *when.add_values()->mutable_struct_value();
      setString(item, "key", conditionKey(condition));
      if (condition.key == config::AuthzCondition::Key::DestinationPort) {
        setPorts(item, "ports", condition.ports);
        setPorts(item, "notPorts", condition.notPorts);
      } else {
        setValues(item, "values", condition.values);
        setValues(item, "notValues", condition.notValues);
      }
    }
  }
}

}  // namespace

void encodeAuthorization(std::span<const config::AuthorizationPolicy> policies, Struct& metadata) {
  if (policies.empty()) return;
  ListValue& list = setList(metadata, "authorization");
  for (const config::AuthorizationPolicy& policy : policies) {
    Struct& item = *list.add_values()->mutable_struct_value();
    setString(item, "name", policy.name);
    setString(item, "namespace", policy.ns);
    setString(item, "action", actionName(policy.action));
    if (policy.rules.empty()) continue;
    ListValue& rules = setList(item, "rules");
    for (const config::AuthzRule& rule : policy.rules) {
      encodeRule(rule, *rules.add_values()->mutable_struct_value());
    }
  }
}

bool sameAuthorization(std::span<const config::AuthorizationPolicy> a,
                       std::span<const config::AuthorizationPolicy> b) {
  Struct left;
  Struct right;
  encodeAuthorization(a, left);
  encodeAuthorization(b, right);
  return google::protobuf::util::MessageDifferencer::Equals(left, right);
}

}  // namespace trellis::xds::detail
