// decode() rejects what the model cannot express with an error naming the type, the resource
// and the field (the NACK message), and treats a cluster missing from CDS as unresolved.

#include <google/protobuf/empty.pb.h>
#include <gtest/gtest.h>

#include <functional>

#include "config/loader.h"
#include "envoy/extensions/filters/http/router/v3/router.pb.h"
#include "envoy/extensions/filters/network/http_connection_manager/v3/http_connection_manager.pb.h"
#include "envoy/extensions/filters/network/tcp_proxy/v3/tcp_proxy.pb.h"
#include "xds/codec/codec.h"

namespace trellis::xds {
namespace {

using envoy::config::cluster::v3::Cluster;
using envoy::config::listener::v3::Listener;
using envoy::config::route::v3::Route;
using envoy::config::route::v3::RouteConfiguration;
using envoy::extensions::filters::http::router::v3::Router;
using envoy::extensions::filters::network::http_connection_manager::v3::HttpConnectionManager;
using envoy::extensions::filters::network::tcp_proxy::v3::TcpProxy;

constexpr const char* kBase = R"(
apiVersion: trellis.dev/v1alpha1
kind: Listener
metadata: {name: web, namespace: shop}
spec: {address: 127.0.0.1, port: 8080}
---
apiVersion: trellis.dev/v1alpha1
kind: Listener
metadata: {name: db, namespace: shop}
spec: {port: 5432, protocol: TCP, tcp: {backendRef: {name: a}}}
---
apiVersion: trellis.dev/v1alpha1
kind: Service
metadata: {name: a, namespace: shop}
spec: {ports: [{port: 80}], endpoints: [{address: 10.0.0.1}, {address: 10.0.0.2}]}
---
apiVersion: trellis.dev/v1alpha1
kind: Service
metadata: {name: b, namespace: shop}
spec: {ports: [{port: 80}], endpoints: [{address: 10.0.0.3}]}
---
apiVersion: gateway.networking.k8s.io/v1
kind: HTTPRoute
metadata: {name: r, namespace: shop}
spec:
  parentRefs: [{group: trellis.dev, kind: Listener, name: web}]
  hostnames: [shop.example.com]
  rules:
  - matches: [{path: {type: Exact, value: /exact}}]
    backendRefs: [{name: a}]
  - matches: [{path: {value: /api}, headers: [{name: x-h, value: v}]}]
    backendRefs: [{name: a, weight: 1}, {name: b, weight: 2}]
  - matches: [{path: {value: /}}]
    backendRefs: [{name: b}]
)";

class DecodeErrors : public ::testing::Test {
 protected:
  void SetUp() override {
    config::LoadResult loaded = config::loadString(kBase, "base.yaml");
    ASSERT_TRUE(loaded.ok()) << loaded.errors.front().toString();
    resources_ = encode(*loaded.snapshot);
    ASSERT_TRUE(decode(resources_).snapshot) << decode(resources_).error;
  }

  Listener& web() { return resources_.listeners[0]; }
  Listener& db() { return resources_.listeners[1]; }
  Route& route(int index) {
    return *resources_.routes[0].mutable_virtual_hosts(0)->mutable_routes(index);
  }
  Cluster& clusterA() { return resources_.clusters[0]; }

  // Edits the HttpConnectionManager of the web listener.
  void editHcm(const std::function<void(HttpConnectionManager&)>& edit) {
    auto* any = web().mutable_filter_chains(0)->mutable_filters(0)->mutable_typed_config();
    HttpConnectionManager hcm;
    ASSERT_TRUE(any->UnpackTo(&hcm));
    edit(hcm);
    any->PackFrom(hcm);
  }

  std::string error() {
    DecodeResult result = decode(resources_);
    EXPECT_EQ(result.snapshot, nullptr);
    return result.error;
  }

