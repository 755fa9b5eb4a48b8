#include "cli/resource_text.h"

#include <gtest/gtest.h>

#include "cli/apply_diff.h"
#include "cli/cli_error.h"

namespace trellis::cli {
namespace {

constexpr const char* kRoute =
    "apiVersion: gateway.networking.k8s.io/v1\n"
    "kind: HTTPRoute\n"
    "metadata:\n"
    "  name: billing\n"
    "  namespace: shop\n"
    "spec:\n"
    "  rules:\n"
    "  - backendRefs:\n"
    "    - name: billing\n"
    "      port: 80\n";

TEST(ResourceText, SetsAndRemovesResourceVersionAsAString) {
  std::string with = setResourceVersion(kRoute, 12);
  EXPECT_NE(with.find("resourceVersion: \"12\""), std::string::npos) << with;
  std::string without = setResourceVersion(with, std::nullopt);
  EXPECT_EQ(without.find("resourceVersion"), std::string::npos) << without;
  EXPECT_THROW(setResourceVersion("- a list\n", 1), CliError);
}

TEST(ResourceText, QuotedStringsStayStrings) {
  // A header value "123" must not come back as the number 123 (the loader's schema is strict).
  std::string edited = setResourceVersion(
      "kind: HTTPRoute\nmetadata: {name: a}\nspec: {x: \"123\", y: 'true', z: 80}\n", 1);
  EXPECT_NE(edited.find("x: \"123\""), std::string::npos) << edited;
  EXPECT_NE(edited.find("y: \"true\""), std::string::npos) << edited;
  EXPECT_NE(edited.find("z: 80\n"), std::string::npos) << edited;
}

TEST(ResourceText, ComparableTextIgnoresFormattingAndResourceVersion) {
  std::string flow =
      "# edited by hand\n"
      "kind: HTTPRoute\n"
      "apiVersion: gateway.networking.k8s.io/v1\n"
      "metadata: {name: billing, namespace: shop, resourceVersion: \"7\"}\n"
      "spec: {rules: [{backendRefs: [{name: billing, port: 80}]}]}\n";
  std::string reordered =
      "apiVersion: gateway.networking.k8s.io/v1\n"
      "kind: HTTPRoute\n"
      "metadata: {name: billing, namespace: shop, resourceVersion: \"7\"}\n"
      "spec: {rules: [{backendRefs: [{name: billing, port: 80}]}]}\n";
  EXPECT_EQ(comparableText(reordered, "a.yaml"), comparableText(kRoute, "live"));
  // Key order is kept by the canonical text: moving `kind` first is a change the store sees too.
  EXPECT_NE(comparableText(flow, "a.yaml"), comparableText(kRoute, "live"));
}

TEST(ResourceText, ItemKeyAndVersionAcceptNumbersOrStrings) {
  nlohmann::json item = {
      {"kind", "Service"}, {"namespace", "shop"}, {"name", "auth"}, {"resourceVersion", 5}};
  EXPECT_EQ(itemKey(item), (ResourceKey{"Service", "shop", "auth"}));
  EXPECT_EQ(itemVersion(item), 5);
  item["resourceVersion"] = "9";
  EXPECT_EQ(itemVersion(item), 9);
  EXPECT_EQ(itemVersion(nlohmann::json::object()), 0);
  EXPECT_EQ(describe(itemKey(item)), "Service shop/auth");
}

TEST(ResourceText, SplitOrThrowNamesFileLineAndField) {
  auto documents =
      splitOrThrow(std::string(kRoute) + "---\nkind: Service\nmetadata: {name: a}\n", "mesh.yaml");
  ASSERT_EQ(documents.size(), 2u);
  EXPECT_EQ(documents[1].key, (ResourceKey{"Service", "default", "a"}));
  EXPECT_EQ(documents[1].line, 12);
  try {
    splitOrThrow("kind: Service\nmetadata: {namespace: shop}\n", "bad.yaml");
    FAIL();
  } catch (const CliError& error) {
    EXPECT_NE(std::string(error.what()).find("bad.yaml:1:"), std::string::npos) << error.what();
    EXPECT_NE(std::string(error.what()).find("metadata.name: missing required field"),
              std::string::npos)
        << error.what();
  }
}

TEST(DiffResource, NoDiffWhenOnlyFormattingAndVersionDiffer) {
  auto local = splitOrThrow(
      "apiVersion: gateway.networking.k8s.io/v1\nkind: HTTPRoute\n"
      "metadata: {name: billing, namespace: shop, resourceVersion: \"3\"}\n"
      "spec: {rules: [{backendRefs: [{name: billing, port: 80}]}]}\n",
      "routes.yaml");
  ASSERT_EQ(local.size(), 1u);
  nlohmann::json live = {{"kind", "HTTPRoute"},
                         {"namespace", "shop"},
                         {"name", "billing"},
                         {"resourceVersion", 4},
                         {"document", kRoute}};
  EXPECT_EQ(diffResource(local[0], live), "");
}

TEST(DiffResource, ChangedWeightShowsAsOneLineHunk) {
  auto local = splitOrThrow(std::string(kRoute) + "      weight: 90\n", "routes.yaml");
  nlohmann::json live = {{"kind", "HTTPRoute"},
                         {"namespace", "shop"},
                         {"name", "billing"},
                         {"resourceVersion", 4},
                         {"document", kRoute}};
  std::string diff = diffResource(local[0], live);
  EXPECT_NE(diff.find("--- HTTPRoute shop/billing (live, resourceVersion 4)\n"
                      "+++ HTTPRoute shop/billing (routes.yaml:1)\n"),
            std::string::npos)
      << diff;
  EXPECT_NE(diff.find("\n+          weight: 90\n"), std::string::npos) << diff;
  EXPECT_EQ(diff.find("\n-"), std::string::npos) << diff;
}

TEST(DiffResource, NewResourceIsAllAdded) {
  auto local = splitOrThrow(kRoute, "routes.yaml");
  std::string diff = diffResource(local[0], std::nullopt);
  EXPECT_EQ(diff.rfind("--- HTTPRoute shop/billing (not in the mesh)\n", 0), 0u) << diff;
  EXPECT_NE(diff.find("@@ -0,0 +1,"), std::string::npos) << diff;
}

}  // namespace
}  // namespace trellis::cli
