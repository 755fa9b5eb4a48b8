// AuthorizationPolicy: parsing into the model, attachment to Services, errors and warnings.

#include <gtest/gtest.h>

#include <string>
#include <string_view>
#include <vector>

#include "config/loader.h"
#include "test_util.h"

namespace trellis::config {
namespace {

using testing::at;
using testing::describe;
using testing::expectSingleError;
using testing::load;

// Two Services in namespace shop and one in front. 15 lines; the policy below starts on 16.
constexpr std::string_view kBase = R"(apiVersion: trellis.dev/v1alpha1
kind: Service
metadata: {name: billing, namespace: shop}
spec: {ports: [{port: 80}, {port: 81}]}
---
apiVersion: trellis.dev/v1alpha1
kind: Service
metadata: {name: ledger, namespace: shop}
spec: {ports: [{port: 5432}]}
---
apiVersion: trellis.dev/v1alpha1
kind: Service
metadata: {name: web, namespace: front}
spec: {ports: [{port: 80}]}
---
)";

constexpr const char* kAp = "AuthorizationPolicy shop/ap";

// kBase, then AuthorizationPolicy shop/ap whose `spec` lines (`body`) start on line 20.
std::string authz(std::string_view body) {
  return std::string(kBase) +
         "apiVersion: trellis.dev/v1alpha1\nkind: AuthorizationPolicy\n"
         "metadata: {name: ap, namespace: shop}\nspec:\n" +
         std::string(body);
}

std::vector<std::string> rendered(const std::vector<LoadError>& problems) {
  std::vector<std::string> out;
  out.reserve(problems.size());
  for (const LoadError& problem : problems) out.push_back(problem.toString());
  return out;
}

const AuthorizationPolicy& onlyPolicy(const LoadResult& result, const std::string& service) {
  const auto& policies = result.snapshot->authorization.at(service);
  EXPECT_EQ(policies.size(), 1u);
  return policies.at(0);
}

// ---------------------------------------------------------------------------------------------
// Model

TEST(AuthorizationPolicyTest, ParsesEveryFieldIntoPreSplitMatchers) {
  LoadResult result = load(authz(R"(  targetRefs: [{group: "", kind: Service, name: billing}]
  action: DENY
  rules:
  - from:
    - source:
        principals: ["spiffe://trellis.local/ns/shop/sa/checkout", "cluster.local/ns/a/sa/b",
                     "spiffe://trellis.local/ns/ops/*", "*/sa/admin", "*"]
        notPrincipals: ["trellis.local/ns/shop/*"]
        namespaces: [shop, "team-*", "*-prod"]
        notNamespaces: [kube-system]
    - source: {}
    to:
    - operation:
        methods: [GET, POST]
        notMethods: ["*"]
        paths: [/pay, "/api/*", "*.json"]
        notPaths: [/healthz]
        ports: ["8080", 9090]
        notPorts: ["81"]
    when:
    - {key: "request.headers[X-Tenant]", values: [a, "b*"], notValues: ["*-test"]}
    - {key: source.principal, values: ["trellis.local/ns/shop/sa/checkout"]}
    - {key: source.namespace, notValues: [front]}
    - {key: destination.port, values: ["80"], notValues: [81]}
  - {}
)"));
  ASSERT_TRUE(result.ok()) << describe(result);
  EXPECT_TRUE(result.warnings.empty()) << describe(result);
  ASSERT_EQ(result.snapshot->authorization.size(), 1u);
  const AuthorizationPolicy& policy = onlyPolicy(result, "shop/billing");
  EXPECT_EQ(policy.name, "ap");
  EXPECT_EQ(policy.ns, "shop");
  EXPECT_EQ(policy.qualifiedName, "shop/ap");
  EXPECT_EQ(policy.action, AuthzAction::Deny);
  ASSERT_EQ(policy.rules.size(), 2u);

  const AuthzRule& rule = policy.rules[0];
  EXPECT_TRUE(rule.usesHttp);
  ASSERT_EQ(rule.from.size(), 2u);
  const AuthzSource& source = rule.from[0];
  // Istio's scheme-less principals get "spiffe://"; suffixes need none.
  EXPECT_EQ(source.principals.exact,
            (std::vector<std::string>{"spiffe://trellis.local/ns/shop/sa/checkout",
                                      "spiffe://cluster.local/ns/a/sa/b"}));
  EXPECT_EQ(source.principals.prefixes, std::vector<std::string>{"spiffe://trellis.local/ns/ops/"});
  EXPECT_EQ(source.principals.suffixes, std::vector<std::string>{"/sa/admin"});
  EXPECT_TRUE(source.principals.present);
  EXPECT_EQ(source.notPrincipals.prefixes,
            std::vector<std::string>{"spiffe://trellis.local/ns/shop/"});
  EXPECT_EQ(source.namespaces.exact, std::vector<std::string>{"shop"});
  EXPECT_EQ(source.namespaces.prefixes, std::vector<std::string>{"team-"});
  EXPECT_EQ(source.namespaces.suffixes, std::vector<std::string>{"-prod"});
  EXPECT_FALSE(source.namespaces.present);
  EXPECT_EQ(source.notNamespaces.exact, std::vector<std::string>{"kube-system"});
  EXPECT_TRUE(rule.from[1].principals.empty());
  EXPECT_TRUE(rule.from[1].namespaces.empty());

  ASSERT_EQ(rule.to.size(), 1u);
  const AuthzOperation& operation = rule.to[0];
  EXPECT_EQ(operation.methods.exact, (std::vector<std::string>{"GET", "POST"}));
  EXPECT_TRUE(operation.notMethods.present);
  EXPECT_EQ(operation.paths.exact, std::vector<std::string>{"/pay"});
  EXPECT_EQ(operation.paths.prefixes, std::vector<std::string>{"/api/"});
  EXPECT_EQ(operation.paths.suffixes, std::vector<std::string>{".json"});
  EXPECT_EQ(operation.notPaths.exact, std::vector<std::string>{"/healthz"});
  EXPECT_EQ(operation.ports, (std::vector<uint16_t>{8080, 9090}));
  EXPECT_EQ(operation.notPorts, std::vector<uint16_t>{81});

  ASSERT_EQ(rule.when.size(), 4u);
  EXPECT_EQ(rule.when[0].key, AuthzCondition::Key::RequestHeader);
  EXPECT_EQ(rule.when[0].header, "x-tenant");
  EXPECT_EQ(rule.when[0].values.exact, std::vector<std::string>{"a"});
  EXPECT_EQ(rule.when[0].values.prefixes, std::vector<std::string>{"b"});
  EXPECT_EQ(rule.when[0].notValues.suffixes, std::vector<std::string>{"-test"});
  EXPECT_EQ(rule.when[1].key, AuthzCondition::Key::SourcePrincipal);
  EXPECT_EQ(rule.when[1].values.exact,
            std::vector<std::string>{"spiffe://trellis.local/ns/shop/sa/checkout"});
  EXPECT_EQ(rule.when[2].key, AuthzCondition::Key::SourceNamespace);
  EXPECT_TRUE(rule.when[2].values.empty());
  EXPECT_EQ(rule.when[2].notValues.exact, std::vector<std::string>{"front"});
  EXPECT_EQ(rule.when[3].key, AuthzCondition::Key::DestinationPort);
  EXPECT_EQ(rule.when[3].ports, std::vector<uint16_t>{80});
  EXPECT_EQ(rule.when[3].notPorts, std::vector<uint16_t>{81});

  const AuthzRule& empty = policy.rules[1];
  EXPECT_TRUE(empty.from.empty() && empty.to.empty() && empty.when.empty());
  EXPECT_FALSE(empty.usesHttp);
}

TEST(AuthorizationPolicyTest, UsesHttpOnlyForMethodsPathsAndHeaders) {
  auto usesHttp = [](std::string_view rule) {
    LoadResult result = load(authz("  rules:\n  - " + std::string(rule) + "\n"));
    EXPECT_TRUE(result.ok()) << describe(result);
    return result.ok() && onlyPolicy(result, "shop/billing").rules.at(0).usesHttp;
  };
  EXPECT_FALSE(usesHttp("{from: [{source: {principals: [\"*\"], notNamespaces: [x]}}]}"));
  EXPECT_FALSE(usesHttp("{to: [{operation: {ports: [\"80\"], notPorts: [\"81\"]}}]}"));
  EXPECT_FALSE(
      usesHttp("{when: [{key: source.namespace, values: [shop]}, {key: "
               "destination.port, values: [\"80\"]}, {key: source.principal, "
               "values: [\"*\"]}]}"));
  EXPECT_TRUE(usesHttp("{to: [{operation: {ports: [\"80\"]}}, {operation: {methods: [GET]}}]}"));
  EXPECT_TRUE(usesHttp("{to: [{operation: {notMethods: [GET]}}]}"));
  EXPECT_TRUE(usesHttp("{to: [{operation: {paths: [/a]}}]}"));
  EXPECT_TRUE(usesHttp("{to: [{operation: {notPaths: [/a]}}]}"));
  EXPECT_TRUE(usesHttp("{when: [{key: \"request.headers[x]\", notValues: [a]}]}"));
}

TEST(AuthorizationPolicyTest, WithoutTargetRefsAppliesToEveryServiceOfItsNamespace) {
  LoadResult result = load(authz("  {}\n"));
  ASSERT_TRUE(result.ok()) << describe(result);
  EXPECT_TRUE(result.warnings.empty()) << describe(result);
  const auto& byService = result.snapshot->authorization;
  ASSERT_EQ(byService.size(), 2u);
  for (const char* service : {"shop/billing", "shop/ledger"}) {
    SCOPED_TRACE(service);
    const AuthorizationPolicy& policy = onlyPolicy(result, service);
    // Istio's allow-nothing: ALLOW by default, no rules.
    EXPECT_EQ(policy.action, AuthzAction::Allow);
    EXPECT_TRUE(policy.rules.empty());
  }
  EXPECT_EQ(byService.count("front/web"), 0u);

  LoadResult emptyRules = load(authz("  rules: []\n"));
  ASSERT_TRUE(emptyRules.ok()) << describe(emptyRules);
  EXPECT_TRUE(emptyRules.warnings.empty()) << describe(emptyRules);
  EXPECT_TRUE(onlyPolicy(emptyRules, "shop/ledger").rules.empty());
}

TEST(AuthorizationPolicyTest, PoliciesKeepConfigurationOrderPerService) {
  LoadResult result =
      load(authz("  targetRefs: [{kind: Service, name: ledger}]\n"
                 "  action: AUDIT\n  rules: [{}]\n"
                 "---\n"
                 "apiVersion: trellis.dev/v1alpha1\nkind: AuthorizationPolicy\n"
                 "metadata: {name: all, namespace: shop}\n"
                 "spec: {action: DENY, rules: [{to: [{operation: {ports: "
                 "[\"1\"]}}]}]}\n"
                 "---\n"
                 "apiVersion: trellis.dev/v1alpha1\nkind: AuthorizationPolicy\n"
                 "metadata: {name: both, namespace: shop}\n"
                 "spec: {targetRefs: [{kind: Service, name: billing}, {group: "
                 "trellis.dev, kind: Service, name: ledger}]}\n"));
  ASSERT_TRUE(result.ok()) << describe(result);
  EXPECT_TRUE(result.warnings.empty()) << describe(result);
  auto names = [&](const std::string& service) {
    std::vector<std::string> out;
    for (const auto& policy : result.snapshot->authorization.at(service)) {
      out.push_back(policy.qualifiedName);
    }
    return out;
  };
  EXPECT_EQ(names("shop/billing"), (std::vector<std::string>{"shop/all", "shop/both"}));
  EXPECT_EQ(names("shop/ledger"), (std::vector<std::string>{"shop/ap", "shop/all", "shop/both"}));
}

TEST(AuthorizationPolicyTest, KindBelongsToTrellisApi) {
  expectSingleError(R"(apiVersion: gateway.networking.k8s.io/v1
kind: AuthorizationPolicy
metadata: {name: ap}
spec: {}
)",
                    at(2, 7, "AuthorizationPolicy default/ap", "kind",
                       "kind AuthorizationPolicy belongs to apiVersion trellis.dev/v1alpha1, not "
                       "gateway.networking.k8s.io/v1"));
}

// ---------------------------------------------------------------------------------------------
// Warnings

TEST(AuthorizationPolicyTest, MissingTargetsAreWarnings) {
  LoadResult result =
      load(authz(R"(  targetRefs: [{kind: Service, name: billing}, {kind: Service, name: gone}]
---
apiVersion: trellis.dev/v1alpha1
kind: AuthorizationPolicy
metadata: {name: lonely, namespace: empty}
spec: {}
)"));
  ASSERT_TRUE(result.ok()) << describe(result);
  EXPECT_EQ(rendered(result.warnings),
            (std::vector<std::string>{
                "test.yaml:20:48: AuthorizationPolicy shop/ap: spec.targetRefs[1]: Service "
                "shop/gone not found; the policy does not apply to it",
                "test.yaml:22:1: AuthorizationPolicy empty/lonely: namespace empty has no "
                "Service; the policy applies to nothing",
            }));
  EXPECT_EQ(result.snapshot->authorization.size(), 1u);
  EXPECT_EQ(onlyPolicy(result, "shop/billing").qualifiedName, "shop/ap");
}

TEST(AuthorizationPolicyTest, DenyOrAuditWithoutRulesAndLowerCaseMethodsWarn) {
  LoadResult deny = load(authz("  action: DENY\n"));
  ASSERT_TRUE(deny.ok()) << describe(deny);
  EXPECT_EQ(rendered(deny.warnings),
            std::vector<std::string>{"test.yaml:20:11: AuthorizationPolicy shop/ap: spec.action: "
                                     "a DENY policy without rules matches nothing and has no "
                                     "effect (rules: [{}] matches every request)"});
  LoadResult audit = load(authz("  action: AUDIT\n  rules: []\n"));
  ASSERT_TRUE(audit.ok()) << describe(audit);
  EXPECT_EQ(rendered(audit.warnings),
            std::vector<std::string>{"test.yaml:20:11: AuthorizationPolicy shop/ap: spec.action: "
                                     "an AUDIT policy without rules matches nothing and has no "
                                     "effect (rules: [{}] matches every request)"});
  LoadResult methods = load(authz("  rules: [{to: [{operation: {methods: [GET, get]}}]}]\n"));
  ASSERT_TRUE(methods.ok()) << describe(methods);
  EXPECT_EQ(rendered(methods.warnings),
            std::vector<std::string>{
                "test.yaml:20:45: AuthorizationPolicy shop/ap: "
                "spec.rules[0].to[0].operation.methods[1]: methods are case-sensitive: \"get\" "
                "does not match GET"});
}

// ---------------------------------------------------------------------------------------------
// Errors

TEST(AuthorizationPolicyTest, SpecErrors) {
  expectSingleError(
      authz("  action: CUSTOM\n"),
      at(20, 11, kAp, "spec.action", "CUSTOM is not supported (expected ALLOW, DENY or AUDIT)"));
  expectSingleError(
      authz("  action: allow\n"),
      at(20, 11, kAp, "spec.action", "unknown value \"allow\" (expected ALLOW, DENY or AUDIT)"));
  expectSingleError(
      authz("  selector: {matchLabels: {app: billing}}\n"),
      at(20, 13, kAp, "spec.selector", "not supported (choose Services with targetRefs)"));
  expectSingleError(authz("  provider: {name: opa}\n"),
                    at(20, 13, kAp, "spec.provider", "not supported (there is no CUSTOM action)"));
  expectSingleError(authz("  rule: []\n"), at(20, 3, kAp, "spec.rule",
                                              "unknown field \"rule\" (did you mean \"rules\"?)"));
  expectSingleError(authz("  rules: {}\n"),
                    at(20, 10, kAp, "spec.rules", "expected a list, got a map"));
  expectSingleError(
      authz("  rules: [{form: []}]\n"),
      at(20, 12, kAp, "spec.rules[0].form", "unknown field \"form\" (did you mean \"from\"?)"));
}

TEST(AuthorizationPolicyTest, TargetRefErrors) {
  expectSingleError(authz("  targetRefs: []\n"),
                    at(20, 15, kAp, "spec.targetRefs",
                       "must list at least one targetRef (omit targetRefs to apply the policy to "
                       "every Service of the namespace)"));
  expectSingleError(authz("  targetRefs: [{kind: Deployment, name: billing}]\n"),
                    at(20, 23, kAp, "spec.targetRefs[0].kind",
                       "unknown value \"Deployment\" (expected Service)"));
  expectSingleError(authz("  targetRefs: [{group: apps, kind: Service, name: billing}]\n"),
                    at(20, 24, kAp, "spec.targetRefs[0].group",
                       "unknown value \"apps\" (expected \"\" or trellis.dev)"));
  expectSingleError(authz("  targetRefs: [{kind: Service, name: Billing}]\n"),
                    at(20, 38, kAp, "spec.targetRefs[0].name", "must be lower case"));
  expectSingleError(authz("  targetRefs: [{kind: Service}]\n"),
                    at(20, 16, kAp, "spec.targetRefs[0].name", "missing required field"));
  expectSingleError(
      authz("  targetRefs: [{kind: Service, name: billing}, {group: trellis.dev, "
            "kind: Service, name: billing}]\n"),
      at(20, 48, kAp, "spec.targetRefs[1]", "duplicate targetRef (same kind and name)"));
  expectSingleError(authz("  targetRefs: [{kind: Service, name: billing, namespace: x}]\n"),
                    at(20, 47, kAp, "spec.targetRefs[0].namespace", "unknown field \"namespace\""));
}

TEST(AuthorizationPolicyTest, SourceErrors) {
  auto source = [](std::string_view fields) {
    return authz("  rules:\n  - from:\n    - source: {" + std::string(fields) + "}\n");
  };
  const std::string path = "spec.rules[0].from[0].source.";
  expectSingleError(source("principals: [\"a*b\"]"),
                    at(22, 29, kAp, path + "principals[0]",
                       "invalid pattern \"a*b\" ('*' may only stand alone or at the start or end: "
                       "\"exact\", \"prefix*\", \"*suffix\" or \"*\")"));
  expectSingleError(source("principals: [\"*a*\"]"),
                    at(22, 29, kAp, path + "principals[0]",
                       "invalid pattern \"*a*\" ('*' may only stand alone or at the start or end: "
                       "\"exact\", \"prefix*\", \"*suffix\" or \"*\")"));
  expectSingleError(source("notPrincipals: [\"**\"]"),
                    at(22, 32, kAp, path + "notPrincipals[0]",
                       "invalid pattern \"**\" ('*' may only stand alone or at the start or end: "
                       "\"exact\", \"prefix*\", \"*suffix\" or \"*\")"));
  expectSingleError(source("principals: [\"\"]"),
                    at(22, 29, kAp, path + "principals[0]", "must not be empty"));
  expectSingleError(source("principals: [checkout]"),
                    at(22, 29, kAp, path + "principals[0]",
                       "principal \"checkout\" is not a SPIFFE ID (expected \"spiffe://<trust "
                       "domain>/ns/<namespace>/sa/<service account>\" or Istio's \"<trust "
                       "domain>/ns/<namespace>/sa/<service account>\")"));
  expectSingleError(source("principals: [\"spiffe://trellis.local/\"]"),
                    at(22, 29, kAp, path + "principals[0]",
                       "principal \"spiffe://trellis.local/\" is not a SPIFFE ID (expected "
                       "\"spiffe://<trust domain>/ns/<namespace>/sa/<service account>\" or "
                       "Istio's \"<trust domain>/ns/<namespace>/sa/<service account>\")"));
  expectSingleError(
      source("principals: []"),
      at(22, 28, kAp, path + "principals", "must not be empty (omit the field to match anything)"));
  expectSingleError(source("principals: spiffe://a/b"),
                    at(22, 28, kAp, path + "principals", "expected a list, got a scalar"));
  expectSingleError(source("namespaces: [Shop]"),
                    at(22, 29, kAp, path + "namespaces[0]", "must be lower case"));
  expectSingleError(source("notNamespaces: [\"a*b\"]"),
                    at(22, 32, kAp, path + "notNamespaces[0]",
                       "invalid pattern \"a*b\" ('*' may only stand alone or at the start or end: "
                       "\"exact\", \"prefix*\", \"*suffix\" or \"*\")"));
  expectSingleError(
      source("ipBlocks: [10.0.0.0/8]"),
      at(22, 26, kAp, path + "ipBlocks", "not supported (authorize by principals or namespaces)"));
  expectSingleError(source("requestPrincipals: [\"*\"]"),
                    at(22, 35, kAp, path + "requestPrincipals",
                       "not supported (trellis does not authenticate JWTs)"));
  expectSingleError(authz("  rules: [{from: []}]\n"),
                    at(20, 18, kAp, "spec.rules[0].from",
                       "must not be empty (omit the field to match anything)"));
  expectSingleError(authz("  rules: [{from: [{}]}]\n"),
                    at(20, 19, kAp, "spec.rules[0].from[0].source", "missing required field"));
  // A source written without `source:`.
  LoadResult bare = load(authz("  rules: [{from: [{principals: [\"*\"]}]}]\n"));
  EXPECT_EQ(rendered(bare.errors),
            (std::vector<std::string>{
                "test.yaml:20:19: AuthorizationPolicy shop/ap: spec.rules[0].from[0].source: "
                "missing required field",
                "test.yaml:20:20: AuthorizationPolicy shop/ap: spec.rules[0].from[0].principals: "
                "unknown field \"principals\"",
            }));
}

TEST(AuthorizationPolicyTest, OperationErrors) {
  auto operation = [](std::string_view fields) {
    return authz("  rules:\n  - to:\n    - operation: {" + std::string(fields) + "}\n");
  };
  const std::string path = "spec.rules[0].to[0].operation.";
  expectSingleError(
      operation("ports: [\"0\"]"),
      at(22, 27, kAp, path + "ports[0]", "invalid port \"0\" (expected a number from 1 to 65535)"));
  expectSingleError(operation("ports: [\"65536\"]"),
                    at(22, 27, kAp, path + "ports[0]",
                       "invalid port \"65536\" (expected a number from 1 to 65535)"));
  expectSingleError(operation("notPorts: [\"80a\"]"),
                    at(22, 30, kAp, path + "notPorts[0]",
                       "invalid port \"80a\" (expected a number from 1 to 65535)"));
  expectSingleError(
      operation("ports: [\"*\"]"),
      at(22, 27, kAp, path + "ports[0]", "invalid port \"*\" (expected a number from 1 to 65535)"));
  expectSingleError(
      operation("ports: []"),
      at(22, 26, kAp, path + "ports", "must not be empty (omit the field to match anything)"));
  expectSingleError(operation("methods: [\"GE T\"]"),
                    at(22, 29, kAp, path + "methods[0]",
                       "invalid method \"GE T\" (expected an HTTP method such as GET)"));
  expectSingleError(operation("paths: [api]"),
                    at(22, 27, kAp, path + "paths[0]",
                       "must be an absolute path starting with '/' (or \"*suffix\")"));
  expectSingleError(operation("paths: [\"/a/*/b\"]"),
                    at(22, 27, kAp, path + "paths[0]",
                       "invalid pattern \"/a/*/b\" ('*' may only stand alone or at the start or "
                       "end: \"exact\", \"prefix*\", \"*suffix\" or \"*\")"));
  expectSingleError(
      operation("notPaths: [\"/a/{*}\"]"),
      at(22, 30, kAp, path + "notPaths[0]", "path templates ({*}, {**}) are not supported"));
  expectSingleError(operation("paths: [\"/a?b=1\"]"),
                    at(22, 27, kAp, path + "paths[0]",
                       "must not contain '?' (paths are matched without the query string)"));
  expectSingleError(operation("hosts: [billing.shop]"),
                    at(22, 26, kAp, path + "hosts",
                       "not supported (a policy applies to the Services it targets)"));
  expectSingleError(authz("  rules: [{to: [{operation: {}}, {}]}]\n"),
                    at(20, 34, kAp, "spec.rules[0].to[1].operation", "missing required field"));
}

TEST(AuthorizationPolicyTest, ConditionErrors) {
  auto when = [](std::string_view condition) {
    return authz("  rules:\n  - when:\n    - " + std::string(condition) + "\n");
  };
  const std::string path = "spec.rules[0].when[0]";
  expectSingleError(when("{key: source.ip, values: [10.0.0.1]}"),
                    at(22, 13, kAp, path + ".key",
                       "unsupported condition key \"source.ip\" (expected request.headers[<name>], "
                       "source.principal, source.namespace or destination.port)"));
  expectSingleError(when("{key: \"request.headers[]\", values: [a]}"),
                    at(22, 13, kAp, path + ".key", "header name \"\" must not be empty"));
  expectSingleError(when("{key: \"request.headers[x y]\", values: [a]}"),
                    at(22, 13, kAp, path + ".key",
                       "header name \"x y\" is not a valid header name (letters, digits and "
                       "!#$%&'*+-.^_`|~ only)"));
  expectSingleError(when("{key: source.principal}"),
                    at(22, 7, kAp, path, "must set values, notValues or both"));
  expectSingleError(when("{values: [a]}"), at(22, 7, kAp, path + ".key", "missing required field"));
  expectSingleError(when("{key: destination.port, values: [http]}"),
                    at(22, 40, kAp, path + ".values[0]",
                       "invalid port \"http\" (expected a number from 1 to 65535)"));
  expectSingleError(when("{key: source.namespace, notValues: [\"a*b\"]}"),
                    at(22, 43, kAp, path + ".notValues[0]",
                       "invalid pattern \"a*b\" ('*' may only stand alone or at the start or end: "
                       "\"exact\", \"prefix*\", \"*suffix\" or \"*\")"));
  expectSingleError(when("{key: source.principal, values: [nobody]}"),
                    at(22, 40, kAp, path + ".values[0]",
                       "principal \"nobody\" is not a SPIFFE ID (expected \"spiffe://<trust "
                       "domain>/ns/<namespace>/sa/<service account>\" or Istio's \"<trust "
                       "domain>/ns/<namespace>/sa/<service account>\")"));
  expectSingleError(when("{key: \"request.headers[x]\", values: [\"a\\nb\"]}"),
                    at(22, 44, kAp, path + ".values[0]",
                       "must not contain control characters (CR, LF, NUL, ...)"));
  expectSingleError(
      when("{key: \"request.headers[x]\", values: []}"),
      at(22, 43, kAp, path + ".values", "must not be empty (omit the field to match anything)"));
  expectSingleError(authz("  rules: [{when: []}]\n"),
                    at(20, 18, kAp, "spec.rules[0].when",
                       "must not be empty (omit the field to match anything)"));
}

TEST(AuthorizationPolicyTest, EveryProblemOfAPolicyIsReported) {
  LoadResult result = load(authz(R"(  action: CUSTOM
  rules:
  - from: [{source: {principals: ["a*b"]}}]
    to: [{operation: {ports: ["x"]}}]
    when: [{key: nope, values: ["*a*"]}]
)"));
  // Each message is checked by the tests above: here, that every problem is found.
  std::vector<std::string> where;
  for (const LoadError& error : result.errors) {
    where.push_back(std::to_string(error.line) + ":" + std::to_string(error.column) + " " +
                    error.field);
  }
  EXPECT_EQ(where, (std::vector<std::string>{
                       "20:11 spec.action",
                       "22:35 spec.rules[0].from[0].source.principals[0]",
                       "23:31 spec.rules[0].to[0].operation.ports[0]",
                       "24:18 spec.rules[0].when[0].key",
                       "24:33 spec.rules[0].when[0].values[0]",
                   }))
      << describe(result);
}

}  // namespace
}  // namespace trellis::config
