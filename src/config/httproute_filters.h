#pragma once
// Parsing of HTTPRoute rule filters (internal to the loader).

#include <optional>
#include <string>
#include <string_view>

#include "config/resources.h"

namespace trellis::config {

/// What rule-level validation needs to know about a rule's filters.
struct RuleFilterInfo {
  std::optional<Location> replacePrefixMatchAt;  // a ReplacePrefixMatch path modifier
  std::optional<Location> redirectAt;            // the RequestRedirect filter
};

/// Parses `spec.rules[i].filters` into `rule.actions` and `rule.mirrors`. `routeKind` is
/// "HTTPRoute" or "GRPCRoute" (which admits only the header modifiers and RequestMirror).
RuleFilterInfo parseRuleFilters(Scope& scope, const Value& value, const std::string& routeNamespace,
                                RuleDef& rule, std::string_view routeKind = "HTTPRoute");

}  // namespace trellis::config
