// GAMMA: routes whose parentRefs name a Service attach to the listeners that carry that
// Service's mesh traffic, under its mesh hostnames; Workload resources parse and are checked.

#include <gtest/gtest.h>

#include "config/resources.h"
#include "test_util.h"

namespace trellis::config {
namespace {

using testing::describe;

constexpr std::string_view kMesh = R"(apiVersion: trellis.dev/v1alpha1
kind: Service
metadata: {name: billing, namespace: shop}
spec: {ports: [{port: 80}]}
---
apiVersion: trellis.dev/v1alpha1
kind: Service
metadata: {name: billing-v2, namespace: shop}
spec: {ports: [{port: 80}]}
---
apiVersion: gateway.networking.k8s.io/v1
kind: HTTPRoute
metadata: {name: billing, namespace: shop}
spec:
  parentRefs: [{group: "", kind: Service, name: billing}]
  rules:
  - backendRefs: [{name: billing, port: 80, weight: 90}, {name: billing-v2, port: 80, weight: 10}]
---
apiVersion: trellis.dev/v1alpha1
kind: Workload
metadata: {name: checkout, namespace: shop}
spec:
  upstreams: [{name: billing}, {name: inventory}]
)";

struct Assembled {
  std::shared_ptr<Snapshot> snapshot;
  LoadResult diagnostics;
};

Assembled assembleWithOutbound(std::string_view yaml, std::vector<std::string> meshServices) {
  Diagnostics diagnostics{"test.yaml"};
  Resources resources;
  parseDocuments(yaml, diagnostics, resources);
  ListenerDef outbound;
  outbound.meta.ns = "mesh";
  outbound.meta.name = "outbound";
  outbound.listener.name = "mesh/outbound";
  outbound.listener.port = 15001;
  outbound.meshServices = std::move(meshServices);
  resources.listeners.push_back(std::move(outbound));
  Assembled out;
  out.snapshot = assembleSnapshot(resources, diagnostics);
  out.diagnostics.errors = diagnostics.takeErrors();
  out.diagnostics.warnings = diagnostics.takeWarnings();
  return out;
}

TEST(MeshAttachTest, ServiceParentedRouteAttachesUnderTheServiceHostnames) {
  Assembled result = assembleWithOutbound(kMesh, {"shop/billing"});
  ASSERT_NE(result.snapshot, nullptr) << describe(result.diagnostics);
  const auto& routes = result.snapshot->listeners.at(0).routes.routes;
  ASSERT_EQ(routes.size(), 1u);
  EXPECT_EQ(routes[0].hostnames,
            (std::vector<std::string>{"billing", "billing.shop", "billing.shop.svc",
                                      "billing.shop.svc.cluster.local"}));
  ASSERT_EQ(routes[0].rules.size(), 1u);
  const auto& backends = routes[0].rules[0].backends;
  ASSERT_EQ(backends.size(), 2u);
  EXPECT_EQ(backends[0].cluster, "shop/billing:80");
  EXPECT_EQ(backends[0].weight, 90u);
  EXPECT_EQ(backends[1].cluster, "shop/billing-v2:80");
  // The Workload names Services that do not exist: warnings, not a refusal.
  ASSERT_EQ(result.diagnostics.warnings.size(), 2u) << describe(result.diagnostics);
  EXPECT_EQ(result.diagnostics.warnings[0].toString(),
            "test.yaml:19:1: Workload shop/checkout: Service shop/checkout not found; its proxies "
            "get no inbound listener until it exists");
  EXPECT_EQ(result.diagnostics.warnings[1].toString(),
            "test.yaml:23:32: Workload shop/checkout: spec.upstreams[1]: Service shop/inventory "
            "not found; its proxies get no route to it until it exists");
}

TEST(MeshAttachTest, RouteStaysOffListenersThatDoNotCallItsService) {
  Assembled result = assembleWithOutbound(kMesh, {"shop/billing-v2"});
  ASSERT_NE(result.snapshot, nullptr) << describe(result.diagnostics);
  EXPECT_TRUE(result.snapshot->listeners.at(0).routes.routes.empty());
}

TEST(MeshAttachTest, StaticLoadAcceptsMeshResourcesWithoutNoise) {
  LoadResult result = loadString(kMesh, "test.yaml");
  ASSERT_TRUE(result.ok()) << describe(result);
  // Only the Workload's missing Services: a mesh route off every listener is normal.
  EXPECT_EQ(result.warnings.size(), 2u) << describe(result);
}

TEST(MeshAttachTest, ParentServiceMustExist) {
  LoadResult result = loadString(R"(apiVersion: gateway.networking.k8s.io/v1
kind: HTTPRoute
metadata: {name: r}
spec:
  parentRefs: [{group: "", kind: Service, name: ghost}]
  rules: [{}]
)",
                                 "test.yaml");
  ASSERT_TRUE(result.ok()) << describe(result);
  ASSERT_EQ(result.warnings.size(), 2u) << describe(result);
  EXPECT_EQ(result.warnings[0].toString(),
            "test.yaml:5:16: HTTPRoute default/r: spec.parentRefs[0]: parentRef Service "
            "default/ghost not found; the route does not apply to it");
}

TEST(MeshAttachTest, ServiceParentWithoutTheCoreGroupIsExplained) {
  LoadResult result = loadString(R"(apiVersion: gateway.networking.k8s.io/v1
kind: HTTPRoute
metadata: {name: r}
spec:
  parentRefs: [{kind: Service, name: billing}]
  rules: [{}]
)",
                                 "test.yaml");
  ASSERT_TRUE(result.ok()) << describe(result);
  ASSERT_EQ(result.warnings.size(), 3u) << describe(result);
  EXPECT_EQ(result.warnings[1].toString(),
            "test.yaml:5:16: HTTPRoute default/r: spec.parentRefs[0]: parentRef "
            "gateway.networking.k8s.io/Service default/billing ignored: a Service parent needs "
            "group \"\" (the core API group)");
}

TEST(MeshAttachTest, WorkloadErrorsNameTheField) {
  LoadResult result = loadString(R"(apiVersion: trellis.dev/v1alpha1
kind: Workload
metadata: {name: web}
spec:
  service: Not_A_Label
  upstreams: [{name: a}, {name: a}, {nmae: b}]
)",
                                 "test.yaml");
  ASSERT_FALSE(result.ok());
  std::vector<std::string> messages;
  for (const auto& error : result.errors) messages.push_back(error.toString());
  ASSERT_EQ(messages.size(), 4u) << describe(result);
  EXPECT_NE(messages[0].find("spec.service"), std::string::npos) << messages[0];
  EXPECT_NE(messages[1].find("Service default/a is listed twice"), std::string::npos);
  EXPECT_NE(messages[2].find("spec.upstreams[2]"), std::string::npos) << messages[2];
}

}  // namespace
}  // namespace trellis::config
