// The ADS client against a real gRPC C++ server: node identity, Envoy's subscription order,
// ACK/NACK, warming, reconnect and resync. The client runs on its own EventLoop thread, as on the
// proxy's main loop; every wait is on a condition with a timeout.
#include "xds/client/ads_client.h"

#include <gtest/gtest.h>

#include <thread>

#include "../tls/tls_test_util.h"
#include "client_harness.h"
#include "grpc_ads_server.h"
#include "test_resources.h"
#include "tls/pki/spiffe_id.h"
#include "xds/codec/codec.h"

namespace trellis::xds::client {
namespace {

using namespace test;

AdsClientOptions optionsFor(const std::string& server) {
  AdsClientOptions options;
  options.server = server;
  options.node = {"billing-1.shop",
                  "billing",
                  "shop",
                  "billing-1",
                  "127.0.0.1:16001",
                  "127.0.0.1:9001",
                  "127.0.0.1:15001",
                  {{"version", "v1"}, {"track", "canary"}},
                  ""};
  return options;
}

const AdsTypeStatus& typeStatus(const AdsStatus& status, ResourceType type) {
  return status.types[static_cast<size_t>(type)];
}

void expectAck(const std::optional<GrpcAdsServer::Received>& request, const std::string& version,
               const std::string& nonce) {
  ASSERT_TRUE(request.has_value());
  EXPECT_EQ(request->request.version_info(), version);
  EXPECT_EQ(request->request.response_nonce(), nonce);
  EXPECT_FALSE(request->request.has_error_detail()) << request->request.error_detail().message();
}

/// Brings client and server to an applied set over all four types (versions "1", nonces
/// "cds-1", "eds-1", "lds-1", "rds-1"): one HTTP listener routing to one EDS cluster.
void establish(GrpcAdsServer& server, ClientHarness& client) {
  ASSERT_TRUE(server.next(kClusterType));
  ASSERT_TRUE(server.next(kListenerType));
  ASSERT_TRUE(server.send(response(kClusterType, "1", "cds-1", std::vector{edsCluster("api")})));
  expectAck(server.next(kClusterType), "1", "cds-1");
  ASSERT_TRUE(server.next(kEndpointType));
  ASSERT_TRUE(
      server.send(response(kEndpointType, "1", "eds-1", std::vector{assignment("api", 9001)})));
  expectAck(server.next(kEndpointType), "1", "eds-1");
  ASSERT_TRUE(server.send(
      response(kListenerType, "1", "lds-1", std::vector{httpListener("out", 15001, "r")})));
  expectAck(server.next(kListenerType), "1", "lds-1");
  ASSERT_TRUE(server.next(kRouteType));
  ASSERT_TRUE(server.send(response(kRouteType, "1", "rds-1", std::vector{routeTo("r", "api")})));
  expectAck(server.next(kRouteType), "1", "rds-1");
  ASSERT_TRUE(client.waitForApplies(1));
}

TEST(AdsClient, SubscribesLikeEnvoyAndAppliesOnlyOnceWarm) {
  GrpcAdsServer server;
  ASSERT_TRUE(server.ok());
  ClientHarness client(optionsFor(server.address()));
  ASSERT_EQ(client.start(), "");

  // First request: wildcard CDS carrying the node.
  auto cds = server.next(kClusterType);
  ASSERT_TRUE(cds);
  const auto& node = cds->request.node();
  EXPECT_EQ(node.id(), "billing-1.shop");
  EXPECT_EQ(node.cluster(), "billing");
  EXPECT_EQ(node.user_agent_name(), "trellis-proxy");
  const auto& metadata = node.metadata().fields();
  EXPECT_EQ(metadata.at("NAMESPACE").string_value(), "shop");
  EXPECT_EQ(metadata.at("SERVICE").string_value(), "billing");
  EXPECT_EQ(metadata.at("INSTANCE").string_value(), "billing-1");
  EXPECT_EQ(metadata.at("INBOUND_ADDRESS").string_value(), "127.0.0.1:16001");
  EXPECT_EQ(metadata.at("APP_ADDRESS").string_value(), "127.0.0.1:9001");
  EXPECT_EQ(metadata.at("OUTBOUND_ADDRESS").string_value(), "127.0.0.1:15001");
  const auto& labels = metadata.at("LABELS").struct_value().fields();
  EXPECT_EQ(labels.at("version").string_value(), "v1");
  EXPECT_EQ(labels.at("track").string_value(), "canary");
  EXPECT_TRUE(cds->request.resource_names().empty());
  EXPECT_EQ(cds->request.version_info(), "");
  EXPECT_EQ(cds->request.response_nonce(), "");

  auto lds = server.next(kListenerType);
  ASSERT_TRUE(lds);
  EXPECT_FALSE(lds->request.has_node());  // the node travels once per stream
  EXPECT_TRUE(lds->request.resource_names().empty());
  EXPECT_EQ(server.pending(), 0u);  // nothing named is asked before it is known

  // CDS names an EDS cluster: ACK, then an EDS subscription for it.
  ASSERT_TRUE(server.send(response(kClusterType, "c1", "n1",
                                   std::vector{edsCluster("shop/billing:80", "billing-eps")})));
  expectAck(server.next(kClusterType), "c1", "n1");
  auto eds = server.next(kEndpointType);
  ASSERT_TRUE(eds);
  EXPECT_EQ(namesOf(eds->request), std::vector<std::string>{"billing-eps"});
  EXPECT_EQ(eds->request.response_nonce(), "");
  EXPECT_EQ(client.appliedCount(), 0u);  // no listeners yet, no endpoints yet

  // LDS names a route configuration: ACK, then an RDS subscription.
  ASSERT_TRUE(server.send(response(kListenerType, "l1", "n2",
                                   std::vector{httpListener("mesh/outbound", 15001, "out")})));
  expectAck(server.next(kListenerType), "l1", "n2");
  auto rds = server.next(kRouteType);
  ASSERT_TRUE(rds);
  EXPECT_EQ(namesOf(rds->request), std::vector<std::string>{"out"});
  EXPECT_EQ(client.appliedCount(), 0u);

  // Endpoints arrive; the route configuration is still missing.
  ASSERT_TRUE(server.send(
      response(kEndpointType, "e1", "n3", std::vector{assignment("billing-eps", 9001)})));
  expectAck(server.next(kEndpointType), "e1", "n3");
  EXPECT_EQ(client.appliedCount(), 0u);
  EXPECT_EQ(client.status().warming, "route configuration out");

  // The last piece: applied once, whole.
  ASSERT_TRUE(server.send(
      response(kRouteType, "r1", "n4", std::vector{routeTo("out", "shop/billing:80")})));
  expectAck(server.next(kRouteType), "r1", "n4");
  ASSERT_TRUE(client.waitForApplies(1));
  auto applied = client.applied();
  ASSERT_EQ(applied.size(), 1u);
  EXPECT_EQ(applied[0].clusters.size(), 1u);
  EXPECT_EQ(applied[0].endpoints.size(), 1u);
  EXPECT_EQ(applied[0].listeners.size(), 1u);
  ASSERT_EQ(applied[0].routes.size(), 1u);
  EXPECT_EQ(applied[0].routes[0].name(), "out");

  AdsStatus status = client.status();
  EXPECT_TRUE(status.connected);
  EXPECT_TRUE(status.applied);
  EXPECT_EQ(status.warming, "");
  EXPECT_EQ(status.responses, 4u);
  EXPECT_EQ(status.acks, 4u);
  EXPECT_EQ(status.nacks, 0u);
  EXPECT_EQ(status.reconnects, 0u);
  EXPECT_EQ(typeStatus(status, ResourceType::Cluster).ackedVersion, "c1");
  EXPECT_EQ(typeStatus(status, ResourceType::Endpoint).ackedVersion, "e1");
  EXPECT_EQ(typeStatus(status, ResourceType::Listener).ackedVersion, "l1");
  EXPECT_EQ(typeStatus(status, ResourceType::Route).ackedVersion, "r1");
  EXPECT_EQ(typeStatus(status, ResourceType::Route).subscribed, std::vector<std::string>{"out"});
}

TEST(AdsClient, RejectedResponseIsNackedAndThePreviousVersionKept) {
  GrpcAdsServer server;
  ASSERT_TRUE(server.ok());
  ClientHarness client(optionsFor(server.address()));
  ASSERT_EQ(client.start(), "");
  establish(server, client);

  client.setVerdict([](const Resources& resources) -> std::string {
    for (const auto& cluster : resources.clusters) {
      if (cluster.name() == "bad") return "cluster bad: connect_timeout must be positive";
    }
    return {};
  });
  ASSERT_TRUE(server.send(
      response(kClusterType, "2", "cds-2", std::vector{edsCluster("api"), staticCluster("bad")})));
  auto nack = server.next(kClusterType);
  ASSERT_TRUE(nack);
  EXPECT_EQ(nack->request.version_info(), "1");  // what the proxy still runs
  EXPECT_EQ(nack->request.response_nonce(), "cds-2");
  ASSERT_TRUE(nack->request.has_error_detail());
  EXPECT_EQ(nack->request.error_detail().code(), 3);  // INVALID_ARGUMENT
  EXPECT_EQ(nack->request.error_detail().message(),
            "cluster bad: connect_timeout must be positive");

  AdsStatus status = client.status();
  const auto& cds = typeStatus(status, ResourceType::Cluster);
  EXPECT_EQ(cds.ackedVersion, "1");
  EXPECT_EQ(cds.lastNack, "cluster bad: connect_timeout must be positive");
  EXPECT_EQ(cds.lastNackVersion, "2");
  EXPECT_EQ(cds.nacks, 1u);
  EXPECT_EQ(status.nacks, 1u);
  EXPECT_EQ(cds.resources, 1u);  // the rejected clusters are not held

  // The next good version is ACKed and applied.
  ASSERT_TRUE(server.send(response(kClusterType, "3", "cds-3",
                                   std::vector{edsCluster("api"), staticCluster("extra")})));
  expectAck(server.next(kClusterType), "3", "cds-3");
  ASSERT_TRUE(client.waitForApplies(3));  // establish, the rejected one, this one
  EXPECT_EQ(client.applied().back().clusters.size(), 2u);
  EXPECT_EQ(typeStatus(client.status(), ResourceType::Cluster).ackedVersion, "3");
}

TEST(AdsClient, MalformedResourcesAreNackedWithoutAnApply) {
  GrpcAdsServer server;
  ASSERT_TRUE(server.ok());
  ClientHarness client(optionsFor(server.address()));
  ASSERT_EQ(client.start(), "");
  establish(server, client);

  auto bad = response(kListenerType, "2", "lds-2", std::vector{httpListener("out", 15001, "r")});
  bad.add_resources()->set_type_url(std::string(kListenerType));
  bad.mutable_resources(1)->set_value(std::string("\x0f", 1));
  ASSERT_TRUE(server.send(bad));
  auto nack = server.next(kListenerType);
  ASSERT_TRUE(nack);
  EXPECT_EQ(nack->request.version_info(), "1");
  EXPECT_EQ(nack->request.response_nonce(), "lds-2");
  EXPECT_EQ(nack->request.error_detail().message(),
            "resource 1: not a valid envoy.config.listener.v3.Listener");
  EXPECT_EQ(client.appliedCount(), 1u);
  EXPECT_TRUE(client.status().connected);  // a bad resource is NACKed, not a broken stream
}

TEST(AdsClient, ChangedRouteNamesChangeTheRdsSubscriptionAndWarmAgain) {
  GrpcAdsServer server;
  ASSERT_TRUE(server.ok());
  ClientHarness client(optionsFor(server.address()));
  ASSERT_EQ(client.start(), "");
  establish(server, client);

  ASSERT_TRUE(server.send(
      response(kListenerType, "2", "lds-2", std::vector{httpListener("out", 15001, "r2")})));
  expectAck(server.next(kListenerType), "2", "lds-2");
  auto rds = server.next(kRouteType);
  ASSERT_TRUE(rds);
  EXPECT_EQ(namesOf(rds->request), std::vector<std::string>{"r2"});
  EXPECT_EQ(rds->request.version_info(), "1");
  EXPECT_EQ(rds->request.response_nonce(), "rds-1");
  EXPECT_EQ(client.appliedCount(), 1u);  // the old set keeps serving while r2 is awaited
  EXPECT_EQ(client.status().warming, "route configuration r2");

  ASSERT_TRUE(server.send(response(kRouteType, "2", "rds-2", std::vector{routeTo("r2", "api")})));
  expectAck(server.next(kRouteType), "2", "rds-2");
  ASSERT_TRUE(client.waitForApplies(2));
  auto last = client.applied().back();
  ASSERT_EQ(last.routes.size(), 1u);
  EXPECT_EQ(last.routes[0].name(), "r2");  // r1 is gone with the listener that used it
}

TEST(AdsClient, WarmingTimeoutAppliesWhatIsHeld) {
  GrpcAdsServer server;
  ASSERT_TRUE(server.ok());
  AdsClientOptions options = optionsFor(server.address());
  options.warmingTimeoutMs = 300;
  ClientHarness client(options);
  ASSERT_EQ(client.start(), "");
  ASSERT_TRUE(server.next(kClusterType));
  ASSERT_TRUE(server.next(kListenerType));

  auto sentAt = std::chrono::steady_clock::now();
  ASSERT_TRUE(server.send(response(kClusterType, "1", "cds-1", std::vector{edsCluster("api")})));
  ASSERT_TRUE(server.send(
      response(kListenerType, "1", "lds-1", std::vector{tcpListener("tcp", 16001, "api")})));
  expectAck(server.next(kClusterType), "1", "cds-1");
  expectAck(server.next(kListenerType), "1", "lds-1");
  ASSERT_TRUE(server.next(kEndpointType));
  EXPECT_EQ(client.appliedCount(), 0u);
  EXPECT_EQ(client.status().warming, "endpoints of api");

  // The server never sends the endpoints: after the timeout the cluster goes in without them.
  ASSERT_TRUE(client.waitForApplies(1));
  // Not before the timeout (the loop's clock counts whole milliseconds: allow for rounding).
  EXPECT_GE(std::chrono::steady_clock::now() - sentAt, std::chrono::milliseconds(298));
  auto first = client.applied()[0];
  EXPECT_EQ(first.clusters.size(), 1u);
  EXPECT_EQ(first.listeners.size(), 1u);
  EXPECT_TRUE(first.endpoints.empty());

  // When they do arrive, the complete set is applied at once.
  ASSERT_TRUE(
      server.send(response(kEndpointType, "1", "eds-1", std::vector{assignment("api", 9001)})));
  expectAck(server.next(kEndpointType), "1", "eds-1");
  ASSERT_TRUE(client.waitForApplies(2));
  EXPECT_EQ(client.applied()[1].endpoints.size(), 1u);
  EXPECT_EQ(client.status().warming, "");
}

TEST(AdsClient, ServerRestartReconnectsAndResyncsWithoutDroppingTheConfiguration) {
  auto server = std::make_unique<GrpcAdsServer>();
  ASSERT_TRUE(server->ok());
  int port = server->port();
  ClientHarness client(optionsFor(server->address()));
  ASSERT_EQ(client.start(), "");
  establish(*server, client);

  server->shutdown();
  ASSERT_TRUE(client.waitForStatus([](const AdsStatus& s) { return !s.connected; }));
  server = std::make_unique<GrpcAdsServer>(port);
  ASSERT_TRUE(server->ok()) << "port " << port << " could not be bound again";
  ASSERT_TRUE(server->waitForStreams(1, std::chrono::seconds(20)));

  // The new stream announces what the proxy holds, so the server could skip unchanged types.
  auto cds = server->next(kClusterType);
  ASSERT_TRUE(cds);
  EXPECT_TRUE(cds->request.has_node());
  EXPECT_EQ(cds->request.version_info(), "1");
  EXPECT_EQ(cds->request.response_nonce(), "");
  auto eds = server->next(kEndpointType);
  ASSERT_TRUE(eds);
  EXPECT_EQ(namesOf(eds->request), std::vector<std::string>{"api"});
  EXPECT_EQ(eds->request.version_info(), "1");
  auto lds = server->next(kListenerType);
  ASSERT_TRUE(lds);
  EXPECT_EQ(lds->request.version_info(), "1");
  auto rds = server->next(kRouteType);
  ASSERT_TRUE(rds);
  EXPECT_EQ(namesOf(rds->request), std::vector<std::string>{"r"});

  // A resync with the same resources is ACKed without swapping the configuration.
  ASSERT_TRUE(server->send(response(kClusterType, "1", "b-cds", std::vector{edsCluster("api")})));
  expectAck(server->next(kClusterType), "1", "b-cds");
  ASSERT_TRUE(server->send(
      response(kListenerType, "1", "b-lds", std::vector{httpListener("out", 15001, "r")})));
  expectAck(server->next(kListenerType), "1", "b-lds");
  EXPECT_EQ(client.appliedCount(), 1u);

  // A real change after the reconnect is applied.
  ASSERT_TRUE(
      server->send(response(kEndpointType, "2", "b-eds", std::vector{assignment("api", 9002)})));
  expectAck(server->next(kEndpointType), "2", "b-eds");
  ASSERT_TRUE(client.waitForApplies(2));

  AdsStatus status = client.status();
  EXPECT_TRUE(status.connected);
  EXPECT_GE(status.reconnects, 1u);
  EXPECT_FALSE(status.lastDisconnect.empty());
  // The configuration never went empty: every set handed over was complete.
  for (const auto& set : client.applied()) {
    EXPECT_EQ(set.listeners.size(), 1u);
    EXPECT_EQ(set.clusters.size(), 1u);
    EXPECT_EQ(set.endpoints.size(), 1u);
    EXPECT_EQ(set.routes.size(), 1u);
  }
}

TEST(AdsClient, ConnectFailuresBackOffUntilTheServerAppears) {
  // Reserve a port, then free it: the client starts against nothing.
  int port;
  {
    GrpcAdsServer probe;
    ASSERT_TRUE(probe.ok());
    port = probe.port();
  }
  ClientHarness client(optionsFor("localhost:" + std::to_string(port)));
  ASSERT_EQ(client.start(), "");
  ASSERT_TRUE(client.waitForStatus([](const AdsStatus& s) { return s.reconnects >= 2; }));
  AdsStatus status = client.status();
  EXPECT_FALSE(status.connected);
  EXPECT_NE(status.lastDisconnect.find("Connection refused"), std::string::npos)
      << status.lastDisconnect;

  GrpcAdsServer server(port);
  ASSERT_TRUE(server.ok());
  auto cds = server.next(kClusterType, std::chrono::seconds(20));
  ASSERT_TRUE(cds);
  EXPECT_TRUE(cds->request.has_node());
  ASSERT_TRUE(client.waitForStatus([](const AdsStatus& s) { return s.connected; }));
}

TEST(AdsClient, BadServerAddressIsAnError) {
  EventLoop loop;
  for (const char* address : {"shop:18000", "127.0.0.1", "127.0.0.1:0", "[::1]:99999"}) {
    AdsClientOptions options;
    options.server = address;
    AdsClient client(loop, options, [](const Resources&) { return std::string(); });
    std::string error = client.start();
    EXPECT_NE(error.find("is not HOST:PORT"), std::string::npos) << address << ": " << error;
  }
  std::string error;
  EXPECT_TRUE(parseServerAddress("[::1]:18000", error));
  EXPECT_TRUE(parseServerAddress("localhost:18000", error));
}

// A proxy with a workload certificate announces its service account and subscribes to the
// trust bundle (SDS "ROOTCA"); the bundle reaches the ApplyFn with the rest, and a later root
// rotation is one more SDS response.
TEST(AdsClient, SubscribesToTheTrustBundleWithACertificate) {
  GrpcAdsServer server;
  ASSERT_TRUE(server.ok());
  AdsClientOptions options = optionsFor(server.address());
  options.node.serviceAccount = "billing-sa";
  options.trustBundle = true;
  ClientHarness client(options);
  ASSERT_EQ(client.start(), "");
  auto sds = server.next(kSecretType);
  ASSERT_TRUE(sds);
  EXPECT_EQ(namesOf(sds->request), std::vector<std::string>{"ROOTCA"});
  establish(server, client);
  ASSERT_TRUE(
      server.send(response(kSecretType, "1", "sds-1", std::vector{encodeTrustBundle("root-1")})));
  expectAck(server.next(kSecretType), "1", "sds-1");
  ASSERT_TRUE(client.waitForApplies(2));
  Resources last = client.applied().back();
  ASSERT_EQ(last.secrets.size(), 1u);
  EXPECT_EQ(last.secrets[0].validation_context().trusted_ca().inline_string(), "root-1");
  EXPECT_EQ(last.listeners.size(), 1u);
  EXPECT_EQ(typeStatus(client.status(), ResourceType::Secret).resources, 1u);
}

TEST(AdsClient, AnnouncesItsServiceAccount) {
  GrpcAdsServer server;
  ASSERT_TRUE(server.ok());
  AdsClientOptions options = optionsFor(server.address());
  options.node.serviceAccount = "billing-sa";
  ClientHarness client(options);
  ASSERT_EQ(client.start(), "");
  auto cds = server.next(kClusterType);
  ASSERT_TRUE(cds);
  EXPECT_EQ(cds->request.node().metadata().fields().at("SERVICE_ACCOUNT").string_value(),
            "billing-sa");
  // Without trustBundle there is no SDS subscription.
  EXPECT_FALSE(server.next(kSecretType, std::chrono::milliseconds(200)));
}

// With a workload certificate the stream runs over mutual TLS, verifying the server's SPIFFE ID,
// and stays up past the connect timeout (which must stop at the end of the handshake).
TEST(AdsClient, MutualTlsStreamVerifiesTheServerAndStaysUp) {
  pki::CertificateAuthority ca = pki::CertificateAuthority::createRoot("trellis.local", 1h);
  const std::string bundle = ca.chainPem();
  const tls::testing::Identity server = tls::testing::issue(ca, "trellis-system", "trellisd");
  const tls::testing::Identity client = tls::testing::issue(ca, "shop", "billing");
  grpc::SslServerCredentialsOptions ssl(GRPC_SSL_REQUEST_AND_REQUIRE_CLIENT_CERTIFICATE_AND_VERIFY);
  ssl.pem_root_certs = bundle;
  ssl.pem_key_cert_pairs.push_back({server.keyPem, server.chainPem});
  GrpcAdsServer grpcServer(0, grpc::SslServerCredentials(ssl));
  ASSERT_TRUE(grpcServer.ok());

  auto run = [&](const std::string& expectedServer) {
    AdsClientOptions options = optionsFor(grpcServer.address());
    options.connectTimeoutMs = 300;
    options.tls = [&, expectedServer] {
      AdsClientOptions::Tls tls;
      tls.context = tls::testing::makeContext(tls::Side::Client, client, bundle, {"h2"});
      tls.policy.side = tls::Side::Client;
      tls.policy.expectedPeerIds = {expectedServer};
      return tls;
    };
    return std::make_unique<ClientHarness>(options);
  };

  auto good = run(pki::controlPlaneId("trellis.local"));
  ASSERT_EQ(good->start(), "");
  ASSERT_TRUE(grpcServer.next(kClusterType));
  ASSERT_TRUE(good->waitForStatus([](const AdsStatus& s) { return s.connected; }));
  std::this_thread::sleep_for(600ms);  // twice the connect timeout: nothing to wait on instead
  const AdsStatus status = good->status();
  EXPECT_TRUE(status.connected) << status.lastDisconnect;
  EXPECT_EQ(status.reconnects, 0u) << status.lastDisconnect;
  good.reset();

  // A server presenting another identity than the one insisted on is never spoken to.
  auto wrong = run("spiffe://trellis.local/ns/shop/sa/impostor");
  ASSERT_EQ(wrong->start(), "");
  ASSERT_TRUE(wrong->waitForStatus([](const AdsStatus& s) { return s.reconnects > 0; }));
  EXPECT_NE(wrong->status().lastDisconnect.find("TLS handshake"), std::string::npos)
      << wrong->status().lastDisconnect;
  EXPECT_FALSE(grpcServer.next(kClusterType, 200ms));
}

}  // namespace
}  // namespace trellis::xds::client
