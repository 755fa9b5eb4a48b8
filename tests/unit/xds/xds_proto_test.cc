// The generated xDS v3 code is usable as trellisd will use it: resources packed into a
// DiscoveryResponse, serialised, parsed back by type URL, and the ADS service type available.
#include <gtest/gtest.h>

#include "envoy/config/cluster/v3/cluster.pb.h"
#include "envoy/config/listener/v3/listener.pb.h"
#include "envoy/extensions/filters/network/http_connection_manager/v3/http_connection_manager.pb.h"
#include "envoy/service/discovery/v3/ads.grpc.pb.h"
#include "envoy/service/discovery/v3/discovery.pb.h"

namespace {

using envoy::config::cluster::v3::Cluster;
using envoy::config::listener::v3::Listener;
using envoy::extensions::filters::network::http_connection_manager::v3::HttpConnectionManager;
using envoy::service::discovery::v3::DiscoveryResponse;

TEST(XdsProto, ListenerWithConnectionManagerRoundTripsThroughADiscoveryResponse) {
  Listener listener;
  listener.set_name("default/web");
  auto* address = listener.mutable_address()->mutable_socket_address();
  address->set_address("127.0.0.1");
  address->set_port_value(8080);
  HttpConnectionManager hcm;
  hcm.set_stat_prefix("web");
  hcm.mutable_rds()->set_route_config_name("default/web");
  auto* filter = listener.add_filter_chains()->add_filters();
  filter->set_name("envoy.filters.network.http_connection_manager");
  filter->mutable_typed_config()->PackFrom(hcm);

  DiscoveryResponse response;
  response.set_version_info("7");
  response.set_nonce("n-1");
  response.set_type_url("type.googleapis.com/envoy.config.listener.v3.Listener");
  response.add_resources()->PackFrom(listener);

  std::string wire;
  ASSERT_TRUE(response.SerializeToString(&wire));
  DiscoveryResponse parsed;
  ASSERT_TRUE(parsed.ParseFromString(wire));
  ASSERT_EQ(parsed.resources_size(), 1);
  EXPECT_EQ(parsed.resources(0).type_url(), response.type_url());
  Listener back;
  ASSERT_TRUE(parsed.resources(0).UnpackTo(&back));
  EXPECT_EQ(back.address().socket_address().port_value(), 8080u);
  HttpConnectionManager backHcm;
  ASSERT_TRUE(back.filter_chains(0).filters(0).typed_config().UnpackTo(&backHcm));
  EXPECT_EQ(backHcm.rds().route_config_name(), "default/web");
}

TEST(XdsProto, AResourceOfAnotherTypeDoesNotUnpack) {
  DiscoveryResponse response;
  Cluster cluster;
  cluster.set_name("default/shop:80");
  response.add_resources()->PackFrom(cluster);
  Listener listener;
  EXPECT_FALSE(response.resources(0).UnpackTo(&listener));  // what a NACK will report
}

TEST(XdsProto, TheAggregatedDiscoveryServiceIsGenerated) {
  EXPECT_STREQ(envoy::service::discovery::v3::AggregatedDiscoveryService::service_full_name(),
               "envoy.service.discovery.v3.AggregatedDiscoveryService");
}

}  // namespace
