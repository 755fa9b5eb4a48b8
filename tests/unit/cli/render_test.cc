// The human tables of get, status, proxy-config and history, from API answers.
#include <gtest/gtest.h>

#include "cli/api_errors.h"
#include "cli/get_delete.h"
#include "cli/history_rollback.h"
#include "cli/status_proxy_config.h"

namespace trellis::cli {
namespace {

using nlohmann::json;

constexpr const char* kListener = "type.googleapis.com/envoy.config.listener.v3.Listener";
constexpr const char* kRoute = "type.googleapis.com/envoy.config.route.v3.RouteConfiguration";
constexpr const char* kCluster = "type.googleapis.com/envoy.config.cluster.v3.Cluster";
constexpr const char* kHcm =
    "type.googleapis.com/"
    "envoy.extensions.filters.network.http_connection_manager.v3.HttpConnectionManager";
constexpr const char* kTcpProxy =
    "type.googleapis.com/envoy.extensions.filters.network.tcp_proxy.v3.TcpProxy";
constexpr const char* kEndpoint =
    "type.googleapis.com/envoy.config.endpoint.v3.ClusterLoadAssignment";

TEST(StatusTable, AckedVersionsWithoutNackColumn) {
  json proxies = json::parse(R"([{"id": "billing-1.shop", "service": "billing",
    "namespace": "shop", "instance": "billing-1", "connected": true, "types": {
    ")" + std::string(kListener) +
                             R"(": {"sent": "3", "acked": "3", "nacked": "", "error": ""},
    ")" + std::string(kRoute) +
                             R"(": {"sent": "4", "acked": "3"},
    ")" + std::string(kCluster) +
                             R"(": {"sent": "2", "acked": "2"}}}])");
  EXPECT_EQ(renderStatusTable(proxies),
            "ID               SERVICE   NAMESPACE   CONNECTED   LDS     RDS      CDS     EDS\n"
            "billing-1.shop   billing   shop        yes         ACK 3   SENT 4   ACK 2   -\n");
}

TEST(StatusTable, NackShowsTheReason) {
  json proxies = json::array();
  proxies.push_back({{"id", "a-1.shop"},
                     {"service", "a"},
                     {"namespace", "shop"},
                     {"connected", false},
                     {"types",
                      {{kCluster,
                        {{"sent", "5"},
                         {"acked", "4"},
                         {"nacked", "5"},
                         {"error", "Cluster shop/a:80: unknown lb policy"}}},
                       {kEndpoint, {{"sent", 7}, {"acked", 7}}}}}});
  std::string table = renderStatusTable(proxies);
  EXPECT_NE(table.find("NACK REASON"), std::string::npos) << table;
  EXPECT_NE(
      table.find("no          -     -     NACK 5   ACK 7   CDS: Cluster shop/a:80: unknown lb "
                 "policy"),
      std::string::npos)
      << table;
}

TEST(StatusTable, TrellisdShortTypeKeysAndBuildErrors) {
  json proxies = json::parse(R"([{"id": "frontend-1.shop", "service": "frontend",
    "namespace": "shop", "connected": true, "error": "", "types": {
    "lds": {"sent": "2", "acked": "2", "nacked": "", "error": ""},
    "rds": {"sent": "2", "acked": "1", "nacked": "2", "error": "route shop/x: bad regex"}}},
    {"id": "auth-1.shop", "service": "auth", "namespace": "shop", "connected": true,
     "error": "Service shop/auth has no ports", "types": {}}])");
  EXPECT_EQ(renderStatusTable(proxies),
            "ID                SERVICE    NAMESPACE   CONNECTED   LDS     RDS      CDS   EDS   "
            "NACK REASON                    CONFIG ERROR\n"
            "frontend-1.shop   frontend   shop        yes         ACK 2   NACK 2   -     -     "
            "RDS: route shop/x: bad regex   -\n"
            "auth-1.shop       auth       shop        yes         -       -        -     -     "
            "-                              Service shop/auth has no ports\n");
}

