// Each proxy's configuration: its inbound side, the Services its Workload calls (routes and
// default routes), registry endpoints, and nothing else of the mesh.

#include <gtest/gtest.h>

#include "controlplane/mesh/mesh_state.h"
#include "controlplane/mesh/proxy_model.h"

namespace trellis::controlplane {
namespace {

StoredResource stored(std::string kind, std::string ns, std::string name, std::string yaml) {
  return StoredResource{ResourceKey{std::move(kind), std::move(ns), std::move(name)},
                        std::move(yaml), 1};
}

std::vector<StoredResource> shop() {
  auto service = [](const std::string& name, const std::string& protocol) {
    return stored("Service", "shop", name,
                  "apiVersion: trellis.dev/v1alpha1\nkind: Service\nmetadata: {name: " + name +
                      ", namespace: shop}\nspec: {ports: [{port: 80, appProtocol: " + protocol +
                      "}]}\n");
  };
  return {
      service("frontend", "http"),
      service("billing", "http"),
      service("billing-v2", "http"),
      service("inventory", "grpc"),
      service("ledger", "tcp"),
      stored("HTTPRoute", "shop", "billing", R"(apiVersion: gateway.networking.k8s.io/v1
kind: HTTPRoute
metadata: {name: billing, namespace: shop}
spec:
  parentRefs: [{group: "", kind: Service, name: billing}]
  rules:
  - backendRefs: [{name: billing, port: 80, weight: 90}, {name: billing-v2, port: 80, weight: 10}]
)"),
      stored("Workload", "shop", "frontend", R"(apiVersion: trellis.dev/v1alpha1
kind: Workload
metadata: {name: frontend, namespace: shop}
spec:
  upstreams: [{name: billing}, {name: inventory}]
)"),
  };
}

std::shared_ptr<const MeshState> parse(const std::vector<StoredResource>& resources) {
  std::vector<std::string> errors;
  auto mesh = parseMesh(resources, 7, errors);
  EXPECT_TRUE(errors.empty()) << errors.front();
  return mesh;
}

const config::Listener* listener(const config::Snapshot& snapshot, std::string_view name) {
  for (const auto& l : snapshot.listeners) {
    if (l.name == name) return &l;
  }
  return nullptr;
}

TEST(MeshModelTest, SidecarGetsItsInboundSideAndOnlyTheServicesItCalls) {
  auto mesh = parse(shop());
  Registry registry(std::chrono::seconds(30));
  registry.connected(
      Registration{"billing-1.shop", "shop", "billing", "127.0.0.2", {16001}, {}, {}});
  registry.connected(Registration{"ledger-1.shop", "shop", "ledger", "127.0.0.9", {16009}, {}, {}});
  SidecarFacts facts{"shop", "frontend", "127.0.0.1:16000", "127.0.0.1:9000", "127.0.0.1:15001"};
  ProxyModel model = buildSidecarModel(*mesh, registry, facts);
  ASSERT_NE(model.snapshot, nullptr) << model.error;
  EXPECT_TRUE(model.notes.empty());

  const config::Listener* inbound = listener(*model.snapshot, kInboundListener);
  ASSERT_NE(inbound, nullptr);
  EXPECT_EQ(inbound->address, "127.0.0.1");
  EXPECT_EQ(inbound->port, 16000);
  ASSERT_EQ(inbound->routes.routes.size(), 1u);
  EXPECT_EQ(inbound->routes.routes[0].rules.at(0).backends.at(0).cluster, "inbound/frontend:80");
  const config::Cluster& app = model.snapshot->clusters.at("inbound/frontend:80");
  ASSERT_EQ(app.endpoints.size(), 1u);
  EXPECT_EQ(app.endpoints[0].host, "127.0.0.1");
  EXPECT_EQ(app.endpoints[0].port, 9000);

  const config::Listener* outbound = listener(*model.snapshot, kOutboundListener);
  ASSERT_NE(outbound, nullptr);
  EXPECT_EQ(outbound->port, 15001);
  ASSERT_EQ(outbound->routes.routes.size(), 2u);  // billing's route + inventory's default route
  std::set<std::string> clusters;
  for (const auto& [name, cluster] : model.snapshot->clusters) clusters.insert(name);
  EXPECT_EQ(clusters, (std::set<std::string>{"inbound/frontend:80", "shop/billing:80",
                                             "shop/billing-v2:80", "shop/inventory:80"}));
  // The registry's instance is an endpoint of billing at its proxy's inbound address.
  const auto& billing = model.snapshot->clusters.at("shop/billing:80").endpoints;
  ASSERT_EQ(billing.size(), 1u);
  EXPECT_EQ(billing[0].host, "127.0.0.2");
  EXPECT_EQ(billing[0].port, 16001);
  EXPECT_EQ(model.snapshot->clusters.at("shop/inventory:80").protocol,
            config::UpstreamProtocol::Http2);
}

TEST(MeshModelTest, TcpServiceGetsATcpInboundListener) {
  auto mesh = parse(shop());
  Registry registry(std::chrono::seconds(30));
  ProxyModel model = buildSidecarModel(
      *mesh, registry, SidecarFacts{"shop", "ledger", "127.0.0.1:16009", "127.0.0.1:9009", ""});
  ASSERT_NE(model.snapshot, nullptr) << model.error;
  const config::Listener* inbound = listener(*model.snapshot, kInboundListener);
  ASSERT_NE(inbound, nullptr);
  EXPECT_EQ(inbound->protocol, config::ListenerProtocol::Tcp);
  EXPECT_EQ(inbound->tcpCluster, "inbound/ledger:80");
  EXPECT_EQ(listener(*model.snapshot, kOutboundListener), nullptr);
  ASSERT_EQ(model.notes.size(), 1u);
  EXPECT_EQ(model.notes[0], "no outbound routes: no Workload for Service shop/ledger");
}

TEST(MeshModelTest, UnknownServiceIsANoteNotAFailure) {
  auto mesh = parse(shop());
  Registry registry(std::chrono::seconds(30));
  ProxyModel model = buildSidecarModel(
      *mesh, registry, SidecarFacts{"shop", "ghost", "127.0.0.1:1", "127.0.0.1:2", "bad"});
  ASSERT_NE(model.snapshot, nullptr) << model.error;
  EXPECT_TRUE(model.snapshot->listeners.empty());
  ASSERT_EQ(model.notes.size(), 3u);
  EXPECT_EQ(model.notes[0], "no inbound listener: Service shop/ghost not found");
  EXPECT_EQ(model.notes[2], "no outbound listener: OUTBOUND_ADDRESS \"bad\" is not ip:port");
}

TEST(MeshModelTest, ProxylessTargetsResolveToTheirServiceRoutes) {
  auto mesh = parse(shop());
  Registry registry(std::chrono::seconds(30));
  ProxylessModel model = buildProxylessModel(
      *mesh, registry,
      {"billing.shop:80", "inventory.shop.svc.cluster.local", "nope", "x.y.z", "billing.shop:81"});
  ASSERT_NE(model.clusterSnapshot, nullptr) << model.error;
  ASSERT_EQ(model.targets.size(), 2u);
  EXPECT_EQ(model.targets[0].name, "billing.shop:80");
  ASSERT_EQ(model.targets[0].routes.routes.size(), 1u);
  EXPECT_EQ(model.targets[0].routes.routes[0].hostnames,
            std::vector<std::string>{"billing.shop:80"});
  EXPECT_EQ(model.targets[0].routes.routes[0].rules.at(0).backends.size(), 2u);
  EXPECT_EQ(model.targets[1].routes.routes.at(0).rules.at(0).backends.at(0).cluster,
            "shop/inventory:80");
  EXPECT_TRUE(model.clusterSnapshot->listeners.empty());
  EXPECT_EQ(model.clusterSnapshot->clusters.size(), 3u);
}

TEST(MeshStreamTest, ErrorsAreLocatedInTheirSegment) {
  MeshStream stream;
  stream.append("a.yaml", "one: 1\ntwo: 2\n");
  stream.append("b.yaml", "three: 3");
  config::LoadError error{"mesh", 5, 1, "", "", "bad"};
  stream.locate(error);
  EXPECT_EQ(error.file, "b.yaml");
  EXPECT_EQ(error.line, 1);
  config::LoadError second{"mesh", 3, 1, "", "", "bad"};
  stream.locate(second);
  EXPECT_EQ(second.file, "a.yaml");
  EXPECT_EQ(second.line, 2);
}

TEST(MeshModelTest, GatewayListenersStayOutOfSidecars) {
  auto resources = shop();
  resources.push_back(stored("Listener", "shop", "gateway", R"(apiVersion: trellis.dev/v1alpha1
kind: Listener
metadata: {name: gateway, namespace: shop}
spec: {address: 0.0.0.0, port: 8080, protocol: HTTP}
)"));
  resources.push_back(stored("HTTPRoute", "shop", "web", R"(apiVersion: gateway.networking.k8s.io/v1
kind: HTTPRoute
metadata: {name: web, namespace: shop}
spec:
  parentRefs: [{group: trellis.dev, kind: Listener, name: gateway}]
  rules: [{backendRefs: [{name: frontend, port: 80}]}]
)"));
  auto mesh = parse(resources);
  Registry registry(std::chrono::seconds(30));
  ProxyModel model = buildSidecarModel(
      *mesh, registry,
      SidecarFacts{"shop", "frontend", "127.0.0.1:16000", "127.0.0.1:9000", "127.0.0.1:15001"});
  ASSERT_NE(model.snapshot, nullptr) << model.error;
  EXPECT_EQ(listener(*model.snapshot, "shop/gateway"), nullptr);
  EXPECT_EQ(model.snapshot->clusters.count("shop/frontend:80"), 0u) << "only the gateway used it";
}

TEST(MeshModelTest, AnAddressRegisteredTwiceIsOneEndpoint) {
  auto mesh = parse(shop());
  Registry registry(std::chrono::seconds(30));
  // The same instance re-registered under a new id while the old one is in its grace period.
  registry.connected(
      Registration{"billing-1.shop", "shop", "billing", "127.0.0.2", {16001}, {}, {}});
  registry.disconnected("billing-1.shop", Clock::now());
  registry.connected(
      Registration{"billing-x.shop", "shop", "billing", "127.0.0.2", {16001}, {}, {}});
  ProxyModel model = buildSidecarModel(
      *mesh, registry,
      SidecarFacts{"shop", "frontend", "127.0.0.1:16000", "127.0.0.1:9000", "127.0.0.1:15001"});
  ASSERT_NE(model.snapshot, nullptr) << model.error;
  EXPECT_EQ(model.snapshot->clusters.at("shop/billing:80").endpoints.size(), 1u);
}

}  // namespace
}  // namespace trellis::controlplane

namespace trellis::controlplane {
namespace {

// Mutual TLS: a registered proxy with an identity is an mTLS endpoint to its callers, and the
// inbound listener takes its Service's PeerAuthentication (PERMISSIVE without one).
TEST(MeshModelTest, IdentitiesAndPeerAuthenticationReachTheSidecar) {
  std::vector<StoredResource> resources = shop();
  resources.push_back(
      stored("PeerAuthentication", "shop", "billing", R"(apiVersion: trellis.dev/v1alpha1
kind: PeerAuthentication
metadata: {name: billing, namespace: shop}
spec: {targetRefs: [{kind: Service, name: billing}], mtls: {mode: STRICT}}
)"));
  auto mesh = parse(resources);
  Registry registry(std::chrono::seconds(30));
  registry.connected(Registration{"billing-1.shop",
                                  "shop",
                                  "billing",
                                  "127.0.0.2",
                                  {16001},
                                  {},
                                  "spiffe://trellis.local/ns/shop/sa/billing"});
  // Not admitted (admissionProblem): no identity in a STRICT Service, another service account.
  registry.connected(
      Registration{"billing-2.shop", "shop", "billing", "127.0.0.3", {16001}, {}, {}});
  registry.connected(Registration{"billing-3.shop",
                                  "shop",
                                  "billing",
                                  "127.0.0.4",
                                  {16001},
                                  {},
                                  "spiffe://trellis.local/ns/shop/sa/checkout"});

  ProxyModel caller = buildSidecarModel(
      *mesh, registry,
      SidecarFacts{"shop", "frontend", "127.0.0.1:16000", "127.0.0.1:9000", "127.0.0.1:15001"});
  ASSERT_NE(caller.snapshot, nullptr) << caller.error;
  const config::Cluster& billing = caller.snapshot->clusters.at("shop/billing:80");
  ASSERT_EQ(billing.endpoints.size(), 1u);
  EXPECT_EQ(billing.endpoints[0].identity, "spiffe://trellis.local/ns/shop/sa/billing");
  const config::Listener* callerInbound = listener(*caller.snapshot, kInboundListener);
  ASSERT_NE(callerInbound, nullptr);
  EXPECT_EQ(callerInbound->service, "shop/frontend");
  EXPECT_EQ(callerInbound->mtls, config::MtlsMode::Permissive);

  ProxyModel server = buildSidecarModel(
      *mesh, registry, SidecarFacts{"shop", "billing", "127.0.0.2:16001", "127.0.0.1:9001", ""});
  ASSERT_NE(server.snapshot, nullptr) << server.error;
  const config::Listener* inbound = listener(*server.snapshot, kInboundListener);
  ASSERT_NE(inbound, nullptr);
  EXPECT_EQ(inbound->service, "shop/billing");
  EXPECT_EQ(inbound->mtls, config::MtlsMode::Strict);
  // The application behind the proxy is reached in plaintext, on loopback.
  EXPECT_EQ(server.snapshot->clusters.at("inbound/billing:80").endpoints.at(0).identity, "");
}

}  // namespace
}  // namespace trellis::controlplane
