// The ADS server over real gRPC on 127.0.0.1: initial pushes and their order, ACK/NACK status,
// pushes on config changes, named and wildcard subscriptions, the node lifecycle hooks,
// reconnects, many streams, and stop() with streams open. Every wait is on a message or a hook
// call, never on time.
#include "controlplane/ads/ads_server.h"

#include <gtest/gtest.h>

#include <algorithm>
#include <set>

#include "ads_test_client.h"
#include "envoy/config/cluster/v3/cluster.pb.h"
#include "envoy/config/endpoint/v3/endpoint.pb.h"
#include "envoy/config/listener/v3/listener.pb.h"
#include "envoy/config/route/v3/route.pb.h"
#include "xds/codec/resources.h"

namespace trellis::controlplane {
namespace {

using testing::AdsTestClient;
using testing::DiscoveryResponse;
using testing::kSyncType;
using testing::proxyNode;
using testing::RecordingHooks;

const std::string kCds(xds::kClusterType);
const std::string kEds(xds::kEndpointType);
const std::string kLds(xds::kListenerType);
const std::string kRds(xds::kRouteType);

// A resource of `type` named `name`; `tag` varies its content (and so the version).
google::protobuf::Any resource(const std::string& type, const std::string& name, int tag) {
  google::protobuf::Any any;
  if (type == kCds) {
    envoy::config::cluster::v3::Cluster c;
    c.set_name(name);
    c.set_alt_stat_name("tag" + std::to_string(tag));
    any.PackFrom(c);
  } else if (type == kEds) {
    envoy::config::endpoint::v3::ClusterLoadAssignment c;
    c.set_cluster_name(name);
    c.mutable_policy()->mutable_overprovisioning_factor()->set_value(100 + tag);
    any.PackFrom(c);
  } else if (type == kLds) {
    envoy::config::listener::v3::Listener l;
    l.set_name(name);
    l.set_stat_prefix("tag" + std::to_string(tag));
    any.PackFrom(l);
  } else {
    envoy::config::route::v3::RouteConfiguration r;
    r.set_name(name);
    r.add_internal_only_headers("tag" + std::to_string(tag));
    any.PackFrom(r);
  }
  return any;
}

TypeResources typed(const std::string& type, std::vector<std::string> names, int tag = 0) {
  TypeResources out;
  std::sort(names.begin(), names.end());
  for (const auto& name : names) out.resources.emplace_back(name, resource(type, name, tag));
  out.version = versionOf(out.resources);
  return out;
}

std::shared_ptr<NodeConfig> config(std::vector<TypeResources> types) {
  auto out = std::make_shared<NodeConfig>();
  for (auto& t : types) {
    const std::string type = t.resources.empty() ? "" : t.resources[0].second.type_url();
    out->types[type] = std::move(t);
  }
  return out;
}

// The four types, each with a couple of resources, content varied by `tag`.
std::shared_ptr<NodeConfig> fullConfig(int tag = 0) {
  return config({typed(kCds, {"inbound/billing:8080", "shop/auth:80"}, tag),
                 typed(kEds, {"inbound/billing:8080", "shop/auth:80"}, tag),
                 typed(kLds, {"mesh/inbound", "mesh/outbound"}, tag),
                 typed(kRds, {"mesh/outbound"}, tag)});
}

std::vector<std::string> namesIn(const DiscoveryResponse& response) {
  std::vector<std::string> out;
  for (const auto& any : response.resources()) {
    if (any.Is<envoy::config::cluster::v3::Cluster>()) {
      envoy::config::cluster::v3::Cluster c;
      any.UnpackTo(&c);
      out.push_back(c.name());
    } else if (any.Is<envoy::config::endpoint::v3::ClusterLoadAssignment>()) {
      envoy::config::endpoint::v3::ClusterLoadAssignment c;
      any.UnpackTo(&c);
      out.push_back(c.cluster_name());
    } else if (any.Is<envoy::config::listener::v3::Listener>()) {
      envoy::config::listener::v3::Listener l;
      any.UnpackTo(&l);
      out.push_back(l.name());
    } else {
      envoy::config::route::v3::RouteConfiguration r;
      any.UnpackTo(&r);
      out.push_back(r.name());
    }
  }
  return out;
}

const ProxyStatus* find(const std::vector<ProxyStatus>& all, const std::string& id) {
  for (const auto& s : all) {
    if (s.node.id == id) return &s;
  }
  return nullptr;
}

class AdsServerTest : public ::testing::Test {
 protected:
  void SetUp() override {
    ASSERT_EQ(server_.start("127.0.0.1:0"), "");
    ASSERT_GT(server_.port(), 0);
  }
  std::unique_ptr<AdsTestClient> connect(const std::string& id) {
    return std::make_unique<AdsTestClient>(server_.port(), proxyNode(id));
  }
  // Reads one response, which must be of `type`.
  DiscoveryResponse expectResponse(AdsTestClient& client, const std::string& type) {
    auto response = client.read();
    EXPECT_TRUE(response.has_value()) << "the stream ended instead of a " << type << " response";
    if (!response) return {};
    EXPECT_EQ(response->type_url(), type);
    return *response;
  }
  TypeStatus typeStatus(const std::string& id, const std::string& type) {
    const auto all = server_.status();
    const auto* node = find(all, id);
    if (node == nullptr) return {};
    auto it = node->types.find(type);
    return it == node->types.end() ? TypeStatus{} : it->second;
  }