TEST(StatusTable, IdentitiesAndEndpointsLeftOut) {
  const std::string problem =
      "service account checkout may not serve Service shop/billing (spec.serviceAccounts: "
      "billing)";
  json proxies = json::array();
  proxies.push_back({{"id", "billing-1.shop"},
                     {"service", "billing"},
                     {"namespace", "shop"},
                     {"connected", true},
                     {"types", json::object()},
                     {"identity", "spiffe://trellis.local/ns/shop/sa/billing"},
                     {"notAnEndpointBecause", ""}});
  proxies.push_back({{"id", "x-1.shop"},
                     {"service", "billing"},
                     {"namespace", "shop"},
                     {"connected", true},
                     {"types", json::object()},
                     {"identity", "spiffe://trellis.local/ns/shop/sa/checkout"},
                     {"notAnEndpointBecause", problem}});
  const std::string table = renderStatusTable(proxies);
  EXPECT_NE(table.find("IDENTITY (MTLS)"), std::string::npos) << table;
  EXPECT_NE(table.find("spiffe://trellis.local/ns/shop/sa/billing"), std::string::npos) << table;
  EXPECT_NE(table.find("NOT AN ENDPOINT BECAUSE"), std::string::npos) << table;
  EXPECT_NE(table.find(problem), std::string::npos) << table;
}

TEST(ProxyConfig, ProtoFieldNamesAsTrellisdPrintsThem) {
  json config = json::parse(R"({
    "routes": [{"name": "mesh/outbound", "virtual_hosts": [{"name": "shop/billing",
      "domains": ["billing"], "routes": [{"match": {"prefix": "/", "headers": [{"name": "x-v",
        "string_match": {"safe_regex": {"regex": "v[12]"}}}]},
        "route": {"weighted_clusters": {"clusters": [
          {"name": "shop/billing:80", "weight": 90},
          {"name": "shop/billing-v2:80", "weight": 10}]}}}]}]}],
    "clusters": [{"name": "shop/billing:80", "type": "EDS", "lb_policy": "RING_HASH",
      "connect_timeout": "0.250s", "typed_extension_protocol_options": {
        "envoy.extensions.upstreams.http.v3.HttpProtocolOptions": {"explicit_http_config": {
          "http_protocol_options": {}}}}}],
    "endpoints": [{"cluster_name": "shop/billing:80", "endpoints": [{"lb_endpoints": [
      {"endpoint": {"address": {"socket_address": {"address": "127.0.0.1", "port_value": 16001}}},
       "load_balancing_weight": 2}]}]}],
    "listeners": [{"name": "mesh/inbound", "address": {"socket_address": {"address": "127.0.0.1",
      "port_value": 16001}}, "filter_chains": [{"filters": [{"name": "http", "typed_config": {
        "@type": ")" + std::string(kHcm) +
                            R"(",
        "route_config": {"name": "mesh/inbound"}}}]}]}]})");
  EXPECT_EQ(renderRoutes(config),
            "ROUTE CONFIG    VIRTUAL HOST   DOMAINS   MATCH                BACKENDS\n"
            "mesh/outbound   shop/billing   billing   prefix / x-v~v[12]   "
            "shop/billing:80=90,shop/billing-v2:80=10\n");
  EXPECT_EQ(renderClusters(config),
            "NAME              TYPE   LB          PROTOCOL   CONNECT TIMEOUT\n"
            "shop/billing:80   EDS    RING_HASH   HTTP/1.1   0.250s\n");
  EXPECT_EQ(renderEndpoints(config),
            "CLUSTER           ADDRESS           WEIGHT   HEALTH\n"
            "shop/billing:80   127.0.0.1:16001   2        UNKNOWN\n");
  EXPECT_EQ(renderListeners(config),
            "NAME           ADDRESS           PROTOCOL   ROUTES OR CLUSTER\n"
            "mesh/inbound   127.0.0.1:16001   HTTP       mesh/inbound\n");
}

