// References that do not resolve are not load errors (Gateway API semantics) but warnings.

#include <gtest/gtest.h>

#include "config/loader.h"
#include "test_util.h"

namespace trellis::config {
namespace {

using testing::describe;
using testing::load;

constexpr std::string_view kListener = R"(apiVersion: trellis.dev/v1alpha1
kind: Listener
metadata: {name: web}
spec: {port: 80}
---
apiVersion: trellis.dev/v1alpha1
kind: Service
metadata: {name: svc}
spec: {ports: [{port: 80}]}
---
apiVersion: gateway.networking.k8s.io/v1
kind: HTTPRoute
metadata: {name: shop}
spec:
)";

LoadResult loadRoute(std::string_view spec) {
  return load(std::string(kListener) + std::string(spec));
}

TEST(LoaderWarningsTest, MissingServiceKeepsTheBackendWithAnEmptyCluster) {
  LoadResult result = loadRoute(R"(  parentRefs: [{group: trellis.dev, kind: Listener, name: web}]
  rules:
  - backendRefs:
    - {name: svc, port: 80, weight: 3}
    - {name: gone, port: 80, weight: 1}
)");
  ASSERT_TRUE(result.ok()) << describe(result);
  ASSERT_EQ(result.warnings.size(), 1u) << describe(result);
  EXPECT_EQ(result.warnings[0].toString(),
            "test.yaml:19:7: HTTPRoute default/shop: spec.rules[0].backendRefs[1]: Service "
            "default/gone not found; requests sent to this backend will get 500");
  const auto& backends = result.snapshot->listeners[0].routes.routes.at(0).rules.at(0).backends;
  ASSERT_EQ(backends.size(), 2u);
  EXPECT_EQ(backends[0].cluster, "default/svc:80");
  EXPECT_EQ(backends[0].weight, 3u);
  EXPECT_EQ(backends[1].cluster, "");
  EXPECT_EQ(backends[1].weight, 1u);
}

TEST(LoaderWarningsTest, UnsupportedBackendKindIsUnresolved) {
  LoadResult result = loadRoute(R"(  parentRefs: [{group: trellis.dev, kind: Listener, name: web}]
  rules:
  - backendRefs: [{group: multicluster.x-k8s.io, kind: ServiceImport, name: svc, port: 80}]
)");
  ASSERT_TRUE(result.ok()) << describe(result);
  ASSERT_EQ(result.warnings.size(), 1u) << describe(result);
  EXPECT_EQ(result.warnings[0].message,
            "unsupported backend kind multicluster.x-k8s.io/ServiceImport (only Service is "
            "supported); requests sent to this backend will get 500");
  EXPECT_EQ(result.snapshot->listeners[0].routes.routes[0].rules[0].backends.at(0).cluster, "");
}

TEST(LoaderWarningsTest, MirrorToMissingServiceIsDropped) {
  LoadResult result = loadRoute(R"(  parentRefs: [{group: trellis.dev, kind: Listener, name: web}]
  rules:
  - filters:
    - {type: RequestMirror, requestMirror: {backendRef: {name: gone, port: 80}}}
    - {type: RequestMirror, requestMirror: {backendRef: {name: svc, port: 80}}}
    backendRefs: [{name: svc, port: 80}]
)");
  ASSERT_TRUE(result.ok()) << describe(result);
  ASSERT_EQ(result.warnings.size(), 1u) << describe(result);
  EXPECT_EQ(result.warnings[0].field, "spec.rules[0].filters[0].requestMirror.backendRef");
  EXPECT_EQ(result.warnings[0].message, "Service default/gone not found; this mirror is dropped");
  const auto& mirrors = result.snapshot->listeners[0].routes.routes[0].rules[0].mirrors;
  ASSERT_EQ(mirrors.size(), 1u);
  EXPECT_EQ(mirrors[0].cluster, "default/svc:80");
}

TEST(LoaderWarningsTest, ParentRefsThatDoNotAttach) {
  LoadResult result = loadRoute(R"(  parentRefs:
  - {name: my-gateway}
  - {group: trellis.dev, kind: Listener, name: nope}
  - {group: trellis.dev, kind: Listener, name: web, port: 8080}
  - {group: trellis.dev, kind: Listener, name: web, sectionName: https}
  rules: [{backendRefs: [{name: svc, port: 80}]}]
)");
  ASSERT_TRUE(result.ok()) << describe(result);
  EXPECT_TRUE(result.snapshot->listeners[0].routes.routes.empty());
  std::vector<std::string> messages;
  for (const LoadError& warning : result.warnings) messages.push_back(warning.message);
  EXPECT_EQ(messages,
            (std::vector<std::string>{
                "HTTPRoute is not attached to any Listener",
                "parentRef gateway.networking.k8s.io/Gateway default/my-gateway ignored: "
                "trellis-proxy attaches HTTPRoutes to trellis.dev Listeners and to Services only",
                "Listener default/nope not found; the route is not attached to it",
                "route not attached to Listener default/web: its port is 80, not 8080",
                "route not attached to Listener default/web: sectionName https does not "
                "name it",
            }))
      << describe(result);
  EXPECT_EQ(result.warnings[0].line, 11);  // the route's document
}

TEST(LoaderWarningsTest, RouteOnTcpListenerDoesNotAttach) {
  LoadResult result = load(R"(apiVersion: trellis.dev/v1alpha1
kind: Listener
metadata: {name: tcp}
spec: {port: 80, protocol: TCP, tcp: {backendRef: {name: db, port: 5432}}}
---
apiVersion: gateway.networking.k8s.io/v1
kind: HTTPRoute
metadata: {name: r}
spec:
  parentRefs: [{group: trellis.dev, kind: Listener, name: tcp}]
  rules: [{filters: [{type: RequestRedirect, requestRedirect: {scheme: https}}]}]
)");
  ASSERT_TRUE(result.ok()) << describe(result);
  std::vector<std::string> rendered;
  for (const LoadError& warning : result.warnings) rendered.push_back(warning.toString());
  EXPECT_EQ(rendered,
            (std::vector<std::string>{
                "test.yaml:4:51: Listener default/tcp: spec.tcp.backendRef: Service default/db not "
                "found; connections to this listener will be closed",
                "test.yaml:6:1: HTTPRoute default/r: HTTPRoute is not attached to any Listener",
                "test.yaml:10:16: HTTPRoute default/r: spec.parentRefs[0]: route not attached to "
                "Listener default/tcp: it has protocol TCP",
            }));
  EXPECT_EQ(result.snapshot->listeners[0].tcpCluster, "");
}

TEST(LoaderWarningsTest, WarningsAreAlsoReturnedWithErrors) {
  LoadResult result = loadRoute(R"(  parentRefs: [{group: trellis.dev, kind: Listener, name: web}]
  rules: [{backendRefs: [{name: gone, port: 80}, {name: svc, port: 1}]}]
)");
  EXPECT_FALSE(result.ok());
  ASSERT_EQ(result.errors.size(), 1u) << describe(result);
  EXPECT_EQ(result.errors[0].message, "Service default/svc has no port 1 (ports: 80)");
  ASSERT_EQ(result.warnings.size(), 1u) << describe(result);
}

}  // namespace
}  // namespace trellis::config
