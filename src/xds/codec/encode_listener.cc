// Model → LDS. Standard fields:
//   address.socket_address, per_connection_buffer_limit_bytes (http.bufferBytes);
//   HTTP and HTTP2: one filter chain with an HttpConnectionManager: codec_type AUTO (HTTP/1.x and
//     h2c) or HTTP2, RDS over ADS named after the listener, the fault and local_ratelimit
//     filters (without settings of their own: they apply the routes' typed_per_filter_config)
//     and the router filter last, max_request_headers_kb, common_http_protocol_options
//     {idle_timeout, max_headers_count}, request_headers_timeout, stream_idle_timeout (0s: none),
//     http2_protocol_options {max_concurrent_streams, initial_stream_window_size,
//     initial_connection_window_size}, strip_any_host_port (routing ignores the Host port);
//   TCP: one filter chain with a TcpProxy {cluster, idle_timeout, stat_prefix};
//   AUTO: the http_inspector listener filter with listener_filters_timeout = detectTimeout and
//     continue_on_listener_filters_timeout, a filter chain for application protocols
//     http/1.0, http/1.1 and h2c with the HttpConnectionManager, and the TcpProxy as the default
//     filter chain (silent clients and other bytes).
// metadata["trellis.dev"]: maxUrlBytes, maxRequestBodyBytes, drainTimeoutMs, the HTTP/2 limits
// Envoy has no field for (http2MaxFrameSize, http2MaxHeaderListSize, http2MaxResetsPerSecond,
// http2WindowStallTimeoutMs), maxRequestHeadersBytes when it is not a whole number of KiB, and
// connectionRateLimit (Envoy's network local_ratelimit filter has no keyed buckets, and an AUTO
// listener would need one bucket shared by its two filter chains), service (the Service served).
// Mutual TLS (mtls, tlsHandshakeTimeout): mesh_tls_codec.cc. The AuthorizationPolicies of the
// Service, as "authorization": authz_codec.h.

#include "envoy/extensions/filters/http/fault/v3/fault.pb.h"
#include "envoy/extensions/filters/http/local_ratelimit/v3/local_rate_limit.pb.h"
#include "envoy/extensions/filters/http/router/v3/router.pb.h"
#include "envoy/extensions/filters/network/http_connection_manager/v3/http_connection_manager.pb.h"
#include "envoy/extensions/filters/network/tcp_proxy/v3/tcp_proxy.pb.h"
#include "xds/codec/authz_codec.h"
#include "xds/codec/codec.h"
#include "xds/codec/internal.h"
#include "xds/codec/policy.h"
#include "xds/codec/trellis_metadata.h"

