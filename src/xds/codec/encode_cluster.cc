// Model → CDS and EDS. Standard fields: type EDS with eds_config ADS (service_name = the cluster
// name), connect_timeout, lb_policy with ring_hash_lb_config.minimum_ring_size or
// maglev_lb_config.table_size, and typed_extension_protocol_options HttpProtocolOptions:
// common_http_protocol_options.idle_timeout and explicit HTTP/1.1 or HTTP/2 (with the stream and
// connection windows). Endpoints: one locality of weight 1 (gRPC ignores localities of weight 0),
// each endpoint with its weight.
// metadata["trellis.dev"]: maxIdlePerEndpoint, protocol "TCP" for opaque ports, hashOn (what
// RingHash and Maglev hash: {header}, {cookie} or {sourceIP}), and the HTTP/2 windows of
// clusters that do not speak HTTP/2 (the model keeps them).
// Endpoints with an identity (mesh proxies, mutual TLS): mesh_tls_codec.cc.
// The resilience policies (circuit breakers, outlier detection, health checks, panic threshold,
// retry budget, rate limit): encode_cluster_policy.cc.

#include "envoy/extensions/upstreams/http/v3/http_protocol_options.pb.h"
#include "xds/codec/codec.h"
#include "xds/codec/internal.h"
#include "xds/codec/policy.h"
#include "xds/codec/trellis_metadata.h"

namespace trellis::xds {
namespace {

using envoy::config::cluster::v3::Cluster;

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

void hashMetadata(const config::HashKey& key, detail::Struct& metadata) {
  switch (key.source) {
    case config::HashKey::Source::None:
      return;
    case config::HashKey::Source::Header:
      detail::setString(detail::setObject(metadata, "hashOn"), "header", key.name);
      return;
    case config::HashKey::Source::Cookie:
      detail::setString(detail::setObject(metadata, "hashOn"), "cookie", key.name);
      return;
    case config::HashKey::Source::SourceIp:
      detail::setBool(detail::setObject(metadata, "hashOn"), "sourceIP", true);
      return;
  }
}

}  // namespace

Cluster encodeCluster(const config::Cluster& cluster) {
  Cluster out;
  out.set_name(cluster.name);
  out.set_type(Cluster::EDS);
  auto* eds = out.mutable_eds_cluster_config();
  eds->set_service_name(cluster.name);
  eds->mutable_eds_config()->mutable_ads();
  eds->mutable_eds_config()->set_resource_api_version(envoy::config::core::v3::V3);
  detail::setDuration(out.mutable_connect_timeout(), cluster.connectTimeout);
  out.set_lb_policy(lbPolicyOf(cluster.lbPolicy));
  if (cluster.lbPolicy == config::LbPolicy::RingHash) {
    out.mutable_ring_hash_lb_config()->mutable_minimum_ring_size()->set_value(
        cluster.ringHashMinSize);
  } else if (cluster.lbPolicy == config::LbPolicy::Maglev) {
    out.mutable_maglev_lb_config()->mutable_table_size()->set_value(cluster.maglevTableSize);
  }

  envoy::extensions::upstreams::http::v3::HttpProtocolOptions http;
  detail::setDuration(http.mutable_common_http_protocol_options()->mutable_idle_timeout(),
                      cluster.idleTimeout);
  auto* explicitConfig = http.mutable_explicit_http_config();
  detail::Struct metadata;
  if (cluster.protocol == config::UpstreamProtocol::Http2) {
    auto* h2 = explicitConfig->mutable_http2_protocol_options();
    h2->mutable_initial_stream_window_size()->set_value(cluster.http2InitialStreamWindowSize);
    h2->mutable_initial_connection_window_size()->set_value(cluster.http2ConnectionWindowSize);
  } else {
    explicitConfig->mutable_http_protocol_options();
    const config::Cluster defaults;
    if (cluster.http2InitialStreamWindowSize != defaults.http2InitialStreamWindowSize) {
      detail::setNumber(metadata, "http2InitialStreamWindowSize",
                        cluster.http2InitialStreamWindowSize);
    }
    if (cluster.http2ConnectionWindowSize != defaults.http2ConnectionWindowSize) {
      detail::setNumber(metadata, "http2ConnectionWindowSize", cluster.http2ConnectionWindowSize);
    }
  }
  (*out.mutable_typed_extension_protocol_options())[std::string(detail::kHttpProtocolOptionsKey)]
      .PackFrom(http);

  detail::setNumber(metadata, "maxIdlePerEndpoint", cluster.maxIdlePerEndpoint);
  if (cluster.protocol == config::UpstreamProtocol::Tcp) {
    detail::setString(metadata, "protocol", "TCP");
  }
  hashMetadata(cluster.hashKey, metadata);
  detail::encodeClusterPolicy(cluster, out, metadata);
  detail::encodeUpstreamTls(cluster, out);
  detail::attach(std::move(metadata), out);
  return out;
}

envoy::config::endpoint::v3::ClusterLoadAssignment encodeLoadAssignment(
    const config::Cluster& cluster) {
  envoy::config::endpoint::v3::ClusterLoadAssignment out;
  out.set_cluster_name(cluster.name);
  auto* locality = out.add_endpoints();
  // gRPC rejects a locality without the field and ignores one without a weight.
  locality->mutable_locality();
  locality->mutable_load_balancing_weight()->set_value(1);
  for (const config::Endpoint& endpoint : cluster.endpoints) {
    if (endpoint.weight == 0) continue;
    auto* lb = locality->add_lb_endpoints();
    lb->mutable_load_balancing_weight()->set_value(endpoint.weight);
    auto* address = lb->mutable_endpoint()->mutable_address()->mutable_socket_address();
    address->set_address(endpoint.host);
    address->set_port_value(endpoint.port);
    detail::encodeEndpointIdentity(endpoint, *lb);
  }
  return out;
}

}  // namespace trellis::xds
