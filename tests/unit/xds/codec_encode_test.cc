// encode() puts each setting in the standard Envoy field that Envoy and proxyless gRPC clients
// read, and only Trellis-only settings in metadata["trellis.dev"].

#include <gtest/gtest.h>

#include "config/dump.h"
#include "config/loader.h"
#include "envoy/extensions/filters/http/router/v3/router.pb.h"
#include "envoy/extensions/filters/network/http_connection_manager/v3/http_connection_manager.pb.h"
#include "envoy/extensions/filters/network/tcp_proxy/v3/tcp_proxy.pb.h"
#include "xds/codec/codec.h"

namespace trellis::xds {
namespace {

using envoy::config::core::v3::HeaderValueOption;
using envoy::config::listener::v3::Listener;
using envoy::config::route::v3::RedirectAction;
using envoy::config::route::v3::Route;
using envoy::config::route::v3::RouteAction;
using envoy::config::route::v3::RouteConfiguration;
using envoy::extensions::filters::http::router::v3::Router;
using envoy::extensions::filters::network::http_connection_manager::v3::HttpConnectionManager;
using envoy::extensions::filters::network::tcp_proxy::v3::TcpProxy;

constexpr const char* kListeners = R"(
apiVersion: trellis.dev/v1alpha1
kind: Listener
metadata: {name: web, namespace: shop}
spec:
  address: 127.0.0.2
  port: 8080
  http:
    maxRequestHeadersBytes: 50000
    maxHeaders: 77
    maxUrlBytes: 2048
    maxRequestBodyBytes: 1000
    bufferBytes: 8192
    headerTimeout: 3s
    idleTimeout: 2m
    drainTimeout: 7s
    http2: {maxConcurrentStreams: 50, initialStreamWindowSize: 70000, connectionWindowSize: 80000,
            maxFrameSize: 20000, maxHeaderListSize: 9000, maxResetsPerSecond: 9,
            windowStallTimeout: 11s}
---
apiVersion: trellis.dev/v1alpha1
kind: Listener
metadata: {name: grpc, namespace: shop}
spec: {port: 8081, protocol: HTTP2}
---
apiVersion: trellis.dev/v1alpha1
kind: Listener
metadata: {name: db, namespace: shop}
spec: {port: 5432, protocol: TCP, tcp: {backendRef: {name: pg, port: 5432}, idleTimeout: 5m}}
---
apiVersion: trellis.dev/v1alpha1
kind: Listener
metadata: {name: mixed, namespace: shop}
spec: {port: 9000, protocol: AUTO, detectTimeout: 300ms, tcp: {backendRef: {name: gone, port: 1}}}
---
apiVersion: trellis.dev/v1alpha1
kind: Service
metadata: {name: pg, namespace: shop}
spec: {ports: [{port: 5432, appProtocol: tcp}], endpoints: [{address: 10.0.0.5}]}
---
apiVersion: trellis.dev/v1alpha1
kind: Service
metadata: {name: a, namespace: shop}
spec: {ports: [{port: 80}], endpoints: [{address: 10.0.0.1}]}
---
apiVersion: trellis.dev/v1alpha1
kind: Service
metadata: {name: b, namespace: shop}
spec: {ports: [{port: 80}], endpoints: [{address: 10.0.0.2}]}
---
apiVersion: gateway.networking.k8s.io/v1
kind: HTTPRoute
metadata: {name: r, namespace: shop, creationTimestamp: "2024-01-02T03:04:05Z"}
spec:
  parentRefs: [{group: trellis.dev, kind: Listener, name: web}]
  hostnames: [shop.example.com, "*.example.com"]
  rules:
  - matches:
    - path: {type: Exact, value: /exact}
      headers: [{name: X-Exact, value: "1"}, {type: RegularExpression, name: x-re, value: "a+"}]
      queryParams: [{name: q, value: v}, {type: RegularExpression, name: r, value: "[0-9]"}]
      method: PATCH
    backendRefs: [{name: a}]
  - matches: [{path: {type: PathPrefix, value: /api/}}]
    filters:
    - type: RequestHeaderModifier
      requestHeaderModifier: {set: [{name: x-s, value: "1"}], add: [{name: x-a, value: "2"}],
                              remove: [x-r]}
    - type: ResponseHeaderModifier
      responseHeaderModifier: {set: [{name: x-rs, value: "3"}], remove: [server]}
    - type: URLRewrite
      urlRewrite: {hostname: internal.example, path: {type: ReplacePrefixMatch, replacePrefixMatch: /v2}}
    - type: RequestMirror
      requestMirror: {backendRef: {name: b}}
    backendRefs: [{name: a, weight: 3}, {name: b, weight: 1}, {name: nobody, port: 80, weight: 2}]
  - matches: [{path: {type: RegularExpression, value: "/re/.*"}}]
    filters:
    - type: URLRewrite
      urlRewrite: {path: {type: ReplaceFullPath, replaceFullPath: /fixed}}
    backendRefs: [{name: nobody, port: 80}]
  - matches: [{path: {value: /moved}}]
    filters:
    - type: RequestRedirect
      requestRedirect: {scheme: https, hostname: new.example, port: 8443, statusCode: 307,
                        path: {type: ReplaceFullPath, replaceFullPath: /new}}
  - matches: [{path: {value: /broken}}]
)";

class Encoded : public ::testing::Test {
 protected:
  void SetUp() override {
    config::LoadResult loaded = config::loadString(kListeners, "encode.yaml");
    ASSERT_TRUE(loaded.ok()) << loaded.errors.front().toString();
    resources_ = encode(*loaded.snapshot);
    ASSERT_EQ(resources_.listeners.size(), 4u);
  }

