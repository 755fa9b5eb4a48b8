// Resolves references between resources and builds the Snapshot: Services become clusters (with
// their BackendPolicies), HTTPRoutes and GRPCRoutes are flattened into per-match RouteRules (with
// their RoutePolicies) and attached to their Listeners, which get the mutual TLS mode of the
// Service they serve.

#include <fmt/format.h>

#include <algorithm>
#include <map>
#include <set>
#include <tuple>

#include "config/peer_authentication.h"
#include "config/policy_attach.h"
#include "config/resources.h"

namespace trellis::config {
namespace {

std::string clusterName(const ServiceDef& service, uint16_t port) {
  return fmt::format("{}/{}:{}", service.meta.ns, service.meta.name, port);
}

std::string listPorts(const ServiceDef& service) {
  std::string out;
  for (const auto& port : service.ports) {
    if (!out.empty()) out += ", ";
    out += std::to_string(port.port);
  }
  return out;
}

class Resolver {
 public:
  Resolver(const std::vector<ServiceDef>& services, Diagnostics& diagnostics)
      : diagnostics_(diagnostics) {
    for (const ServiceDef& service : services)
      byName_.emplace(service.meta.qualifiedName(), &service);
  }

  /// The cluster `ref` names, or "" when it cannot be resolved (reported as a warning whose
  /// text ends with `consequence`, or as an error for a bad port).
  std::string resolve(const ServiceRef& ref, std::string_view consequence) {
    bool ourGroup = ref.group.empty() || ref.group == "trellis.dev";
    if (!ourGroup || ref.kind != "Service") {
      diagnostics_.warning(
          ref.at, fmt::format("unsupported backend kind {}{}{} (only Service is "
                              "supported); {}",
                              ref.group, ref.group.empty() ? "" : "/", ref.kind, consequence));
      return "";
    }
    auto it = byName_.find(ref.ns + "/" + ref.name);
    if (it == byName_.end()) {
      diagnostics_.warning(
          ref.at, fmt::format("Service {}/{} not found; {}", ref.ns, ref.name, consequence));
      return "";
    }
    const ServiceDef& service = *it->second;
    if (ref.port) {
      for (const auto& port : service.ports) {
        if (port.port == *ref.port) return clusterName(service, port.port);
      }
      diagnostics_.error(ref.portAt, fmt::format("Service {}/{} has no port {} (ports: {})", ref.ns,
                                                 ref.name, *ref.port, listPorts(service)));
      return "";
    }
    if (service.ports.size() == 1) return clusterName(service, service.ports.front().port);
    diagnostics_.error(
        ref.portAt, fmt::format("missing required field (Service {}/{} has {} ports: {})", ref.ns,
                                ref.name, service.ports.size(), listPorts(service)));
    return "";
  }

