// `trellisctl canary` against a scripted API: which routes it edits, what it applies (with the
// resourceVersion it read), and its refusals.
#include <gtest/gtest.h>
#include <yaml-cpp/yaml.h>

#include <map>
#include <sstream>

#include "cli/canary.h"
#include "cli/cli_error.h"
#include "fake_api.h"

namespace trellis::cli {
namespace {

using nlohmann::json;
using testing::FakeApi;
using testing::FakeReply;
using testing::FakeRequest;

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
  - backendRefs:
    - name: billing
      port: 80
)";

std::string serviceDocument(const std::string& name, int port) {
  return "apiVersion: trellis.dev/v1alpha1\nkind: Service\nmetadata:\n  name: " + name +
         "\n  namespace: shop\nspec:\n  ports:\n  - port: " + std::to_string(port) + "\n";
}

/// A mesh with Services billing and (optionally) billing-v2, and the given HTTPRoutes.
class CanaryTest : public ::testing::Test {
 protected:
  FakeReply answer(const FakeRequest& request) {
    if (request.method == "POST") {
      if (conflict_) return {409, R"j({"error":"HTTPRoute shop/billing changed (now 9)"})j"};
      return {200, R"({"revision":8,"results":[],"warnings":[]})"};
    }
    if (request.target == "/api/v1/resources/Service/shop/billing") {
      return {200, json{{"kind", "Service"},
                        {"namespace", "shop"},
                        {"name", "billing"},
                        {"resourceVersion", 1},
                        {"document", serviceDocument("billing", 80)}}
                       .dump()};
    }
    if (request.target == "/api/v1/resources/Service/shop/billing-v2" && targetExists_) {
      return {200, json{{"kind", "Service"},
                        {"namespace", "shop"},
                        {"name", "billing-v2"},
                        {"resourceVersion", 2},
                        {"document", serviceDocument("billing-v2", 80)}}
                       .dump()};
    }
    if (request.target == "/api/v1/resources?kind=HTTPRoute") {
      return {200, json{{"revision", 7}, {"items", routes_}}.dump()};
    }
    if (request.target == "/api/v1/resources?kind=GRPCRoute") {
      return {200, R"({"revision":7,"items":[]})"};
    }
    return {404, R"({"error":"not found"})"};
  }

  void addRoute(const std::string& document, int version, const std::string& name = "billing") {
    routes_.push_back({{"kind", "HTTPRoute"},
                       {"namespace", "shop"},
                       {"name", name},
                       {"resourceVersion", version},
                       {"document", document}});
  }

  int run(CanaryOptions options) {
    options.service = "billing";
    options.ns = "shop";
    ApiClient api(fake_.url(), "t");
    return runCanary(api, Io{OutputFormat::Table, out_, err_, in_}, options);
  }

  std::vector<FakeRequest> posts() {
    std::vector<FakeRequest> out;
    for (auto& request : fake_.requests()) {
      if (request.method == "POST") out.push_back(request);
    }
    return out;
  }

