#include "controlplane/trellisd/config_cache.h"

#include <algorithm>
#include <functional>

#include "common/socket.h"
#include "controlplane/mesh/proxy_model.h"
#include "xds/codec/codec.h"

namespace trellis::controlplane {
namespace {

using envoy::config::cluster::v3::Cluster;
using envoy::config::endpoint::v3::ClusterLoadAssignment;
using envoy::config::listener::v3::Listener;
using envoy::config::route::v3::RouteConfiguration;

// Placeholders a template is built with; each node's copy replaces them.
constexpr const char* kInboundPlaceholder = "127.0.0.1:1";
constexpr const char* kAppPlaceholder = "127.0.0.1:2";
constexpr const char* kOutboundPlaceholder = "127.0.0.1:3";

template <typename Message>
TypeResources pack(const std::vector<Message>& messages,
                   const std::function<std::string(const Message&)>& nameOf) {
  TypeResources type;
  for (const Message& message : messages) {
    google::protobuf::Any any;
    any.PackFrom(message);
    type.resources.emplace_back(nameOf(message), std::move(any));
  }
  std::sort(type.resources.begin(), type.resources.end(),
            [](const auto& a, const auto& b) { return a.first < b.first; });
  type.version = versionOf(type.resources);
  return type;
}

TypeResources packClusters(const xds::Resources& r) {
  return pack<Cluster>(r.clusters, [](const Cluster& c) { return c.name(); });
}
TypeResources packEndpoints(const xds::Resources& r) {
  return pack<ClusterLoadAssignment>(
      r.endpoints, [](const ClusterLoadAssignment& c) { return c.cluster_name(); });
}
TypeResources packListeners(const xds::Resources& r) {
  return pack<Listener>(r.listeners, [](const Listener& l) { return l.name(); });
}
TypeResources packRoutes(const xds::Resources& r) {
  return pack<RouteConfiguration>(r.routes, [](const RouteConfiguration& c) { return c.name(); });
}

void setAddress(envoy::config::core::v3::Address& address, const SocketAddress& value) {
  auto* socket = address.mutable_socket_address();
  socket->set_address(value.ip());
  socket->set_port_value(value.port());
}

SidecarFacts factsOf(const NodeInfo& node) {
  return {node.ns, node.service, node.inboundAddress, node.appAddress, node.outboundAddress};
}

// Addresses a node announced, all valid (or absent); nullopt sends it down the direct path,
// which reports the bad one in its notes.
struct NodeAddresses {
  std::optional<SocketAddress> inbound, app, outbound;
};
std::optional<NodeAddresses> addressesOf(const NodeInfo& node) {
  NodeAddresses out;
  auto parse = [](const std::string& text, std::optional<SocketAddress>& into) {
    if (text.empty()) return true;
    into = SocketAddress::parseHostPort(text);
    return into.has_value();
  };
  if (!parse(node.inboundAddress, out.inbound) || !parse(node.appAddress, out.app) ||
      !parse(node.outboundAddress, out.outbound)) {
    return std::nullopt;
  }
  return out;
}

// Puts a node's own addresses into a template's listeners and its application's endpoint.
void patch(xds::Resources& resources, const NodeAddresses& addresses) {
  for (Listener& listener : resources.listeners) {
    if (listener.name() == kInboundListener && addresses.inbound) {
      setAddress(*listener.mutable_address(), *addresses.inbound);
    } else if (listener.name() == kOutboundListener && addresses.outbound) {
      setAddress(*listener.mutable_address(), *addresses.outbound);
    }
  }
  for (ClusterLoadAssignment& assignment : resources.endpoints) {
    if (!assignment.cluster_name().starts_with("inbound/") || !addresses.app) continue;
    for (auto& locality : *assignment.mutable_endpoints()) {
      for (auto& endpoint : *locality.mutable_lb_endpoints()) {
        setAddress(*endpoint.mutable_endpoint()->mutable_address(), *addresses.app);
      }
    }
  }
}

}  // namespace

void ConfigCache::setTrustBundle(const std::string& pem) {
  trustBundle_ = {};
  if (pem.empty()) return;
  google::protobuf::Any any;
  any.PackFrom(xds::encodeTrustBundle(pem));
  trustBundle_.resources.emplace_back(std::string(xds::kTrustBundleSecret), std::move(any));
  trustBundle_.version = versionOf(trustBundle_.resources);
}

std::shared_ptr<NodeConfig> toNodeConfig(const xds::Resources& resources) {
  auto config = std::make_shared<NodeConfig>();
  config->types[std::string(xds::kClusterType)] = packClusters(resources);
  config->types[std::string(xds::kEndpointType)] = packEndpoints(resources);
  config->types[std::string(xds::kListenerType)] = packListeners(resources);
  config->types[std::string(xds::kRouteType)] = packRoutes(resources);
  return config;
}

struct ConfigCache::Template {
  xds::Resources resources;  // with placeholder addresses
  std::vector<std::string> notes;
  std::string error;
  TypeResources clusters;  // packed once, shared by every node of the Workload
  TypeResources routes;
};

std::shared_ptr<const ConfigCache::Template> ConfigCache::sidecarTemplate(const MeshState& mesh,
                                                                          const Registry& registry,
                                                                          const NodeInfo& node) {
  const bool inbound = !node.inboundAddress.empty() && !node.appAddress.empty();
  const bool outbound = !node.outboundAddress.empty();
  std::string key =
      node.ns + "/" + node.service + (inbound ? "|in" : "") + (outbound ? "|out" : "");
  if (auto it = templates_.find(key); it != templates_.end()) return it->second;

  SidecarFacts facts{node.ns, node.service, inbound ? kInboundPlaceholder : "",
                     inbound ? kAppPlaceholder : "", outbound ? kOutboundPlaceholder : ""};
  ProxyModel model = buildSidecarModel(mesh, registry, facts);
  auto built = std::make_shared<Template>();
  built->notes = std::move(model.notes);
  built->error = std::move(model.error);
  if (model.snapshot) {
    built->resources = xds::encode(*model.snapshot);
    built->clusters = packClusters(built->resources);
    built->routes = packRoutes(built->resources);
  }
  templates_.emplace(std::move(key), built);
  return built;
}

xds::Resources ConfigCache::resourcesFor(const MeshState& mesh, const Registry& registry,
                                         const NodeInfo& node,
                                         const std::vector<std::string>& listenerNames,
                                         std::string& error) {
  std::vector<std::string> notes;
  return resourcesFor(mesh, registry, node, listenerNames, error, notes);
}

xds::Resources ConfigCache::resourcesFor(const MeshState& mesh, const Registry& registry,
                                         const NodeInfo& node,
                                         const std::vector<std::string>& listenerNames,
                                         std::string& error, std::vector<std::string>& notes) {
  xds::Resources resources;
  if (!node.isTrellisProxy()) {
    ProxylessModel model = buildProxylessModel(mesh, registry, listenerNames);
    if (!model.clusterSnapshot) {
      error = model.error;
      return resources;
    }
    resources = xds::encode(*model.clusterSnapshot);
    for (const ApiTarget& target : model.targets) {
      resources.listeners.push_back(xds::encodeApiListener(target.name, target.name));
      resources.routes.push_back(xds::encodeRouteConfiguration(target.name, target.routes));
    }
    return resources;
  }
  auto addresses = addressesOf(node);
  if (!addresses) {
    ProxyModel model = buildSidecarModel(mesh, registry, factsOf(node));
    if (model.snapshot) resources = xds::encode(*model.snapshot);
    error = model.error;
    notes = std::move(model.notes);
    return resources;
  }
  auto shared = sidecarTemplate(mesh, registry, node);
  error = shared->error;
  notes = shared->notes;
  resources = shared->resources;
  patch(resources, *addresses);
  return resources;
}

ConfigCache::Built ConfigCache::build(const MeshState& mesh, const Registry& registry,
                                      const NodeInfo& node,
                                      const std::vector<std::string>& listenerNames) {
  Built built;
  if (!node.isTrellisProxy() || !addressesOf(node)) {
    xds::Resources resources =
        resourcesFor(mesh, registry, node, listenerNames, built.error, built.notes);
    if (built.error.empty()) {
      auto config = toNodeConfig(resources);
      if (node.isTrellisProxy() && !trustBundle_.resources.empty()) {
        config->types[std::string(xds::kSecretType)] = trustBundle_;
      }
      built.config = std::move(config);
    }
    return built;
  }
  auto shared = sidecarTemplate(mesh, registry, node);
  built.notes = shared->notes;
  built.error = shared->error;
  if (!built.error.empty()) return built;
  // Only listeners and endpoints carry this node's addresses; the rest is the template's.
  xds::Resources own;
  own.listeners = shared->resources.listeners;
  own.endpoints = shared->resources.endpoints;
  patch(own, *addressesOf(node));
  auto config = std::make_shared<NodeConfig>();
  config->types[std::string(xds::kClusterType)] = shared->clusters;
  config->types[std::string(xds::kRouteType)] = shared->routes;
  config->types[std::string(xds::kListenerType)] = packListeners(own);
  config->types[std::string(xds::kEndpointType)] = packEndpoints(own);
  // Every sidecar gets the trust bundle; its certificate ("default") it makes itself.
  if (!trustBundle_.resources.empty()) {
    config->types[std::string(xds::kSecretType)] = trustBundle_;
  }
  built.config = std::move(config);
  return built;
}

}  // namespace trellis::controlplane
