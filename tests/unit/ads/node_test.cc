// What nodes announce (parseNode), resource versions (versionOf) and the push order.
#include <gtest/gtest.h>

#include "controlplane/ads/node_config.h"
#include "controlplane/ads/node_info.h"
#include "envoy/config/cluster/v3/cluster.pb.h"
#include "envoy/config/listener/v3/listener.pb.h"
#include "xds/codec/resources.h"

namespace trellis::controlplane {
namespace {

using envoy::config::cluster::v3::Cluster;
using envoy::config::core::v3::Node;

void setString(google::protobuf::Struct& s, const std::string& key, const std::string& value) {
  (*s.mutable_fields())[key].set_string_value(value);
}

TEST(ParseNode, ATrellisProxyAnnouncesItsInstance) {
  Node node;
  node.set_id("billing-1.shop");
  node.set_cluster("billing");
  node.set_user_agent_name("trellis-proxy");
  auto& metadata = *node.mutable_metadata();
  setString(metadata, "NAMESPACE", "shop");
  setString(metadata, "SERVICE", "billing");
  setString(metadata, "INSTANCE", "billing-1");
  setString(metadata, "INBOUND_ADDRESS", "127.0.0.1:16001");
  setString(metadata, "APP_ADDRESS", "127.0.0.1:9001");
  setString(metadata, "OUTBOUND_ADDRESS", "127.0.0.1:15001");
  auto& labels = *(*metadata.mutable_fields())["LABELS"].mutable_struct_value();
  setString(labels, "version", "v1");
  (*labels.mutable_fields())["replicas"].set_number_value(3);  // not a string: ignored

  const NodeInfo info = parseNode(node);
  EXPECT_TRUE(info.isTrellisProxy());
  EXPECT_EQ(info.id, "billing-1.shop");
  EXPECT_EQ(info.userAgent, "trellis-proxy");
  EXPECT_EQ(info.ns, "shop");
  EXPECT_EQ(info.service, "billing");
  EXPECT_EQ(info.instance, "billing-1");
  EXPECT_EQ(info.inboundAddress, "127.0.0.1:16001");
  EXPECT_EQ(info.appAddress, "127.0.0.1:9001");
  EXPECT_EQ(info.outboundAddress, "127.0.0.1:15001");
  EXPECT_EQ(info.labels, (std::map<std::string, std::string>{{"version", "v1"}}));
}

TEST(ParseNode, ANodeWithoutServiceIsAProxylessGrpcClient) {
  Node node;
  node.set_id("frontend-grpc-7");
  node.set_cluster("frontend");  // gRPC bootstraps often set it: it does not make a sidecar
  node.set_user_agent_name("gRPC C++");
  setString(*node.mutable_metadata(), "NAMESPACE", "shop");
  const NodeInfo info = parseNode(node);
  EXPECT_FALSE(info.isTrellisProxy());
  EXPECT_EQ(info.id, "frontend-grpc-7");
  EXPECT_EQ(info.userAgent, "gRPC C++");
  EXPECT_EQ(info.ns, "shop");
  EXPECT_TRUE(info.service.empty());
  EXPECT_TRUE(info.labels.empty());
}

std::pair<std::string, google::protobuf::Any> cluster(const std::string& name,
                                                      std::vector<std::string> metadataKeys) {
  Cluster c;
  c.set_name(name);
  auto& filter = (*c.mutable_metadata()->mutable_filter_metadata())["trellis.dev"];
  for (const auto& key : metadataKeys) setString(filter, key, key + "-value");
  google::protobuf::Any any;
  any.PackFrom(c);
  return {name, any};
}

TEST(VersionOf, ChangesIffTheResourcesChange) {
  const std::vector keys{std::string("a"), std::string("b"), std::string("c"), std::string("d")};
  const auto base = versionOf({cluster("x", keys), cluster("y", {})});
  EXPECT_EQ(base.size(), 16u);
  EXPECT_EQ(versionOf({cluster("x", keys), cluster("y", {})}), base);
  EXPECT_NE(versionOf({cluster("x", {"a", "b", "c"}), cluster("y", {})}), base);
  EXPECT_NE(versionOf({cluster("x", keys)}), base);
  auto renamed = cluster("y", {});
  renamed.first = "z";
  EXPECT_NE(versionOf({cluster("x", keys), renamed}), base) << "names count";
  EXPECT_NE(versionOf({}), base);
}

TEST(VersionOf, MapOrderDoesNotMatter) {
  // The same Struct built in two insertion orders, nested in an Any inside a Listener: the
  // version must not depend on how the map happened to serialize.
  auto listener = [](std::vector<std::string> keys) {
    envoy::config::listener::v3::Listener l;
    l.set_name("mesh/outbound");
    Cluster inner;
    inner.set_name("inner");
    auto& filter = (*inner.mutable_metadata()->mutable_filter_metadata())["trellis.dev"];
    for (const auto& key : keys) setString(filter, key, key);
    l.add_filter_chains()->add_filters()->mutable_typed_config()->PackFrom(inner);
    google::protobuf::Any any;
    any.PackFrom(l);
    return std::pair<std::string, google::protobuf::Any>{"mesh/outbound", any};
  };
  std::vector<std::string> keys;
  for (int i = 0; i < 40; ++i) keys.push_back("key" + std::to_string(i));
  std::vector<std::string> reversed(keys.rbegin(), keys.rend());
  EXPECT_EQ(versionOf({listener(keys)}), versionOf({listener(reversed)}));
}

TEST(PushOrder, ClustersEndpointsListenersRoutesThenTheRest) {
  const std::vector<std::string> types{
      std::string(xds::kRouteType),    "type.googleapis.com/zzz",
      std::string(xds::kListenerType), std::string(xds::kSecretType),
      std::string(xds::kEndpointType), std::string(xds::kClusterType)};
  EXPECT_EQ(inPushOrder(types), (std::vector<std::string>{
                                    std::string(xds::kClusterType), std::string(xds::kEndpointType),
                                    std::string(xds::kListenerType), std::string(xds::kRouteType),
                                    std::string(xds::kSecretType), "type.googleapis.com/zzz"}));
}

}  // namespace
}  // namespace trellis::controlplane
