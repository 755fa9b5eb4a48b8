#include "controlplane/mesh/proxy_model.h"

#include <fmt/format.h>
#include <fmt/ranges.h>

#include <algorithm>
#include <set>

#include "common/socket.h"
#include "config/peer_authentication.h"
#include "config/resources.h"
#include "tls/pki/spiffe_id.h"

namespace trellis::controlplane {
namespace {

using config::ListenerDef;
using config::ParentRef;
using config::Resources;
using config::RouteDef;
using config::RuleDef;
using config::ServiceDef;
using config::ServiceRef;

// Namespace of the clusters that reach a sidecar's own application.
constexpr const char* kInboundNamespace = "inbound";

const ServiceDef* findService(const Resources& resources, const std::string& ns,
                              const std::string& name) {
  for (const ServiceDef& service : resources.services) {
    if (service.meta.ns == ns && service.meta.name == name) return &service;
  }
  return nullptr;
}

}  // namespace

std::string admissionProblem(const Resources& resources, const ServiceDef& service,
                             const std::string& identity) {
  const std::string qualified = service.meta.ns + "/" + service.meta.name;
  if (identity.empty()) {
    if (config::resolvePeerAuthentication(resources.peerAuthentications, qualified).mode ==
        config::MtlsMode::Strict) {
      return fmt::format(
          "Service {} is STRICT and this sidecar has no identity: only mutual TLS "
          "may serve it",
          qualified);
    }
    return "";
  }
  const std::string account =
      pki::SpiffeId::parse(identity).value_or(pki::SpiffeId{}).serviceAccount();
  const std::vector<std::string>& allowed = service.serviceAccounts;
  const bool admitted = allowed.empty()
                            ? account == service.meta.name
                            : std::find(allowed.begin(), allowed.end(), account) != allowed.end();
  if (admitted) return "";
  return fmt::format(
      "service account {} may not serve Service {} (spec.serviceAccounts: {})", account, qualified,
      allowed.empty() ? service.meta.name : fmt::format("{}", fmt::join(allowed, ", ")));
}

namespace {

// Registered instances become endpoints of their Service, at the address their proxy listens on,
// if they may serve it (admissionProblem).
void addRegisteredEndpoints(const Registry& registry, Resources& resources) {
  for (ServiceDef& service : resources.services) {
    for (const RegisteredEndpoint& endpoint :
         registry.endpoints(service.meta.ns, service.meta.name)) {
      if (!admissionProblem(resources, service, endpoint.identity).empty()) continue;
      ServiceDef::EndpointDef def;
      def.address = endpoint.address;
      if (!endpoint.ports.empty()) def.port = endpoint.ports.front();
      def.identity = endpoint.identity;  // a proxy with a certificate: callers use mutual TLS
      // One address once: an instance re-registered under a new id during the old one's grace
      // period, or also listed in spec.endpoints, would make every caller NACK the duplicate.
      bool known = std::any_of(service.endpoints.begin(), service.endpoints.end(),
                               [&](const ServiceDef::EndpointDef& e) {
                                 return e.address == def.address && e.port == def.port;
                               });
      if (!known) service.endpoints.push_back(std::move(def));
    }
  }
}

ServiceRef serviceRef(const std::string& ns, const std::string& name,
                      std::optional<uint16_t> port) {
  ServiceRef ref;
  ref.group = "";
  ref.kind = "Service";
  ref.ns = ns;
  ref.name = name;
  ref.port = port;
  return ref;
}

// One catch-all rule to `backend`, attached to `parent`.
RouteDef catchAllRoute(std::string ns, std::string name, ParentRef parent, ServiceRef backend) {
  RouteDef route;
  route.meta.kind = "HTTPRoute";
  route.meta.ns = std::move(ns);
  route.meta.name = std::move(name);
  route.parentRefs.push_back(std::move(parent));
  RuleDef rule;
  rule.matches.emplace_back();  // PathPrefix "/"
  rule.backends.push_back(std::move(backend));
  route.rules.push_back(std::move(rule));
  return route;
}

ListenerDef meshListener(const char* qualifiedName, const SocketAddress& address) {
  ListenerDef def;
  std::string_view name = qualifiedName;
  def.meta.kind = "Listener";
  def.meta.ns = std::string(name.substr(0, name.find('/')));
  def.meta.name = std::string(name.substr(name.find('/') + 1));
  def.listener.name = qualifiedName;
  def.listener.address = address.ip();
  def.listener.port = address.port();
  return def;
}

// The inbound side: a listener on the instance's mesh address, forwarding to its application.
std::string addInbound(const ServiceDef& own, const SidecarFacts& facts, Resources& resources) {
  auto inbound = SocketAddress::parseHostPort(facts.inboundAddress);
  auto app = SocketAddress::parseHostPort(facts.appAddress);
  if (!inbound) return fmt::format("INBOUND_ADDRESS \"{}\" is not ip:port", facts.inboundAddress);
  if (!app) return fmt::format("APP_ADDRESS \"{}\" is not ip:port", facts.appAddress);
  if (own.ports.empty()) return fmt::format("Service {} has no ports", own.meta.qualifiedName());
  // Copies: `own` points into resources.services, which grows below.
  const ServiceDef::Port port = own.ports.front();
  const std::string name = own.meta.name;
  const std::string qualified = own.meta.ns + "/" + own.meta.name;

  ServiceDef local;
  local.meta.kind = "Service";
  local.meta.ns = kInboundNamespace;
  local.meta.name = own.meta.name;
  local.settings = own.settings;
  local.settings.endpoints.clear();
  local.ports.push_back(ServiceDef::Port{port.name, port.port, app->port(), port.protocol});
  local.endpoints.push_back(ServiceDef::EndpointDef{app->ip(), app->port(), 1, {}});
  resources.services.push_back(std::move(local));

  ListenerDef listener = meshListener(kInboundListener, *inbound);
  // Its PeerAuthentication (mTLS mode) and AuthorizationPolicies apply here.
  listener.service = qualified;
  ServiceRef backend = serviceRef(kInboundNamespace, name, port.port);
  if (port.protocol == config::UpstreamProtocol::Tcp) {
    listener.listener.protocol = config::ListenerProtocol::Tcp;
    listener.tcpBackend = backend;
  } else {
    ParentRef parent;
    parent.group = "trellis.dev";
    parent.kind = "Listener";
    parent.ns = listener.meta.ns;
    parent.name = listener.meta.name;
    resources.routes.push_back(
        catchAllRoute(kInboundNamespace, name, std::move(parent), std::move(backend)));
  }
  resources.listeners.push_back(std::move(listener));
  return {};
}

bool hasServiceParent(const RouteDef& route, const std::string& ns, const std::string& name) {
  return std::any_of(route.parentRefs.begin(), route.parentRefs.end(), [&](const ParentRef& ref) {
    return ref.kind == "Service" && (ref.group.empty() || ref.group == "core") && ref.ns == ns &&
           ref.name == name;
  });
}

// The outbound side: routes of the called Services, and a default route for each that has none.
void addOutbound(const std::vector<std::pair<std::string, std::string>>& upstreams,
                 const SocketAddress& address, Resources& resources) {
  ListenerDef listener = meshListener(kOutboundListener, address);
  for (const auto& upstream : upstreams) {
    const std::string& ns = upstream.first;  // not a structured binding: lambdas capture it
    const std::string& name = upstream.second;
    listener.meshServices.push_back(fmt::format("{}/{}", ns, name));
    bool routed = std::any_of(resources.routes.begin(), resources.routes.end(),
                              [&](const RouteDef& r) { return hasServiceParent(r, ns, name); });
    const ServiceDef* service = findService(resources, ns, name);
    if (routed || service == nullptr || service->ports.empty()) continue;
    ParentRef parent;
    parent.group = "";
    parent.kind = "Service";
    parent.ns = ns;
    parent.name = name;
    resources.routes.push_back(catchAllRoute(ns, name, std::move(parent),
                                             serviceRef(ns, name, service->ports.front().port)));
  }
  resources.listeners.push_back(std::move(listener));
}

// Keeps only the clusters the listeners use: a proxy must not carry the whole mesh.
void pruneClusters(config::Snapshot& snapshot) {
  std::set<std::string> used;
  for (const config::Listener& listener : snapshot.listeners) {
    if (!listener.tcpCluster.empty()) used.insert(listener.tcpCluster);
    for (const auto& host : listener.routes.routes) {
      for (const config::RouteRule& rule : host.rules) {
        for (const auto& backend : rule.backends) used.insert(backend.cluster);
        for (const auto& mirror : rule.mirrors) used.insert(mirror.cluster);
      }
    }
  }
  std::erase_if(snapshot.clusters, [&](const auto& entry) { return used.count(entry.first) == 0; });
}

std::shared_ptr<config::Snapshot> assemble(Resources& resources, std::string& error) {
  config::Diagnostics diagnostics{"mesh"};
  auto snapshot = config::assembleSnapshot(resources, diagnostics);
  for (const config::LoadError& problem : diagnostics.takeErrors()) {
    if (!error.empty()) error += "; ";
    error += problem.toString();
  }
  if (snapshot) pruneClusters(*snapshot);
  return snapshot;
}

}  // namespace

// The mesh minus what only static proxies and gateways use: user Listeners (a gateway's port must
// not be bound by every sidecar) and the routes attached to them.
Resources meshResources(const MeshState& mesh) {
  Resources resources;
  resources.services = mesh.resources.services;
  resources.workloads = mesh.resources.workloads;
  // Policies whose target is not in this proxy's part of the mesh only produce warnings, which
  // are not reported per proxy.
  resources.backendPolicies = mesh.resources.backendPolicies;
  resources.routePolicies = mesh.resources.routePolicies;
  resources.authorizationPolicies = mesh.resources.authorizationPolicies;
  resources.peerAuthentications = mesh.resources.peerAuthentications;
  for (const RouteDef& route : mesh.resources.routes) {
    bool meshRoute = std::any_of(route.parentRefs.begin(), route.parentRefs.end(),
                                 [](const ParentRef& ref) { return ref.kind == "Service"; });
    if (meshRoute) resources.routes.push_back(route);
  }
  return resources;
}

ProxyModel buildSidecarModel(const MeshState& mesh, const Registry& registry,
                             const SidecarFacts& facts) {
  ProxyModel model;
  Resources resources = meshResources(mesh);
  addRegisteredEndpoints(registry, resources);

  if (const ServiceDef* own = findService(resources, facts.ns, facts.service)) {
    if (!facts.inboundAddress.empty() && !facts.appAddress.empty()) {
      std::string problem = addInbound(*own, facts, resources);
      if (!problem.empty()) model.notes.push_back("no inbound listener: " + problem);
    } else {
      model.notes.push_back("no inbound listener: the proxy announced no --inbound/--app");
    }
  } else {
    model.notes.push_back(
        fmt::format("no inbound listener: Service {}/{} not found", facts.ns, facts.service));
  }

  std::vector<std::pair<std::string, std::string>> upstreams;
  auto workload = std::find_if(mesh.resources.workloads.begin(), mesh.resources.workloads.end(),
                               [&](const config::WorkloadDef& w) {
                                 return w.meta.ns == facts.ns && w.service == facts.service;
                               });
  if (workload == mesh.resources.workloads.end()) {
    model.notes.push_back(
        fmt::format("no outbound routes: no Workload for Service {}/{}", facts.ns, facts.service));
  } else {
    for (const auto& upstream : workload->upstreams)
      upstreams.emplace_back(upstream.ns, upstream.name);
  }
  if (!facts.outboundAddress.empty()) {
    if (auto outbound = SocketAddress::parseHostPort(facts.outboundAddress)) {
      addOutbound(upstreams, *outbound, resources);
    } else {
      model.notes.push_back(fmt::format(
          "no outbound listener: OUTBOUND_ADDRESS \"{}\" is not ip:port", facts.outboundAddress));
    }
  }
  model.snapshot = assemble(resources, model.error);
  return model;
}

namespace {

// "billing.shop.svc.cluster.local:50051" → {"shop", "billing"}; "billing" → {"default", ...}.
std::optional<std::pair<std::string, std::string>> targetService(std::string_view name) {
  if (auto colon = name.rfind(':'); colon != std::string_view::npos) name = name.substr(0, colon);
  if (name.empty()) return std::nullopt;
  std::vector<std::string_view> labels;
  size_t start = 0;
  while (start <= name.size()) {
    size_t dot = name.find('.', start);
    if (dot == std::string_view::npos) dot = name.size();
    labels.push_back(name.substr(start, dot - start));
    start = dot + 1;
  }
  if (labels.size() > 2) {
    // Only the Kubernetes-style suffixes are meaningful after the namespace.
    std::string rest;
    for (size_t i = 2; i < labels.size(); ++i) rest += (i > 2 ? "." : "") + std::string(labels[i]);
    if (rest != "svc" && rest != "svc.cluster.local") return std::nullopt;
  }
  std::string service(labels[0]);
  std::string ns = labels.size() > 1 ? std::string(labels[1]) : "default";
  return std::make_pair(ns, service);
}

// A target's ":port", when given, must be one of the Service's ports.
bool portMatches(const ServiceDef& service, std::string_view name) {
  size_t colon = name.rfind(':');
  if (colon == std::string_view::npos) return true;
  std::string_view digits = name.substr(colon + 1);
  return std::any_of(service.ports.begin(), service.ports.end(),
                     [&](const ServiceDef::Port& p) { return std::to_string(p.port) == digits; });
}

}  // namespace

ProxylessModel buildProxylessModel(const MeshState& mesh, const Registry& registry,
                                   const std::vector<std::string>& names) {
  ProxylessModel model;
  Resources resources = meshResources(mesh);
  addRegisteredEndpoints(registry, resources);
  std::vector<std::pair<std::string, std::string>> upstreams;
  std::vector<std::pair<std::string, std::string>> resolved;  // (name, "ns/service")
  for (const std::string& name : names) {
    auto target = targetService(name);
    const ServiceDef* service =
        target ? findService(resources, target->first, target->second) : nullptr;
    if (service == nullptr || !portMatches(*service, name)) continue;
    if (std::find(upstreams.begin(), upstreams.end(), *target) == upstreams.end()) {
      upstreams.push_back(*target);
    }
    resolved.emplace_back(name, target->first + "/" + target->second);
  }
  // An unbound listener: only its routes matter (port 0 is never bound).
  addOutbound(upstreams, SocketAddress::parseHostPort("127.0.0.1:0").value(), resources);
  model.clusterSnapshot = assemble(resources, model.error);
  if (!model.clusterSnapshot) return model;
  config::Listener outbound = std::move(model.clusterSnapshot->listeners.back());
  model.clusterSnapshot->listeners.clear();
  for (const auto& [name, service] : resolved) {
    // "name.ns" is among the mesh hostnames of exactly this Service's routes.
    const size_t slash = service.find('/');
    const std::string hostname = service.substr(slash + 1) + "." + service.substr(0, slash);
    ApiTarget target{name, {}};
    for (const auto& host : outbound.routes.routes) {
      if (std::find(host.hostnames.begin(), host.hostnames.end(), hostname) ==
          host.hostnames.end()) {
        continue;
      }
      target.routes.routes.push_back({{name}, host.rules});
    }
    model.targets.push_back(std::move(target));
  }
  return model;
}

}  // namespace trellis::controlplane
