#include "cli/route_weights.h"

#include <gtest/gtest.h>
#include <yaml-cpp/yaml.h>

#include "cli/cli_error.h"

namespace trellis::cli {
namespace {

constexpr const char* kRoute = R"(apiVersion: gateway.networking.k8s.io/v1
kind: HTTPRoute
metadata:
  name: billing
  namespace: shop
spec:
  parentRefs:
  - group: ""
    kind: Service
    name: billing
  rules:
  - matches:
    - path:
        type: PathPrefix
        value: /admin
    backendRefs:
    - name: admin
      port: 80
  - backendRefs:
    - name: billing
      port: 80
)";

CanaryPlan plan(CanaryAction action, int weight = 0) {
  CanaryPlan p;
  p.service = "billing";
  p.target = "billing-v2";
  p.ns = "shop";
  p.action = action;
  p.weight = weight;
  return p;
}

YAML::Node refsOf(const std::string& document, size_t rule) {
  return YAML::Load(document)["spec"]["rules"][rule]["backendRefs"];
}

TEST(RouteAttachment, ParentRefNamingTheServiceInItsNamespace) {
  EXPECT_TRUE(routeAttachesToService(kRoute, "shop", "billing", "shop"));
  EXPECT_FALSE(routeAttachesToService(kRoute, "shop", "billing", "other"));
  EXPECT_FALSE(routeAttachesToService(kRoute, "shop", "auth", "shop"));
  // A consumer route in another namespace names the Service's namespace explicitly.
  EXPECT_TRUE(routeAttachesToService(
      "spec: {parentRefs: [{group: core, kind: Service, name: billing, namespace: shop}]}", "web",
      "billing", "shop"));
  // Without a group the Gateway API default (gateway.networking.k8s.io) applies: not a Service.
  EXPECT_FALSE(routeAttachesToService("spec: {parentRefs: [{kind: Service, name: billing}]}",
                                      "shop", "billing", "shop"));
  // A Listener parentRef of the same name is not the Service.
  EXPECT_FALSE(routeAttachesToService(
      "spec: {parentRefs: [{group: trellis.dev, kind: Listener, name: billing}]}", "shop",
      "billing", "shop"));
  EXPECT_FALSE(routeAttachesToService("not: [valid", "shop", "billing", "shop"));
}

TEST(EditRouteWeights, CanaryAddsTheTargetBesideTheServiceWithItsPort) {
  RouteEdit edit = editRouteWeights(kRoute, "shop", plan(CanaryAction::SetWeight, 10));
  EXPECT_TRUE(edit.changed);
  YAML::Node refs = refsOf(edit.document, 1);
  ASSERT_EQ(refs.size(), 2u) << edit.document;
  EXPECT_EQ(refs[0]["name"].Scalar(), "billing");
  EXPECT_EQ(refs[0]["weight"].as<int>(), 90);
  EXPECT_EQ(refs[1]["name"].Scalar(), "billing-v2");
  EXPECT_EQ(refs[1]["port"].as<int>(), 80);
  EXPECT_EQ(refs[1]["weight"].as<int>(), 10);
  // The rule that does not send traffic to billing is untouched.
  YAML::Node admin = refsOf(edit.document, 0);
  ASSERT_EQ(admin.size(), 1u);
  EXPECT_FALSE(admin[0]["weight"].IsDefined());
  ASSERT_EQ(edit.splits.size(), 1u);
  EXPECT_EQ(edit.splits[0].rule, 1u);
  EXPECT_EQ(describeSplit(edit.splits[0]), "billing 90%, billing-v2 10%");
}

TEST(EditRouteWeights, ChangingTheWeightEditsBothAndIsIdempotent) {
  RouteEdit first = editRouteWeights(kRoute, "shop", plan(CanaryAction::SetWeight, 10));
  RouteEdit second = editRouteWeights(first.document, "shop", plan(CanaryAction::SetWeight, 50));
  YAML::Node refs = refsOf(second.document, 1);
  ASSERT_EQ(refs.size(), 2u);
  EXPECT_EQ(refs[0]["weight"].as<int>(), 50);
  EXPECT_EQ(refs[1]["weight"].as<int>(), 50);
  RouteEdit again = editRouteWeights(second.document, "shop", plan(CanaryAction::SetWeight, 50));
  EXPECT_FALSE(again.changed);
  EXPECT_EQ(again.document, second.document);
}

TEST(EditRouteWeights, PromoteLeavesOnlyTheTarget) {
  RouteEdit canary = editRouteWeights(kRoute, "shop", plan(CanaryAction::SetWeight, 10));
  RouteEdit promoted = editRouteWeights(canary.document, "shop", plan(CanaryAction::Promote));
  YAML::Node refs = refsOf(promoted.document, 1);
  ASSERT_EQ(refs.size(), 1u) << promoted.document;
  EXPECT_EQ(refs[0]["name"].Scalar(), "billing-v2");
  EXPECT_EQ(refs[0]["weight"].as<int>(), 100);
  EXPECT_EQ(describeSplit(promoted.splits[0]), "billing-v2 100%");
  // The parentRef still names billing: callers of billing now reach billing-v2.
  EXPECT_TRUE(routeAttachesToService(promoted.document, "shop", "billing", "shop"));
  // Nothing sends traffic to billing any more: a second promote has nothing to edit.
  EXPECT_THROW(editRouteWeights(promoted.document, "shop", plan(CanaryAction::Promote)), CliError);
}

TEST(EditRouteWeights, AbortRemovesTheTarget) {
  RouteEdit canary = editRouteWeights(kRoute, "shop", plan(CanaryAction::SetWeight, 10));
  RouteEdit aborted = editRouteWeights(canary.document, "shop", plan(CanaryAction::Abort));
  YAML::Node refs = refsOf(aborted.document, 1);
  ASSERT_EQ(refs.size(), 1u);
  EXPECT_EQ(refs[0]["name"].Scalar(), "billing");
  EXPECT_EQ(refs[0]["weight"].as<int>(), 100);
  EXPECT_EQ(describeSplit(aborted.splits[0]), "billing 100%");
}

TEST(EditRouteWeights, OtherBackendsKeepTheirWeights) {
  std::string route = R"(spec:
  rules:
  - backendRefs:
    - {name: billing, weight: 80}
    - {name: billing-legacy, weight: 20}
)";
  RouteEdit edit = editRouteWeights(route, "shop", plan(CanaryAction::SetWeight, 10));
  YAML::Node refs = refsOf(edit.document, 0);
  ASSERT_EQ(refs.size(), 3u);
  EXPECT_EQ(refs[0]["weight"].as<int>(), 90);
  EXPECT_EQ(refs[1]["name"].Scalar(), "billing-v2");
  EXPECT_FALSE(refs[1]["port"].IsDefined());  // billing's ref has none, the canary's ports unknown
  EXPECT_EQ(refs[2]["name"].Scalar(), "billing-legacy");
  EXPECT_EQ(refs[2]["weight"].as<int>(), 20);
  EXPECT_EQ(describeSplit(edit.splits[0]), "billing 75%, billing-v2 8.3%, billing-legacy 16.7%");
}