  Resources resources_;
};

TEST_F(DecodeErrors, ListenerWithoutConnectionManager) {
  web().mutable_filter_chains(0)->clear_filters();
  EXPECT_EQ(error(),
            "Listener \"shop/web\": filter_chains[0].filters: expected one network filter "
            "(envoy.filters.network.http_connection_manager or envoy.filters.network.tcp_proxy)");
}

TEST_F(DecodeErrors, ListenerWithoutFilterChains) {
  web().clear_filter_chains();
  EXPECT_EQ(error(), "Listener \"shop/web\": filter_chains: expected exactly one filter chain");
}

TEST_F(DecodeErrors, UnknownNetworkFilter) {
  auto* filter = web().mutable_filter_chains(0)->mutable_filters(0);
  filter->set_name("envoy.filters.network.redis_proxy");
  filter->mutable_typed_config()->PackFrom(google::protobuf::Empty());
  EXPECT_EQ(error(),
            "Listener \"shop/web\": filter_chains[0].filters[0]: unsupported network filter "
            "\"envoy.filters.network.redis_proxy\" (\"type.googleapis.com/"
            "google.protobuf.Empty\"; expected envoy.filters.network.http_connection_manager or "
            "envoy.filters.network.tcp_proxy)");
}

TEST_F(DecodeErrors, UnknownHttpFilter) {
  editHcm([](HttpConnectionManager& hcm) {
    auto* cors = hcm.add_http_filters();
    cors->set_name("envoy.filters.http.cors");
    cors->mutable_typed_config()->PackFrom(google::protobuf::Empty());
    hcm.mutable_http_filters()->SwapElements(0, 3);
  });
  EXPECT_EQ(error(),
            "Listener \"shop/web\": filter_chains[0].filters[0].typed_config.http_filters[0]: "
            "unsupported HTTP filter \"envoy.filters.http.cors\" (expected "
            "envoy.filters.http.fault, envoy.filters.http.local_ratelimit and "
            "envoy.filters.http.router)");
}

TEST_F(DecodeErrors, RouterFilterNotLast) {
  editHcm([](HttpConnectionManager& hcm) {
    *hcm.add_http_filters() = hcm.http_filters(0);
    hcm.mutable_http_filters()->DeleteSubrange(0, 1);
  });
  EXPECT_EQ(error(),
            "Listener \"shop/web\": filter_chains[0].filters[0].typed_config.http_filters[1]: the "
            "router filter must be the last HTTP filter");
}

TEST_F(DecodeErrors, MissingRouterFilter) {
  editHcm([](HttpConnectionManager& hcm) { hcm.clear_http_filters(); });
  EXPECT_EQ(error(),
            "Listener \"shop/web\": filter_chains[0].filters[0].typed_config.http_filters: "
            "missing the router filter (envoy.filters.http.router)");
}

TEST_F(DecodeErrors, UnsupportedCodec) {
  editHcm([](HttpConnectionManager& hcm) { hcm.set_codec_type(HttpConnectionManager::HTTP1); });
  EXPECT_EQ(error(),
            "Listener \"shop/web\": filter_chains[0].filters[0].typed_config.codec_type: "
            "unsupported codec_type \"HTTP1\" (expected AUTO or HTTP2)");
}

TEST_F(DecodeErrors, UnsupportedConnectionManagerFeature) {
  editHcm([](HttpConnectionManager& hcm) { hcm.mutable_use_remote_address()->set_value(true); });
  EXPECT_EQ(error(),
            "Listener \"shop/web\": filter_chains[0].filters[0].typed_config: unsupported "
            "use_remote_address");
}

TEST_F(DecodeErrors, RouteConfigurationNotFound) {
  editHcm([](HttpConnectionManager& hcm) { hcm.mutable_rds()->set_route_config_name("nope"); });
  EXPECT_EQ(error(),
            "Listener \"shop/web\": filter_chains[0].filters[0].typed_config.rds."
            "route_config_name: RouteConfiguration \"nope\" not found");
}

TEST_F(DecodeErrors, BadAddress) {
  web().mutable_address()->mutable_socket_address()->set_address("localhost");
  EXPECT_EQ(error(),
            "Listener \"shop/web\": address.socket_address.address: \"localhost\" is not an "
            "IPv4 or IPv6 address");
  web().mutable_address()->mutable_socket_address()->set_address("127.0.0.1");
  web().mutable_address()->mutable_socket_address()->set_port_value(70000);
  EXPECT_EQ(error(),
            "Listener \"shop/web\": address.socket_address.port_value: 70000 is out of range "
            "[1, 65535]");
}

TEST_F(DecodeErrors, TwoListenersOnOneAddress) {
  db().mutable_address()->mutable_socket_address()->set_address("127.0.0.1");
  db().mutable_address()->mutable_socket_address()->set_port_value(8080);
  EXPECT_EQ(error(),
            "Listener \"shop/db\": address: 127.0.0.1:8080 is already used by Listener "
            "\"shop/web\"");
}

TEST_F(DecodeErrors, UnsupportedPathMatchPolicy) {
  route(2).mutable_match()->mutable_path_match_policy()->set_name("uri_template");
  EXPECT_EQ(error(),
            "RouteConfiguration \"shop/web\": virtual_hosts[0].routes[2].match: unsupported "
            "path_match_policy");
}

TEST_F(DecodeErrors, PlainPrefixIsNotAGatewayPrefix) {
  route(1).mutable_match()->set_prefix("/api");
  EXPECT_EQ(error(),
            "RouteConfiguration \"shop/web\": virtual_hosts[0].routes[1].match.prefix: \"/api\" "
            "is unsupported: Gateway API prefixes match whole path segments (use "
            "path_separated_prefix, or prefix \"/\")");
}

TEST_F(DecodeErrors, UnsupportedHeaderMatch) {
  auto* header = route(1).mutable_match()->mutable_headers(0);
  header->mutable_string_match()->set_suffix("v");
  EXPECT_EQ(error(),
            "RouteConfiguration \"shop/web\": virtual_hosts[0].routes[1].match.headers[0]."
            "string_match: unsupported string match (expected exact or safe_regex)");
  header->set_present_match(true);
  EXPECT_EQ(error(),
            "RouteConfiguration \"shop/web\": virtual_hosts[0].routes[1].match.headers[0]: "
            "unsupported present_match");
}

TEST_F(DecodeErrors, InvalidRegularExpression) {
  route(0).mutable_match()->mutable_safe_regex()->set_regex("/(unclosed");
  EXPECT_EQ(error(),
            "RouteConfiguration \"shop/web\": virtual_hosts[0].routes[0].match.safe_regex.regex: "
            "invalid regular expression: missing ): /(unclosed");
}

TEST_F(DecodeErrors, HeaderValuesCannotCarryLineBreaks) {
  auto* option = route(0).add_request_headers_to_add();
  option->mutable_header()->set_key("x-injected");
  option->mutable_header()->set_value("a\r\nx-evil: 1");
  EXPECT_EQ(error(),
            "RouteConfiguration \"shop/web\": virtual_hosts[0].routes[0]."
            "request_headers_to_add[0].header.value: must not contain control characters (CR, LF, "
            "NUL, ...)");
}

TEST_F(DecodeErrors, WeightsSummingToZero) {
  auto* weighted = route(1).mutable_route()->mutable_weighted_clusters();
  for (auto& cluster : *weighted->mutable_clusters()) cluster.mutable_weight()->set_value(0);
  EXPECT_EQ(error(),
            "RouteConfiguration \"shop/web\": virtual_hosts[0].routes[1].route."
            "weighted_clusters: weights sum to 0 (at least one must be positive)");
}

TEST_F(DecodeErrors, TotalWeightThatIsNotTheSum) {
#pragma GCC diagnostic push
#pragma GCC diagnostic ignored "-Wdeprecated-declarations"
  route(1).mutable_route()->mutable_weighted_clusters()->mutable_total_weight()->set_value(100);
#pragma GCC diagnostic pop
  EXPECT_EQ(error(),
            "RouteConfiguration \"shop/web\": virtual_hosts[0].routes[1].route.weighted_clusters."
            "total_weight: 100 is not the sum of the weights (3)");
}

TEST_F(DecodeErrors, ClustersMissingFromCdsAreUnresolvedNotErrors) {
  route(0).mutable_route()->set_cluster("shop/nowhere:80");
  route(1).mutable_route()->mutable_weighted_clusters()->mutable_clusters(1)->set_name("other");
  TcpProxy proxy;
  auto* any = db().mutable_filter_chains(0)->mutable_filters(0)->mutable_typed_config();
  ASSERT_TRUE(any->UnpackTo(&proxy));
  proxy.set_cluster("shop/gone:1");
  any->PackFrom(proxy);
  DecodeResult result = decode(resources_);
  ASSERT_TRUE(result.snapshot) << result.error;
  const auto& rules = result.snapshot->listeners[0].routes.routes[0].rules;
  ASSERT_EQ(rules[0].backends.size(), 1u);
  EXPECT_EQ(rules[0].backends[0].cluster, "");
  ASSERT_EQ(rules[1].backends.size(), 2u);
  EXPECT_EQ(rules[1].backends[0].cluster, "shop/a:80");
  EXPECT_EQ(rules[1].backends[1].cluster, "");
  EXPECT_EQ(rules[1].backends[1].weight, 2u);
  EXPECT_EQ(result.snapshot->listeners[1].tcpCluster, "");
}

TEST_F(DecodeErrors, UnsupportedLbPolicy) {
  clusterA().set_lb_policy(Cluster::CLUSTER_PROVIDED);
  EXPECT_EQ(error(),
            "Cluster \"shop/a:80\": lb_policy: unsupported lb_policy \"CLUSTER_PROVIDED\" "
            "(expected ROUND_ROBIN, LEAST_REQUEST, RANDOM, RING_HASH or MAGLEV)");
}

TEST_F(DecodeErrors, StaticClusters) {
  clusterA().set_type(Cluster::STATIC);
  EXPECT_EQ(error(),
            "Cluster \"shop/a:80\": type: unsupported cluster type \"STATIC\" (expected EDS)");
}

TEST_F(DecodeErrors, UnsupportedClusterFeature) {
  clusterA().mutable_upstream_connection_options();
  EXPECT_EQ(error(), "Cluster \"shop/a:80\": unsupported upstream_connection_options");
}

TEST_F(DecodeErrors, ReservedClusterName) {
  clusterA().set_name(std::string(kUnresolvedCluster));
  EXPECT_EQ(error(),
            "Cluster \"trellis.dev/unresolved\": name: is reserved for unresolved backends");
}

TEST_F(DecodeErrors, EndpointsWithoutWeightOrTwice) {
  auto* lb = resources_.endpoints[0].mutable_endpoints(0)->mutable_lb_endpoints(1);
  lb->mutable_load_balancing_weight()->set_value(0);
  EXPECT_EQ(error(),
            "ClusterLoadAssignment \"shop/a:80\": endpoints[0].lb_endpoints[1]."
            "load_balancing_weight: 0 is out of range [1, 1000000]");
  lb->mutable_load_balancing_weight()->set_value(1);
  lb->mutable_endpoint()->mutable_address()->mutable_socket_address()->set_address("10.0.0.1");
  EXPECT_EQ(error(),
            "ClusterLoadAssignment \"shop/a:80\": endpoints[0].lb_endpoints[1]: duplicate "
            "endpoint 10.0.0.1:80");
}

TEST_F(DecodeErrors, DurationsInWholeMilliseconds) {
  clusterA().mutable_connect_timeout()->set_nanos(1500);
  EXPECT_EQ(error(),
            "Cluster \"shop/a:80\": connect_timeout: must be a whole number of milliseconds");
  clusterA().mutable_connect_timeout()->set_nanos(0);
  clusterA().mutable_connect_timeout()->set_seconds(0);
  EXPECT_EQ(error(), "Cluster \"shop/a:80\": connect_timeout: must be at least 1ms");
}

TEST_F(DecodeErrors, UnknownTrellisSetting) {
  auto& fields = (*web().mutable_metadata()->mutable_filter_metadata())["trellis.dev"];
  (*fields.mutable_fields())["maxFancyness"].set_number_value(3);
  EXPECT_EQ(error(),
            "Listener \"shop/web\": metadata.filter_metadata[\"trellis.dev\"]: unknown Trellis "
            "setting \"maxFancyness\"");
}

TEST_F(DecodeErrors, TrellisSettingOfTheWrongTypeOrRange) {
  auto& fields =
      *(*web().mutable_metadata()->mutable_filter_metadata())["trellis.dev"].mutable_fields();
  fields["maxUrlBytes"].set_string_value("big");
  EXPECT_EQ(error(),
            "Listener \"shop/web\": metadata.filter_metadata[\"trellis.dev\"].maxUrlBytes: "
            "expected a number");
  fields["maxUrlBytes"].set_number_value(1.5);
  EXPECT_EQ(error(),
            "Listener \"shop/web\": metadata.filter_metadata[\"trellis.dev\"].maxUrlBytes: "
            "expected a non-negative integer");
  fields["maxUrlBytes"].set_number_value(10);
  EXPECT_EQ(error(),
            "Listener \"shop/web\": metadata.filter_metadata[\"trellis.dev\"].maxUrlBytes: 10 is "
            "out of range [64, 1048576]");
}

TEST_F(DecodeErrors, MetadataCannotContradictTheStandardField) {
  auto& fields =
      *(*route(1).mutable_metadata()->mutable_filter_metadata())["trellis.dev"].mutable_fields();
  auto& override = *fields["pathMatch"].mutable_struct_value()->mutable_fields();
  override["type"].set_string_value("PathPrefix");
  override["value"].set_string_value("/other");
  EXPECT_EQ(error(),
            "RouteConfiguration \"shop/web\": virtual_hosts[0].routes[1].metadata.filter_metadata"
            "[\"trellis.dev\"].pathMatch: does not agree with the route's path specifier");
}

TEST_F(DecodeErrors, DomainsThatRoutingCannotMatchTheSameWay) {
  auto* host = resources_.routes[0].mutable_virtual_hosts(0);
  host->set_domains(0, "shop.example.com:8080");
  EXPECT_EQ(error(),
            "RouteConfiguration \"shop/web\": virtual_hosts[0].domains[0]: unsupported domain "
            "\"shop.example.com:8080\" (expected a host name, \"*.\" and a host name, or \"*\")");
  host->set_domains(0, "SHOP.example.com");
  host->add_domains("shop.example.com");
  EXPECT_EQ(error(),
            "RouteConfiguration \"shop/web\": virtual_hosts[0].domains[1]: duplicate domain "
            "\"shop.example.com\" (also in virtual_hosts[0])");
}

TEST_F(DecodeErrors, ActionsTrellisDoesNotHave) {
  route(0).mutable_route()->mutable_hedge_policy();
  EXPECT_EQ(error(),
            "RouteConfiguration \"shop/web\": virtual_hosts[0].routes[0].route: unsupported "
            "hedge_policy");
  route(0).mutable_direct_response()->set_status(404);
  EXPECT_EQ(error(),
            "RouteConfiguration \"shop/web\": virtual_hosts[0].routes[0].direct_response.status: "
            "only 500 is supported (the answer for a rule without backends)");
}

TEST_F(DecodeErrors, UnsupportedAppendAction) {
  auto* option = route(0).add_response_headers_to_add();
  option->mutable_header()->set_key("x-a");
  option->mutable_header()->set_value("1");
  option->set_append_action(envoy::config::core::v3::HeaderValueOption::ADD_IF_ABSENT);
  EXPECT_EQ(error(),
            "RouteConfiguration \"shop/web\": virtual_hosts[0].routes[0].response_headers_to_add"
            "[0].append_action: unsupported append_action \"ADD_IF_ABSENT\" (expected "
            "APPEND_IF_EXISTS_OR_ADD or OVERWRITE_IF_EXISTS_OR_ADD)");
}

TEST_F(DecodeErrors, AutoListenerMustFallBackOnSilence) {
  config::LoadResult loaded = config::loadString(R"(
apiVersion: trellis.dev/v1alpha1
kind: Listener
metadata: {name: mixed}
spec: {port: 9000, protocol: AUTO, tcp: {backendRef: {name: x, port: 1}}}
)",
                                                 "auto.yaml");
  ASSERT_TRUE(loaded.ok());
  resources_ = encode(*loaded.snapshot);
  resources_.listeners[0].set_continue_on_listener_filters_timeout(false);
  EXPECT_EQ(error(),
            "Listener \"default/mixed\": continue_on_listener_filters_timeout: must be true "
            "(silent clients go to the default filter chain)");
}

TEST_F(DecodeErrors, NamesThatAreNotPrintableAreEscaped) {
  web().set_name(std::string("we\xff\nb", 5));
  web().mutable_address()->mutable_socket_address()->set_address("x");
  EXPECT_EQ(error(),
            "Listener \"we\\xff\\x0ab\": address.socket_address.address: \"x\" is not an IPv4 or "
            "IPv6 address");
}

TEST_F(DecodeErrors, DuplicateResources) {
  resources_.clusters.push_back(resources_.clusters[0]);
  EXPECT_EQ(error(), "Cluster \"shop/a:80\": duplicate resource name");
}

}  // namespace
}  // namespace trellis::xds
