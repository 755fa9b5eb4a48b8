// Valid configurations load into exactly the expected model.

#include <gtest/gtest.h>
#include <re2/re2.h>

#include <fstream>
#include <sstream>

#include "config/dump.h"
#include "config/loader.h"
#include "test_util.h"

namespace trellis::config {
namespace {

using testing::describe;
using testing::load;

Cluster cluster(std::string name, std::vector<Endpoint> endpoints) {
  Cluster result;
  result.name = std::move(name);
  result.endpoints = std::move(endpoints);
  return result;
}

RouteRule rule(std::string routeName, int64_t created, uint32_t order, uint32_t ruleIndex,
               uint32_t matchIndex, PathMatchType type, std::string path) {
  RouteRule result;
  result.routeName = std::move(routeName);
  result.creationTimestamp = created;
  result.routeOrder = order;
  result.ruleIndex = ruleIndex;
  result.matchIndex = matchIndex;
  result.match.path.type = type;
  result.match.path.value = std::move(path);
  return result;
}

// The model examples/proxy/basic.yaml must produce.
Snapshot expectedBasicSnapshot() {
  Snapshot snapshot;
  snapshot.source = TRELLIS_EXAMPLES_DIR "/proxy/basic.yaml";

  Cluster cart80 = cluster("default/cart:80", {{"10.0.2.31", 8000, 1}});
  cart80.lbPolicy = LbPolicy::Maglev;
  cart80.hashKey = {HashKey::Source::Header, "x-user-id"};
  Cluster cart9000 = cart80;
  cart9000.name = "default/cart:9000";
  cart9000.endpoints = {{"10.0.2.31", 9000, 1, {}}};
  Cluster shop = cluster("default/shop:80",
                         {{"10.0.0.11", 8080, 1}, {"10.0.0.12", 8080, 2}, {"10.0.0.13", 9090, 1}});
  shop.lbPolicy = LbPolicy::LeastRequest;
  shop.connectTimeout = Duration(500);
  shop.idleTimeout = Duration(30000);
  shop.maxIdlePerEndpoint = 32;
  Cluster shopV2 = cluster("default/shop-v2:80", {{"10.0.1.21", 8080, 1}, {"fd00::22", 8080, 1}});
  shopV2.lbPolicy = LbPolicy::RingHash;
  shopV2.hashKey = {HashKey::Source::Cookie, "session"};
  shopV2.ringHashMinSize = 4096;
  for (Cluster* c : {&cart80, &cart9000, &shop, &shopV2}) snapshot.clusters[c->name] = *c;
  snapshot.clusters["default/postgres:5432"] =
      cluster("default/postgres:5432", {{"10.0.3.41", 5432, 1}});

  Listener web;
  web.name = "default/web";
  web.address = "0.0.0.0";
  web.port = 8080;
  web.http = HttpLimits{32768,          64, 4096, 10485760, 65536, Duration(5000), Duration(120000),
                        Duration(10000)};

  constexpr int64_t kCreated = 1714557600;  // 2024-05-01T10:00:00Z
  RouteTableConfig::HostRules shopRoute;
  shopRoute.hostnames = {"shop.example.com", "*.shop.example.com"};
  RouteRule canary = rule("default/shop", kCreated, 0, 0, 0, PathMatchType::PathPrefix, "/api");
  canary.match.headers = {ValueMatch{StringMatchType::Exact, "x-canary", "true", nullptr}};
  canary.backends = {{"default/shop-v2:80", 1}};
  RouteRule split = rule("default/shop", kCreated, 0, 1, 0, PathMatchType::PathPrefix, "/api");
  split.requestHeaders = HeaderModifier{{{"x-forwarded-by", "trellis"}}, {}, {"x-debug"}};
  split.responseHeaders = HeaderModifier{{}, {{"cache-control", "no-store"}}, {}};
  split.mirrors = {{"default/shop-v2:80"}};
  split.backends = {{"default/shop:80", 90}, {"default/shop-v2:80", 10}};
  RouteRule cartRule = rule("default/shop", kCreated, 0, 2, 0, PathMatchType::PathPrefix, "/cart");
  cartRule.rewrite = UrlRewrite{std::nullopt, PathRewriteType::ReplacePrefixMatch, "/v1"};
  cartRule.backends = {{"default/cart:80", 1}};
  RequestRedirect redirect{"https", "www.shop.example.com", PathRewriteType::ReplaceFullPath,
                           "/",     std::nullopt,           301};
  RouteRule oldRegex =
      rule("default/shop", kCreated, 0, 3, 0, PathMatchType::RegularExpression, "/old/.*");
  oldRegex.redirect = redirect;
  RouteRule oldExact = rule("default/shop", kCreated, 0, 3, 1, PathMatchType::Exact, "/index.php");
  oldExact.match.method = "GET";
  oldExact.redirect = redirect;
  RouteRule fallback = rule("default/shop", kCreated, 0, 4, 0, PathMatchType::PathPrefix, "/");
  fallback.backends = {{"default/shop:80", 1}};
  fallback.timeouts.request = Duration(30000);
  fallback.timeouts.perTry = Duration(10000);
  shopRoute.rules = {canary, split, cartRule, oldRegex, oldExact, fallback};

  RouteTableConfig::HostRules adminRoute;
  RouteRule admin = rule("default/cart-admin", 0, 1, 0, 0, PathMatchType::PathPrefix, "/admin");
  admin.match.queryParams = {
      ValueMatch{StringMatchType::RegularExpression, "token", "^[a-f0-9]{32}$", nullptr}};
  admin.backends = {{"default/cart:9000", 1}};
  adminRoute.rules = {admin};
  web.routes.routes = {shopRoute, adminRoute};

  Listener postgres;
  postgres.name = "default/postgres";
  postgres.address = "127.0.0.1";
  postgres.port = 15432;
  postgres.protocol = ListenerProtocol::Tcp;
  postgres.tcpCluster = "default/postgres:5432";
  postgres.tcpIdleTimeout = Duration(3600000);

  snapshot.listeners = {web, postgres};
  return snapshot;
}

TEST(LoaderValidTest, BasicExampleLoadsIntoExpectedModel) {
  LoadResult result = loadFile(TRELLIS_EXAMPLES_DIR "/proxy/basic.yaml");
  ASSERT_TRUE(result.ok()) << describe(result);
  EXPECT_TRUE(result.errors.empty());
  EXPECT_TRUE(result.warnings.empty()) << describe(result);
  // toJson renders every model field (except compiled regexes, checked below), so equal dumps
  // mean equal models; the dump also gives a readable diff on failure.
  EXPECT_EQ(toJson(*result.snapshot).dump(1), toJson(expectedBasicSnapshot()).dump(1));

  const Listener& web = result.snapshot->listeners.at(0);
  const RouteRule& oldRegex = web.routes.routes.at(0).rules.at(3);
  ASSERT_NE(oldRegex.match.path.regex, nullptr);
  EXPECT_TRUE(re2::RE2::FullMatch("/old/page", *oldRegex.match.path.regex));
  const RouteRule& admin = web.routes.routes.at(1).rules.at(0);
  ASSERT_NE(admin.match.queryParams.at(0).regex, nullptr);
  EXPECT_TRUE(re2::RE2::FullMatch(std::string(32, 'a'), *admin.match.queryParams[0].regex));
  for (const auto& host : web.routes.routes) {
    for (const RouteRule& r : host.rules) {
      if (r.match.path.type != PathMatchType::RegularExpression) {
        EXPECT_EQ(r.match.path.regex, nullptr);
      }
      for (const ValueMatch& header : r.match.headers) {
        EXPECT_EQ(header.regex != nullptr, header.type == StringMatchType::RegularExpression);
      }
    }
  }
}

TEST(LoaderValidTest, DocumentationExampleMatchesExampleFile) {
  std::ifstream file(TRELLIS_DOCS_DIR "/configuration.md");
  ASSERT_TRUE(file) << "cannot read docs/configuration.md";
  std::stringstream content;
  content << file.rdbuf();
  std::string markdown = content.str();
  size_t section = markdown.find("## Complete example");
  ASSERT_NE(section, std::string::npos);
  size_t start = markdown.find("```yaml\n", section);
  ASSERT_NE(start, std::string::npos);
  start += 8;
  size_t end = markdown.find("```", start);
  ASSERT_NE(end, std::string::npos);
  LoadResult documented = loadString(markdown.substr(start, end - start), "configuration.md");
  LoadResult example = loadFile(TRELLIS_EXAMPLES_DIR "/proxy/basic.yaml");
  ASSERT_TRUE(documented.ok()) << describe(documented);
  ASSERT_TRUE(example.ok()) << describe(example);
  nlohmann::json documentedJson = toJson(*documented.snapshot);
  nlohmann::json exampleJson = toJson(*example.snapshot);
  documentedJson.erase("source");
  exampleJson.erase("source");
  EXPECT_EQ(documentedJson.dump(1), exampleJson.dump(1));
}

TEST(LoaderValidTest, DefaultsAreApplied) {
  LoadResult result = load(R"(apiVersion: trellis.dev/v1alpha1
kind: Listener
metadata: {name: web}
spec: {port: 80}
---
apiVersion: trellis.dev/v1alpha1
kind: Service
metadata: {name: app}
spec:
  ports: [{port: 8080}]
  endpoints: [{address: 10.1.1.1}]
---
apiVersion: gateway.networking.k8s.io/v1
kind: HTTPRoute
metadata: {name: app}
spec:
  parentRefs: [{group: trellis.dev, kind: Listener, name: web}]
  rules:
  - matches:
    - headers: [{name: X-Env, value: prod}]
    - path: {value: /x}
    backendRefs: [{name: app}]
  - filters:
    - type: RequestRedirect
      requestRedirect: {scheme: https}
)");
  ASSERT_TRUE(result.ok()) << describe(result);
  EXPECT_TRUE(result.warnings.empty()) << describe(result);
  const Snapshot& snapshot = *result.snapshot;
  EXPECT_EQ(snapshot.version, 0u);
  EXPECT_EQ(snapshot.source, "test.yaml");

  ASSERT_EQ(snapshot.listeners.size(), 1u);
  const Listener& listener = snapshot.listeners[0];
  EXPECT_EQ(listener.name, "default/web");
  EXPECT_EQ(listener.address, "0.0.0.0");
  EXPECT_EQ(listener.protocol, ListenerProtocol::Http);
  const HttpLimits defaults;
  EXPECT_EQ(listener.http.maxRequestHeadersBytes, defaults.maxRequestHeadersBytes);
  EXPECT_EQ(listener.http.maxHeaders, defaults.maxHeaders);
  EXPECT_EQ(listener.http.maxUrlBytes, defaults.maxUrlBytes);
  EXPECT_EQ(listener.http.maxRequestBodyBytes, 0u);
  EXPECT_EQ(listener.http.bufferBytes, defaults.bufferBytes);
  EXPECT_EQ(listener.http.headerTimeout, defaults.headerTimeout);
  EXPECT_EQ(listener.http.idleTimeout, defaults.idleTimeout);
  EXPECT_EQ(listener.http.drainTimeout, defaults.drainTimeout);
  EXPECT_EQ(listener.tcpCluster, "");

  ASSERT_EQ(listener.routes.routes.size(), 1u);
  const auto& host = listener.routes.routes[0];
  EXPECT_TRUE(host.hostnames.empty());
  ASSERT_EQ(host.rules.size(), 3u);
  const RouteRule& headerRule = host.rules[0];
  EXPECT_EQ(headerRule.routeName, "default/app");
  EXPECT_EQ(headerRule.creationTimestamp, 0);
  EXPECT_EQ(headerRule.match.path.type, PathMatchType::PathPrefix);  // default path
  EXPECT_EQ(headerRule.match.path.value, "/");
  ASSERT_EQ(headerRule.match.headers.size(), 1u);
  EXPECT_EQ(headerRule.match.headers[0].type, StringMatchType::Exact);
  EXPECT_EQ(headerRule.match.headers[0].name, "x-env");  // lower-cased
  EXPECT_EQ(headerRule.match.headers[0].value, "prod");
  EXPECT_FALSE(headerRule.match.method.has_value());
  ASSERT_EQ(headerRule.backends.size(), 1u);
  EXPECT_EQ(headerRule.backends[0].cluster, "default/app:8080");  // single port: may be omitted
  EXPECT_EQ(headerRule.backends[0].weight, 1u);
  EXPECT_FALSE(headerRule.requestHeaders || headerRule.responseHeaders || headerRule.rewrite ||
               headerRule.redirect || headerRule.maxRequestBodyBytes);
  EXPECT_EQ(host.rules[1].match.path.type, PathMatchType::PathPrefix);  // type defaults too
  EXPECT_EQ(host.rules[1].match.path.value, "/x");
  EXPECT_EQ(host.rules[1].matchIndex, 1u);
  const RouteRule& redirectRule = host.rules[2];  // no matches: PathPrefix "/"
  EXPECT_EQ(redirectRule.ruleIndex, 1u);
  EXPECT_EQ(redirectRule.match.path.type, PathMatchType::PathPrefix);
  EXPECT_EQ(redirectRule.match.path.value, "/");
  ASSERT_TRUE(redirectRule.redirect.has_value());
  EXPECT_EQ(redirectRule.redirect->statusCode, 302);
  EXPECT_EQ(redirectRule.redirect->pathType, PathRewriteType::None);
  EXPECT_FALSE(redirectRule.redirect->hostname.has_value());
  EXPECT_FALSE(redirectRule.redirect->port.has_value());

  ASSERT_EQ(snapshot.clusters.size(), 1u);
  const Cluster& cluster = snapshot.clusters.at("default/app:8080");
  const Cluster clusterDefaults;
  EXPECT_EQ(cluster.lbPolicy, LbPolicy::RoundRobin);
  EXPECT_EQ(cluster.hashKey.source, HashKey::Source::None);
  EXPECT_EQ(cluster.connectTimeout, clusterDefaults.connectTimeout);
  EXPECT_EQ(cluster.idleTimeout, clusterDefaults.idleTimeout);
  EXPECT_EQ(cluster.maxIdlePerEndpoint, clusterDefaults.maxIdlePerEndpoint);
  ASSERT_EQ(cluster.endpoints.size(), 1u);
  EXPECT_EQ(cluster.endpoints[0].host, "10.1.1.1");
  EXPECT_EQ(cluster.endpoints[0].port, 8080);  // targetPort defaults to port
  EXPECT_EQ(cluster.endpoints[0].weight, 1u);
}

TEST(LoaderValidTest, RouteWithoutRulesGetsTheDefaultRule) {
  LoadResult result = load(R"(apiVersion: trellis.dev/v1alpha1
kind: Listener
metadata: {name: web}
spec: {port: 80}
---
apiVersion: gateway.networking.k8s.io/v1
kind: HTTPRoute
metadata: {name: empty, namespace: team-a}
spec:
  parentRefs: [{group: trellis.dev, kind: Listener, name: web, namespace: default}]
)");
  ASSERT_TRUE(result.ok()) << describe(result);
  const auto& rules = result.snapshot->listeners[0].routes.routes.at(0).rules;
  ASSERT_EQ(rules.size(), 1u);
  EXPECT_EQ(rules[0].routeName, "team-a/empty");
  EXPECT_EQ(rules[0].match.path.value, "/");
  EXPECT_TRUE(rules[0].backends.empty());
  ASSERT_EQ(result.warnings.size(), 1u) << describe(result);
  EXPECT_NE(result.warnings[0].message.find("will get 500"), std::string::npos);
}

TEST(LoaderValidTest, RouteOrderFollowsDocumentsAndNamespacesDefaultToTheRoute) {
  LoadResult result = load(R"(apiVersion: gateway.networking.k8s.io/v1
kind: HTTPRoute
metadata: {name: b, namespace: ns1}
spec:
  parentRefs: [{group: trellis.dev, kind: Listener, name: web}]
  rules: [{backendRefs: [{name: svc, port: 80}]}]
---
apiVersion: trellis.dev/v1alpha1
kind: Listener
metadata: {name: web, namespace: ns1}
spec: {port: 80, address: "::"}
---
apiVersion: gateway.networking.k8s.io/v1
kind: HTTPRoute
metadata: {name: a, namespace: ns1, creationTimestamp: "2020-01-01T00:00:00Z"}
spec:
  parentRefs: [{group: trellis.dev, kind: Listener, name: web, sectionName: web, port: 80}]
  hostnames: [a.example.com]
  rules: [{backendRefs: [{name: svc, namespace: ns2, port: 80, weight: 0}]}]
---
apiVersion: trellis.dev/v1alpha1
kind: Service
metadata: {name: svc, namespace: ns1}
spec: {ports: [{port: 80}]}
---
apiVersion: trellis.dev/v1alpha1
kind: Service
metadata: {name: svc, namespace: ns2}
spec: {ports: [{port: 80}]}
)");
  ASSERT_TRUE(result.ok()) << describe(result);
  EXPECT_TRUE(result.warnings.empty()) << describe(result);
  const Listener& listener = result.snapshot->listeners.at(0);
  EXPECT_EQ(listener.name, "ns1/web");
  EXPECT_EQ(listener.address, "::");
  ASSERT_EQ(listener.routes.routes.size(), 2u);
  const RouteRule& b = listener.routes.routes[0].rules.at(0);
  const RouteRule& a = listener.routes.routes[1].rules.at(0);
  EXPECT_EQ(b.routeName, "ns1/b");
  EXPECT_EQ(b.routeOrder, 0u);
  EXPECT_EQ(b.backends.at(0).cluster, "ns1/svc:80");
  EXPECT_EQ(a.routeName, "ns1/a");
  EXPECT_EQ(a.routeOrder, 1u);
  EXPECT_EQ(a.creationTimestamp, 1577836800);
  EXPECT_EQ(a.backends.at(0).cluster, "ns2/svc:80");
  EXPECT_EQ(a.backends.at(0).weight, 0u);
  EXPECT_EQ(listener.routes.routes[1].hostnames, std::vector<std::string>{"a.example.com"});
}

TEST(LoaderValidTest, RouteAttachedToTwoListenersAppearsInBoth) {
  LoadResult result = load(R"(apiVersion: trellis.dev/v1alpha1
kind: Listener
metadata: {name: a}
spec: {port: 80}
---
apiVersion: trellis.dev/v1alpha1
kind: Listener
metadata: {name: b}
spec: {port: 81}
---
apiVersion: gateway.networking.k8s.io/v1
kind: HTTPRoute
metadata: {name: r}
spec:
  parentRefs:
  - {group: trellis.dev, kind: Listener, name: b}
  - {group: trellis.dev, kind: Listener, name: a}
  rules: [{filters: [{type: RequestRedirect, requestRedirect: {port: 8443}}]}]
)");
  ASSERT_TRUE(result.ok()) << describe(result);
  EXPECT_TRUE(result.warnings.empty()) << describe(result);
  for (const Listener& listener : result.snapshot->listeners) {
    ASSERT_EQ(listener.routes.routes.size(), 1u) << listener.name;
    EXPECT_EQ(listener.routes.routes[0].rules.at(0).redirect->port, 8443);
  }
}

TEST(LoaderValidTest, KubectlOutputAndYamlFeaturesAreAccepted) {
  // Server-populated metadata and status are ignored; anchors, flow style, comments and empty
  // documents are plain YAML.
  LoadResult result = load(R"(---
# comment
---
apiVersion: trellis.dev/v1alpha1
kind: Service
metadata:
  name: svc
  uid: 0d5d6c4e-1111-2222-3333-444455556666
  resourceVersion: "42"
  generation: 3
  labels: {app: svc}
  annotations: {note: "x"}
spec:
  ports: [{port: 80, name: http, appProtocol: http}]
  endpoints:
  - &endpoint {address: 10.0.0.1, weight: 3}
  - *endpoint
  loadBalancer: {policy: Random}
status: {anything: [1, 2, 3]}
...
)");
  ASSERT_FALSE(result.ok());  // the alias repeats an endpoint
  ASSERT_EQ(result.errors.size(), 1u) << describe(result);
  EXPECT_EQ(result.errors[0].toString(),
            "test.yaml:16:5: Service default/svc: spec.endpoints[1]: duplicate endpoint 10.0.0.1");
  result = load(R"(apiVersion: trellis.dev/v1alpha1
kind: Service
metadata: {name: svc, uid: x, generation: 3, labels: {app: svc}, annotations: {note: "x"}}
spec:
  ports: &ports [{port: 80, name: http, appProtocol: http}]
status: {anything: [1, 2, 3]}
)");
  ASSERT_TRUE(result.ok()) << describe(result);
  EXPECT_EQ(result.snapshot->clusters.size(), 1u);
  EXPECT_TRUE(result.snapshot->clusters.count("default/svc:80"));
}

TEST(LoaderValidTest, EmptyInputIsAnEmptySnapshot) {
  for (std::string_view yaml : {"", "\n", "# only a comment\n", "---\n---\n"}) {
    LoadResult result = load(yaml);
    ASSERT_TRUE(result.ok()) << describe(result);
    EXPECT_TRUE(result.snapshot->listeners.empty());
    EXPECT_TRUE(result.snapshot->clusters.empty());
  }
}

TEST(LoaderValidTest, HeaderModifierAndMatchNamesAreNormalised) {
  LoadResult result = load(R"(apiVersion: trellis.dev/v1alpha1
kind: Listener
metadata: {name: web}
spec: {port: 80}
---
apiVersion: gateway.networking.k8s.io/v1
kind: HTTPRoute
metadata: {name: r}
spec:
  parentRefs: [{group: trellis.dev, kind: Listener, name: web}]
  rules:
  - matches:
    - queryParams: [{name: Page, value: "2"}]
      method: PATCH
    filters:
    - type: RequestHeaderModifier
      requestHeaderModifier:
        set: [{name: X-A, value: "1"}]
        add: [{name: X-B, value: "2"}]
        remove: [X-C]
    - type: URLRewrite
      urlRewrite: {hostname: internal.local, path: {type: ReplaceFullPath, replaceFullPath: /new}}
    backendRefs: [{name: missing, port: 80}]
)");
  ASSERT_TRUE(result.ok()) << describe(result);
  const RouteRule& rule = result.snapshot->listeners[0].routes.routes.at(0).rules.at(0);
  EXPECT_EQ(rule.match.queryParams.at(0).name, "Page");  // query names stay verbatim
  EXPECT_EQ(rule.match.method, "PATCH");
  ASSERT_TRUE(rule.requestHeaders);
  EXPECT_EQ(rule.requestHeaders->set.at(0).first, "x-a");
  EXPECT_EQ(rule.requestHeaders->add.at(0).first, "x-b");
  EXPECT_EQ(rule.requestHeaders->remove.at(0), "x-c");
  ASSERT_TRUE(rule.rewrite);
  EXPECT_EQ(rule.rewrite->hostname, "internal.local");
  EXPECT_EQ(rule.rewrite->pathType, PathRewriteType::ReplaceFullPath);
  EXPECT_EQ(rule.rewrite->path, "/new");
}

}  // namespace
}  // namespace trellis::config
