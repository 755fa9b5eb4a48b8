// LDS → model listeners (the reverse of encode_listener.cc). A listener has one of three shapes:
// one filter chain with an HttpConnectionManager (HTTP or HTTP2), one with a TcpProxy (TCP), or
// the AUTO shape (http_inspector, an HTTP filter chain and a TcpProxy default chain).

#include <fmt/format.h>

#include <algorithm>
#include <utility>

#include "envoy/extensions/filters/http/fault/v3/fault.pb.h"
#include "envoy/extensions/filters/http/local_ratelimit/v3/local_rate_limit.pb.h"
#include "envoy/extensions/filters/http/router/v3/router.pb.h"
#include "envoy/extensions/filters/network/http_connection_manager/v3/http_connection_manager.pb.h"
#include "envoy/extensions/filters/network/tcp_proxy/v3/tcp_proxy.pb.h"
#include "xds/codec/authz_codec.h"
#include "xds/codec/internal.h"
#include "xds/codec/policy.h"
#include "xds/codec/trellis_metadata.h"

namespace trellis::xds::detail {
namespace {

using envoy::config::listener::v3::Filter;
using envoy::config::listener::v3::FilterChain;
using envoy::config::listener::v3::Listener;
using envoy::extensions::filters::http::fault::v3::HTTPFault;
using envoy::extensions::filters::http::router::v3::Router;
using LocalRateLimitFilter = envoy::extensions::filters::http::local_ratelimit::v3::LocalRateLimit;
using envoy::extensions::filters::network::http_connection_manager::v3::HttpConnectionManager;
using envoy::extensions::filters::network::http_connection_manager::v3::HttpFilter;
using envoy::extensions::filters::network::tcp_proxy::v3::TcpProxy;

constexpr uint64_t kMaxWindow = 0x7fffffff;

class ListenerDecoder {
 public:
  ListenerDecoder(const std::map<std::string, config::RouteTableConfig>& routeTables,
                  const ClusterMap& clusters, Problems& problems,
                  std::vector<config::AuthorizationPolicy>& authorization)
      : routeTables_(routeTables),
        clusters_(clusters),
        problems_(problems),
        authorization_(authorization) {}

  bool decode(const Listener& in, config::Listener& out);

 private:
  enum class FilterKind { ConnectionManager, TcpProxy };
  std::optional<FilterKind> filterKind(const Filter& filter, const std::string& path);
  bool decodeChain(const FilterChain& chain, const std::string& path, bool autoListener,
                   config::Listener& out);
  bool decodeConnectionManager(const Filter& filter, const std::string& path, bool autoListener,
                               config::Listener& out);
  bool decodeHttpFilters(const HttpConnectionManager& hcm, const std::string& path);
  template <typename Config>
  bool routeSettingsFilter(const HttpFilter& filter, const std::string& path, std::string_view name,
                           bool& seen, Config& config,
                           std::initializer_list<std::string_view> allowed);
  bool decodeRoutes(const HttpConnectionManager& hcm, const std::string& path,
                    config::Listener& out);
  bool decodeTcpProxy(const Filter& filter, const std::string& path, config::Listener& out);
  bool decodeAutoShape(const Listener& in, config::Listener& out);
  bool decodeSettings(const Listener& in, config::Listener& out);

