#include "cli/resource_summary.h"

#include <yaml-cpp/yaml.h>

namespace trellis::cli {
namespace {

// Missing keys read through a const node are "zombie" nodes whose type queries throw, hence the
// IsDefined() checks first.
std::string scalar(const YAML::Node& node, const char* key) {
  if (!node.IsDefined() || !node.IsMap()) return {};
  YAML::Node value = node[key];
  return value && value.IsScalar() ? value.Scalar() : std::string();
}

YAML::Node sequence(const YAML::Node& node, const char* key) {
  if (!node.IsDefined() || !node.IsMap()) return YAML::Node(YAML::NodeType::Sequence);
  YAML::Node value = node[key];
  return value && value.IsSequence() ? value : YAML::Node(YAML::NodeType::Sequence);
}

void appendListItem(std::string& list, const std::string& item, const char* separator = ",") {
  if (item.empty()) return;
  if (!list.empty()) list += separator;
  list += item;
}

std::vector<std::string> routeCells(const YAML::Node& spec) {
  std::string parents;
  for (const YAML::Node& parent : sequence(spec, "parentRefs")) {
    std::string kind = scalar(parent, "kind");
    appendListItem(parents, (kind.empty() ? "Gateway" : kind) + "/" + scalar(parent, "name"));
  }
  std::string hostnames;
  for (const YAML::Node& hostname : sequence(spec, "hostnames")) {
    if (hostname.IsScalar()) appendListItem(hostnames, hostname.Scalar());
  }
  std::string backends;
  for (const YAML::Node& rule : sequence(spec, "rules")) {
    std::string ruleBackends;
    for (const YAML::Node& backend : sequence(rule, "backendRefs")) {
      std::string item = scalar(backend, "name");
      if (std::string port = scalar(backend, "port"); !port.empty()) item += ":" + port;
      if (std::string weight = scalar(backend, "weight"); !weight.empty()) item += "=" + weight;
      appendListItem(ruleBackends, item);
    }
    appendListItem(backends, ruleBackends.empty() ? "(none)" : ruleBackends, ";");
  }
  return {parents, hostnames.empty() ? "*" : hostnames, backends};
}

std::vector<std::string> serviceCells(const YAML::Node& spec) {
  std::string ports;
  for (const YAML::Node& port : sequence(spec, "ports")) {
    std::string item = scalar(port, "port");
    if (std::string protocol = scalar(port, "appProtocol"); !protocol.empty()) {
      item += "/" + protocol;
    }
    appendListItem(ports, item);
  }
  std::string policy = scalar(spec["loadBalancer"], "policy");
  return {ports, std::to_string(sequence(spec, "endpoints").size()),
          policy.empty() ? "RoundRobin" : policy};
}

std::vector<std::string> listenerCells(const YAML::Node& spec) {
  std::string address = scalar(spec, "address");
  std::string protocol = scalar(spec, "protocol");
  return {(address.empty() ? "0.0.0.0" : address) + ":" + scalar(spec, "port"),
          protocol.empty() ? "HTTP" : protocol};
}

std::vector<std::string> workloadCells(const YAML::Node& spec, const std::string& name) {
  std::string service = scalar(spec, "service");
  std::string upstreams;
  for (const YAML::Node& upstream : sequence(spec, "upstreams")) {
    std::string ns = scalar(upstream, "namespace");
    appendListItem(upstreams, (ns.empty() ? "" : ns + "/") + scalar(upstream, "name"));
  }
  return {service.empty() ? name : service, upstreams};
}

/// BackendPolicy and RoutePolicy: what they attach to, and which policies they set.
std::vector<std::string> policyCells(const YAML::Node& spec) {
  std::string targets;
  for (const YAML::Node& target : sequence(spec, "targetRefs")) {
    std::string item = scalar(target, "kind") + "/" + scalar(target, "name");
    if (std::string section = scalar(target, "sectionName"); !section.empty()) {
      item += "#" + section;
    }
    appendListItem(targets, item);
  }
  std::string policies;
  if (spec.IsDefined() && spec.IsMap()) {
    for (const auto& entry : spec) {
      const std::string key = entry.first.as<std::string>();
      if (key != "targetRefs") appendListItem(policies, key);
    }
  }
  return {targets, policies};
}

/// AuthorizationPolicy: its Services (every Service of the namespace without targetRefs), its
/// action and how many rules it has.
std::vector<std::string> authorizationCells(const YAML::Node& spec) {
  std::vector<std::string> cells = policyCells(spec);
  std::string action = scalar(spec, "action");
  return {cells[0].empty() ? "(namespace)" : cells[0], action.empty() ? "ALLOW" : action,
          std::to_string(sequence(spec, "rules").size())};
}

/// PeerAuthentication: its Services (as AuthorizationPolicy) and its mutual TLS mode.
std::vector<std::string> peerAuthenticationCells(const YAML::Node& spec) {
  std::vector<std::string> cells = policyCells(spec);
  return {cells[0].empty() ? "(namespace)" : cells[0], scalar(spec["mtls"], "mode")};
}

}  // namespace

std::vector<std::string> summaryHeaders(std::string_view kind) {
  if (kind == "HTTPRoute" || kind == "GRPCRoute") return {"PARENTS", "HOSTNAMES", "BACKENDS"};
  if (kind == "Service") return {"PORTS", "ENDPOINTS", "LB"};
  if (kind == "Listener") return {"ADDRESS", "PROTOCOL"};
  if (kind == "Workload") return {"SERVICE", "UPSTREAMS"};
  if (kind == "BackendPolicy" || kind == "RoutePolicy") return {"TARGETS", "POLICIES"};
  if (kind == "AuthorizationPolicy") return {"TARGETS", "ACTION", "RULES"};
  if (kind == "PeerAuthentication") return {"TARGETS", "MODE"};
  return {};
}

std::vector<std::string> summaryCells(std::string_view kind, std::string_view document) {
  std::vector<std::string> empty(summaryHeaders(kind).size());
  YAML::Node root;
  try {
    root = YAML::Load(std::string(document));
  } catch (const YAML::Exception&) {
    return empty;
  }
  if (!root.IsMap()) return empty;
  YAML::Node spec = root["spec"];
  try {
    if (kind == "HTTPRoute" || kind == "GRPCRoute") return routeCells(spec);
    if (kind == "Service") return serviceCells(spec);
    if (kind == "Listener") return listenerCells(spec);
    if (kind == "Workload") return workloadCells(spec, scalar(root["metadata"], "name"));
    if (kind == "BackendPolicy" || kind == "RoutePolicy") return policyCells(spec);
    if (kind == "AuthorizationPolicy") return authorizationCells(spec);
    if (kind == "PeerAuthentication") return peerAuthenticationCells(spec);
  } catch (const YAML::Exception&) {
    return empty;
  }
  return empty;
}

}  // namespace trellis::cli