  RecordingHooks hooks_;  // outlives server_
  AdsServer server_{hooks_};
};

TEST_F(AdsServerTest, InitialPushGoesOutInClusterEndpointListenerRouteOrder) {
  auto client = connect("billing-1.shop");
  // Requests in Envoy's order, before trellisd has the node's config: they wait.
  ASSERT_TRUE(client->request(kLds));
  ASSERT_TRUE(client->request(kCds));
  ASSERT_TRUE(client->request(kRds, {"mesh/outbound"}));
  ASSERT_TRUE(client->request(kEds, {"inbound/billing:8080", "shop/auth:80"}));
  ASSERT_TRUE(client->sync(hooks_));
  ASSERT_TRUE(hooks_.lastConnected());
  EXPECT_EQ(hooks_.lastConnected()->service, "billing");
  EXPECT_EQ(hooks_.lastConnected()->ns, "shop");
  EXPECT_EQ(server_.counters().responses, 0u);

  const auto cfg = fullConfig();
  server_.setNodeConfig("billing-1.shop", cfg);
  std::set<std::string> nonces;
  for (const auto& type : {kCds, kEds, kLds, kRds}) {
    const auto response = expectResponse(*client, type);
    EXPECT_EQ(response.version_info(), cfg->types.at(type).version);
    EXPECT_FALSE(response.nonce().empty());
    nonces.insert(response.nonce());
    std::vector<std::string> expected;
    for (const auto& [name, any] : cfg->types.at(type).resources) expected.push_back(name);
    EXPECT_EQ(namesIn(response), expected);
  }
  EXPECT_EQ(nonces.size(), 4u) << "a fresh nonce per response";
  EXPECT_EQ(typeStatus("billing-1.shop", kLds).sentVersion, cfg->types.at(kLds).version);
  EXPECT_EQ(server_.counters().responses, 4u);
}

TEST_F(AdsServerTest, AConfigSetBeforeTheNodeConnectsAnswersItsFirstRequests) {
  const auto cfg = fullConfig();
  server_.setNodeConfig("billing-1.shop", cfg);
  auto client = connect("billing-1.shop");
  ASSERT_TRUE(client->request(kCds));
  EXPECT_EQ(expectResponse(*client, kCds).version_info(), cfg->types.at(kCds).version);
  ASSERT_TRUE(client->request(kLds));
  EXPECT_EQ(expectResponse(*client, kLds).version_info(), cfg->types.at(kLds).version);
}

TEST_F(AdsServerTest, AnAckIsRecordedInStatus) {
  const auto cfg = fullConfig();
  server_.setNodeConfig("billing-1.shop", cfg);
  auto client = connect("billing-1.shop");
  ASSERT_TRUE(client->request(kCds));
  const auto response = expectResponse(*client, kCds);
  ASSERT_TRUE(client->ack(response));
  ASSERT_TRUE(client->sync(hooks_));
  const auto status = typeStatus("billing-1.shop", kCds);
  EXPECT_EQ(status.sentVersion, cfg->types.at(kCds).version);
  EXPECT_EQ(status.ackedVersion, cfg->types.at(kCds).version);
  EXPECT_EQ(status.nackedVersion, "");
  EXPECT_EQ(server_.counters().acks, 1u);
  EXPECT_EQ(server_.counters().nacks, 0u);
  const auto all = server_.status();
  ASSERT_EQ(all.size(), 1u);
  EXPECT_TRUE(all[0].connected);
  EXPECT_EQ(all[0].node.instance, "billing-1");
}

TEST_F(AdsServerTest, ANackIsRecordedAndItsVersionNotSentAgainButTheNextOneIs) {
  const auto bad = fullConfig(1);
  server_.setNodeConfig("billing-1.shop", bad);
  auto client = connect("billing-1.shop");
  ASSERT_TRUE(client->request(kCds));
  const auto rejected = expectResponse(*client, kCds);
  ASSERT_TRUE(client->ack(rejected, {}, "cluster inbound/billing:8080: no endpoints"));
  ASSERT_TRUE(client->sync(hooks_));
  auto status = typeStatus("billing-1.shop", kCds);
  EXPECT_EQ(status.nackedVersion, bad->types.at(kCds).version);
  EXPECT_EQ(status.nackMessage, "cluster inbound/billing:8080: no endpoints");
  EXPECT_EQ(status.ackedVersion, "");
  EXPECT_EQ(server_.counters().nacks, 1u);

  // Same CDS version again (a change elsewhere): not re-sent. The LDS answer that follows
  // proves nothing was queued before it.
  auto sameClusters = std::make_shared<NodeConfig>(*bad);
  sameClusters->types[kLds] = typed(kLds, {"mesh/inbound"}, 2);
  server_.setNodeConfig("billing-1.shop", sameClusters);
  ASSERT_TRUE(client->request(kLds));
  const auto listeners = expectResponse(*client, kLds);
  EXPECT_EQ(listeners.version_info(), sameClusters->types.at(kLds).version);

  const auto fixed = fullConfig(3);
  server_.setNodeConfig("billing-1.shop", fixed);
  const auto accepted = expectResponse(*client, kCds);
  EXPECT_EQ(accepted.version_info(), fixed->types.at(kCds).version);
  EXPECT_NE(accepted.nonce(), rejected.nonce());
  ASSERT_TRUE(client->ack(accepted));
  ASSERT_TRUE(client->sync(hooks_));
  status = typeStatus("billing-1.shop", kCds);
  EXPECT_EQ(status.ackedVersion, fixed->types.at(kCds).version);
  EXPECT_EQ(status.nackedVersion, "") << "a later ACK clears the NACK";
}

TEST_F(AdsServerTest, SetNodeConfigPushesOnlyTheTypesThatChanged) {
  server_.setNodeConfig("billing-1.shop", fullConfig(0));
  auto client = connect("billing-1.shop");
  ASSERT_TRUE(client->request(kCds));
  ASSERT_TRUE(client->ack(expectResponse(*client, kCds)));  // outstanding again
  ASSERT_TRUE(client->request(kLds));
  ASSERT_TRUE(client->ack(expectResponse(*client, kLds)));
  ASSERT_TRUE(client->sync(hooks_));

  auto listenersChanged = fullConfig(0);
  listenersChanged->types[kLds] = typed(kLds, {"mesh/inbound", "mesh/outbound"}, 5);
  server_.setNodeConfig("billing-1.shop", listenersChanged);
  const auto lds = expectResponse(*client, kLds);
  EXPECT_EQ(lds.version_info(), listenersChanged->types.at(kLds).version);
  ASSERT_TRUE(client->ack(lds));

  auto clustersChanged = std::make_shared<NodeConfig>(*listenersChanged);
  clustersChanged->types[kCds] = typed(kCds, {"shop/auth:80"}, 6);
  server_.setNodeConfig("billing-1.shop", clustersChanged);
  const auto cds = expectResponse(*client, kCds);  // not a repeat of the first CDS
  EXPECT_EQ(cds.version_info(), clustersChanged->types.at(kCds).version);
  EXPECT_EQ(namesIn(cds), std::vector<std::string>{"shop/auth:80"});
  EXPECT_EQ(server_.counters().responses, 4u);
}

TEST_F(AdsServerTest, NothingIsSentWithoutAnOutstandingRequest) {
  server_.setNodeConfig("billing-1.shop", fullConfig(0));
  auto client = connect("billing-1.shop");
  ASSERT_TRUE(client->request(kCds));
  const auto first = expectResponse(*client, kCds);
  // No ACK yet: the client is still applying `first`, so v2 must wait.
  const auto v2 = fullConfig(1);
  server_.setNodeConfig("billing-1.shop", v2);
  ASSERT_TRUE(client->request(kLds));
  EXPECT_EQ(expectResponse(*client, kLds).version_info(), v2->types.at(kLds).version)
      << "no CDS response was queued before this one";
  ASSERT_TRUE(client->ack(first));
  EXPECT_EQ(expectResponse(*client, kCds).version_info(), v2->types.at(kCds).version);
}

TEST_F(AdsServerTest, ANamedSubscriptionGetsTheIntersectionAndTellsTrellisd) {
  server_.setNodeConfig("billing-1.shop", fullConfig(0));
  auto client = connect("billing-1.shop");
  ASSERT_TRUE(client->request(kEds, {"shop/auth:80", "shop/unknown:1"}));
  const auto first = expectResponse(*client, kEds);
  EXPECT_EQ(namesIn(first), std::vector<std::string>{"shop/auth:80"});
  EXPECT_EQ(hooks_.countOf("names billing-1.shop " + kEds + " shop/auth:80,shop/unknown:1"), 1u);

  ASSERT_TRUE(client->ack(first, {"shop/auth:80", "shop/unknown:1"}));  // same names
  ASSERT_TRUE(client->ack(first, {"inbound/billing:8080", "shop/auth:80"}));
  const auto second = expectResponse(*client, kEds);
  EXPECT_EQ(second.version_info(), first.version_info()) << "same resources, new selection";
  EXPECT_EQ(namesIn(second), (std::vector<std::string>{"inbound/billing:8080", "shop/auth:80"}));
  ASSERT_TRUE(client->sync(hooks_));
  const auto events = hooks_.events();
  const auto named = std::count_if(events.begin(), events.end(), [](const std::string& e) {
    return e.starts_with("names billing-1.shop " + kEds);
  });
  EXPECT_EQ(named, 2) << "an unchanged name set is not reported again";
  EXPECT_EQ(hooks_.countOf("names billing-1.shop " + kEds + " inbound/billing:8080,shop/auth:80"),
            1u);
}

TEST_F(AdsServerTest, AProxylessClientsNamedListenerIsBuiltInTheHook) {
  // trellisd computes the listener a gRPC client names, from inside namesRequested.
  hooks_.onNames = [this](const NodeInfo& node, const std::string& type,
                          const std::vector<std::string>& names) {
    if (type != kLds) return;
    server_.setNodeConfig(node.id, config({typed(kLds, names, 0)}));
  };
  envoy::config::core::v3::Node node;
  node.set_id("grpc-client-1");
  node.set_user_agent_name("gRPC C++");
  AdsTestClient client(server_.port(), node);
  ASSERT_TRUE(client.request(kLds, {"billing.shop:8080"}));
  const auto response = expectResponse(client, kLds);
  EXPECT_EQ(namesIn(response), std::vector<std::string>{"billing.shop:8080"});
  ASSERT_TRUE(hooks_.lastConnected());
  EXPECT_FALSE(hooks_.lastConnected()->isTrellisProxy());
}

TEST_F(AdsServerTest, AWildcardSubscriptionGetsEveryResource) {
  server_.setNodeConfig("billing-1.shop", fullConfig(0));
  auto client = connect("billing-1.shop");
  ASSERT_TRUE(client->request(kCds));  // empty names
  EXPECT_EQ(namesIn(expectResponse(*client, kCds)),
            (std::vector<std::string>{"inbound/billing:8080", "shop/auth:80"}));
  ASSERT_TRUE(client->request(kLds, {"*"}));
  EXPECT_EQ(namesIn(expectResponse(*client, kLds)),
            (std::vector<std::string>{"mesh/inbound", "mesh/outbound"}));
  ASSERT_TRUE(client->sync(hooks_));
  EXPECT_EQ(hooks_.countOf("names billing-1.shop " + kCds + " "), 0u);
  for (const auto& e : hooks_.events()) EXPECT_FALSE(e.starts_with("names billing-1.shop " + kLds));
}

TEST_F(AdsServerTest, ADisconnectCallsNodeDisconnectedAndStatusStaysUntilForgotten) {
  auto client = connect("billing-1.shop");
  ASSERT_TRUE(client->request(kCds));
  ASSERT_TRUE(hooks_.waitFor("connected billing-1.shop"));
  EXPECT_TRUE(client->close().ok());
  ASSERT_TRUE(hooks_.waitFor("disconnected billing-1.shop"));
  auto all = server_.status();
  ASSERT_EQ(all.size(), 1u);
  EXPECT_FALSE(all[0].connected);
  EXPECT_EQ(server_.counters().streamsActive, 0u);
  EXPECT_EQ(server_.counters().streamsTotal, 1u);
  server_.forget("billing-1.shop");
  EXPECT_TRUE(server_.status().empty());
}

TEST_F(AdsServerTest, AReconnectingNodeGetsItsConfigAgain) {
  const auto cfg = fullConfig(0);
  server_.setNodeConfig("billing-1.shop", cfg);
  std::string firstNonce;
  {
    auto client = connect("billing-1.shop");
    ASSERT_TRUE(client->request(kCds));
    const auto response = expectResponse(*client, kCds);
    firstNonce = response.nonce();
    ASSERT_TRUE(client->ack(response));
    ASSERT_TRUE(client->sync(hooks_));
    EXPECT_TRUE(client->close().ok());
  }
  ASSERT_TRUE(hooks_.waitFor("disconnected billing-1.shop"));
  auto client = connect("billing-1.shop");
  // As Envoy does: the version it holds, the nonce of the old stream.
  ASSERT_TRUE(client->request(kCds, {}, cfg->types.at(kCds).version, firstNonce));
  const auto again = expectResponse(*client, kCds);
  EXPECT_EQ(again.version_info(), cfg->types.at(kCds).version);
  EXPECT_NE(again.nonce(), firstNonce);
  ASSERT_TRUE(hooks_.waitFor("connected billing-1.shop", 2));
  EXPECT_TRUE(server_.status().at(0).connected);
}

TEST_F(AdsServerTest, AReconnectBeforeTheOldStreamEndsKeepsTheNodeConnected) {
  auto old = connect("billing-1.shop");
  ASSERT_TRUE(old->request(kCds));
  ASSERT_TRUE(old->sync(hooks_));
  auto fresh = connect("billing-1.shop");
  ASSERT_TRUE(fresh->request(kCds));
  ASSERT_TRUE(fresh->sync(hooks_));
  EXPECT_TRUE(old->close().ok());
  ASSERT_TRUE(fresh->close().ok());
  ASSERT_TRUE(hooks_.waitFor("disconnected billing-1.shop"));
  const auto events = hooks_.events();
  EXPECT_EQ(std::count(events.begin(), events.end(), "connected billing-1.shop"), 2);
  EXPECT_EQ(std::count(events.begin(), events.end(), "disconnected billing-1.shop"), 1);
  EXPECT_EQ(events.back(), "disconnected billing-1.shop") << "only once both streams ended";
}

TEST_F(AdsServerTest, TwoHundredStreamsAllReceiveAPushedChange) {
  constexpr int kStreams = 200;
  const auto v1 = fullConfig(0);
  std::vector<std::unique_ptr<AdsTestClient>> clients;
  for (int i = 0; i < kStreams; ++i) {
    const std::string id = "billing-" + std::to_string(i) + ".shop";
    server_.setNodeConfig(id, v1);
    clients.push_back(connect(id));
    ASSERT_TRUE(clients.back()->request(kCds));
  }
  for (auto& client : clients) ASSERT_TRUE(client->ack(expectResponse(*client, kCds)));
  for (auto& client : clients) ASSERT_TRUE(client->sync(hooks_));
  EXPECT_EQ(server_.counters().streamsActive, static_cast<uint64_t>(kStreams));

  const auto v2 = fullConfig(1);
  for (int i = 0; i < kStreams; ++i) {
    server_.setNodeConfig("billing-" + std::to_string(i) + ".shop", v2);
  }
  for (auto& client : clients) {
    EXPECT_EQ(expectResponse(*client, kCds).version_info(), v2->types.at(kCds).version);
  }
  EXPECT_EQ(server_.counters().responses, 2u * kStreams);
}

TEST_F(AdsServerTest, AFirstRequestWithoutANodeIdIsRefused) {
  AdsTestClient client(server_.port(), envoy::config::core::v3::Node{});
  ASSERT_TRUE(client.request(kCds));
  EXPECT_FALSE(client.read());
  const auto status = client.finish();
  EXPECT_EQ(status.error_code(), grpc::StatusCode::INVALID_ARGUMENT);
  EXPECT_EQ(status.error_message(), "the first DiscoveryRequest of a stream must carry node.id");
  EXPECT_TRUE(server_.status().empty());
}

TEST_F(AdsServerTest, StartReportsAPortInUse) {
  RecordingHooks otherHooks;
  AdsServer other(otherHooks);
  const std::string address = "127.0.0.1:" + std::to_string(server_.port());
  EXPECT_EQ(other.start(address), "cannot serve ADS on " + address +
                                      " (address in use, not an ip:port, or not a local address)");
  EXPECT_EQ(server_.start("127.0.0.1:0"), "the ADS server is already started");
}

TEST_F(AdsServerTest, StopEndsOpenStreams) {
  server_.setNodeConfig("billing-1.shop", fullConfig(0));
  auto a = connect("billing-1.shop");
  auto b = connect("billing-2.shop");
  ASSERT_TRUE(a->request(kCds));
  ASSERT_TRUE(b->request(kLds));  // no config for this node: a request left waiting
  ASSERT_TRUE(a->sync(hooks_));
  ASSERT_TRUE(b->sync(hooks_));
  server_.stop();
  EXPECT_EQ(hooks_.countOf("disconnected billing-1.shop"), 1u) << "stop() waits for the hooks";
  EXPECT_EQ(hooks_.countOf("disconnected billing-2.shop"), 1u);
  EXPECT_EQ(server_.counters().streamsActive, 0u);
  // `a` may have its CDS response buffered before the end of the stream.
  while (a->read()) {
  }
  EXPECT_EQ(a->finish().error_code(), grpc::StatusCode::UNAVAILABLE);
  EXPECT_FALSE(b->read());
  EXPECT_EQ(b->finish().error_code(), grpc::StatusCode::UNAVAILABLE);
  server_.setNodeConfig("billing-1.shop", fullConfig(1));  // harmless after stop
  server_.stop();                                          // idempotent
  EXPECT_NE(server_.start("127.0.0.1:0"), "");
}

}  // namespace
}  // namespace trellis::controlplane