TEST(EditRouteWeights, BackendInAnotherNamespaceIsNotTheService) {
  std::string route = "spec: {rules: [{backendRefs: [{name: billing, namespace: other}]}]}";
  try {
    editRouteWeights(route, "shop", plan(CanaryAction::SetWeight, 10));
    FAIL();
  } catch (const CliError& error) {
    EXPECT_NE(std::string(error.what())
                  .find("no rule of the route sends traffic to Service "
                        "shop/billing"),
              std::string::npos);
  }
}

TEST(ChooseTargetPort, ExplicitThenMatchingThenOnly) {
  CanaryPlan p = plan(CanaryAction::SetWeight, 10);
  EXPECT_EQ(chooseTargetPort(p, 80), 80);  // ports unknown: same as the Service's
  p.targetPorts = {8080};
  EXPECT_EQ(chooseTargetPort(p, 80), 8080);
  p.targetPorts = {80, 9090};
  EXPECT_EQ(chooseTargetPort(p, 80), 80);
  EXPECT_THROW(chooseTargetPort(p, 81), CliError);
  p.explicitPort = 9090;
  EXPECT_EQ(chooseTargetPort(p, 81), 9090);
  p.explicitPort.reset();
  p.targetPorts = {};
  EXPECT_EQ(chooseTargetPort(p, std::nullopt), std::nullopt);
}

TEST(NewCanaryRoute, AttachesToTheServiceAndSplits) {
  CanaryPlan p = plan(CanaryAction::SetWeight, 10);
  p.targetPorts = {80};
  RouteEdit created = newCanaryRoute(p, 80);
  YAML::Node root = YAML::Load(created.document);
  EXPECT_EQ(root["kind"].Scalar(), "HTTPRoute");
  EXPECT_EQ(root["metadata"]["name"].Scalar(), "billing");
  EXPECT_EQ(root["metadata"]["namespace"].Scalar(), "shop");
  EXPECT_TRUE(routeAttachesToService(created.document, "shop", "billing", "shop"));
  EXPECT_EQ(root["spec"]["parentRefs"][0]["group"].Scalar(), "");
  EXPECT_EQ(describeSplit(created.splits[0]), "billing 90%, billing-v2 10%");
  YAML::Node refs = root["spec"]["rules"][0]["backendRefs"];
  EXPECT_EQ(refs[0]["port"].as<int>(), 80);
  EXPECT_EQ(refs[1]["port"].as<int>(), 80);
}

}  // namespace
}  // namespace trellis::cli
