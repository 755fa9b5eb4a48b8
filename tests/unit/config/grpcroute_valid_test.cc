// GRPCRoutes load into the HTTP route model ("/<service>/<method>" paths), and the routing
// table sends gRPC calls where the route says.

#include <gtest/gtest.h>
#include <re2/re2.h>

#include <fstream>
#include <sstream>
#include <string>

#include "config/loader.h"
#include "routing/route_table.h"
#include "test_util.h"

namespace trellis::config {
namespace {

using testing::describe;
using testing::load;

constexpr std::string_view kBase = R"(apiVersion: trellis.dev/v1alpha1
kind: Listener
metadata: {name: web}
spec: {port: 80}
---
apiVersion: trellis.dev/v1alpha1
kind: Service
metadata: {name: exact}
spec: {ports: [{port: 80}]}
---
apiVersion: trellis.dev/v1alpha1
kind: Service
metadata: {name: service}
spec: {ports: [{port: 80}]}
---
apiVersion: trellis.dev/v1alpha1
kind: Service
metadata: {name: method}
spec: {ports: [{port: 80}]}
---
apiVersion: trellis.dev/v1alpha1
kind: Service
metadata: {name: regex}
spec: {ports: [{port: 80}]}
---
apiVersion: trellis.dev/v1alpha1
kind: Service
metadata: {name: rest}
spec: {ports: [{port: 80}]}
---
)";

constexpr std::string_view kGreeter = R"(apiVersion: gateway.networking.k8s.io/v1
kind: GRPCRoute
metadata: {name: greeter}
spec:
  parentRefs: [{group: trellis.dev, kind: Listener, name: web}]
  hostnames: [grpc.example.com]
  rules:
  - matches:
    - method: {service: helloworld.Greeter, method: SayHello}
    backendRefs: [{name: exact, port: 80}]
  - matches:
    - method: {type: Exact, service: .helloworld.Greeter}
    filters:
    - type: RequestHeaderModifier
      requestHeaderModifier: {set: [{name: X-Via, value: grpc}]}
    - type: ResponseHeaderModifier
      responseHeaderModifier: {remove: [x-internal]}
    - type: RequestMirror
      requestMirror: {backendRef: {name: rest, port: 80}}
    backendRefs: [{name: service, port: 80, weight: 3}, {name: rest, port: 80, weight: 1}]
  - matches:
    - method: {method: Check}
      headers: [{name: X-Tenant, value: blue}]
    backendRefs: [{name: method}]
  - matches:
    - method: {type: RegularExpression, service: "reflection\\..*", method: "Server.*"}
    - method: {type: RegularExpression, method: "Watch|List"}
    backendRefs: [{name: regex}]
  - backendRefs: [{name: rest}]
)";

std::string config(std::string_view routes) {
  return std::string(kBase) + std::string(routes);
}

const RouteTableConfig::HostRules& onlyRoute(const LoadResult& result) {
  return result.snapshot->listeners.at(0).routes.routes.at(0);
}