namespace trellis::xds::detail {
namespace {

using envoy::config::listener::v3::Filter;
using envoy::config::listener::v3::Listener;
using envoy::extensions::filters::network::http_connection_manager::v3::HttpConnectionManager;
using envoy::extensions::filters::network::tcp_proxy::v3::TcpProxy;

void setRds(HttpConnectionManager& hcm, const std::string& routeConfigName) {
  auto* rds = hcm.mutable_rds();
  rds->set_route_config_name(routeConfigName);
  rds->mutable_config_source()->mutable_ads();
  rds->mutable_config_source()->set_resource_api_version(envoy::config::core::v3::V3);
}

// The fault filter without delays or aborts of its own: routes' typed_per_filter_config set them.
void addFault(HttpConnectionManager& hcm) {
  auto* fault = hcm.add_http_filters();
  fault->set_name(std::string(kFaultFilter));
  fault->mutable_typed_config()->PackFrom(envoy::extensions::filters::http::fault::v3::HTTPFault());
}

void addRouter(HttpConnectionManager& hcm) {
  auto* router = hcm.add_http_filters();
  router->set_name(std::string(kRouterFilter));
  router->mutable_typed_config()->PackFrom(envoy::extensions::filters::http::router::v3::Router());
}

Filter connectionManager(const config::Listener& listener) {
  const config::HttpLimits& http = listener.http;
  HttpConnectionManager hcm;
  hcm.set_stat_prefix(listener.name);
  hcm.set_codec_type(listener.protocol == config::ListenerProtocol::Http2
                         ? HttpConnectionManager::HTTP2
                         : HttpConnectionManager::AUTO);
  setRds(hcm, listener.name);
  hcm.mutable_max_request_headers_kb()->set_value((http.maxRequestHeadersBytes + 1023) / 1024);
  auto* common = hcm.mutable_common_http_protocol_options();
  setDuration(common->mutable_idle_timeout(), http.idleTimeout);
  common->mutable_max_headers_count()->set_value(http.maxHeaders);
  setDuration(hcm.mutable_request_headers_timeout(), http.headerTimeout);
  auto* h2 = hcm.mutable_http2_protocol_options();
  h2->mutable_max_concurrent_streams()->set_value(http.http2.maxConcurrentStreams);
  h2->mutable_initial_stream_window_size()->set_value(http.http2.initialStreamWindowSize);
  h2->mutable_initial_connection_window_size()->set_value(http.http2.connectionWindowSize);
  setDuration(hcm.mutable_stream_idle_timeout(), http.streamIdleTimeout);
  hcm.set_strip_any_host_port(true);
  addFault(hcm);
  // No token bucket: a no-op until a route's typed_per_filter_config gives it one.
  envoy::extensions::filters::http::local_ratelimit::v3::LocalRateLimit rateLimit;
  rateLimit.set_stat_prefix(std::string(kLocalRateLimitStatPrefix));
  auto* rateLimitFilter = hcm.add_http_filters();
  rateLimitFilter->set_name(std::string(kLocalRateLimitFilter));
  rateLimitFilter->mutable_typed_config()->PackFrom(rateLimit);
  addRouter(hcm);
  Filter filter;
  filter.set_name(std::string(kHttpConnectionManagerFilter));
  filter.mutable_typed_config()->PackFrom(hcm);
  return filter;
}

Filter tcpProxy(const config::Listener& listener) {
  TcpProxy proxy;
  proxy.set_stat_prefix(listener.name);
  proxy.set_cluster(listener.tcpCluster.empty() ? std::string(kUnresolvedCluster)
                                                : listener.tcpCluster);
  setDuration(proxy.mutable_idle_timeout(), listener.tcpIdleTimeout);
  Filter filter;
  filter.set_name(std::string(kTcpProxyFilter));
  filter.mutable_typed_config()->PackFrom(proxy);
  return filter;
}

void httpMetadata(const config::HttpLimits& http, Struct& metadata) {
  if (http.maxRequestHeadersBytes % 1024 != 0) {
    setNumber(metadata, "maxRequestHeadersBytes", http.maxRequestHeadersBytes);
  }
  setNumber(metadata, "maxUrlBytes", http.maxUrlBytes);
  setString(metadata, "maxRequestBodyBytes", std::to_string(http.maxRequestBodyBytes));
  setDurationMs(metadata, "drainTimeoutMs", http.drainTimeout);
  setNumber(metadata, "http2MaxFrameSize", http.http2.maxFrameSize);
  setNumber(metadata, "http2MaxHeaderListSize", http.http2.maxHeaderListSize);
  setNumber(metadata, "http2MaxResetsPerSecond", http.http2.maxResetsPerSecond);
  setDurationMs(metadata, "http2WindowStallTimeoutMs", http.http2.windowStallTimeout);
}

}  // namespace

Listener encodeListener(const config::Listener& listener,
                        std::span<const config::AuthorizationPolicy> authorization) {
  Listener out;
  out.set_name(listener.name);
  auto* socket = out.mutable_address()->mutable_socket_address();
  socket->set_address(listener.address);
  socket->set_port_value(listener.port);
  out.mutable_per_connection_buffer_limit_bytes()->set_value(listener.http.bufferBytes);
  switch (listener.protocol) {
    case config::ListenerProtocol::Http:
    case config::ListenerProtocol::Http2:
      *out.add_filter_chains()->add_filters() = connectionManager(listener);
      break;
    case config::ListenerProtocol::Tcp:
      *out.add_filter_chains()->add_filters() = tcpProxy(listener);
      break;
    case config::ListenerProtocol::Auto: {
      auto* inspector = out.add_listener_filters();
      inspector->set_name(std::string(kHttpInspectorFilter));
      // HttpInspector has no fields: its serialization is empty.
      inspector->mutable_typed_config()->set_type_url(std::string(kHttpInspectorType));
      setDuration(out.mutable_listener_filters_timeout(), listener.detectTimeout);
      out.set_continue_on_listener_filters_timeout(true);
      auto* http = out.add_filter_chains();
      for (const char* protocol : {"http/1.0", "http/1.1", "h2c"}) {
        http->mutable_filter_chain_match()->add_application_protocols(protocol);
      }
      *http->add_filters() = connectionManager(listener);
      *out.mutable_default_filter_chain()->add_filters() = tcpProxy(listener);
      break;
    }
  }
  Struct metadata;
  if (listener.servesHttp()) httpMetadata(listener.http, metadata);
  if (listener.connectionRateLimit) {
    setRateLimit(metadata, "connectionRateLimit", *listener.connectionRateLimit);
  }
  if (!listener.service.empty()) setString(metadata, "service", listener.service);
  encodeAuthorization(authorization, metadata);
  encodeInboundMtls(listener, out);
  attach(std::move(metadata), out);
  return out;
}

}  // namespace trellis::xds::detail

namespace trellis::xds {

envoy::config::listener::v3::Listener encodeApiListener(const std::string& name,
                                                        const std::string& routeConfigName) {
  detail::HttpConnectionManager hcm;
  hcm.set_stat_prefix(name);
  detail::setRds(hcm, routeConfigName);
  // gRPC clients inject the routes' faults themselves; they have no local_ratelimit filter.
  detail::addFault(hcm);
  detail::addRouter(hcm);
  envoy::config::listener::v3::Listener out;
  out.set_name(name);
  out.mutable_api_listener()->mutable_api_listener()->PackFrom(hcm);
  return out;
}

}  // namespace trellis::xds