  const Listener& listener(size_t index) const { return resources_.listeners[index]; }

  HttpConnectionManager hcm(const Listener& listener, int chain = 0) const {
    HttpConnectionManager out;
    EXPECT_EQ(listener.filter_chains(chain).filters(0).name(),
              "envoy.filters.network.http_connection_manager");
    EXPECT_TRUE(listener.filter_chains(chain).filters(0).typed_config().UnpackTo(&out));
    return out;
  }

  const Route& route(const std::string& domain, size_t index) const {
    for (const auto& host : resources_.routes[0].virtual_hosts()) {
      if (host.domains(0) == domain) return host.routes(static_cast<int>(index));
    }
    ADD_FAILURE() << "no virtual host " << domain;
    return resources_.routes[0].virtual_hosts(0).routes(0);
  }

  const google::protobuf::Struct& trellis(const envoy::config::core::v3::Metadata& metadata) const {
    return metadata.filter_metadata().at(std::string(kTrellisMetadata));
  }

  Resources resources_;
};

TEST_F(Encoded, HttpListenerUsesTheConnectionManagerFields) {
  const Listener& web = listener(0);
  EXPECT_EQ(web.name(), "shop/web");
  EXPECT_EQ(web.address().socket_address().address(), "127.0.0.2");
  EXPECT_EQ(web.address().socket_address().port_value(), 8080u);
  EXPECT_EQ(web.per_connection_buffer_limit_bytes().value(), 8192u);
  HttpConnectionManager manager = hcm(web);
  EXPECT_EQ(manager.codec_type(), HttpConnectionManager::AUTO);
  EXPECT_EQ(manager.rds().route_config_name(), "shop/web");
  EXPECT_TRUE(manager.rds().config_source().has_ads());
  EXPECT_EQ(manager.max_request_headers_kb().value(), 49u);  // 50000 bytes, rounded up
  EXPECT_EQ(manager.common_http_protocol_options().idle_timeout().seconds(), 120);
  EXPECT_EQ(manager.common_http_protocol_options().max_headers_count().value(), 77u);
  EXPECT_EQ(manager.request_headers_timeout().seconds(), 3);
  EXPECT_EQ(manager.http2_protocol_options().max_concurrent_streams().value(), 50u);
  EXPECT_EQ(manager.http2_protocol_options().initial_stream_window_size().value(), 70000u);
  EXPECT_EQ(manager.http2_protocol_options().initial_connection_window_size().value(), 80000u);
  EXPECT_TRUE(manager.strip_any_host_port());
  EXPECT_EQ(manager.stream_idle_timeout().seconds(), 300);  // the default, explicitly
  // The fault and local_ratelimit filters apply the routes' typed_per_filter_config.
  ASSERT_EQ(manager.http_filters_size(), 3);
  EXPECT_EQ(manager.http_filters(0).name(), "envoy.filters.http.fault");
  EXPECT_EQ(manager.http_filters(1).name(), "envoy.filters.http.local_ratelimit");
  EXPECT_EQ(manager.http_filters(2).name(), "envoy.filters.http.router");
  EXPECT_TRUE(manager.http_filters(2).typed_config().Is<Router>());

  const auto& fields = trellis(web.metadata()).fields();
  EXPECT_EQ(fields.at("maxRequestHeadersBytes").number_value(), 50000);
  EXPECT_EQ(fields.at("maxUrlBytes").number_value(), 2048);
  EXPECT_EQ(fields.at("maxRequestBodyBytes").string_value(), "1000");
  EXPECT_EQ(fields.at("drainTimeoutMs").number_value(), 7000);
  EXPECT_EQ(fields.at("http2MaxFrameSize").number_value(), 20000);
  EXPECT_EQ(fields.at("http2MaxHeaderListSize").number_value(), 9000);
  EXPECT_EQ(fields.at("http2MaxResetsPerSecond").number_value(), 9);
  EXPECT_EQ(fields.at("http2WindowStallTimeoutMs").number_value(), 11000);
  EXPECT_EQ(fields.size(), 8u);  // nothing Envoy has a field for
}

TEST_F(Encoded, Http2ListenerSpeaksOnlyHttp2) {
  EXPECT_EQ(hcm(listener(1)).codec_type(), HttpConnectionManager::HTTP2);
}

TEST_F(Encoded, TcpListenerIsATcpProxy) {
  const Listener& db = listener(2);
  ASSERT_EQ(db.filter_chains_size(), 1);
  EXPECT_EQ(db.filter_chains(0).filters(0).name(), "envoy.filters.network.tcp_proxy");
  TcpProxy proxy;
  ASSERT_TRUE(db.filter_chains(0).filters(0).typed_config().UnpackTo(&proxy));
  EXPECT_EQ(proxy.cluster(), "shop/pg:5432");
  EXPECT_EQ(proxy.idle_timeout().seconds(), 300);
  EXPECT_EQ(proxy.stat_prefix(), "shop/db");
  EXPECT_FALSE(db.has_metadata());
}

TEST_F(Encoded, AutoListenerDetectsHttpAndFallsBackToTcp) {
  const Listener& mixed = listener(3);
  ASSERT_EQ(mixed.listener_filters_size(), 1);
  EXPECT_EQ(mixed.listener_filters(0).name(), "envoy.filters.listener.http_inspector");
  EXPECT_EQ(mixed.listener_filters(0).typed_config().type_url(),
            "type.googleapis.com/envoy.extensions.filters.listener.http_inspector.v3."
            "HttpInspector");
  EXPECT_EQ(mixed.listener_filters_timeout().nanos(), 300000000);
  EXPECT_TRUE(mixed.continue_on_listener_filters_timeout());
  ASSERT_EQ(mixed.filter_chains_size(), 1);
  const auto& protocols = mixed.filter_chains(0).filter_chain_match().application_protocols();
  EXPECT_EQ(std::vector<std::string>(protocols.begin(), protocols.end()),
            (std::vector<std::string>{"http/1.0", "http/1.1", "h2c"}));
  EXPECT_EQ(hcm(mixed).codec_type(), HttpConnectionManager::AUTO);
  TcpProxy proxy;
  ASSERT_TRUE(mixed.default_filter_chain().filters(0).typed_config().UnpackTo(&proxy));
  // The Service does not exist: a cluster name CDS never has, so Envoy closes the connection.
  EXPECT_EQ(proxy.cluster(), kUnresolvedCluster);
}

TEST_F(Encoded, OneVirtualHostPerHostnameWithRulesInPrecedenceOrder) {
  ASSERT_EQ(resources_.routes.size(), 3u);  // web, grpc and mixed serve HTTP
  const RouteConfiguration& config = resources_.routes[0];
  EXPECT_EQ(config.name(), "shop/web");
  ASSERT_EQ(config.virtual_hosts_size(), 2);
  EXPECT_EQ(config.virtual_hosts(0).domains(0), "shop.example.com");
  EXPECT_EQ(config.virtual_hosts(1).domains(0), "*.example.com");
  const auto& routes = config.virtual_hosts(0).routes();
  ASSERT_EQ(routes.size(), 5);
  // Exact, then regular expressions, then prefixes longest first.
  EXPECT_EQ(routes[0].match().path(), "/exact");
  EXPECT_EQ(routes[1].match().safe_regex().regex(), "/re/.*");
  EXPECT_EQ(routes[2].match().path_separated_prefix(), "/broken");
  EXPECT_EQ(routes[3].match().path_separated_prefix(), "/moved");
  EXPECT_EQ(routes[4].match().path_separated_prefix(), "/api");
  EXPECT_EQ(routes[0].name(), "shop/r");
}

TEST_F(Encoded, MatchesUseHeaderQueryAndMethodMatchers) {
  const auto& match = route("shop.example.com", 0).match();
  ASSERT_EQ(match.headers_size(), 3);
  EXPECT_EQ(match.headers(0).name(), "x-exact");
  EXPECT_EQ(match.headers(0).string_match().exact(), "1");
  EXPECT_EQ(match.headers(1).string_match().safe_regex().regex(), "a+");
  EXPECT_EQ(match.headers(2).name(), ":method");
  EXPECT_EQ(match.headers(2).string_match().exact(), "PATCH");
  ASSERT_EQ(match.query_parameters_size(), 2);
  EXPECT_EQ(match.query_parameters(0).string_match().exact(), "v");
  EXPECT_EQ(match.query_parameters(1).string_match().safe_regex().regex(), "[0-9]");
}

TEST_F(Encoded, FiltersAndWeightedBackendsUseRouteFields) {
  const Route& api = route("shop.example.com", 4);
  // "/api/": the trailing slash counts for precedence, so the exact value rides along.
  EXPECT_EQ(trellis(api.metadata())
                .fields()
                .at("pathMatch")
                .struct_value()
                .fields()
                .at("value")
                .string_value(),
            "/api/");
  ASSERT_EQ(api.request_headers_to_add_size(), 2);
  EXPECT_EQ(api.request_headers_to_add(0).header().key(), "x-s");
  EXPECT_EQ(api.request_headers_to_add(0).append_action(),
            HeaderValueOption::OVERWRITE_IF_EXISTS_OR_ADD);
  EXPECT_EQ(api.request_headers_to_add(1).append_action(),
            HeaderValueOption::APPEND_IF_EXISTS_OR_ADD);
  EXPECT_EQ(api.request_headers_to_remove(0), "x-r");
  EXPECT_EQ(api.response_headers_to_add(0).header().value(), "3");
  EXPECT_EQ(api.response_headers_to_remove(0), "server");
  const RouteAction& action = api.route();
  EXPECT_EQ(action.host_rewrite_literal(), "internal.example");
  EXPECT_EQ(action.prefix_rewrite(), "/v2");
  ASSERT_EQ(action.request_mirror_policies_size(), 1);
  EXPECT_EQ(action.request_mirror_policies(0).cluster(), "shop/b:80");
  ASSERT_EQ(action.weighted_clusters().clusters_size(), 3);
  EXPECT_EQ(action.weighted_clusters().clusters(0).name(), "shop/a:80");
  EXPECT_EQ(action.weighted_clusters().clusters(0).weight().value(), 3u);
  EXPECT_EQ(action.weighted_clusters().clusters(2).name(), kUnresolvedCluster);
  EXPECT_EQ(action.cluster_not_found_response_code(), RouteAction::INTERNAL_SERVER_ERROR);
  EXPECT_TRUE(action.has_timeout());
  EXPECT_EQ(action.timeout().seconds(), 0);
}

TEST_F(Encoded, FullPathRewriteAndUnresolvedSingleBackend) {
  const RouteAction& action = route("shop.example.com", 1).route();
  EXPECT_EQ(action.cluster(), kUnresolvedCluster);
  EXPECT_EQ(action.regex_rewrite().pattern().regex(), "^/.*$");
  EXPECT_EQ(action.regex_rewrite().substitution(), "/fixed");
}

TEST_F(Encoded, RedirectsAndRulesWithoutBackends) {
  const RedirectAction& redirect = route("shop.example.com", 3).redirect();
  EXPECT_EQ(redirect.scheme_redirect(), "https");
  EXPECT_EQ(redirect.host_redirect(), "new.example");
  EXPECT_EQ(redirect.port_redirect(), 8443u);
  EXPECT_EQ(redirect.path_redirect(), "/new");
  EXPECT_EQ(redirect.response_code(), RedirectAction::TEMPORARY_REDIRECT);
  EXPECT_EQ(route("shop.example.com", 2).direct_response().status(), 500u);
}

TEST_F(Encoded, TieBreakersTravelAsMetadata) {
  const auto& fields = trellis(route("*.example.com", 4).metadata()).fields();
  EXPECT_EQ(fields.at("creationTimestamp").string_value(), "1704164645");
  EXPECT_EQ(fields.at("ruleIndex").number_value(), 1);
  EXPECT_EQ(fields.count("routeOrder"), 0u);  // zero values are left out
}

TEST(EncodeGrpc, ApiListenerTakesRdsOverAdsWithTheRouterLast) {
  Listener listener = encodeApiListener("billing.shop:50051", "billing-routes");
  EXPECT_EQ(listener.name(), "billing.shop:50051");
  HttpConnectionManager manager;
  ASSERT_TRUE(listener.api_listener().api_listener().UnpackTo(&manager));
  EXPECT_EQ(manager.rds().route_config_name(), "billing-routes");
  EXPECT_TRUE(manager.rds().config_source().has_ads());
  ASSERT_GE(manager.http_filters_size(), 1);
  const auto& last = manager.http_filters(manager.http_filters_size() - 1);
  EXPECT_EQ(last.name(), "envoy.filters.http.router");
  EXPECT_TRUE(last.typed_config().Is<Router>());
  // gRPC clients inject faults themselves; they have no local_ratelimit filter (gRPC would NACK).
  ASSERT_EQ(manager.http_filters_size(), 2);
  EXPECT_EQ(manager.http_filters(0).name(), "envoy.filters.http.fault");
}

TEST(EncodeGrpc, RoutesUseTheFormsGrpcReads) {
  config::LoadResult loaded = config::loadString(R"(
apiVersion: trellis.dev/v1alpha1
kind: Listener
metadata: {name: web}
spec: {port: 80}
---
apiVersion: trellis.dev/v1alpha1
kind: Service
metadata: {name: s}
spec: {ports: [{port: 80, appProtocol: grpc}], endpoints: [{address: 10.0.0.1}]}
---
apiVersion: gateway.networking.k8s.io/v1
kind: HTTPRoute
metadata: {name: h}
spec:
  parentRefs: [{group: trellis.dev, kind: Listener, name: web}]
  hostnames: [billing]
  rules:
  - matches:
    - path: {value: /pkg.Svc}
      headers: [{name: x-tenant, value: a}, {type: RegularExpression, name: x-r, value: "b+"}]
    - path: {value: /pkg.Svc/Method}
    - path: {value: /}
    backendRefs: [{name: s, weight: 4}, {name: s, weight: 1}]
)",
                                                 "grpc.yaml");
  ASSERT_TRUE(loaded.ok()) << loaded.errors.front().toString();
  RouteConfiguration config =
      encodeRouteConfiguration("billing-routes", loaded.snapshot->listeners[0].routes);
  EXPECT_EQ(config.name(), "billing-routes");
  ASSERT_EQ(config.virtual_hosts_size(), 1);
  EXPECT_EQ(config.virtual_hosts(0).domains(0), "billing");
  const auto& routes = config.virtual_hosts(0).routes();
  ASSERT_EQ(routes.size(), 3);
  // Longest prefix first; gRPC 1.51 rejects path_separated_prefix and string_match.
  EXPECT_EQ(routes[0].match().path(), "/pkg.Svc/Method");
  EXPECT_EQ(routes[1].match().prefix(), "/pkg.Svc/");
  EXPECT_EQ(routes[2].match().prefix(), "/");
#pragma GCC diagnostic push
#pragma GCC diagnostic ignored "-Wdeprecated-declarations"
  EXPECT_EQ(routes[1].match().headers(0).exact_match(), "a");
  EXPECT_EQ(routes[1].match().headers(1).safe_regex_match().regex(), "b+");
  // gRPC 1.51 requires the weights to add up to total_weight (default 100).
  EXPECT_EQ(routes[0].route().weighted_clusters().total_weight().value(), 5u);
#pragma GCC diagnostic pop
  for (const Route& route : routes) {
    EXPECT_FALSE(route.match().has_path_separated_prefix());
    for (const auto& header : route.match().headers()) EXPECT_FALSE(header.has_string_match());
  }