TEST(ProxyConfig, RoutesShowDomainsMatchesAndWeightedBackends) {
  json config = json::parse(R"({"routes": [{"name": "mesh/outbound", "virtualHosts": [
    {"name": "shop/billing", "domains": ["billing", "billing.shop"], "routes": [
      {"match": {"prefix": "/", "headers": [{"name": "x-canary",
        "stringMatch": {"exact": "1"}}]},
       "route": {"cluster": "shop/billing-v2:80"}},
      {"match": {"pathSeparatedPrefix": "/api"},
       "route": {"weightedClusters": {"clusters": [{"name": "shop/billing:80", "weight": 90},
                                                  {"name": "shop/billing-v2:80", "weight": 10}]}}},
      {"match": {"path": "/old"}, "redirect": {"pathRedirect": "/new"}},
      {"match": {"safeRegex": {"regex": "/v[0-9]+"}}, "directResponse": {"status": 500}}
    ]}]}]})");
  EXPECT_EQ(
      renderRoutes(config),
      "ROUTE CONFIG    VIRTUAL HOST   DOMAINS                MATCH                 BACKENDS\n"
      "mesh/outbound   shop/billing   billing,billing.shop   prefix / x-canary=1   "
      "shop/billing-v2:80\n"
      "mesh/outbound   shop/billing   billing,billing.shop   prefix /api           "
      "shop/billing:80=90,shop/billing-v2:80=10\n"
      "mesh/outbound   shop/billing   billing,billing.shop   exact /old            redirect\n"
      "mesh/outbound   shop/billing   billing,billing.shop   regex /v[0-9]+        direct 500\n");
}

TEST(ProxyConfig, ClustersWithProtobufJsonDefaultsLeftOut) {
  json config = json::parse(R"({"clusters": [
    {"name": "shop/billing:80", "type": "EDS", "connectTimeout": "1s",
     "typedExtensionProtocolOptions": {"envoy.extensions.upstreams.http.v3.HttpProtocolOptions": {
       "@type": "type.googleapis.com/envoy.extensions.upstreams.http.v3.HttpProtocolOptions",
       "explicitHttpConfig": {"http2ProtocolOptions": {}}}}},
    {"name": "shop/db:5432", "type": "EDS", "lbPolicy": "LEAST_REQUEST",
     "metadata": {"filterMetadata": {"trellis.dev": {"protocol": "TCP"}}}}]})");
  EXPECT_EQ(renderClusters(config),
            "NAME              TYPE   LB              PROTOCOL   CONNECT TIMEOUT\n"
            "shop/billing:80   EDS    ROUND_ROBIN     HTTP/2     1s\n"
            "shop/db:5432      EDS    LEAST_REQUEST   TCP        -\n");
}

TEST(ProxyConfig, EndpointsWithWeights) {
  json config = json::parse(R"({"endpoints": [
    {"clusterName": "shop/billing:80", "endpoints": [{"lbEndpoints": [
      {"endpoint": {"address": {"socketAddress": {"address": "127.0.0.1", "portValue": 16001}}},
       "loadBalancingWeight": 3},
      {"endpoint": {"address": {"socketAddress": {"address": "::1", "portValue": 16002}}}}]}]},
    {"clusterName": "shop/empty:80"}]})");
  EXPECT_EQ(renderEndpoints(config),
            "CLUSTER           ADDRESS           WEIGHT   HEALTH\n"
            "shop/billing:80   127.0.0.1:16001   3        UNKNOWN\n"
            "shop/billing:80   [::1]:16002       1        UNKNOWN\n"
            "shop/empty:80     (none)            -        -\n");
}

TEST(ProxyConfig, ListenersByFilter) {
  json config = json::parse(R"({"listeners": [
    {"name": "mesh/outbound", "address": {"socketAddress": {"address": "127.0.0.1",
      "portValue": 15001}}, "filterChains": [{"filters": [{"name": "hcm",
      "typedConfig": {"@type": ")" +
                            std::string(kHcm) + R"(",
        "rds": {"routeConfigName": "mesh/outbound"}}}]}]},
    {"name": "mesh/inbound", "address": {"socketAddress": {"address": "127.0.0.1",
      "portValue": 16001}}, "filterChains": [{"filters": [{"name": "tcp",
      "typedConfig": {"@type": ")" +
                            std::string(kTcpProxy) + R"(",
        "cluster": "inbound/db:5432"}}]}]}]})");
  EXPECT_EQ(renderListeners(config),
            "NAME            ADDRESS           PROTOCOL   ROUTES OR CLUSTER\n"
            "mesh/outbound   127.0.0.1:15001   HTTP       mesh/outbound\n"
            "mesh/inbound    127.0.0.1:16001   TCP        inbound/db:5432\n");
}