  const std::map<std::string, config::RouteTableConfig>& routeTables_;
  const ClusterMap& clusters_;
  Problems& problems_;
  std::vector<config::AuthorizationPolicy>& authorization_;
  std::optional<uint32_t> headersKb_;  // max_request_headers_kb, for the metadata override
};

std::optional<ListenerDecoder::FilterKind> ListenerDecoder::filterKind(const Filter& filter,
                                                                       const std::string& path) {
  if (!onlyFields(filter, {"name", "typed_config"}, problems_, path)) return std::nullopt;
  if (!filter.has_typed_config()) {
    problems_.fail(path + ".typed_config", "missing");
    return std::nullopt;
  }
  if (filter.typed_config().Is<HttpConnectionManager>()) return FilterKind::ConnectionManager;
  if (filter.typed_config().Is<TcpProxy>()) return FilterKind::TcpProxy;
  problems_.fail(path, "unsupported network filter " + quote(filter.name()) + " (" +
                           quote(filter.typed_config().type_url()) + "; expected " +
                           std::string(kHttpConnectionManagerFilter) + " or " +
                           std::string(kTcpProxyFilter) + ")");
  return std::nullopt;
}

// The fault and local_ratelimit filters only apply the routes' settings (the model has no
// listener-wide fault or request rate limit): at most once each, named as the routes' keys.
template <typename Config>
bool ListenerDecoder::routeSettingsFilter(const HttpFilter& filter, const std::string& path,
                                          std::string_view name, bool& seen, Config& config,
                                          std::initializer_list<std::string_view> allowed) {
  if (std::exchange(seen, true)) {
    return problems_.fail(path, "duplicate HTTP filter " + quote(filter.name()));
  }
  if (filter.name() != name) {
    return problems_.fail(path + ".name", "must be " + std::string(name) +
                                              " (the key of the routes' typed_per_filter_config)");
  }
  return unpack(filter.typed_config(), config, problems_, path + ".typed_config") &&
         onlyFields(config, allowed, problems_, path + ".typed_config");
}

bool ListenerDecoder::decodeHttpFilters(const HttpConnectionManager& hcm, const std::string& path) {
  const std::string filtersPath = path + ".http_filters";
  if (hcm.http_filters().empty()) {
    return problems_.fail(filtersPath,
                          "missing the router filter (" + std::string(kRouterFilter) + ")");
  }
  bool fault = false;
  bool rateLimit = false;
  for (int i = 0; i < hcm.http_filters_size(); ++i) {
    const auto& filter = hcm.http_filters(i);
    const std::string filterPath = fmt::format("{}[{}]", filtersPath, i);
    if (!onlyFields(filter, {"name", "typed_config"}, problems_, filterPath)) return false;
    if (filter.typed_config().Is<HTTPFault>()) {
      HTTPFault config;
      if (!routeSettingsFilter(filter, filterPath, kFaultFilter, fault, config, {})) return false;
      continue;
    }
    if (filter.typed_config().Is<LocalRateLimitFilter>()) {
      LocalRateLimitFilter config;
      if (!routeSettingsFilter(filter, filterPath, kLocalRateLimitFilter, rateLimit, config,
                               {"stat_prefix"})) {
        return false;
      }
      continue;
    }
    if (!filter.typed_config().Is<Router>()) {
      return problems_.fail(filterPath, "unsupported HTTP filter " + quote(filter.name()) +
                                            " (expected " + std::string(kFaultFilter) + ", " +
                                            std::string(kLocalRateLimitFilter) + " and " +
                                            std::string(kRouterFilter) + ")");
    }
    if (i + 1 != hcm.http_filters_size()) {
      return problems_.fail(filterPath, "the router filter must be the last HTTP filter");
    }
    Router router;
    if (!unpack(filter.typed_config(), router, problems_, filterPath + ".typed_config") ||
        !onlyFields(router, {}, problems_, filterPath + ".typed_config")) {
      return false;
    }
  }
  return true;
}

bool ListenerDecoder::decodeRoutes(const HttpConnectionManager& hcm, const std::string& path,
                                   config::Listener& out) {
  switch (hcm.route_specifier_case()) {
    case HttpConnectionManager::kRds: {
      const auto& rds = hcm.rds();
      const std::string rdsPath = path + ".rds";
      if (!onlyFields(rds, {"config_source", "route_config_name"}, problems_, rdsPath) ||
          !onlyFields(rds.config_source(), {"ads", "resource_api_version"}, problems_,
                      rdsPath + ".config_source")) {
        return false;
      }
      if (!rds.config_source().has_ads()) {
        return problems_.fail(rdsPath + ".config_source", "must be ads (RDS over ADS)");
      }
      auto it = routeTables_.find(rds.route_config_name());
      if (it == routeTables_.end()) {
        return problems_.fail(
            rdsPath + ".route_config_name",
            "RouteConfiguration " + quote(rds.route_config_name()) + " not found");
      }
      out.routes = it->second;
      return true;
    }
    case HttpConnectionManager::kRouteConfig:
      return decodeRouteConfiguration(hcm.route_config(), clusters_, problems_,
                                      path + ".route_config", out.routes);
    default:
      return problems_.fail(path, "missing rds or route_config");
  }
}

bool ListenerDecoder::decodeConnectionManager(const Filter& filter, const std::string& path,
                                              bool autoListener, config::Listener& out) {
  const std::string hcmPath = path + ".typed_config";
  HttpConnectionManager hcm;
  if (!unpack(filter.typed_config(), hcm, problems_, hcmPath) ||
      !onlyFields(
          hcm,
          {"codec_type", "stat_prefix", "rds", "route_config", "http_filters",
           "max_request_headers_kb", "common_http_protocol_options", "http2_protocol_options",
           "request_headers_timeout", "stream_idle_timeout", "strip_any_host_port"},
          problems_, hcmPath)) {
    return false;
  }
  switch (hcm.codec_type()) {
    case HttpConnectionManager::AUTO:
      out.protocol = autoListener ? config::ListenerProtocol::Auto : config::ListenerProtocol::Http;
      break;
    case HttpConnectionManager::HTTP2:
      if (!autoListener) {
        out.protocol = config::ListenerProtocol::Http2;
        break;
      }
      [[fallthrough]];
    default:
      return problems_.fail(hcmPath + ".codec_type",
                            "unsupported codec_type " +
                                quote(HttpConnectionManager::CodecType_Name(hcm.codec_type())) +
                                (autoListener ? " (expected AUTO with protocol detection)"
                                              : " (expected AUTO or HTTP2)"));
  }
  if (!decodeHttpFilters(hcm, hcmPath) || !decodeRoutes(hcm, hcmPath, out)) return false;
  config::HttpLimits& http = out.http;
  if (hcm.has_max_request_headers_kb()) {
    auto kb = inRange(hcm.max_request_headers_kb().value(), 1, 1024, problems_,
                      hcmPath + ".max_request_headers_kb");
    if (!kb) return false;
    headersKb_ = static_cast<uint32_t>(*kb);
    http.maxRequestHeadersBytes = static_cast<uint32_t>(*kb * 1024);
  }
  const auto& common = hcm.common_http_protocol_options();
  const std::string commonPath = hcmPath + ".common_http_protocol_options";
  if (!onlyFields(common, {"idle_timeout", "max_headers_count"}, problems_, commonPath)) {
    return false;
  }
  if (common.has_idle_timeout()) {
    auto idle = toDuration(common.idle_timeout(), problems_, commonPath + ".idle_timeout");
    if (!idle) return false;
    http.idleTimeout = *idle;
  }
  if (common.has_max_headers_count()) {
    auto count = inRange(common.max_headers_count().value(), 1, 10000, problems_,
                         commonPath + ".max_headers_count");
    if (!count) return false;
    http.maxHeaders = static_cast<uint32_t>(*count);
  }
  if (hcm.has_request_headers_timeout()) {
    auto timeout =
        toDuration(hcm.request_headers_timeout(), problems_, hcmPath + ".request_headers_timeout");
    if (!timeout) return false;
    http.headerTimeout = *timeout;
  }
  if (hcm.has_stream_idle_timeout()) {
    const auto& idle = hcm.stream_idle_timeout();
    if (idle.seconds() == 0 && idle.nanos() == 0) {
      http.streamIdleTimeout = config::Duration(0);  // none
    } else {
      auto timeout = toDuration(idle, problems_, hcmPath + ".stream_idle_timeout");
      if (!timeout) return false;
      http.streamIdleTimeout = *timeout;
    }
  }
  const auto& h2 = hcm.http2_protocol_options();
  const std::string h2Path = hcmPath + ".http2_protocol_options";
  if (!onlyFields(h2,
                  {"max_concurrent_streams", "initial_stream_window_size",
                   "initial_connection_window_size"},
                  problems_, h2Path)) {
    return false;
  }
  struct Limit {
    bool present;
    uint64_t value;
    const char* field;
    uint64_t min;
    uint64_t max;
    uint32_t& target;
  };
  const Limit limits[] = {
      {h2.has_max_concurrent_streams(), h2.max_concurrent_streams().value(),
       "max_concurrent_streams", 1, 100000, http.http2.maxConcurrentStreams},
      {h2.has_initial_stream_window_size(), h2.initial_stream_window_size().value(),
       "initial_stream_window_size", 1024, kMaxWindow, http.http2.initialStreamWindowSize},
      {h2.has_initial_connection_window_size(), h2.initial_connection_window_size().value(),
       "initial_connection_window_size", 65535, kMaxWindow, http.http2.connectionWindowSize},
  };
  for (const Limit& limit : limits) {
    if (!limit.present) continue;
    auto value = inRange(limit.value, limit.min, limit.max, problems_,
                         fmt::format("{}.{}", h2Path, limit.field));
    if (!value) return false;
    limit.target = static_cast<uint32_t>(*value);
  }
  return true;
}

bool ListenerDecoder::decodeTcpProxy(const Filter& filter, const std::string& path,
                                     config::Listener& out) {
  const std::string proxyPath = path + ".typed_config";
  TcpProxy proxy;
  if (!unpack(filter.typed_config(), proxy, problems_, proxyPath) ||
      !onlyFields(proxy, {"stat_prefix", "cluster", "idle_timeout"}, problems_, proxyPath)) {
    return false;
  }
  if (proxy.cluster().empty()) return problems_.fail(proxyPath + ".cluster", "missing");
  out.tcpCluster = resolveCluster(proxy.cluster(), clusters_);
  if (proxy.has_idle_timeout()) {
    auto idle = toDuration(proxy.idle_timeout(), problems_, proxyPath + ".idle_timeout");
    if (!idle) return false;
    out.tcpIdleTimeout = *idle;
  }
  return true;
}

bool ListenerDecoder::decodeChain(const FilterChain& chain, const std::string& path,
                                  bool autoListener, config::Listener& out) {
  if (chain.filters_size() != 1) {
    return problems_.fail(path + ".filters", "expected one network filter (" +
                                                 std::string(kHttpConnectionManagerFilter) +
                                                 " or " + std::string(kTcpProxyFilter) + ")");
  }
  const std::string filterPath = path + ".filters[0]";
  auto kind = filterKind(chain.filters(0), filterPath);
  if (!kind) return false;
  if (autoListener && *kind != FilterKind::ConnectionManager) {
    return problems_.fail(
        filterPath, "the HTTP filter chain needs " + std::string(kHttpConnectionManagerFilter));
  }
  if (*kind == FilterKind::TcpProxy) {
    out.protocol = config::ListenerProtocol::Tcp;
    return decodeTcpProxy(chain.filters(0), filterPath, out);
  }
  return decodeConnectionManager(chain.filters(0), filterPath, autoListener, out);
}

bool ListenerDecoder::decodeAutoShape(const Listener& in, config::Listener& out) {
  if (in.listener_filters_size() != 1) {
    return problems_.fail("listener_filters", "expected only " + std::string(kHttpInspectorFilter) +
                                                  " (protocol detection)");
  }
  const auto& inspector = in.listener_filters(0);
  if (!onlyFields(inspector, {"name", "typed_config"}, problems_, "listener_filters[0]")) {
    return false;
  }
  const auto& any = inspector.typed_config();
  const std::string_view typeName = kHttpInspectorType.substr(kHttpInspectorType.rfind('/'));
  if (!std::string_view(any.type_url()).ends_with(typeName)) {
    return problems_.fail("listener_filters[0]", "unsupported listener filter " +
                                                     quote(inspector.name()) + " (only " +
                                                     std::string(kHttpInspectorFilter) + ")");
  }
  if (!any.value().empty()) {
    return problems_.fail("listener_filters[0].typed_config", "HttpInspector takes no settings");
  }
  if (!in.continue_on_listener_filters_timeout()) {
    return problems_.fail("continue_on_listener_filters_timeout",
                          "must be true (silent clients go to the default filter chain)");
  }
  if (in.has_listener_filters_timeout()) {
    auto timeout = toDuration(in.listener_filters_timeout(), problems_, "listener_filters_timeout");
    if (!timeout) return false;
    out.detectTimeout = *timeout;
  }
  if (in.filter_chains_size() != 1) {
    return problems_.fail("filter_chains", "expected exactly one filter chain (HTTP)");
  }
  const auto& chain = in.filter_chains(0);
  const auto& match = chain.filter_chain_match();
  if (!onlyFields(chain, {"filters", "filter_chain_match", "name"}, problems_,
                  "filter_chains[0]") ||
      !onlyFields(match, {"application_protocols"}, problems_,
                  "filter_chains[0].filter_chain_match")) {
    return false;
  }
  for (const char* protocol : {"http/1.1", "h2c"}) {
    const auto& protocols = match.application_protocols();
    if (std::find(protocols.begin(), protocols.end(), protocol) == protocols.end()) {
      return problems_.fail("filter_chains[0].filter_chain_match.application_protocols",
                            fmt::format("must include \"{}\"", protocol));
    }
  }
  if (!decodeChain(chain, "filter_chains[0]", true, out)) return false;
  if (!in.has_default_filter_chain()) {
    return problems_.fail("default_filter_chain", "missing (the TCP side of protocol detection)");
  }
  const auto& fallback = in.default_filter_chain();
  if (!onlyFields(fallback, {"filters", "name"}, problems_, "default_filter_chain")) return false;
  if (fallback.filters_size() != 1) {
    return problems_.fail("default_filter_chain.filters",
                          "expected one network filter (" + std::string(kTcpProxyFilter) + ")");
  }
  auto kind = filterKind(fallback.filters(0), "default_filter_chain.filters[0]");
  if (!kind) return false;
  if (*kind != FilterKind::TcpProxy) {
    return problems_.fail("default_filter_chain.filters[0]",
                          "expected " + std::string(kTcpProxyFilter));
  }
  return decodeTcpProxy(fallback.filters(0), "default_filter_chain.filters[0]", out);
}

bool ListenerDecoder::decodeSettings(const Listener& in, config::Listener& out) {
  FieldsReader settings(in.has_metadata() ? &in.metadata() : nullptr, problems_, "metadata");
  config::HttpLimits& http = out.http;
  if (auto bytes = settings.integer("maxRequestHeadersBytes", 1024, 1 << 20)) {
    // Refines max_request_headers_kb, which Envoy reads: it must round up to it.
    if (!headersKb_ || (*bytes + 1023) / 1024 != *headersKb_) {
      return problems_.fail(settings.pathOf("maxRequestHeadersBytes"),
                            "does not agree with max_request_headers_kb");
    }
    http.maxRequestHeadersBytes = static_cast<uint32_t>(*bytes);
  }
  if (auto bytes = settings.integer("maxUrlBytes", 64, 1 << 20)) {
    http.maxUrlBytes = static_cast<uint32_t>(*bytes);
  }
  if (auto bytes = settings.bigInteger("maxRequestBodyBytes", 0, INT64_MAX)) {
    http.maxRequestBodyBytes = static_cast<uint64_t>(*bytes);
  }
  if (auto timeout = settings.duration("drainTimeoutMs")) http.drainTimeout = *timeout;
  if (auto size = settings.integer("http2MaxFrameSize", 16384, 16777215)) {
    http.http2.maxFrameSize = static_cast<uint32_t>(*size);
  }
  if (auto size = settings.integer("http2MaxHeaderListSize", 1024, 1 << 24)) {
    http.http2.maxHeaderListSize = static_cast<uint32_t>(*size);
  }
  if (auto rate = settings.integer("http2MaxResetsPerSecond", 1, 1000000)) {
    http.http2.maxResetsPerSecond = static_cast<uint32_t>(*rate);
  }
  if (auto timeout = settings.duration("http2WindowStallTimeoutMs")) {
    http.http2.windowStallTimeout = *timeout;
  }
  if (!readRateLimit(settings, "connectionRateLimit", out.connectionRateLimit)) return false;
  if (auto service = settings.string("service")) out.service = *service;
  if (!decodeAuthorization(settings, out.service, authorization_)) return false;
  return settings.finish();
}

bool ListenerDecoder::decode(const Listener& tlsForm, config::Listener& out) {
  std::optional<Listener> stripped;
  if (!decodeInboundMtls(tlsForm, stripped, problems_, out)) return false;
  const Listener& in = stripped ? *stripped : tlsForm;
  if (!onlyFields(in,
                  {"name", "address", "filter_chains", "default_filter_chain", "listener_filters",
                   "listener_filters_timeout", "continue_on_listener_filters_timeout",
                   "per_connection_buffer_limit_bytes", "metadata"},
                  problems_, "")) {
    return false;
  }
  if (in.name().empty()) return problems_.fail("name", "must not be empty");
  out.name = in.name();
  if (!in.has_address()) return problems_.fail("address", "missing");
  auto address = toHostPort(in.address(), problems_, "address");
  if (!address) return false;
  out.address = address->host;
  out.port = address->port;
  if (in.has_per_connection_buffer_limit_bytes()) {
    auto bytes = inRange(in.per_connection_buffer_limit_bytes().value(), 4096, 64 << 20, problems_,
                         "per_connection_buffer_limit_bytes");
    if (!bytes) return false;
    out.http.bufferBytes = static_cast<uint32_t>(*bytes);
  }
  if (!in.listener_filters().empty() || in.has_default_filter_chain()) {
    if (!decodeAutoShape(in, out)) return false;
  } else {
    if (in.has_listener_filters_timeout() || in.continue_on_listener_filters_timeout()) {
      return problems_.fail("listener_filters_timeout",
                            "only with protocol detection (the http_inspector listener filter)");
    }
    if (in.filter_chains_size() != 1) {
      return problems_.fail("filter_chains", "expected exactly one filter chain");
    }
    if (!onlyFields(in.filter_chains(0), {"filters", "name"}, problems_, "filter_chains[0]") ||
        !decodeChain(in.filter_chains(0), "filter_chains[0]", false, out)) {
      return false;
    }
  }
  return decodeSettings(in, out);
}

}  // namespace

bool decodeListener(const Listener& listener,
                    const std::map<std::string, config::RouteTableConfig>& routeTables,
                    const ClusterMap& clusters, Problems& problems, config::Listener& out,
                    std::vector<config::AuthorizationPolicy>& authorization) {
  return ListenerDecoder(routeTables, clusters, problems, authorization).decode(listener, out);
}

}  // namespace trellis::xds::detail
