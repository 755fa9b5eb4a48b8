#include "cli/route_weights.h"

#include <yaml-cpp/yaml.h>

#include <algorithm>

#include "cli/cli_error.h"
#include "cli/output.h"

namespace trellis::cli {
namespace {

// Missing keys read through a const node are "zombie" nodes whose type queries throw.
std::string scalar(const YAML::Node& node, const char* key) {
  if (!node.IsDefined() || !node.IsMap()) return {};
  YAML::Node value = node[key];
  return value.IsDefined() && value.IsScalar() ? value.Scalar() : std::string();
}

YAML::Node parseRoute(std::string_view document) {
  YAML::Node root;
  try {
    root = YAML::Load(std::string(document));
  } catch (const YAML::Exception& e) {
    throw CliError("stored route is not valid YAML: " + e.msg);
  }
  if (!root.IsMap()) throw CliError("stored route is not a YAML mapping");
  return root;
}

std::string emit(const YAML::Node& node) {
  return emitYamlDocument(node);
}

/// A backendRef to Service `name` in `ns` (kind defaults to Service, namespace to the route's).
bool refersTo(const YAML::Node& ref, std::string_view routeNamespace, const std::string& name,
              const std::string& ns) {
  if (!ref.IsMap() || scalar(ref, "name") != name) return false;
  std::string kind = scalar(ref, "kind");
  if (!kind.empty() && kind != "Service") return false;
  std::string refNamespace = scalar(ref, "namespace");
  return (refNamespace.empty() ? std::string(routeNamespace) : refNamespace) == ns;
}

/// A parentRef to Service `name` in `ns`, as trellisd attaches routes (GAMMA): kind Service and
/// group "" or "core" written out (an absent group means gateway.networking.k8s.io).
bool parentIs(const YAML::Node& ref, std::string_view routeNamespace, const std::string& name,
              const std::string& ns) {
  if (!ref.IsMap() || scalar(ref, "name") != name || scalar(ref, "kind") != "Service") return false;
  YAML::Node group = ref["group"];
  if (!group.IsDefined() || !(group.IsNull() || group.IsScalar())) return false;
  if (group.IsScalar() && !group.Scalar().empty() && group.Scalar() != "core") return false;
  std::string refNamespace = scalar(ref, "namespace");
  return (refNamespace.empty() ? std::string(routeNamespace) : refNamespace) == ns;
}

std::optional<int> portOf(const YAML::Node& ref) {
  std::string port = scalar(ref, "port");
  if (port.empty()) return std::nullopt;
  try {
    return std::stoi(port);
  } catch (const std::exception&) {
    return std::nullopt;
  }
}

uint64_t weightOf(const YAML::Node& ref) {
  std::string weight = scalar(ref, "weight");
  if (weight.empty()) return 1;  // the Gateway API default
  try {
    return std::stoull(weight);
  } catch (const std::exception&) {
    return 0;
  }
}

RuleSplit splitOf(size_t index, const YAML::Node& refs) {
  RuleSplit split{index, {}};
  for (const YAML::Node& ref : refs) split.backends.push_back({scalar(ref, "name"), weightOf(ref)});
  return split;
}

/// The canary's backendRef, modelled on the Service's (same namespace field, chosen port).
YAML::Node targetRef(const CanaryPlan& plan, const YAML::Node& serviceRef, int weight) {
  YAML::Node ref(YAML::NodeType::Map);
  ref["name"] = plan.target;
  if (std::string ns = scalar(serviceRef, "namespace"); !ns.empty()) ref["namespace"] = ns;
  if (std::optional<int> port = chooseTargetPort(plan, portOf(serviceRef))) ref["port"] = *port;
  ref["weight"] = weight;
  return ref;
}

}  // namespace

bool routeAttachesToService(std::string_view routeDocument, std::string_view routeNamespace,
                            const std::string& service, const std::string& ns) {
  YAML::Node root;
  try {
    root = YAML::Load(std::string(routeDocument));
  } catch (const YAML::Exception&) {
    return false;
  }
  if (!root.IsMap() || !root["spec"].IsDefined() || !root["spec"].IsMap()) return false;
  YAML::Node parents = root["spec"]["parentRefs"];
  if (!parents.IsDefined() || !parents.IsSequence()) return false;
  for (const YAML::Node& parent : parents) {
    if (parentIs(parent, routeNamespace, service, ns)) return true;
  }
  return false;
}

std::optional<int> chooseTargetPort(const CanaryPlan& plan, std::optional<int> servicePort) {
  if (plan.explicitPort) return plan.explicitPort;
  const std::vector<int>& ports = plan.targetPorts;
  if (servicePort && (ports.empty() || std::count(ports.begin(), ports.end(), *servicePort) > 0)) {
    return servicePort;
  }
  if (ports.size() == 1) return ports.front();
  if (ports.empty()) return std::nullopt;
  std::string list;
  for (int port : ports) list += (list.empty() ? "" : ", ") + std::to_string(port);
  throw CliError("Service " + plan.ns + "/" + plan.target + " has ports " + list +
                     (servicePort ? " but not " + std::to_string(*servicePort) : "") +
                     ": choose one with --port",
                 2);
}

RouteEdit editRouteWeights(std::string_view routeDocument, std::string_view routeNamespace,
                           const CanaryPlan& plan) {
  YAML::Node root = parseRoute(routeDocument);
  std::string before = emit(root);
  RouteEdit result;
  YAML::Node spec = root["spec"];
  YAML::Node rules = spec.IsMap() ? spec["rules"] : YAML::Node();
  if (rules.IsDefined() && rules.IsSequence()) {
    for (size_t index = 0; index < rules.size(); ++index) {
      YAML::Node rule = rules[index];
      YAML::Node refs = rule.IsMap() ? rule["backendRefs"] : YAML::Node();
      if (!refs.IsDefined() || !refs.IsSequence()) continue;
      auto isService = [&](const YAML::Node& ref) {
        return refersTo(ref, routeNamespace, plan.service, plan.ns);
      };
      auto isTarget = [&](const YAML::Node& ref) {
        return refersTo(ref, routeNamespace, plan.target, plan.ns);
      };
      auto serviceIt = std::find_if(refs.begin(), refs.end(), isService);
      if (serviceIt == refs.end()) continue;
      YAML::Node serviceRef = *serviceIt;
      bool hasTarget = std::find_if(refs.begin(), refs.end(), isTarget) != refs.end();

      YAML::Node edited(YAML::NodeType::Sequence);
      for (YAML::Node ref : refs) {
        if (isService(ref)) {
          if (plan.action == CanaryAction::Promote) {
            if (!hasTarget) edited.push_back(targetRef(plan, serviceRef, 100));
            continue;  // promoted: the canary takes all of the Service's traffic
          }
          ref["weight"] = plan.action == CanaryAction::Abort ? 100 : 100 - plan.weight;
          edited.push_back(ref);
          if (plan.action == CanaryAction::SetWeight && !hasTarget) {
            edited.push_back(targetRef(plan, serviceRef, plan.weight));
          }
        } else if (isTarget(ref)) {
          if (plan.action == CanaryAction::Abort) continue;
          ref["weight"] = plan.action == CanaryAction::Promote ? 100 : plan.weight;
          edited.push_back(ref);
        } else {
          edited.push_back(ref);  // another backend of the rule keeps its weight
        }
      }
      rule["backendRefs"] = edited;
      result.splits.push_back(splitOf(index, edited));
    }
  }
  if (result.splits.empty()) {
    throw CliError("no rule of the route sends traffic to Service " + plan.ns + "/" + plan.service +
                   " (its backendRefs name other Services)");
  }
  result.document = emit(root);
  result.changed = result.document != before;
  return result;
}

RouteEdit newCanaryRoute(const CanaryPlan& plan, std::optional<int> servicePort) {
  YAML::Node root(YAML::NodeType::Map);
  root["apiVersion"] = "gateway.networking.k8s.io/v1";
  root["kind"] = "HTTPRoute";
  root["metadata"]["name"] = plan.service;
  root["metadata"]["namespace"] = plan.ns;
  YAML::Node parent(YAML::NodeType::Map);
  parent["group"] = "";  // the core group, as GAMMA names a Service
  parent["kind"] = "Service";
  parent["name"] = plan.service;
  root["spec"]["parentRefs"].push_back(parent);

  YAML::Node serviceRef(YAML::NodeType::Map);
  serviceRef["name"] = plan.service;
  if (servicePort) serviceRef["port"] = *servicePort;
  YAML::Node refs(YAML::NodeType::Sequence);
  if (plan.action != CanaryAction::Promote) {
    serviceRef["weight"] = plan.action == CanaryAction::Abort ? 100 : 100 - plan.weight;
    refs.push_back(serviceRef);
  }
  if (plan.action != CanaryAction::Abort) {
    refs.push_back(
        targetRef(plan, serviceRef, plan.action == CanaryAction::Promote ? 100 : plan.weight));
  }
  YAML::Node rule(YAML::NodeType::Map);
  rule["backendRefs"] = refs;
  root["spec"]["rules"].push_back(rule);
  RouteEdit result;
  result.document = emit(root);
  result.changed = true;
  result.splits.push_back(splitOf(0, refs));
  return result;
}

std::string describeSplit(const RuleSplit& split) {
  uint64_t total = 0;
  for (const BackendShare& backend : split.backends) total += backend.weight;
  std::string out;
  for (const BackendShare& backend : split.backends) {
    if (!out.empty()) out += ", ";
    out += backend.name + " " + percentText(backend.weight, total);
  }
  return out.empty() ? "(no backends)" : out;
}

}  // namespace trellis::cli