TEST(GetTable, KindColumnsAndYamlStream) {
  json items = json::array();
  items.push_back({{"kind", "HTTPRoute"},
                   {"namespace", "shop"},
                   {"name", "billing"},
                   {"resourceVersion", 12},
                   {"document",
                    "apiVersion: gateway.networking.k8s.io/v1\nkind: HTTPRoute\nmetadata:\n  "
                    "name: billing\n  namespace: shop\nspec:\n  parentRefs:\n  - kind: Service\n"
                    "    name: billing\n  rules:\n  - backendRefs:\n    - name: billing\n      "
                    "port: 80\n      weight: 90\n    - name: billing-v2\n      port: 80\n      "
                    "weight: 10\n"}});
  items.push_back({{"kind", "HTTPRoute"},
                   {"namespace", "shop"},
                   {"name", "broken"},
                   {"resourceVersion", 3},
                   {"document", "not: [valid"}});
  EXPECT_EQ(renderResourceTable(items, "HTTPRoute"),
            "NAMESPACE   NAME      VERSION   PARENTS           HOSTNAMES   BACKENDS\n"
            "shop        billing   12        Service/billing   *           "
            "billing:80=90,billing-v2:80=10\n"
            "shop        broken    3         -                 -           -\n");
  EXPECT_EQ(renderResourceTable(json::array({items[0]}), ""),
            "KIND        NAMESPACE   NAME      VERSION\n"
            "HTTPRoute   shop        billing   12\n");
  json one = json::array({items[0], items[0]});
  std::string yaml = renderResourceYaml(one);
  EXPECT_NE(yaml.find("  resourceVersion: \"12\"\n"), std::string::npos) << yaml;
  EXPECT_NE(yaml.find("\n---\napiVersion"), std::string::npos) << yaml;
}

TEST(GetTable, ServiceListenerAndWorkloadColumns) {
  json items = json::array();
  items.push_back({{"kind", "Service"},
                   {"namespace", "shop"},
                   {"name", "billing"},
                   {"resourceVersion", 1},
                   {"document",
                    "kind: Service\nmetadata: {name: billing}\nspec: {ports: [{port: "
                    "80}, {port: 9090, appProtocol: grpc}], endpoints: [{address: "
                    "127.0.0.1}, {address: 127.0.0.2}]}\n"}});
  EXPECT_EQ(renderResourceTable(items, "Service"),
            "NAMESPACE   NAME      VERSION   PORTS          ENDPOINTS   LB\n"
            "shop        billing   1         80,9090/grpc   2           RoundRobin\n");
  items[0]["document"] =
      "kind: Workload\nmetadata: {name: frontend}\nspec: {upstreams: [{name: "
      "auth}, {name: checkout, namespace: shop}]}\n";
  EXPECT_EQ(renderResourceTable(items, "Workload"),
            "NAMESPACE   NAME      VERSION   SERVICE    UPSTREAMS\n"
            "shop        billing   1         frontend   auth,shop/checkout\n");
  items[0]["document"] = "kind: Listener\nmetadata: {name: web}\nspec: {port: 8080}\n";
  EXPECT_EQ(renderResourceTable(items, "Listener"),
            "NAMESPACE   NAME      VERSION   ADDRESS        PROTOCOL\n"
            "shop        billing   1         0.0.0.0:8080   HTTP\n");
}

