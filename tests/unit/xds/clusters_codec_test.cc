#include <gtest/gtest.h>

#include "envoy/extensions/upstreams/http/v3/http_protocol_options.pb.h"
#include "xds/codec/codec.h"

namespace trellis::xds {
namespace {

using envoy::config::cluster::v3::Cluster;
using envoy::extensions::upstreams::http::v3::HttpProtocolOptions;

config::Cluster grpcCluster() {
  config::Cluster c;
  c.name = "shop/billing:50051";
  c.protocol = config::UpstreamProtocol::Http2;
  c.lbPolicy = config::LbPolicy::RingHash;
  c.ringHashMinSize = 2048;
  c.connectTimeout = config::Duration(1500);
  c.idleTimeout = config::Duration(30000);
  c.maxIdlePerEndpoint = 8;
  c.endpoints = {{"10.0.0.1", 50051, 3, {}}, {"10.0.0.2", 50051, 0, {}}, {"::1", 50052, 1, {}}};
  return c;
}

TEST(ClusterCodec, AnEdsClusterOverAdsWithItsPolicyAndTimeouts) {
  Cluster out = encodeCluster(grpcCluster());
  EXPECT_EQ(out.name(), "shop/billing:50051");
  EXPECT_EQ(out.type(), Cluster::EDS);
  EXPECT_TRUE(out.eds_cluster_config().eds_config().has_ads());
  EXPECT_EQ(out.eds_cluster_config().service_name(), "shop/billing:50051");
  EXPECT_EQ(out.connect_timeout().seconds(), 1);
  EXPECT_EQ(out.connect_timeout().nanos(), 500000000);
  EXPECT_EQ(out.lb_policy(), Cluster::RING_HASH);
  EXPECT_EQ(out.ring_hash_lb_config().minimum_ring_size().value(), 2048u);
}

TEST(ClusterCodec, Http2PortsCarryHttp2ProtocolOptions) {
  Cluster out = encodeCluster(grpcCluster());
  HttpProtocolOptions http;
  ASSERT_TRUE(out.typed_extension_protocol_options()
                  .at("envoy.extensions.upstreams.http.v3.HttpProtocolOptions")
                  .UnpackTo(&http));
  ASSERT_TRUE(http.explicit_http_config().has_http2_protocol_options());
  EXPECT_EQ(
      http.explicit_http_config().http2_protocol_options().initial_stream_window_size().value(),
      256u * 1024);
  EXPECT_EQ(http.common_http_protocol_options().idle_timeout().seconds(), 30);

  config::Cluster plain = grpcCluster();
  plain.protocol = config::UpstreamProtocol::Http1;
  ASSERT_TRUE(encodeCluster(plain)
                  .typed_extension_protocol_options()
                  .at("envoy.extensions.upstreams.http.v3.HttpProtocolOptions")
                  .UnpackTo(&http));
  EXPECT_TRUE(http.explicit_http_config().has_http_protocol_options());
}

TEST(ClusterCodec, SettingsWithoutAnEnvoyFieldTravelAsTrellisMetadata) {
  Cluster out = encodeCluster(grpcCluster());
  const auto& fields = out.metadata().filter_metadata().at(std::string(kTrellisMetadata)).fields();
  EXPECT_EQ(fields.at("maxIdlePerEndpoint").number_value(), 8);
}

TEST(ClusterCodec, EndpointsWithWeightsAndWithoutTheNeverSelectedOnes) {
  auto assignment = encodeLoadAssignment(grpcCluster());
  EXPECT_EQ(assignment.cluster_name(), "shop/billing:50051");
  ASSERT_EQ(assignment.endpoints_size(), 1);
  // gRPC ignores a locality without a weight and rejects one without the locality field.
  EXPECT_EQ(assignment.endpoints(0).load_balancing_weight().value(), 1u);
  EXPECT_TRUE(assignment.endpoints(0).has_locality());
  const auto& lb = assignment.endpoints(0).lb_endpoints();
  ASSERT_EQ(lb.size(), 2);
  EXPECT_EQ(lb[0].endpoint().address().socket_address().address(), "10.0.0.1");
  EXPECT_EQ(lb[0].endpoint().address().socket_address().port_value(), 50051u);
  EXPECT_EQ(lb[0].load_balancing_weight().value(), 3u);
  EXPECT_EQ(lb[1].endpoint().address().socket_address().address(), "::1");
}

TEST(ClusterCodec, EveryPolicyMaps) {
  config::Cluster c = grpcCluster();
  const std::pair<config::LbPolicy, Cluster::LbPolicy> cases[] = {
      {config::LbPolicy::RoundRobin, Cluster::ROUND_ROBIN},
      {config::LbPolicy::LeastRequest, Cluster::LEAST_REQUEST},
      {config::LbPolicy::Random, Cluster::RANDOM},
      {config::LbPolicy::RingHash, Cluster::RING_HASH},
      {config::LbPolicy::Maglev, Cluster::MAGLEV}};
  for (auto [ours, theirs] : cases) {
    c.lbPolicy = ours;
    EXPECT_EQ(encodeCluster(c).lb_policy(), theirs);
  }
  c.lbPolicy = config::LbPolicy::Maglev;
  EXPECT_EQ(encodeCluster(c).maglev_lb_config().table_size().value(), 65537u);
}

}  // namespace
}  // namespace trellis::xds