 private:
  Diagnostics& diagnostics_;
  std::map<std::string, const ServiceDef*> byName_;
};

void buildClusters(const std::vector<ServiceDef>& services, PolicyAttacher& policies,
                   Diagnostics& diagnostics, Snapshot& snapshot) {
  for (const ServiceDef& service : services) {
    // Each port's cluster copies every identity, which YAML aliases can make long and many: the
    // copies count against the load's memory budget (the parsed strings already did once).
    size_t identityBytes = 0;
    for (const auto& endpoint : service.endpoints) identityBytes += endpoint.identity.size();
    for (const auto& port : service.ports) {
      if (port.port == 0) continue;  // invalid, already reported
      if (identityBytes != 0 && !diagnostics.charge(identityBytes, service.meta.at)) return;
      Cluster cluster = service.settings;
      cluster.name = clusterName(service, port.port);
      cluster.protocol = port.protocol;
      for (const auto& endpoint : service.endpoints) {
        cluster.endpoints.push_back(Endpoint{endpoint.address,
                                             endpoint.port.value_or(port.targetPort),
                                             endpoint.weight, endpoint.identity});
      }
      policies.apply(service, cluster);
      snapshot.clusters.emplace(cluster.name, std::move(cluster));
    }
  }
}

// The Service a listener serves, and the mutual TLS mode its PeerAuthentications give it.
void resolveInbound(const ListenerDef& def, const Resources& resources,
                    const std::set<std::string>& services, Diagnostics& diagnostics,
                    Listener& listener) {
  // ListenerDef::service is the input; a listener built in code may also have set the model
  // field directly, which must not silently fall back to plaintext.
  std::string service = def.service.empty() ? listener.service : def.service;
  listener.service = service;
  if (service.empty()) {
    listener.mtls = MtlsMode::Disable;
    return;
  }
  // Resolved by name even when the Service is missing: a STRICT policy is never lost to a
  // Service that is deleted or not applied yet.
  listener.mtls = resolvePeerAuthentication(resources.peerAuthentications, service).mode;
  if (services.count(service) == 0) {
    diagnostics.warning(
        def.serviceAt.resource.empty() ? def.meta.at : def.serviceAt,
        fmt::format("Service {} not found; no AuthorizationPolicy applies to this listener "
                    "until it exists",
                    service));
  }
}

void buildListeners(Resources& resources, const std::set<std::string>& services, Resolver& resolver,
                    Diagnostics& diagnostics, Snapshot& snapshot) {
  std::vector<ListenerDef>& listeners = resources.listeners;
  std::map<std::pair<std::string, uint16_t>, const ListenerDef*> byAddress;
  for (ListenerDef& def : listeners) {
    Listener& listener = def.listener;
    if (listener.port != 0) {
      auto [it, inserted] =
          byAddress.emplace(std::make_pair(listener.address, listener.port), &def);
      if (!inserted) {
        diagnostics.error(def.meta.at,
                          fmt::format("address {}:{} is already used by Listener {} (line {})",
                                      listener.address, listener.port, it->second->listener.name,
                                      it->second->meta.at.mark.line + 1));
      }
    }
    if (def.tcpBackend) {
      listener.tcpCluster =
          resolver.resolve(*def.tcpBackend, "connections to this listener will be closed");
    }
    resolveInbound(def, resources, services, diagnostics, listener);
    snapshot.listeners.push_back(listener);
  }
}

std::vector<RouteRule> flattenRules(const RouteDef& route, uint32_t routeOrder, Resolver& resolver,
                                    Diagnostics& diagnostics) {
  std::vector<RouteRule> flattened;
  for (size_t ruleIndex = 0; ruleIndex < route.rules.size(); ++ruleIndex) {
    const RuleDef& rule = route.rules[ruleIndex];
    RouteRule base = rule.actions;
    for (const ServiceRef& ref : rule.backends) {
      base.backends.push_back(WeightedBackend{
          resolver.resolve(ref, "requests sent to this backend will get 500"), ref.weight});
    }
    for (const ServiceRef& ref : rule.mirrors) {
      std::string cluster = resolver.resolve(ref, "this mirror is dropped");
      if (!cluster.empty()) base.mirrors.push_back(RequestMirror{std::move(cluster)});
    }
    if (rule.backends.empty() && !base.redirect) {
      diagnostics.warning(rule.at,
                          "rule has no backendRefs and no RequestRedirect; matching "
                          "requests will get 500");
    }
    base.routeName = route.meta.qualifiedName();
    base.creationTimestamp = route.meta.creationTimestamp;
    base.routeOrder = routeOrder;
    base.ruleIndex = static_cast<uint32_t>(ruleIndex);
    for (size_t matchIndex = 0; matchIndex < rule.matches.size(); ++matchIndex) {
      RouteRule flat = base;
      flat.match = rule.matches[matchIndex];
      flat.matchIndex = static_cast<uint32_t>(matchIndex);
      flattened.push_back(std::move(flat));
    }
  }
  return flattened;
}

// Where a route attaches: listener index → the hostnames it serves there (its own for a
// Listener parent; the Service's mesh hostnames for a Service parent, as GAMMA specifies).
using Attachments = std::map<size_t, std::vector<std::string>>;

bool isServiceParent(const ParentRef& ref) {
  return ref.kind == "Service" &&
         (ref.group.empty() || ref.group == "core" || ref.group == "trellis.dev");
}

// Attaches a route whose parentRef names a Service to every listener that carries that
// Service's mesh traffic (a sidecar's outbound listener, built by trellisd).
void attachToService(const ParentRef& ref, const std::vector<ListenerDef>& listeners,
                     const std::set<std::string>& services, Diagnostics& diagnostics,
                     Attachments& attached) {
  const std::string key = ref.ns + "/" + ref.name;
  if (services.count(key) == 0) {
    diagnostics.warning(ref.at, fmt::format("parentRef Service {} not found; the route does not "
                                            "apply to it",
                                            key));
    return;
  }
  for (size_t index = 0; index < listeners.size(); ++index) {
    const auto& mesh = listeners[index].meshServices;
    if (std::find(mesh.begin(), mesh.end(), key) == mesh.end()) continue;
    auto& hostnames = attached[index];
    for (std::string& name : meshHostnames(ref.ns, ref.name)) hostnames.push_back(std::move(name));
  }
}

// Where `route` attaches; reports parentRefs that do not attach.
Attachments attachments(const RouteDef& route, const std::vector<ListenerDef>& listeners,
                        const std::set<std::string>& services, Diagnostics& diagnostics) {
  Attachments attached;
  bool meshRoute = false;
  for (const ParentRef& ref : route.parentRefs) {
    if (isServiceParent(ref)) {
      meshRoute = true;
      attachToService(ref, listeners, services, diagnostics, attached);
      continue;
    }
    if (ref.kind == "Service") {
      diagnostics.warning(ref.at, fmt::format("parentRef {}/Service {}/{} ignored: a Service "
                                              "parent needs group \"\" (the core API group)",
                                              ref.group, ref.ns, ref.name));
      continue;
    }
    if (ref.group != "trellis.dev" || ref.kind != "Listener") {
      diagnostics.warning(ref.at,
                          fmt::format("parentRef {}/{} {}/{} ignored: trellis-proxy attaches "
                                      "{}s to trellis.dev Listeners and to Services only",
                                      ref.group, ref.kind, ref.ns, ref.name, route.meta.kind));
      continue;
    }
    size_t index = 0;
    while (index < listeners.size() &&
           (listeners[index].meta.ns != ref.ns || listeners[index].meta.name != ref.name)) {
      ++index;
    }
    if (index == listeners.size()) {
      diagnostics.warning(ref.at, fmt::format("Listener {}/{} not found; the route is not attached "
                                              "to it",
                                              ref.ns, ref.name));
      continue;
    }
    const ListenerDef& listener = listeners[index];
    std::string problem;
    if (!listener.listener.servesHttp()) {
      problem = "it has protocol TCP";
    } else if (ref.port && *ref.port != listener.listener.port) {
      problem = fmt::format("its port is {}, not {}", listener.listener.port, *ref.port);
    } else if (ref.sectionName && *ref.sectionName != listener.meta.name) {
      problem = fmt::format("sectionName {} does not name it", *ref.sectionName);
    }
    if (!problem.empty()) {
      diagnostics.warning(ref.at, fmt::format("route not attached to Listener {}/{}: {}", ref.ns,
                                              ref.name, problem));
      continue;
    }
    auto& hostnames = attached[index];
    hostnames.insert(hostnames.end(), route.hostnames.begin(), route.hostnames.end());
  }
  // A mesh route applies wherever its Service is called: not being on this proxy is normal.
  if (attached.empty() && !meshRoute) {
    diagnostics.warning(route.meta.at,
                        fmt::format("{} is not attached to any Listener", route.meta.kind));
  }
  return attached;
}

// Workloads name Services; a missing one is worth a warning, not a refusal (it may come later).
void checkWorkloads(const std::vector<WorkloadDef>& workloads,
                    const std::set<std::string>& services, Diagnostics& diagnostics) {
  for (const WorkloadDef& workload : workloads) {
    if (services.count(workload.meta.ns + "/" + workload.service) == 0) {
      diagnostics.warning(workload.meta.at,
                          fmt::format("Service {}/{} not found; its proxies get no inbound "
                                      "listener until it exists",
                                      workload.meta.ns, workload.service));
    }
    for (const auto& upstream : workload.upstreams) {
      if (services.count(upstream.ns + "/" + upstream.name) == 0) {
        diagnostics.warning(upstream.at, fmt::format("Service {}/{} not found; its proxies get no "
                                                     "route to it until it exists",
                                                     upstream.ns, upstream.name));
      }
    }
  }
}

// Whether some host matches both hostname lists (empty = any host; "*.x" wildcards).
bool hostnamesIntersect(const std::vector<std::string>& a, const std::vector<std::string>& b) {
  if (a.empty() || b.empty()) return true;
  auto covers = [](std::string_view wildcard, std::string_view name) {
    // "*.example.com" covers "a.example.com", "*.a.example.com" and itself.
    std::string_view suffix = wildcard.substr(1);
    return name.size() > suffix.size() && name.substr(name.size() - suffix.size()) == suffix;
  };
  for (const std::string& x : a) {
    for (const std::string& y : b) {
      if (x == y || (x.starts_with("*.") && covers(x, y)) ||
          (y.starts_with("*.") && covers(y, x))) {
        return true;
      }
    }
  }
  return false;
}

// Gateway API: an HTTPRoute and a GRPCRoute on one Listener must not share a hostname; the
// older route (then the first by namespace/name) is accepted. Returns the route that takes
// `listener` from routes[order], or null. Routes without a timestamp are the oldest, in
// configuration order, as in routing precedence.
const RouteDef* crossKindWinner(const std::vector<RouteDef>& routes,
                                const std::vector<Attachments>& attached, size_t order,
                                size_t listener) {
  auto key = [&routes](size_t index) {
    const ResourceMeta& meta = routes[index].meta;
    return std::make_tuple(meta.creationTimestamp, meta.creationTimestamp == 0 ? index : 0,
                           meta.qualifiedName(), index);
  };
  const RouteDef& route = routes[order];
  for (size_t other = 0; other < routes.size(); ++other) {
    const RouteDef& candidate = routes[other];
    if (candidate.meta.kind == route.meta.kind || attached[other].count(listener) == 0) continue;
    if (key(other) < key(order) &&
        hostnamesIntersect(attached[other].at(listener), attached[order].at(listener))) {
      return &candidate;
    }
  }
  return nullptr;
}

// Memory a copy of `rules` takes, roughly: what the load budget charges per attached listener.
size_t approximateBytes(const std::vector<RouteRule>& rules) {
  size_t bytes = 0;
  auto add = [&bytes](const std::string& text) { bytes += sizeof(std::string) + text.size(); };
  for (const RouteRule& rule : rules) {
    bytes += sizeof(RouteRule) + rule.match.path.value.size() + rule.routeName.size();
    for (const auto* list : {&rule.match.headers, &rule.match.queryParams}) {
      for (const ValueMatch& match : *list) {
        bytes += sizeof(ValueMatch);
        add(match.name);
        add(match.value);
      }
    }
    for (const auto* modifier : {&rule.requestHeaders, &rule.responseHeaders}) {
      if (!*modifier) continue;
      for (const auto* headers : {&(*modifier)->set, &(*modifier)->add}) {
        for (const auto& [name, value] : *headers) {
          add(name);
          add(value);
        }
      }
      for (const auto& name : (*modifier)->remove) add(name);
    }
    for (const WeightedBackend& backend : rule.backends) add(backend.cluster);
    for (const RequestMirror& mirror : rule.mirrors) add(mirror.cluster);
    if (rule.retry) bytes += rule.retry->retriableStatusCodes.size() * sizeof(uint16_t);
    if (rule.fault) {
      for (const ValueMatch& match : rule.fault->headers) {
        bytes += sizeof(ValueMatch);
        add(match.name);
        add(match.value);
      }
    }
    if (rule.rateLimit) add(rule.rateLimit->header);
  }
  return bytes;
}

}  // namespace

std::shared_ptr<Snapshot> assembleSnapshot(Resources& resources, Diagnostics& diagnostics) {
  auto snapshot = std::make_shared<Snapshot>();
  snapshot->source = diagnostics.file();
  PolicyAttacher policies(resources, diagnostics);
  buildClusters(resources.services, policies, diagnostics, *snapshot);
  Resolver resolver(resources.services, diagnostics);
  std::set<std::string> services;
  for (const ServiceDef& service : resources.services)
    services.insert(service.meta.qualifiedName());
  buildListeners(resources, services, resolver, diagnostics, *snapshot);
  checkWorkloads(resources.workloads, services, diagnostics);
  attachAuthorizationPolicies(resources, diagnostics, *snapshot);
  checkPeerAuthentications(resources, diagnostics);
  std::vector<Attachments> attached;
  for (const RouteDef& route : resources.routes) {
    attached.push_back(attachments(route, resources.listeners, services, diagnostics));
  }
  for (size_t order = 0; order < resources.routes.size(); ++order) {
    const RouteDef& route = resources.routes[order];
    std::vector<RouteRule> rules =
        flattenRules(route, static_cast<uint32_t>(order), resolver, diagnostics);
    policies.apply(route, rules);
    // Flattening copied each rule's filters once per match; attaching copies all per listener.
    size_t copyBytes = approximateBytes(rules);
    if (!diagnostics.charge(copyBytes, route.meta.at)) break;
    for (const auto& [index, hostnames] : attached[order]) {
      if (const RouteDef* winner = crossKindWinner(resources.routes, attached, order, index)) {
        diagnostics.warning(
            route.meta.at,
            fmt::format("{} not attached to Listener {}: its hostnames overlap "
                        "those of {} {}, which takes precedence (older, or "
                        "first by namespace/name)",
                        route.meta.kind, resources.listeners[index].meta.qualifiedName(),
                        winner->meta.kind, winner->meta.qualifiedName()));
        continue;
      }
      if (!diagnostics.charge(copyBytes, route.meta.at)) break;
      snapshot->listeners[index].routes.routes.push_back(
          RouteTableConfig::HostRules{hostnames, rules});
    }
  }
  if (diagnostics.hasErrors()) return nullptr;
  return snapshot;
}

}  // namespace trellis::config
