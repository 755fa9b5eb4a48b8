// GRPCRoute validation: every problem names file:line:column, "GRPCRoute default/api", the field
// path and what is wrong.

#include <gtest/gtest.h>

#include <string>

#include "config/loader.h"
#include "test_util.h"

namespace trellis::config {
namespace {

using testing::at;
using testing::describe;
using testing::expectSingleError;
using testing::load;

// A listener (lines 1-5), then a GRPCRoute header (lines 6-10), then `rest` from line 11.
std::string grpcRoute(std::string_view rest) {
  return std::string(R"(apiVersion: trellis.dev/v1alpha1
kind: Listener
metadata: {name: web}
spec: {port: 80}
---
apiVersion: gateway.networking.k8s.io/v1
kind: GRPCRoute
metadata: {name: api}
spec:
  parentRefs: [{group: trellis.dev, kind: Listener, name: web}]
)") + std::string(rest);
}

constexpr const char* kApi = "GRPCRoute default/api";

TEST(GrpcRouteErrorsTest, MethodMatchNeedsServiceOrMethod) {
  expectSingleError(grpcRoute("  rules: [{matches: [{method: {type: Exact}}]}]\n"),
                    at(11, 31, kApi, "spec.rules[0].matches[0].method",
                       "one or both of service and method must be specified"));
}

TEST(GrpcRouteErrorsTest, EmptyServiceAndMethodAreAbsent) {
  expectSingleError(grpcRoute("  rules: [{matches: [{method: {service: \"\", method: \"\"}}]}]\n"),
                    at(11, 31, kApi, "spec.rules[0].matches[0].method",
                       "one or both of service and method must be specified"));
}

TEST(GrpcRouteErrorsTest, InvalidServiceName) {
  expectSingleError(grpcRoute("  rules: [{matches: [{method: {service: hello-world.Greeter}}]}]\n"),
                    at(11, 41, kApi, "spec.rules[0].matches[0].method.service",
                       "invalid service name \"hello-world.Greeter\" (expected a Protobuf type "
                       "name such as \"helloworld.Greeter\")"));
}

TEST(GrpcRouteErrorsTest, InvalidMethodName) {
  expectSingleError(
      grpcRoute("  rules: [{matches: [{method: {service: a.B, method: Say.Hello}}]}]\n"),
      at(11, 54, kApi, "spec.rules[0].matches[0].method.method",
         "invalid method name \"Say.Hello\" (expected letters, digits and '_', not starting with a "
         "digit)"));
}

TEST(GrpcRouteErrorsTest, MethodNameStartsWithDigit) {
  expectSingleError(grpcRoute("  rules: [{matches: [{method: {method: 1Say}}]}]\n"),
                    at(11, 40, kApi, "spec.rules[0].matches[0].method.method",
                       "invalid method name \"1Say\" (expected letters, digits and '_', not "
                       "starting with a digit)"));
}

TEST(GrpcRouteErrorsTest, EmptyServicePart) {
  expectSingleError(grpcRoute("  rules: [{matches: [{method: {service: a..b, method: M}}]}]\n"),
                    at(11, 41, kApi, "spec.rules[0].matches[0].method.service",
                       "invalid service name \"a..b\" (expected a Protobuf type name such as "
                       "\"helloworld.Greeter\")"));
}

TEST(GrpcRouteErrorsTest, UnknownMethodMatchType) {
  expectSingleError(grpcRoute("  rules: [{matches: [{method: {type: Prefix, service: a}}]}]\n"),
                    at(11, 38, kApi, "spec.rules[0].matches[0].method.type",
                       "unknown value \"Prefix\" (expected Exact or RegularExpression)"));
}

TEST(GrpcRouteErrorsTest, InvalidServiceRegex) {
  expectSingleError(grpcRoute("  rules: [{matches: [{method: {type: RegularExpression, service: "
                              "\"(\", method: M}}]}]\n"),
                    at(11, 66, kApi, "spec.rules[0].matches[0].method.service",
                       "invalid regular expression: missing ): ("));
}

TEST(GrpcRouteErrorsTest, InvalidMethodRegex) {
  expectSingleError(
      grpcRoute("  rules: [{matches: [{method: {type: RegularExpression, method: \"[a\"}}]}]\n"),
      at(11, 65, kApi, "spec.rules[0].matches[0].method.method",
         "invalid regular expression: missing ]: [a"));
}

TEST(GrpcRouteErrorsTest, HttpRouteMatchFieldsAreUnknown) {
  expectSingleError(grpcRoute("  rules: [{matches: [{path: {value: /}}]}]\n"),
                    at(11, 23, kApi, "spec.rules[0].matches[0].path", "unknown field \"path\""));
}

TEST(GrpcRouteErrorsTest, MethodMatchIsAMap) {
  expectSingleError(
      grpcRoute("  rules: [{matches: [{method: SayHello}]}]\n"),
      at(11, 31, kApi, "spec.rules[0].matches[0].method", "expected a map, got a scalar"));
}

TEST(GrpcRouteErrorsTest, UrlRewriteFilterRejected) {
  expectSingleError(
      grpcRoute("  rules: [{filters: [{type: URLRewrite, urlRewrite: {hostname: a.b}}]}]\n"),
      at(11, 29, kApi, "spec.rules[0].filters[0].type",
         "filter type URLRewrite is not supported for GRPCRoute"));
}

TEST(GrpcRouteErrorsTest, RequestRedirectFilterRejected) {
  expectSingleError(
      grpcRoute(
          "  rules: [{filters: [{type: RequestRedirect, requestRedirect: {scheme: https}}]}]\n"),
      at(11, 29, kApi, "spec.rules[0].filters[0].type",
         "filter type RequestRedirect is not supported for GRPCRoute"));
}

TEST(GrpcRouteErrorsTest, CorsFilterRejected) {
  expectSingleError(grpcRoute("  rules: [{filters: [{type: CORS}]}]\n"),
                    at(11, 29, kApi, "spec.rules[0].filters[0].type",
                       "filter type CORS is not supported for GRPCRoute"));
}

TEST(GrpcRouteErrorsTest, ExtensionRefFilterUnsupported) {
  expectSingleError(grpcRoute("  rules: [{filters: [{type: ExtensionRef, extensionRef: {}}]}]\n"),
                    at(11, 29, kApi, "spec.rules[0].filters[0].type",
                       "filter type ExtensionRef is not supported by trellis-proxy"));
}

TEST(GrpcRouteErrorsTest, UnknownFilterTypeListsGrpcTypes) {
  expectSingleError(grpcRoute("  rules: [{filters: [{type: Rewrite}]}]\n"),
                    at(11, 29, kApi, "spec.rules[0].filters[0].type",
                       "unknown value \"Rewrite\" (expected RequestHeaderModifier, "
                       "ResponseHeaderModifier, RequestMirror or ExtensionRef)"));
}

TEST(GrpcRouteErrorsTest, SessionPersistenceUnsupported) {
  expectSingleError(grpcRoute("  rules: [{sessionPersistence: {}}]\n"),
                    at(11, 32, kApi, "spec.rules[0].sessionPersistence",
                       "is not supported by trellis-proxy yet"));
}

TEST(GrpcRouteErrorsTest, TimeoutsAreNotAGrpcRouteField) {
  expectSingleError(grpcRoute("  rules: [{timeouts: {request: 1s}}]\n"),
                    at(11, 12, kApi, "spec.rules[0].timeouts", "unknown field \"timeouts\""));
}

TEST(GrpcRouteErrorsTest, AtMostEightMatchesPerRule) {
  expectSingleError(grpcRoute("  rules: [{matches: [{}, {}, {}, {}, {}, {}, {}, {}, {}]}]\n"),
                    at(11, 21, kApi, "spec.rules[0].matches", "must have at most 8 items, got 9"));
}

TEST(GrpcRouteErrorsTest, EmptyRulesList) {
  expectSingleError(grpcRoute("  rules: []\n"),
                    at(11, 10, kApi, "spec.rules",
                       "must have at least one rule (omit rules for the default rule)"));
}

TEST(GrpcRouteErrorsTest, HostnameMustBeLowerCase) {
  expectSingleError(grpcRoute("  hostnames: [Grpc.Example.com]\n"),
                    at(11, 15, kApi, "spec.hostnames[0]", "must be lower case"));
}

TEST(GrpcRouteErrorsTest, HeaderMatchNeedsValue) {
  expectSingleError(
      grpcRoute("  rules: [{matches: [{headers: [{name: x-a}]}]}]\n"),
      at(11, 33, kApi, "spec.rules[0].matches[0].headers[0].value", "missing required field"));
}

TEST(GrpcRouteErrorsTest, BackendWeightRange) {
  expectSingleError(grpcRoute("  rules: [{backendRefs: [{name: svc, weight: -1}]}]\n"),
                    at(11, 46, kApi, "spec.rules[0].backendRefs[0].weight",
                       "must be between 0 and 1000000, got -1"));
}

TEST(GrpcRouteErrorsTest, RuleNamesAreUnique) {
  expectSingleError(
      grpcRoute("  rules: [{name: a}, {name: a}]\n"),
      at(11, 29, kApi, "spec.rules[1].name", "rule name \"a\" must be unique within the route"));
}

TEST(GrpcRouteErrorsTest, UnknownMethodMatchField) {
  expectSingleError(
      grpcRoute("  rules: [{matches: [{method: {service: a, method: b, extra: c}}]}]\n"),
      at(11, 55, kApi, "spec.rules[0].matches[0].method.extra", "unknown field \"extra\""));
}

TEST(GrpcRouteErrorsTest, KindBelongsToGatewayApi) {
  expectSingleError("apiVersion: trellis.dev/v1alpha1\nkind: GRPCRoute\n",
                    at(2, 7, "GRPCRoute in document 1", "kind",
                       "kind GRPCRoute belongs to apiVersion gateway.networking.k8s.io/v1, not "
                       "trellis.dev/v1alpha1"));
}

TEST(GrpcRouteErrorsTest, DuplicateGrpcRoute) {
  expectSingleError(grpcRoute("---\n" + grpcRoute("").substr(grpcRoute("").find("apiVersion: g"))),
                    at(14, 18, kApi, "metadata.name",
                       "duplicate GRPCRoute default/api (first defined at line 6)"));
}

TEST(GrpcRouteErrorsTest, AGrpcRouteAndAnHttpRouteMayShareAName) {
  LoadResult result = load(grpcRoute(R"(---
apiVersion: gateway.networking.k8s.io/v1
kind: HTTPRoute
metadata: {name: api}
spec: {parentRefs: [{group: trellis.dev, kind: Listener, name: web}], hostnames: [a.example]}
)"));
  EXPECT_TRUE(result.errors.empty()) << describe(result);
}

TEST(GrpcRouteErrorsTest, AllProblemsAreReported) {
  LoadResult result = load(grpcRoute(R"(  hostnames: [UPPER]
  rules:
  - matches: [{method: {service: "a b"}}, {method: {}}]
    filters: [{type: URLRewrite, urlRewrite: {}}]
)"));
  ASSERT_EQ(result.errors.size(), 4u) << describe(result);
  EXPECT_EQ(result.errors[0].field, "spec.hostnames[0]");
  EXPECT_EQ(result.errors[1].field, "spec.rules[0].matches[0].method.service");
  EXPECT_EQ(result.errors[2].field, "spec.rules[0].matches[1].method");
  EXPECT_EQ(result.errors[3].field, "spec.rules[0].filters[0].type");
}

}  // namespace
}  // namespace trellis::config