TEST(GrpcRouteValidTest, TranslatesMethodMatchesToPaths) {
  LoadResult result = load(config(kGreeter));
  ASSERT_TRUE(result.ok()) << describe(result);
  EXPECT_TRUE(result.warnings.empty()) << describe(result);
  const auto& route = onlyRoute(result);
  EXPECT_EQ(route.hostnames, std::vector<std::string>{"grpc.example.com"});
  ASSERT_EQ(route.rules.size(), 6u);

  const RouteRule& exact = route.rules[0];
  EXPECT_EQ(exact.match.path.type, PathMatchType::Exact);
  EXPECT_EQ(exact.match.path.value, "/helloworld.Greeter/SayHello");
  EXPECT_EQ(exact.routeName, "default/greeter");
  ASSERT_EQ(exact.backends.size(), 1u);
  EXPECT_EQ(exact.backends[0].cluster, "default/exact:80");

  const RouteRule& service = route.rules[1];
  EXPECT_EQ(service.match.path.type, PathMatchType::RegularExpression);
  EXPECT_EQ(service.match.path.value, "/helloworld\\.Greeter/[^/]+");
  ASSERT_NE(service.match.path.regex, nullptr);
  ASSERT_TRUE(service.requestHeaders.has_value());
  EXPECT_EQ(service.requestHeaders->set,
            (std::vector<std::pair<std::string, std::string>>{{"x-via", "grpc"}}));
  ASSERT_TRUE(service.responseHeaders.has_value());
  EXPECT_EQ(service.responseHeaders->remove, std::vector<std::string>{"x-internal"});
  ASSERT_EQ(service.mirrors.size(), 1u);
  EXPECT_EQ(service.mirrors[0].cluster, "default/rest:80");
  ASSERT_EQ(service.backends.size(), 2u);
  EXPECT_EQ(service.backends[0].weight, 3u);
  EXPECT_EQ(service.backends[1].weight, 1u);

  const RouteRule& method = route.rules[2];
  EXPECT_EQ(method.match.path.type, PathMatchType::RegularExpression);
  EXPECT_EQ(method.match.path.value, "/[^/]+/Check");
  ASSERT_EQ(method.match.headers.size(), 1u);
  EXPECT_EQ(method.match.headers[0].name, "x-tenant");
  EXPECT_EQ(method.match.headers[0].value, "blue");

  EXPECT_EQ(route.rules[3].match.path.value, "/(?:reflection\\..*)/(?:Server.*)");
  EXPECT_EQ(route.rules[3].matchIndex, 0u);
  EXPECT_EQ(route.rules[4].match.path.value, "/(?:[^/]+)/(?:Watch|List)");
  EXPECT_EQ(route.rules[4].ruleIndex, 3u);
  EXPECT_EQ(route.rules[4].matchIndex, 1u);

  const RouteRule& rest = route.rules[5];
  EXPECT_EQ(rest.match.path.type, PathMatchType::PathPrefix);
  EXPECT_EQ(rest.match.path.value, "/");
  EXPECT_FALSE(rest.match.method.has_value());
  // The spec asks for no content-type condition; none is added.
  EXPECT_TRUE(rest.match.headers.empty());
}

