#include "xds/client/references.h"

#include <algorithm>

#include "envoy/extensions/filters/network/http_connection_manager/v3/http_connection_manager.pb.h"
#include "envoy/extensions/filters/network/tcp_proxy/v3/tcp_proxy.pb.h"
#include "xds/codec/codec.h"

namespace trellis::xds::client {
namespace {

using envoy::config::listener::v3::Filter;
using envoy::config::listener::v3::Listener;
using envoy::config::route::v3::RouteConfiguration;
using envoy::extensions::filters::network::http_connection_manager::v3::HttpConnectionManager;
using envoy::extensions::filters::network::tcp_proxy::v3::TcpProxy;

/// Calls `fn` for every network filter of every filter chain, the default chain included.
template <typename Fn>
void forEachFilter(const Listener& listener, Fn&& fn) {
  for (const auto& chain : listener.filter_chains()) {
    for (const Filter& filter : chain.filters()) fn(filter);
  }
  if (listener.has_default_filter_chain()) {
    for (const Filter& filter : listener.default_filter_chain().filters()) fn(filter);
  }
}

void addRouteClusters(const RouteConfiguration& routes, std::set<std::string>& out) {
  for (const auto& host : routes.virtual_hosts()) {
    for (const auto& route : host.routes()) {
      if (!route.has_route()) continue;  // redirects and direct responses name no cluster
      const auto& action = route.route();
      // A backend trellisd could not resolve is named so on purpose; it never arrives (→ 500).
      auto wanted = [](const std::string& name) {
        return !name.empty() && name != xds::kUnresolvedCluster;
      };
      if (wanted(action.cluster())) out.insert(action.cluster());
      for (const auto& weighted : action.weighted_clusters().clusters()) {
        if (wanted(weighted.name())) out.insert(weighted.name());
      }
      for (const auto& mirror : action.request_mirror_policies()) {
        if (!mirror.cluster().empty()) out.insert(mirror.cluster());
      }
    }
  }
}

/// Appends up to a few names to `out` as "label a, b, c (and N more)".
void describe(std::string& out, const char* label, const std::vector<std::string>& names) {
  if (names.empty()) return;
  constexpr size_t kShown = 3;
  if (!out.empty()) out += "; ";
  out += label;
  out += ' ';
  for (size_t i = 0; i < names.size() && i < kShown; ++i) {
    if (i > 0) out += ", ";
    out += names[i];
  }
  if (names.size() > kShown) out += " (and " + std::to_string(names.size() - kShown) + " more)";
}

}  // namespace

std::set<std::string> routeConfigNames(const std::vector<Listener>& listeners) {
  std::set<std::string> names;
  HttpConnectionManager hcm;
  for (const auto& listener : listeners) {
    forEachFilter(listener, [&](const Filter& filter) {
      if (!filter.typed_config().Is<HttpConnectionManager>()) return;
      if (!filter.typed_config().UnpackTo(&hcm)) return;  // the codec reports a bad filter
      if (hcm.has_rds() && !hcm.rds().route_config_name().empty()) {
        names.insert(hcm.rds().route_config_name());
      }
    });
  }
  return names;
}

std::set<std::string> edsServiceNames(
    const std::vector<envoy::config::cluster::v3::Cluster>& clusters) {
  std::set<std::string> names;
  for (const auto& cluster : clusters) {
    if (!cluster.has_type() || cluster.type() != envoy::config::cluster::v3::Cluster::EDS) continue;
    const std::string& service = cluster.eds_cluster_config().service_name();
    names.insert(service.empty() ? cluster.name() : service);
  }
  return names;
}

std::set<std::string> referencedClusters(const Resources& resources) {
  std::set<std::string> names;
  HttpConnectionManager hcm;
  TcpProxy tcp;
  for (const auto& listener : resources.listeners) {
    forEachFilter(listener, [&](const Filter& filter) {
      const auto& config = filter.typed_config();
      if (config.Is<TcpProxy>() && config.UnpackTo(&tcp)) {
        if (!tcp.cluster().empty() && tcp.cluster() != xds::kUnresolvedCluster) {
          names.insert(tcp.cluster());
        }
        for (const auto& weighted : tcp.weighted_clusters().clusters()) {
          if (!weighted.name().empty()) names.insert(weighted.name());
        }
      } else if (config.Is<HttpConnectionManager>() && config.UnpackTo(&hcm) &&
                 hcm.has_route_config()) {
        addRouteClusters(hcm.route_config(), names);
      }
    });
  }
  for (const auto& routes : resources.routes) addRouteClusters(routes, names);
  return names;
}

std::string missingDependencies(const Resources& resources) {
  std::set<std::string> present;
  std::vector<std::string> routes, clusters, endpoints;
  for (const auto& r : resources.routes) present.insert(r.name());
  for (const auto& name : routeConfigNames(resources.listeners)) {
    if (!present.count(name)) routes.push_back(name);
  }
  present.clear();
  for (const auto& c : resources.clusters) present.insert(c.name());
  for (const auto& name : referencedClusters(resources)) {
    if (!present.count(name)) clusters.push_back(name);
  }
  present.clear();
  for (const auto& e : resources.endpoints) present.insert(e.cluster_name());
  for (const auto& name : edsServiceNames(resources.clusters)) {
    if (!present.count(name)) endpoints.push_back(name);
  }
  std::string out;
  describe(out, "route configuration", routes);
  describe(out, "cluster", clusters);
  describe(out, "endpoints of", endpoints);
  return out;
}

void pruneUnreferenced(Resources& resources) {
  std::set<std::string> routeNames = routeConfigNames(resources.listeners);
  std::erase_if(resources.routes,
                [&](const RouteConfiguration& r) { return !routeNames.count(r.name()); });
  std::set<std::string> edsNames = edsServiceNames(resources.clusters);
  std::erase_if(resources.endpoints,
                [&](const auto& e) { return !edsNames.count(e.cluster_name()); });
}

}  // namespace trellis::xds::client