  json routes_ = json::array();
  bool targetExists_ = true;
  bool conflict_ = false;
  std::ostringstream out_, err_;
  std::istringstream in_;
  FakeApi fake_{[this](const FakeRequest& request) { return answer(request); }};
};

TEST_F(CanaryTest, WeightEditsTheAttachedRouteWithItsResourceVersion) {
  addRoute(kRoute, 7);
  CanaryOptions options;
  options.target = "billing-v2";
  options.weight = 10;
  EXPECT_EQ(run(options), 0);
  EXPECT_EQ(out_.str(),
            "HTTPRoute shop/billing configured\n  rule 0: billing 90%, billing-v2 10%\n");
  auto applied = posts();
  ASSERT_EQ(applied.size(), 1u);
  json body = json::parse(applied[0].body);
  ASSERT_EQ(body["files"].size(), 1u);
  YAML::Node route = YAML::Load(body["files"][0]["content"].get<std::string>());
  EXPECT_EQ(route["metadata"]["resourceVersion"].Scalar(), "7");
  YAML::Node refs = route["spec"]["rules"][0]["backendRefs"];
  ASSERT_EQ(refs.size(), 2u);
  EXPECT_EQ(refs[0]["weight"].as<int>(), 90);
  EXPECT_EQ(refs[1]["name"].Scalar(), "billing-v2");
  EXPECT_EQ(refs[1]["weight"].as<int>(), 10);
}

TEST_F(CanaryTest, WithoutARouteOneIsCreatedForTheService) {
  addRoute(
      "kind: HTTPRoute\nmetadata: {name: web, namespace: shop}\nspec: {parentRefs: [{group: "
      "trellis.dev, kind: Listener, name: web}]}\n",
      3, "web");
  CanaryOptions options;
  options.target = "billing-v2";
  options.weight = 25;
  EXPECT_EQ(run(options), 0);
  EXPECT_EQ(out_.str(), "HTTPRoute shop/billing created\n  rule 0: billing 75%, billing-v2 25%\n");
  json body = json::parse(posts().at(0).body);
  YAML::Node route = YAML::Load(body["files"][0]["content"].get<std::string>());
  EXPECT_FALSE(route["metadata"]["resourceVersion"].IsDefined());
  EXPECT_EQ(route["spec"]["parentRefs"][0]["kind"].Scalar(), "Service");
  EXPECT_EQ(route["spec"]["rules"][0]["backendRefs"][0]["port"].as<int>(), 80);
}

TEST_F(CanaryTest, AlreadyAtTheWeightAppliesNothing) {
  addRoute(std::string(kRoute) +
               "      weight: 90\n    - name: billing-v2\n      port: 80\n"
               "      weight: 10\n",
           7);
  CanaryOptions options;
  options.target = "billing-v2";
  options.weight = 10;
  EXPECT_EQ(run(options), 0);
  EXPECT_EQ(out_.str(),
            "HTTPRoute shop/billing unchanged\n  rule 0: billing 90%, billing-v2 10%\n");
  EXPECT_TRUE(posts().empty());
}

TEST_F(CanaryTest, PromoteAndAbort) {
  addRoute(std::string(kRoute) +
               "      weight: 90\n    - name: billing-v2\n      port: 80\n"
               "      weight: 10\n",
           7);
  CanaryOptions promote;
  promote.target = "billing-v2";
  promote.promote = true;
  EXPECT_EQ(run(promote), 0);
  EXPECT_EQ(out_.str(), "HTTPRoute shop/billing configured\n  rule 0: billing-v2 100%\n");

  out_.str("");
  CanaryOptions abort;
  abort.target = "billing-v2";
  abort.abort = true;
  targetExists_ = false;  // aborting does not need the canary Service any more
  EXPECT_EQ(run(abort), 0);
  EXPECT_EQ(out_.str(), "HTTPRoute shop/billing configured\n  rule 0: billing 100%\n");
  json body = json::parse(posts().at(1).body);
  YAML::Node refs =
      YAML::Load(body["files"][0]["content"].get<std::string>())["spec"]["rules"][0]["backendRefs"];
  ASSERT_EQ(refs.size(), 1u);
  EXPECT_EQ(refs[0]["name"].Scalar(), "billing");
}

TEST_F(CanaryTest, Refusals) {
  auto errorOf = [&](CanaryOptions options) -> std::pair<std::string, int> {
    try {
      run(options);
    } catch (const CliError& error) {
      return {error.what(), error.exitCode()};
    }
    return {"(no error)", 0};
  };
  CanaryOptions options;
  options.target = "billing-v2";
  options.weight = 10;
  options.promote = true;
  EXPECT_EQ(errorOf(options).second, 2);
  options.promote = false;
  options.weight = 150;
  EXPECT_NE(errorOf(options).first.find("0 to 100"), std::string::npos);
  options.weight = 10;
  options.target = "";
  EXPECT_NE(errorOf(options).first.find("--to TARGET is required"), std::string::npos);

  options.target = "billing-v2";
  targetExists_ = false;
  EXPECT_NE(errorOf(options).first.find("Service shop/billing-v2 does not exist: apply it"),
            std::string::npos);
  targetExists_ = true;

  CanaryOptions abort;
  abort.target = "billing-v2";
  abort.abort = true;
  EXPECT_NE(errorOf(abort).first.find("nothing to abort"), std::string::npos);

  addRoute(kRoute, 7);
  conflict_ = true;
  auto [message, code] = errorOf(options);
  EXPECT_NE(message.find("changed (now 9)"), std::string::npos) << message;
  EXPECT_NE(message.find("re-run the command"), std::string::npos) << message;
  EXPECT_EQ(code, 1);
}

TEST_F(CanaryTest, RouteNamedLikeTheServiceButAttachedElsewhereIsNotOverwritten) {
  addRoute(
      "kind: HTTPRoute\nmetadata: {name: billing, namespace: shop}\nspec: {parentRefs: "
      "[{group: trellis.dev, kind: Listener, name: web}]}\n",
      3);
  CanaryOptions options;
  options.target = "billing-v2";
  options.weight = 10;
  try {
    run(options);
    FAIL();
  } catch (const CliError& error) {
    EXPECT_NE(std::string(error.what()).find("attached elsewhere"), std::string::npos)
        << error.what();
  }
  EXPECT_TRUE(posts().empty());
}

}  // namespace
}  // namespace trellis::cli