TEST(GrpcRouteValidTest, EmptyStringsMeanAnyAndRulesDefault) {
  LoadResult result = load(config(R"(apiVersion: gateway.networking.k8s.io/v1
kind: GRPCRoute
metadata: {name: g, namespace: default}
spec:
  parentRefs: [{group: trellis.dev, kind: Listener, name: web}]
  rules:
  - matches: [{method: {service: "", method: Get}}, {headers: [{name: a, value: b}]}]
    backendRefs: [{name: rest}]
)"));
  ASSERT_TRUE(result.ok()) << describe(result);
  const auto& route = onlyRoute(result);
  ASSERT_EQ(route.rules.size(), 2u);
  EXPECT_EQ(route.rules[0].match.path.value, "/[^/]+/Get");
  EXPECT_EQ(route.rules[1].match.path.type, PathMatchType::PathPrefix);
  EXPECT_EQ(route.rules[1].match.headers.size(), 1u);

  LoadResult bare = load(config(R"(apiVersion: gateway.networking.k8s.io/v1
kind: GRPCRoute
metadata: {name: g}
spec:
  parentRefs: [{group: trellis.dev, kind: Listener, name: web}]
)"));
  ASSERT_TRUE(bare.ok()) << describe(bare);
  ASSERT_EQ(bare.warnings.size(), 1u) << describe(bare);
  EXPECT_EQ(bare.warnings[0].message,
            "rule has no backendRefs and no RequestRedirect; matching requests will get 500");
  EXPECT_EQ(onlyRoute(bare).rules.at(0).match.path.value, "/");
}

// The cluster the table routes `path` (a POST with `headers`) to, or "" for no route.
std::string routeTo(const routing::RouteTable& table, std::string_view host, std::string_view path,
                    std::vector<http::HeaderField> headers = {}) {
  routing::RequestView request{"POST", host, path, "", headers};
  const RouteRule* rule = table.match(request);
  if (rule == nullptr) return "";
  if (rule->backends.empty()) return "(no backends)";
  return rule->backends.front().cluster;
}

TEST(GrpcRouteValidTest, RouteTableRoutesCallsByServiceAndMethod) {
  LoadResult result = load(config(kGreeter));
  ASSERT_TRUE(result.ok()) << describe(result);
  routing::RouteTable table(result.snapshot->listeners.at(0).routes);
  constexpr std::string_view host = "grpc.example.com";
  EXPECT_EQ(routeTo(table, host, "/helloworld.Greeter/SayHello"), "default/exact:80");
  EXPECT_EQ(routeTo(table, host, "/helloworld.Greeter/SayGoodbye"), "default/service:80");
  // The service regex is quoted: '.' is not "any character".
  EXPECT_EQ(routeTo(table, host, "/helloworldxGreeter/SayGoodbye"), "default/rest:80");
  EXPECT_EQ(routeTo(table, host, "/helloworld.Greeter"), "default/rest:80");
  EXPECT_EQ(routeTo(table, host, "/helloworld.Greeter/a/b"), "default/rest:80");
  EXPECT_EQ(routeTo(table, host, "/grpc.health.v1.Health/Check", {{"x-tenant", "blue"}}),
            "default/method:80");
  EXPECT_EQ(routeTo(table, host, "/grpc.health.v1.Health/Check"), "default/rest:80");
  EXPECT_EQ(routeTo(table, host, "/grpc.health.v1.Health/CheckAll", {{"x-tenant", "blue"}}),
            "default/rest:80");
  EXPECT_EQ(routeTo(table, host, "/reflection.v1.ServerReflection/ServerReflectionInfo"),
            "default/regex:80");
  EXPECT_EQ(routeTo(table, host, "/reflection.v1.ServerReflection/Other"), "default/rest:80");
  EXPECT_EQ(routeTo(table, host, "/any.Svc/Watch"), "default/regex:80");
  EXPECT_EQ(routeTo(table, host, "/any.Svc/WatchAll"), "default/rest:80");
  EXPECT_EQ(routeTo(table, "other.example.com", "/helloworld.Greeter/SayHello"), "");
}

// Gateway API GRPCRoute precedence: the longest matching service wins over a method match,
// whatever the order of the rules and the length of the translated path expressions; Exact
// matches rank before RegularExpression ones (our choice, as for HTTPRoute paths).
TEST(GrpcRouteValidTest, ServiceMatchOutranksMethodMatch) {
  LoadResult result = load(config(R"(apiVersion: gateway.networking.k8s.io/v1
kind: GRPCRoute
metadata: {name: ranks}
spec:
  parentRefs: [{group: trellis.dev, kind: Listener, name: web}]
  rules:
  - matches: [{method: {method: AVeryLongMethodNameIndeed}}]
    backendRefs: [{name: method}]
  - matches: [{method: {service: a.B}}]
    backendRefs: [{name: service}]
  - matches: [{method: {service: a.B, method: AVeryLongMethodNameIndeed}}]
    backendRefs: [{name: exact}]
  - matches: [{method: {type: RegularExpression, service: "a\\.B.*"}}]
    backendRefs: [{name: regex}]
)"));
  ASSERT_TRUE(result.ok()) << describe(result);
  routing::RouteTable table(result.snapshot->listeners.at(0).routes);
  EXPECT_EQ(routeTo(table, "h", "/a.B/AVeryLongMethodNameIndeed"), "default/exact:80");
  EXPECT_EQ(routeTo(table, "h", "/a.B/Other"), "default/service:80");  // Exact before regex
  EXPECT_EQ(routeTo(table, "h", "/a.Bc/Other"), "default/regex:80");
  EXPECT_EQ(routeTo(table, "h", "/x.Y/AVeryLongMethodNameIndeed"), "default/method:80");
}

constexpr std::string_view kHttpRoute = R"(apiVersion: gateway.networking.k8s.io/v1
kind: HTTPRoute
metadata: {name: web, creationTimestamp: "2024-01-01T00:00:00Z"}
spec:
  parentRefs: [{group: trellis.dev, kind: Listener, name: web}]
  hostnames: [%s]
  rules: [{backendRefs: [{name: rest}]}]
---
apiVersion: gateway.networking.k8s.io/v1
kind: GRPCRoute
metadata: {name: api, creationTimestamp: "%s"}
spec:
  parentRefs: [{group: trellis.dev, kind: Listener, name: web}]
  hostnames: [grpc.example.com]
  rules: [{backendRefs: [{name: exact}]}]
)";

std::string mixed(std::string_view httpHost, std::string_view grpcCreated) {
  std::string text(kHttpRoute);
  text.replace(text.find("%s"), 2, httpHost);
  text.replace(text.find("%s"), 2, grpcCreated);
  return config(text);
}

TEST(GrpcRouteValidTest, HttpAndGrpcRoutesShareAListenerOnDistinctHostnames) {
  LoadResult result = load(mixed("www.example.com", "2024-02-01T00:00:00Z"));
  ASSERT_TRUE(result.ok()) << describe(result);
  EXPECT_TRUE(result.warnings.empty()) << describe(result);
  routing::RouteTable table(result.snapshot->listeners.at(0).routes);
  EXPECT_EQ(routeTo(table, "www.example.com", "/index.html"), "default/rest:80");
  EXPECT_EQ(routeTo(table, "grpc.example.com", "/pkg.Svc/Method"), "default/exact:80");
}

TEST(GrpcRouteValidTest, OverlappingHostnamesAcceptTheOlderRouteOnly) {
  // The HTTPRoute is older: the GRPCRoute is not attached.
  LoadResult result = load(mixed("\"*.example.com\"", "2024-02-01T00:00:00Z"));
  ASSERT_TRUE(result.ok()) << describe(result);
  ASSERT_EQ(result.warnings.size(), 1u) << describe(result);
  EXPECT_EQ(result.warnings[0].resource, "GRPCRoute default/api");
  EXPECT_EQ(result.warnings[0].message,
            "GRPCRoute not attached to Listener default/web: its hostnames overlap those of "
            "HTTPRoute default/web, which takes precedence (older, or first by namespace/name)");
  ASSERT_EQ(result.snapshot->listeners.at(0).routes.routes.size(), 1u);

  // The GRPCRoute is older: the HTTPRoute loses the listener.
  result = load(mixed("grpc.example.com", "2023-02-01T00:00:00Z"));
  ASSERT_TRUE(result.ok()) << describe(result);
  ASSERT_EQ(result.warnings.size(), 1u) << describe(result);
  EXPECT_EQ(result.warnings[0].resource, "HTTPRoute default/web");
  const auto& routes = result.snapshot->listeners.at(0).routes.routes;
  ASSERT_EQ(routes.size(), 1u);
  EXPECT_EQ(routes[0].rules.at(0).routeName, "default/api");

  // Same timestamp: the first by namespace/name ("default/api") wins.
  result = load(mixed("grpc.example.com", "2024-01-01T00:00:00Z"));
  ASSERT_EQ(result.warnings.size(), 1u) << describe(result);
  EXPECT_EQ(result.warnings[0].resource, "HTTPRoute default/web");
}

TEST(GrpcRouteValidTest, ExampleFileLoads) {
  LoadResult result = loadFile(TRELLIS_EXAMPLES_DIR "/proxy/grpc.yaml");
  ASSERT_TRUE(result.ok()) << describe(result);
  EXPECT_TRUE(result.warnings.empty()) << describe(result);
  routing::RouteTable table(result.snapshot->listeners.at(0).routes);
  EXPECT_EQ(routeTo(table, "grpc.example.com", "/helloworld.Greeter/SayHello"),
            "default/greeter:50051");
  EXPECT_EQ(routeTo(table, "www.example.com", "/"), "default/web:80");
}

TEST(GrpcRouteValidTest, DocumentedExampleLoads) {
  std::ifstream file(TRELLIS_DOCS_DIR "/configuration.md");
  ASSERT_TRUE(file) << "cannot read docs/configuration.md";
  std::stringstream content;
  content << file.rdbuf();
  std::string markdown = content.str();
  size_t section = markdown.find("\n## GRPCRoute");
  ASSERT_NE(section, std::string::npos);
  size_t example = markdown.find("### Example", section);
  ASSERT_NE(example, std::string::npos);
  size_t start = markdown.find("```yaml\n", example);
  ASSERT_NE(start, std::string::npos);
  start += 8;
  size_t end = markdown.find("```", start);
  ASSERT_NE(end, std::string::npos);
  LoadResult result = load(config(markdown.substr(start, end - start)));
  ASSERT_TRUE(result.ok()) << describe(result);
  const auto& rules = onlyRoute(result).rules;
  ASSERT_EQ(rules.size(), 2u);
  EXPECT_EQ(rules[0].match.path.value, "/helloworld.Greeter/SayHello");
  EXPECT_EQ(rules[1].match.path.value, "/(?:helloworld\\..*)/(?:[^/]+)");
}

}  // namespace
}  // namespace trellis::config
