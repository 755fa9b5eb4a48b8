// References from routes and listeners to Services (resolved later, in assemble.cc).

#include <fmt/format.h>

#include "config/resources.h"
#include "config/syntax.h"

namespace trellis::config {

std::optional<ServiceRef> parseServiceRef(Scope& scope, const Value& value, RefForm form,
                                          const std::string& defaultNamespace) {
  std::optional<Object> ref;
  switch (form) {
    case RefForm::Tcp:
      ref = scope.object(value, {"name", "namespace", "port"});
      break;
    case RefForm::Mirror:
      ref = scope.object(value, {"group", "kind", "name", "namespace", "port"});
      break;
    case RefForm::Backend:
      ref =
          scope.object(value, {"group", "kind", "name", "namespace", "port", "weight", "filters"});
      break;
  }
  if (!ref) return std::nullopt;

  ServiceRef result;
  result.at = scope.at(value);
  bool valid = true;
  if (Value group = ref->get("group"); group.present) {
    auto text = scope.string(group, 253);
    valid = text && scope.check(group, syntax::checkGroup(*text)) && valid;
    if (text) result.group = *text;
  }
  if (Value kind = ref->get("kind"); kind.present) {
    auto text = scope.string(kind, 63);
    valid = text && scope.check(kind, syntax::checkKind(*text)) && valid;
    if (text) result.kind = *text;
  }
  Value name = scope.require(*ref, "name");
  if (auto text = scope.string(name, 253)) {
    valid = scope.check(name, text->empty() ? "must not be empty" : "") && valid;
    result.name = *text;
  } else {
    valid = false;
  }
  result.ns = defaultNamespace;
  if (Value ns = ref->get("namespace"); ns.present) {
    auto text = scope.string(ns, 63);
    valid = text && scope.check(ns, syntax::checkDnsLabel(*text)) && valid;
    if (text) result.ns = *text;
  }
  Value port = ref->get("port");
  result.portAt = scope.at(port);
  if (port.present) {
    auto number = scope.integer(port, 1, 65535);
    valid = number.has_value() && valid;
    if (number) result.port = static_cast<uint16_t>(*number);
  }
  if (form == RefForm::Backend) {
    Value weight = ref->get("weight");
    if (weight.present) {
      auto number = scope.integer(weight, 0, 1000000);
      valid = number.has_value() && valid;
      if (number) result.weight = static_cast<uint32_t>(*number);
    }
    Value filters = ref->get("filters");
    if (filters.present && !(filters.node.IsSequence() && filters.node.size() == 0)) {
      scope.error(filters, "per-backend filters are not supported; use the rule's filters");
      valid = false;
    }
  }
  if (!valid) return std::nullopt;
  return result;
}

}  // namespace trellis::config