TEST(GetTable, PolicyColumnsNameTargetsAndPolicies) {
  json items = json::array();
  items.push_back({{"kind", "RoutePolicy"},
                   {"namespace", "shop"},
                   {"name", "pay"},
                   {"resourceVersion", 4},
                   {"document",
                    "kind: RoutePolicy\nmetadata: {name: pay}\nspec:\n  targetRefs:\n  - {group: "
                    "gateway.networking.k8s.io, kind: HTTPRoute, name: billing, sectionName: pay}\n"
                    "  retry: {attempts: 2}\n  timeouts: {request: 2s}\n"}});
  EXPECT_EQ(renderResourceTable(items, "RoutePolicy"),
            "NAMESPACE   NAME   VERSION   TARGETS                 POLICIES\n"
            "shop        pay    4         HTTPRoute/billing#pay   retry,timeouts\n");
  items[0]["kind"] = "BackendPolicy";
  items[0]["document"] =
      "kind: BackendPolicy\nspec: {targetRefs: [{kind: Service, name: a}, {kind: Service, "
      "name: b}], circuitBreaker: {maxRequests: 3}}\n";
  EXPECT_EQ(renderResourceTable(items, "BackendPolicy"),
            "NAMESPACE   NAME   VERSION   TARGETS               POLICIES\n"
            "shop        pay    4         Service/a,Service/b   circuitBreaker\n");
  items[0]["kind"] = "AuthorizationPolicy";
  items[0]["document"] =
      "kind: AuthorizationPolicy\nspec: {action: DENY, rules: [{to: [{operation: {paths: "
      "[/admin]}}]}]}\n";
  EXPECT_EQ(renderResourceTable(items, "AuthorizationPolicy"),
            "NAMESPACE   NAME   VERSION   TARGETS       ACTION   RULES\n"
            "shop        pay    4         (namespace)   DENY     1\n");
  items[0]["kind"] = "PeerAuthentication";
  items[0]["document"] = "kind: PeerAuthentication\nspec: {mtls: {mode: STRICT}}\n";
  EXPECT_EQ(renderResourceTable(items, "PeerAuthentication"),
            "NAMESPACE   NAME   VERSION   TARGETS       MODE\n"
            "shop        pay    4         (namespace)   STRICT\n");
  items[0]["document"] =
      "kind: PeerAuthentication\nspec: {targetRefs: [{kind: Service, name: billing}], mtls: "
      "{mode: PERMISSIVE}}\n";
  EXPECT_EQ(renderResourceTable(items, "PeerAuthentication"),
            "NAMESPACE   NAME   VERSION   TARGETS           MODE\n"
            "shop        pay    4         Service/billing   PERMISSIVE\n");
}

TEST(HistoryTable, CreatedUpdatedDeletedWithLineCounts) {
  json items = json::parse(R"([
    {"revision": 3, "deleted": false, "document": "a: 1\nb: 2\n"},
    {"revision": 7, "deleted": false, "document": "a: 1\nb: 3\n"},
    {"revision": 9, "deleted": true, "document": "a: 1\nb: 3\n"},
    {"revision": 12, "deleted": false, "document": "a: 1\n"}])");
  EXPECT_EQ(renderHistoryTable(items),
            "REVISION   CHANGE    LINES\n"
            "3          created   +2\n"
            "7          updated   +1 -1\n"
            "9          deleted   -\n"
            "12         created   +1\n");
}

TEST(ApiErrors, FormattedAsTheLoaderPrintsThem) {
  EXPECT_EQ(formatProblem(json{{"file", "routes.yaml"},
                               {"line", 14},
                               {"column", 9},
                               {"resource", "HTTPRoute shop/billing"},
                               {"field", "spec.rules[0].backendRefs[0].weigth"},
                               {"message", "unknown field \"weigth\""}}),
            "routes.yaml:14:9: HTTPRoute shop/billing: spec.rules[0].backendRefs[0].weigth: "
            "unknown field \"weigth\"");
  EXPECT_EQ(formatProblem(json{{"resource", "Service shop/a"}, {"message", "x"}}),
            "Service shop/a: x");
  EXPECT_EQ(formatProblem("plain"), "plain");
  ApiResponse response{400, json{{"error", "bad request"}}, ""};
  EXPECT_EQ(problemLines(response), std::vector<std::string>{"bad request"});
}

}  // namespace
}  // namespace trellis::cli
