#include "controlplane/translator/clusters.h"

#include "envoy/extensions/upstreams/http/v3/http_protocol_options.pb.h"

namespace trellis::controlplane {
namespace {

using envoy::config::cluster::v3::Cluster;

void setDuration(google::protobuf::Duration* out, config::Duration value) {
  out->set_seconds(value.count() / 1000);
  out->set_nanos(static_cast<int32_t>((value.count() % 1000) * 1000000));
}

Cluster::LbPolicy lbPolicyOf(config::LbPolicy policy) {
  switch (policy) {
    case config::LbPolicy::RoundRobin:
      return Cluster::ROUND_ROBIN;
    case config::LbPolicy::LeastRequest:
      return Cluster::LEAST_REQUEST;
    case config::LbPolicy::Random:
      return Cluster::RANDOM;
    case config::LbPolicy::RingHash:
      return Cluster::RING_HASH;
    case config::LbPolicy::Maglev:
      return Cluster::MAGLEV;
  }
  return Cluster::ROUND_ROBIN;
}

}  // namespace

Cluster toXdsCluster(const config::Cluster& cluster) {
  Cluster out;
  out.set_name(cluster.name);
  out.set_type(Cluster::EDS);
  auto* eds = out.mutable_eds_cluster_config();
  eds->set_service_name(cluster.name);
  eds->mutable_eds_config()->mutable_ads();
  eds->mutable_eds_config()->set_resource_api_version(envoy::config::core::v3::V3);
  setDuration(out.mutable_connect_timeout(), cluster.connectTimeout);
  out.set_lb_policy(lbPolicyOf(cluster.lbPolicy));
  if (cluster.lbPolicy == config::LbPolicy::RingHash) {
    out.mutable_ring_hash_lb_config()->mutable_minimum_ring_size()->set_value(
        cluster.ringHashMinSize);
  } else if (cluster.lbPolicy == config::LbPolicy::Maglev) {
    out.mutable_maglev_lb_config()->mutable_table_size()->set_value(cluster.maglevTableSize);
  }

  envoy::extensions::upstreams::http::v3::HttpProtocolOptions http;
  setDuration(http.mutable_common_http_protocol_options()->mutable_idle_timeout(),
              cluster.idleTimeout);
  auto* explicitConfig = http.mutable_explicit_http_config();
  if (cluster.protocol == config::UpstreamProtocol::Http2) {
    auto* h2 = explicitConfig->mutable_http2_protocol_options();
    h2->mutable_initial_stream_window_size()->set_value(cluster.http2InitialStreamWindowSize);
    h2->mutable_initial_connection_window_size()->set_value(cluster.http2ConnectionWindowSize);
  } else {
    explicitConfig->mutable_http_protocol_options();
  }
  (*out.mutable_typed_extension_protocol_options())
      ["envoy.extensions.upstreams.http.v3.HttpProtocolOptions"]
          .PackFrom(http);

  auto& trellis = (*out.mutable_metadata()->mutable_filter_metadata())[kTrellisMetadata];
  auto& fields = *trellis.mutable_fields();
  fields["maxIdlePerEndpoint"].set_number_value(cluster.maxIdlePerEndpoint);
  if (cluster.protocol == config::UpstreamProtocol::Tcp) fields["protocol"].set_string_value("TCP");
  return out;
}

envoy::config::endpoint::v3::ClusterLoadAssignment toLoadAssignment(
    const config::Cluster& cluster) {
  envoy::config::endpoint::v3::ClusterLoadAssignment out;
  out.set_cluster_name(cluster.name);
  auto* locality = out.add_endpoints();
  for (const config::Endpoint& endpoint : cluster.endpoints) {
    if (endpoint.weight == 0) continue;
    auto* lb = locality->add_lb_endpoints();
    lb->mutable_load_balancing_weight()->set_value(endpoint.weight);
    auto* address = lb->mutable_endpoint()->mutable_address()->mutable_socket_address();
    address->set_address(endpoint.host);
    address->set_port_value(endpoint.port);
  }
  return out;
}

}  // namespace trellis::controlplane
