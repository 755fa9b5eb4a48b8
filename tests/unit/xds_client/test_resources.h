#pragma once
// Small xDS resources and responses for the client's tests.

#include <string>
#include <vector>

#include "envoy/extensions/filters/network/http_connection_manager/v3/http_connection_manager.pb.h"
#include "envoy/extensions/filters/network/tcp_proxy/v3/tcp_proxy.pb.h"
#include "envoy/service/discovery/v3/discovery.pb.h"
#include "xds/codec/resources.h"

namespace trellis::xds::client::test {

using envoy::config::cluster::v3::Cluster;
using envoy::config::endpoint::v3::ClusterLoadAssignment;
using envoy::config::listener::v3::Listener;
using envoy::config::route::v3::RouteConfiguration;
using envoy::service::discovery::v3::DiscoveryRequest;
using envoy::service::discovery::v3::DiscoveryResponse;

inline Cluster edsCluster(const std::string& name, const std::string& serviceName = "") {
  Cluster cluster;
  cluster.set_name(name);
  cluster.set_type(Cluster::EDS);
  cluster.mutable_eds_cluster_config()->mutable_eds_config()->mutable_ads();
  if (!serviceName.empty()) cluster.mutable_eds_cluster_config()->set_service_name(serviceName);
  return cluster;
}

inline Cluster staticCluster(const std::string& name) {
  Cluster cluster;
  cluster.set_name(name);
  cluster.set_type(Cluster::STATIC);
  return cluster;
}

inline ClusterLoadAssignment assignment(const std::string& name, uint32_t port) {
  ClusterLoadAssignment cla;
  cla.set_cluster_name(name);
  auto* address = cla.add_endpoints()->add_lb_endpoints()->mutable_endpoint()->mutable_address();
  address->mutable_socket_address()->set_address("127.0.0.1");
  address->mutable_socket_address()->set_port_value(port);
  return cla;
}

inline Listener httpListener(const std::string& name, uint32_t port, const std::string& rds) {
  Listener listener;
  listener.set_name(name);
  listener.mutable_address()->mutable_socket_address()->set_address("127.0.0.1");
  listener.mutable_address()->mutable_socket_address()->set_port_value(port);
  envoy::extensions::filters::network::http_connection_manager::v3::HttpConnectionManager hcm;
  hcm.set_stat_prefix(name);
  hcm.mutable_rds()->set_route_config_name(rds);
  hcm.mutable_rds()->mutable_config_source()->mutable_ads();
  auto* filter = listener.add_filter_chains()->add_filters();
  filter->set_name("envoy.filters.network.http_connection_manager");
  filter->mutable_typed_config()->PackFrom(hcm);
  return listener;
}

inline Listener tcpListener(const std::string& name, uint32_t port, const std::string& cluster) {
  Listener listener;
  listener.set_name(name);
  listener.mutable_address()->mutable_socket_address()->set_address("127.0.0.1");
  listener.mutable_address()->mutable_socket_address()->set_port_value(port);
  envoy::extensions::filters::network::tcp_proxy::v3::TcpProxy tcp;
  tcp.set_stat_prefix(name);
  tcp.set_cluster(cluster);
  auto* filter = listener.add_filter_chains()->add_filters();
  filter->set_name("envoy.filters.network.tcp_proxy");
  filter->mutable_typed_config()->PackFrom(tcp);
  return listener;
}

inline RouteConfiguration routeTo(const std::string& name, const std::string& cluster) {
  RouteConfiguration routes;
  routes.set_name(name);
  auto* host = routes.add_virtual_hosts();
  host->set_name(name);
  host->add_domains("*");
  auto* route = host->add_routes();
  route->mutable_match()->set_prefix("/");
  route->mutable_route()->set_cluster(cluster);
  return routes;
}

template <typename Message>
DiscoveryResponse response(std::string_view typeUrl, const std::string& version,
                           const std::string& nonce, const std::vector<Message>& resources) {
  DiscoveryResponse r;
  r.set_type_url(std::string(typeUrl));
  r.set_version_info(version);
  r.set_nonce(nonce);
  for (const auto& resource : resources) r.add_resources()->PackFrom(resource);
  return r;
}

inline std::vector<std::string> namesOf(const DiscoveryRequest& request) {
  return {request.resource_names().begin(), request.resource_names().end()};
}

}  // namespace trellis::xds::client::test
