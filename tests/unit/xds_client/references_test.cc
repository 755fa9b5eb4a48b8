// What resources refer to (RDS and EDS subscriptions, warming) and how one response becomes a
// candidate set (replace for LDS/CDS, update by name for RDS/EDS, NACK messages).
#include "xds/client/references.h"

#include <gtest/gtest.h>

#include "test_resources.h"
#include "xds/client/node.h"
#include "xds/client/response_merge.h"

namespace trellis::xds::client {
namespace {

using namespace test;
using envoy::extensions::filters::network::http_connection_manager::v3::HttpConnectionManager;
using envoy::extensions::filters::network::tcp_proxy::v3::TcpProxy;

TEST(References, RouteConfigNamesComeFromConnectionManagersOnEveryChain) {
  Listener listener = httpListener("l", 80, "r1");
  // A second chain and the default chain: all are looked at.
  *listener.add_filter_chains() = httpListener("x", 1, "r2").filter_chains(0);
  *listener.mutable_default_filter_chain() = httpListener("x", 1, "r3").filter_chains(0);
  // A connection manager with an inline route configuration subscribes to nothing.
  HttpConnectionManager inlineRoutes;
  *inlineRoutes.mutable_route_config() = routeTo("inline", "c-inline");
  listener.add_filter_chains()->add_filters()->mutable_typed_config()->PackFrom(inlineRoutes);
  EXPECT_EQ(routeConfigNames({listener, tcpListener("t", 81, "c")}),
            (std::set<std::string>{"r1", "r2", "r3"}));
}

TEST(References, EdsNamesUseTheServiceNameElseTheClusterName) {
  EXPECT_EQ(edsServiceNames({edsCluster("a"), edsCluster("b", "b-endpoints"), staticCluster("s")}),
            (std::set<std::string>{"a", "b-endpoints"}));
}

TEST(References, ClustersFromRoutesTcpProxiesWeightsAndMirrors) {
  Resources resources;
  RouteConfiguration routes = routeTo("r", "direct");
  auto* action = routes.mutable_virtual_hosts(0)->add_routes()->mutable_route();
  action->mutable_weighted_clusters()->add_clusters()->set_name("w1");
  action->mutable_weighted_clusters()->add_clusters()->set_name("w2");
  action->add_request_mirror_policies()->set_cluster("mirror");
  routes.mutable_virtual_hosts(0)->add_routes()->mutable_redirect()->set_host_redirect("x");
  resources.routes.push_back(routes);
  Listener tcp = tcpListener("t", 81, "tcp");
  TcpProxy weighted;
  weighted.mutable_weighted_clusters()->add_clusters()->set_name("tcp-w");
  tcp.add_filter_chains()->add_filters()->mutable_typed_config()->PackFrom(weighted);
  resources.listeners.push_back(tcp);
  HttpConnectionManager inlineRoutes;
  *inlineRoutes.mutable_route_config() = routeTo("inline", "c-inline");
  Listener http;
  http.set_name("h");
  http.add_filter_chains()->add_filters()->mutable_typed_config()->PackFrom(inlineRoutes);
  resources.listeners.push_back(http);
  EXPECT_EQ(referencedClusters(resources),
            (std::set<std::string>{"direct", "w1", "w2", "mirror", "tcp", "tcp-w", "c-inline"}));
}

TEST(References, MissingDependenciesNameWhatIsAwaited) {
  Resources resources;
  resources.listeners = {httpListener("l", 80, "r1"), tcpListener("t", 81, "tcp")};
  resources.clusters = {edsCluster("e1"), edsCluster("e2")};
  EXPECT_EQ(missingDependencies(resources),
            "route configuration r1; cluster tcp; endpoints of e1, e2");
  resources.routes = {routeTo("r1", "e1")};
  resources.clusters.push_back(staticCluster("tcp"));
  resources.endpoints = {assignment("e1", 1), assignment("e2", 2)};
  EXPECT_EQ(missingDependencies(resources), "");
}

TEST(References, MissingDependenciesListsOnlyTheFirstFew) {
  Resources resources;
  for (int i = 0; i < 5; ++i) resources.clusters.push_back(edsCluster("c" + std::to_string(i)));
  EXPECT_EQ(missingDependencies(resources), "endpoints of c0, c1, c2 (and 2 more)");
}

TEST(References, PruneDropsRoutesAndAssignmentsNothingUses) {
  Resources resources;
  resources.listeners = {httpListener("l", 80, "kept")};
  resources.routes = {routeTo("kept", "c"), routeTo("gone", "c")};
  resources.clusters = {edsCluster("c")};
  resources.endpoints = {assignment("c", 1), assignment("old", 2)};
  pruneUnreferenced(resources);
  ASSERT_EQ(resources.routes.size(), 1u);
  EXPECT_EQ(resources.routes[0].name(), "kept");
  ASSERT_EQ(resources.endpoints.size(), 1u);
  EXPECT_EQ(resources.endpoints[0].cluster_name(), "c");
}

TEST(ResponseMerge, WildcardTypesReplaceTheHeldSet) {
  Resources candidate;
  candidate.clusters = {staticCluster("old")};
  auto r = response(kClusterType, "2", "n", std::vector<Cluster>{staticCluster("new")});
  ASSERT_EQ(mergeResponse(r, ResourceType::Cluster, {}, candidate), "");
  ASSERT_EQ(candidate.clusters.size(), 1u);
  EXPECT_EQ(candidate.clusters[0].name(), "new");
}

TEST(ResponseMerge, NamedTypesUpdateByNameAndKeepWhatTheResponseOmits) {
  Resources candidate;
  candidate.endpoints = {assignment("a", 1), assignment("b", 2), assignment("unsubscribed", 3)};
  auto r = response(kEndpointType, "2", "n",
                    std::vector<ClusterLoadAssignment>{assignment("b", 20), assignment("c", 30),
                                                       assignment("not-asked", 40)});
  ASSERT_EQ(mergeResponse(r, ResourceType::Endpoint, {"a", "b", "c"}, candidate), "");
  ASSERT_EQ(candidate.endpoints.size(), 3u);
  EXPECT_EQ(candidate.endpoints[0].cluster_name(), "a");
  EXPECT_EQ(candidate.endpoints[1].cluster_name(), "b");
  EXPECT_EQ(candidate.endpoints[1]
                .endpoints(0)
                .lb_endpoints(0)
                .endpoint()
                .address()
                .socket_address()
                .port_value(),
            20u);
  EXPECT_EQ(candidate.endpoints[2].cluster_name(), "c");
}

TEST(ResponseMerge, MalformedResourcesAreNamedInTheNackMessage) {
  Resources candidate;
  auto wrongType =
      response(kClusterType, "1", "n", std::vector<Listener>{tcpListener("l", 1, "c")});
  wrongType.mutable_resources(0)->set_type_url(std::string(kListenerType));
  EXPECT_EQ(mergeResponse(wrongType, ResourceType::Cluster, {}, candidate),
            "resource 0: type type.googleapis.com/envoy.config.listener.v3.Listener in a response "
            "of type type.googleapis.com/envoy.config.cluster.v3.Cluster");

  auto garbage = response(kClusterType, "1", "n", std::vector<Cluster>{staticCluster("ok")});
  garbage.add_resources()->set_type_url(std::string(kClusterType));
  garbage.mutable_resources(1)->set_value(std::string("\x0f", 1));  // wire type 7: invalid
  EXPECT_EQ(mergeResponse(garbage, ResourceType::Cluster, {}, candidate),
            "resource 1: not a valid envoy.config.cluster.v3.Cluster");

  auto unnamed = response(kClusterType, "1", "n", std::vector<Cluster>{Cluster()});
  EXPECT_EQ(mergeResponse(unnamed, ResourceType::Cluster, {}, candidate), "resource 0: no name");

  auto twice = response(kClusterType, "1", "n",
                        std::vector<Cluster>{staticCluster("dup"), staticCluster("dup")});
  EXPECT_EQ(mergeResponse(twice, ResourceType::Cluster, {}, candidate),
            "resource 1: 'dup' appears twice in the response");
  EXPECT_TRUE(candidate.clusters.empty());  // a refused response changes nothing
}

TEST(ResponseMerge, SameResourcesComparesContent) {
  Resources a, b;
  a.clusters = {staticCluster("c")};
  b.clusters = {staticCluster("c")};
  EXPECT_TRUE(sameResources(a, b));
  b.clusters[0].mutable_connect_timeout()->set_seconds(3);
  EXPECT_FALSE(sameResources(a, b));
}

TEST(Node, CarriesIdentityAndMetadataAsTheControlPlaneExpects) {
  NodeIdentity identity{"billing-1.shop",  "billing",        "shop", "billing-1",
                        "127.0.0.1:16001", "127.0.0.1:9001", "",     {{"version", "v1"}},
                        "billing"};
  auto node = buildNode(identity);
  EXPECT_EQ(node.id(), "billing-1.shop");
  EXPECT_EQ(node.cluster(), "billing");
  EXPECT_EQ(node.user_agent_name(), "trellis-proxy");
  const auto& fields = node.metadata().fields();
  EXPECT_EQ(fields.at("NAMESPACE").string_value(), "shop");
  EXPECT_EQ(fields.at("SERVICE").string_value(), "billing");
  EXPECT_EQ(fields.at("INSTANCE").string_value(), "billing-1");
  EXPECT_EQ(fields.at("INBOUND_ADDRESS").string_value(), "127.0.0.1:16001");
  EXPECT_EQ(fields.at("APP_ADDRESS").string_value(), "127.0.0.1:9001");
  EXPECT_EQ(fields.count("OUTBOUND_ADDRESS"), 0u);  // not given: left out
  EXPECT_EQ(fields.at("LABELS").struct_value().fields().at("version").string_value(), "v1");
  EXPECT_EQ(fields.at("SERVICE_ACCOUNT").string_value(), "billing");
}

}  // namespace
}  // namespace trellis::xds::client
