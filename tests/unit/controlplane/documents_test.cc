#include "controlplane/resources/documents.h"

#include <gtest/gtest.h>

namespace trellis::controlplane {
namespace {

TEST(SplitDocuments, KeysAndCanonicalText) {
  auto result = splitDocuments(R"(# a comment
apiVersion: trellis.dev/v1alpha1
kind: Service
metadata: {name: billing, namespace: shop}
spec: {ports: [{port: 80}]}
---
---
apiVersion: gateway.networking.k8s.io/v1
kind: HTTPRoute
metadata:
  name: billing.v2
spec: {}
)",
                               "mesh.yaml");
  ASSERT_TRUE(result.errors.empty()) << result.errors.front().toString();
  ASSERT_EQ(result.documents.size(), 2u);
  EXPECT_EQ(result.documents[0].key, (ResourceKey{"Service", "shop", "billing"}));
  EXPECT_EQ(result.documents[0].line, 2);
  EXPECT_EQ(result.documents[1].key, (ResourceKey{"HTTPRoute", "default", "billing.v2"}));
  EXPECT_EQ(result.documents[1].line, 8);
}

TEST(SplitDocuments, FormattingDoesNotChangeTheCanonicalText) {
  auto a =
      splitDocuments("kind: Service\nmetadata: {name: a}\nspec: {ports: [{port: 80}]}\n", "a.yaml");
  auto b = splitDocuments(
      "# reformatted\nkind:   Service\nmetadata:\n  name: a\nspec:\n  ports:\n  - port: 80\n",
      "b.yaml");
  ASSERT_EQ(a.documents.size(), 1u);
  ASSERT_EQ(b.documents.size(), 1u);
  EXPECT_EQ(a.documents[0].text, b.documents[0].text);  // re-applying is a no-op in the store
}

TEST(SplitDocuments, ErrorsNameFileLineResourceAndField) {
  auto result = splitDocuments(R"(kind: Service
metadata: {name: ok}
---
kind: Service
metadata: {namespace: shop}
---
kind: HTTPRoute
metadata: {name: Bad_Name}
---
kind: Service
metadata: {name: ok}
)",
                               "mesh.yaml");
  ASSERT_EQ(result.errors.size(), 3u);
  EXPECT_TRUE(result.documents.empty()) << "all or nothing";
  EXPECT_EQ(result.errors[0].toString().rfind("mesh.yaml:4:", 0), 0u)
      << result.errors[0].toString();
  EXPECT_NE(result.errors[0].toString().find("metadata.name: missing required field"),
            std::string::npos);
  EXPECT_NE(result.errors[1].toString().find("HTTPRoute default/Bad_Name: metadata.name"),
            std::string::npos)
      << result.errors[1].toString();
  EXPECT_NE(result.errors[2].toString().find("Service default/ok: appears more than once"),
            std::string::npos)
      << result.errors[2].toString();
}

TEST(SplitDocuments, InvalidYamlIsReportedNotThrown) {
  auto result = splitDocuments("kind: [unclosed\n", "bad.yaml");
  ASSERT_EQ(result.errors.size(), 1u);
  EXPECT_EQ(result.errors[0].toString().rfind("bad.yaml:", 0), 0u);
}

TEST(SplitDocuments, ANonMappingDocumentIsAnError) {
  auto result = splitDocuments("- just\n- a list\n", "list.yaml");
  ASSERT_EQ(result.errors.size(), 1u);
  EXPECT_NE(result.errors[0].toString().find("must be a mapping"), std::string::npos);
}

TEST(SplitDocuments, ResourceVersionIsTakenOutAndReturned) {
  auto result = splitDocuments(
      "kind: Service\nmetadata: {name: a, resourceVersion: \"42\"}\nspec: {}\n", "a.yaml");
  ASSERT_TRUE(result.errors.empty());
  ASSERT_EQ(result.documents.size(), 1u);
  EXPECT_EQ(result.documents[0].resourceVersion, 42);
  EXPECT_EQ(result.documents[0].text.find("resourceVersion"), std::string::npos);
  // A read puts it back, and applying that text again carries the same expectation.
  auto again = splitDocuments(withResourceVersion(result.documents[0].text, 42), "b.yaml");
  ASSERT_EQ(again.documents.size(), 1u);
  EXPECT_EQ(again.documents[0].resourceVersion, 42);
  EXPECT_EQ(again.documents[0].text, result.documents[0].text);
}

TEST(SplitDocuments, BadResourceVersionNamesTheField) {
  auto result =
      splitDocuments("kind: Service\nmetadata: {name: a, resourceVersion: x1}\n", "a.yaml");
  ASSERT_EQ(result.errors.size(), 1u);
  EXPECT_NE(result.errors[0].toString().find(
                "Service default/a: metadata.resourceVersion: expected the decimal version"),
            std::string::npos)
      << result.errors[0].toString();
}

TEST(SplitDocuments, QuotedScalarsStayStrings) {
  auto result = splitDocuments(
      "kind: Service\nmetadata: {name: a}\nspec: {a: \"123\", b: \"true\", c: \"null\", d: 7}\n",
      "a.yaml");
  ASSERT_EQ(result.documents.size(), 1u);
  const std::string& text = result.documents[0].text;
  EXPECT_NE(text.find("a: \"123\""), std::string::npos) << text;
  EXPECT_NE(text.find("b: \"true\""), std::string::npos) << text;
  EXPECT_NE(text.find("c: \"null\""), std::string::npos) << text;
  EXPECT_NE(text.find("d: 7"), std::string::npos) << text;
}

}  // namespace
}  // namespace trellis::controlplane