  // decode reads the gRPC forms back into the same rules as the Envoy forms.
  Resources resources = encode(*loaded.snapshot);
  DecodeResult fromEnvoyForms = decode(resources);
  ASSERT_TRUE(fromEnvoyForms.snapshot) << fromEnvoyForms.error;
  resources.routes[0] =
      encodeRouteConfiguration("default/web", loaded.snapshot->listeners[0].routes);
  DecodeResult fromGrpcForms = decode(resources);
  ASSERT_TRUE(fromGrpcForms.snapshot) << fromGrpcForms.error;
  EXPECT_EQ(config::toJson(*fromGrpcForms.snapshot), config::toJson(*fromEnvoyForms.snapshot));
}

TEST(EncodeSnapshot, RuleSettingsWithoutAYamlFieldSurviveTheRoundTrip) {
  config::Snapshot snapshot;
  config::Listener listener;
  listener.name = "default/web";
  listener.port = 80;
  config::RouteRule rule;
  rule.routeName = "default/r";
  rule.maxRequestBodyBytes = uint64_t{1} << 62;
  rule.creationTimestamp = -86400;  // before 1970
  rule.routeOrder = 4000000000u;
  rule.backends = {{"", 1}};
  listener.routes.routes.push_back({{}, {rule}});
  snapshot.listeners.push_back(listener);

  DecodeResult decoded = decode(encode(snapshot));
  ASSERT_TRUE(decoded.snapshot) << decoded.error;
  const config::RouteRule& back = decoded.snapshot->listeners[0].routes.routes[0].rules[0];
  EXPECT_EQ(back.maxRequestBodyBytes, uint64_t{1} << 62);
  EXPECT_EQ(back.creationTimestamp, -86400);
  EXPECT_EQ(back.routeOrder, 4000000000u);
  ASSERT_EQ(back.backends.size(), 1u);
  EXPECT_EQ(back.backends[0].cluster, "");  // unresolved stays unresolved
}

}  // namespace
}  // namespace trellis::xds
