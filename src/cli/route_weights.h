#pragma once
// The YAML editing behind `trellisctl canary`: in every rule of a route that sends traffic to a
// Service, set the weights of that Service and its canary (GAMMA: routes whose parentRefs name
// the Service carry the mesh traffic to it).

#include <cstdint>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

namespace trellis::cli {

enum class CanaryAction { SetWeight, Promote, Abort };

struct CanaryPlan {
  std::string service;  // the stable Service, e.g. "billing"
  std::string target;   // the canary Service, e.g. "billing-v2" (same namespace)
  std::string ns;       // namespace of both Services
  CanaryAction action = CanaryAction::SetWeight;
  int weight = 0;  // SetWeight: the canary's percentage, 0-100 (the Service keeps 100 - weight)
  std::vector<int> targetPorts;     // the canary Service's ports (empty: unknown)
  std::optional<int> explicitPort;  // --port: the canary's backendRef port
};

struct BackendShare {
  std::string name;
  uint64_t weight = 1;
};

struct RuleSplit {
  size_t rule = 0;  // index in spec.rules
  std::vector<BackendShare> backends;
};

struct RouteEdit {
  std::string document;  // the route after the edit (YAML, block style)
  bool changed = false;
  std::vector<RuleSplit> splits;  // every rule that sends traffic to the Service, after the edit
};

/// Whether the route's parentRefs name Service `service` in namespace `ns` the way trellisd
/// attaches mesh routes: kind Service, group "" (or "core"), namespace defaulting to the route's
/// (`routeNamespace`).
bool routeAttachesToService(std::string_view routeDocument, std::string_view routeNamespace,
                            const std::string& service, const std::string& ns);

/// Applies `plan` to the rules of a route (namespace `routeNamespace`) whose backendRefs include
/// the Service. A route without such a rule is a CliError naming it.
RouteEdit editRouteWeights(std::string_view routeDocument, std::string_view routeNamespace,
                           const CanaryPlan& plan);

/// The HTTPRoute made when no route attaches to the Service yet: named after it, parentRef the
/// Service, one rule splitting between the Service (on `servicePort`, when known) and the canary.
RouteEdit newCanaryRoute(const CanaryPlan& plan, std::optional<int> servicePort);

/// The canary's backendRef port: --port if given; else the Service's backendRef port when the
/// canary has it; else the canary's only port; nullopt when nothing is known (the canary's only
/// port is then implied). A canary with several ports and none matching is a CliError.
std::optional<int> chooseTargetPort(const CanaryPlan& plan, std::optional<int> servicePort);

/// "billing 90%, billing-v2 10%".
std::string describeSplit(const RuleSplit& split);

}  // namespace trellis::cli
