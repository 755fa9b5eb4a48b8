// The authorization engine: Istio's AuthorizationPolicy semantics, case by case.

#include <gtest/gtest.h>

#include <fstream>
#include <sstream>
#include <string>
#include <vector>

#include "authz/authorization.h"
#include "authz_test_util.h"

namespace trellis::authz {
namespace {

using testing::billingPolicies;
using testing::decide;
using testing::kCart;
using testing::kCheckout;
using testing::kFrontWeb;
using testing::policy;
using testing::TestRequest;
using Reason = Decision::Reason;

TestRequest from(std::string_view principal) {
  TestRequest request;
  request.principal = principal;
  return request;
}

TestRequest http(std::string_view principal, std::string method, std::string path) {
  TestRequest request = from(principal);
  request.method = std::move(method);
  request.path = std::move(path);
  return request;
}

TestRequest tcp(std::string_view principal, uint16_t port) {
  TestRequest request = from(principal);
  request.http = false;
  request.method.clear();
  request.path.clear();
  request.port = port;
  return request;
}

TestRequest withHeader(TestRequest request, std::string name, std::string value) {
  request.headers[std::move(name)] = std::move(value);
  return request;
}

struct Case {
  std::string name;
  std::string policies;  // AuthorizationPolicy documents (see testing::policy)
  TestRequest request;
  bool allowed;
  Reason reason;
  std::string policy;  // the deciding policy, "" when none
  size_t rule = 0;
  std::vector<std::string> audited = {};
};

const std::string kAllowCheckout =
    policy("allow-checkout",
           "{rules: [{from: [{source: {principals: [\"" + std::string(kCheckout) + "\"]}}]}]}");
const std::string kAllowAll = policy("allow-all", "{rules: [{}]}");
const std::string kDenyAdmin =
    policy("deny-admin", "{action: DENY, rules: [{to: [{operation: {paths: [\"/admin/*\"]}}]}]}");

std::vector<Case> cases() {
  return {
      // Which policy decides.
      {"no policy allows", "", from(kCheckout), true, Reason::NoPolicy, ""},
      {"allow-nothing denies", policy("allow-nothing", "{}"), from(kCheckout), false,
       Reason::NoAllowMatched, ""},
      {"allow-nothing with empty rules denies", policy("allow-nothing", "{rules: []}"),
       from(kCheckout), false, Reason::NoAllowMatched, ""},
      {"ALLOW matching allows", kAllowCheckout, from(kCheckout), true, Reason::AllowMatched,
       "shop/allow-checkout"},
      {"ALLOW matching none denies", kAllowCheckout, from(kCart), false, Reason::NoAllowMatched,
       ""},
      {"any of several ALLOW policies allows", kAllowCheckout + kAllowAll, from(kCart), true,
       Reason::AllowMatched, "shop/allow-all"},
      {"DENY wins over a matching ALLOW", kAllowAll + kDenyAdmin,
       http(kCheckout, "GET", "/admin/users"), false, Reason::DenyMatched, "shop/deny-admin"},
      {"DENY not matching leaves ALLOW to decide", kAllowAll + kDenyAdmin,
       http(kCheckout, "GET", "/shop"), true, Reason::AllowMatched, "shop/allow-all"},
      {"DENY alone not matching allows", kDenyAdmin, http(kCheckout, "GET", "/shop"), true,
       Reason::NoPolicy, ""},
      {"DENY with an empty rule denies everything",
       policy("deny-all", "{action: DENY, rules: [{}]}"), from(kCheckout), false,
       Reason::DenyMatched, "shop/deny-all"},
      {"first matching DENY is reported",
       policy("d1", "{action: DENY, rules: [{to: [{operation: {ports: [\"1\"]}}]}, {}]}") +
           policy("d2", "{action: DENY, rules: [{}]}"),
       from(kCheckout), false, Reason::DenyMatched, "shop/d1", 1},
      // AUDIT.
      {"AUDIT matching is reported and decides nothing",
       policy("audit-admin",
              "{action: AUDIT, rules: [{to: [{operation: {paths: [\"/admin/*\"]}}]}]}"),
       http(kCheckout, "GET", "/admin/x"),
       true,
       Reason::NoPolicy,
       "",
       0,
       {"shop/audit-admin"}},
      {"AUDIT is reported alongside a DENY",
       kDenyAdmin + policy("a1", "{action: AUDIT, rules: [{}]}") +
           policy("a2", "{action: AUDIT, rules: [{to: [{operation: {methods: [POST]}}]}]}") +
           policy("a3", "{action: AUDIT, rules: [{to: [{operation: {methods: [GET]}}]}]}"),
       http(kCheckout, "GET", "/admin/x"),
       false,
       Reason::DenyMatched,
       "shop/deny-admin",
       0,
       {"shop/a1", "shop/a3"}},
      {"AUDIT not matching is not reported",
       kAllowAll + policy("audit",
                          "{action: AUDIT, rules: [{from: [{source: {namespaces: "
                          "[front]}}]}]}"),
       from(kCheckout), true, Reason::AllowMatched, "shop/allow-all"},
      // Principals and namespaces.
      {"Istio's scheme-less principal matches",
       policy("p",
              "{rules: [{from: [{source: {principals: [trellis.local/ns/shop/sa/checkout]}}]}]}"),
       from(kCheckout), true, Reason::AllowMatched, "shop/p"},
      {"principal prefix",
       policy("p", "{rules: [{from: [{source: {principals: [\"trellis.local/ns/shop/*\"]}}]}]}"),
       from(kCart), true, Reason::AllowMatched, "shop/p"},
      {"principal prefix of another namespace",
       policy("p", "{rules: [{from: [{source: {principals: [\"trellis.local/ns/shop/*\"]}}]}]}"),
       from(kFrontWeb), false, Reason::NoAllowMatched, ""},
      {"principal suffix",
       policy("p", "{rules: [{from: [{source: {principals: [\"*/sa/web\"]}}]}]}"), from(kFrontWeb),
       true, Reason::AllowMatched, "shop/p"},
      {"principal * needs a peer identity",
       policy("p", "{rules: [{from: [{source: {principals: [\"*\"]}}]}]}"), from(""), false,
       Reason::NoAllowMatched, ""},
      {"principal * with an identity",
       policy("p",
              "{rules: [{from: [{source: {principals: "
              "[\"*\"]}}]}]}"),
       from(kCart), true, Reason::AllowMatched, "shop/p"},
      {"notPrincipals alone: everyone else",
       policy("p", "{rules: [{from: [{source: {notPrincipals: [\"*/sa/cart\"]}}]}]}"), from(kCart),
       false, Reason::NoAllowMatched, ""},
      {"notPrincipals alone lets plain text in",
       policy("p", "{rules: [{from: [{source: {notPrincipals: [\"*/sa/cart\"]}}]}]}"), from(""),
       true, Reason::AllowMatched, "shop/p"},
      {"namespace from the principal",
       policy("p", "{rules: [{from: [{source: {namespaces: [front]}}]}]}"), from(kFrontWeb), true,
       Reason::AllowMatched, "shop/p"},
      {"a principal of another shape has no namespace",
       policy("p", "{rules: [{from: [{source: {namespaces: [\"*\"]}}]}]}"),
       from("spiffe://trellis.local/ns/front/web"), false, Reason::NoAllowMatched, ""},
      {"notNamespaces excludes",
       policy("p", "{action: DENY, rules: [{from: [{source: {notNamespaces: [shop]}}]}]}"),
       from(kFrontWeb), false, Reason::DenyMatched, "shop/p"},
      {"source fields are ANDed",
       policy("p",
              "{rules: [{from: [{source: {principals: [\"*/sa/web\"], namespaces: "
              "[shop]}}]}]}"),
       from(kFrontWeb), false, Reason::NoAllowMatched, ""},
      {"sources are ORed",
       policy("p",
              "{rules: [{from: [{source: {namespaces: [shop]}}, {source: {principals: "
              "[\"*/sa/web\"]}}]}]}"),
       from(kFrontWeb), true, Reason::AllowMatched, "shop/p"},
      // Operations.
      {"exact path", policy("p", "{rules: [{to: [{operation: {paths: [/pay]}}]}]}"),
       http(kCart, "POST", "/pay"), true, Reason::AllowMatched, "shop/p"},
      {"exact path ignores the query",
       policy("p", "{rules: [{to: [{operation: {paths: [/pay]}}]}]}"),
       http(kCart, "POST", "/pay?amount=3"), true, Reason::AllowMatched, "shop/p"},
      {"exact path is not a prefix", policy("p", "{rules: [{to: [{operation: {paths: [/pay]}}]}]}"),
       http(kCart, "POST", "/pay/x"), false, Reason::NoAllowMatched, ""},
      {"prefix path", policy("p", "{rules: [{to: [{operation: {paths: [\"/api/*\"]}}]}]}"),
       http(kCart, "GET", "/api/v1/x"), true, Reason::AllowMatched, "shop/p"},
      {"prefix path keeps its slash (Istio)",
       policy("p", "{rules: [{to: [{operation: {paths: [\"/api/*\"]}}]}]}"),
       http(kCart, "GET", "/api"), false, Reason::NoAllowMatched, ""},
      {"suffix path", policy("p", "{rules: [{to: [{operation: {paths: [\"*.json\"]}}]}]}"),
       http(kCart, "GET", "/a/b.json?x=.html"), true, Reason::AllowMatched, "shop/p"},
      {"notPaths excludes", policy("p", "{rules: [{to: [{operation: {notPaths: [/healthz]}}]}]}"),
       http(kCart, "GET", "/healthz"), false, Reason::NoAllowMatched, ""},
      {"methods", policy("p", "{rules: [{to: [{operation: {methods: [GET, POST]}}]}]}"),
       http(kCart, "DELETE", "/"), false, Reason::NoAllowMatched, ""},
      {"operation fields are ANDed",
       policy("p", "{rules: [{to: [{operation: {methods: [GET], paths: [/pay]}}]}]}"),
       http(kCart, "POST", "/pay"), false, Reason::NoAllowMatched, ""},
      {"operations are ORed",
       policy("p",
              "{rules: [{to: [{operation: {methods: [GET]}}, {operation: {paths: "
              "[/pay]}}]}]}"),
       http(kCart, "POST", "/pay"), true, Reason::AllowMatched, "shop/p"},
      {"ports", policy("p", "{rules: [{to: [{operation: {ports: [\"9090\"]}}]}]}"), from(kCart),
       false, Reason::NoAllowMatched, ""},
      {"notPorts",
       policy("p", "{action: DENY, rules: [{to: [{operation: {notPorts: [\"9090\"]}}]}]}"),
       from(kCart), false, Reason::DenyMatched, "shop/p"},
      {"from, to and when are ANDed",
       policy("p",
              "{rules: [{from: [{source: {namespaces: [shop]}}], to: [{operation: {methods: "
              "[GET]}}], when: [{key: destination.port, values: [\"9\"]}]}]}"),
       from(kCart), false, Reason::NoAllowMatched, ""},
      {"a later rule matches",
       policy("p",
              "{rules: [{to: [{operation: {methods: [PUT]}}]}, {to: [{operation: "
              "{methods: [GET]}}]}]}"),
       from(kCart), true, Reason::AllowMatched, "shop/p", 1},
      // Conditions.
      {"header condition",
       policy("p",
              "{rules: [{when: [{key: \"request.headers[X-Tenant]\", values: [a, \"b*\"]}]}]}"),
       withHeader(from(kCart), "x-tenant", "blue"), true, Reason::AllowMatched, "shop/p"},
      {"header condition, header absent",
       policy("p", "{rules: [{when: [{key: \"request.headers[x-tenant]\", values: [\"*\"]}]}]}"),
       from(kCart), false, Reason::NoAllowMatched, ""},
      {"header * matches an empty value",
       policy("p", "{rules: [{when: [{key: \"request.headers[x-tenant]\", values: [\"*\"]}]}]}"),
       withHeader(from(kCart), "x-tenant", ""), true, Reason::AllowMatched, "shop/p"},
      {"header notValues, header absent",
       policy("p", "{rules: [{when: [{key: \"request.headers[x-tenant]\", notValues: [a]}]}]}"),
       from(kCart), true, Reason::AllowMatched, "shop/p"},
      {"header notValues excludes",
       policy("p", "{rules: [{when: [{key: \"request.headers[x-tenant]\", notValues: [a]}]}]}"),
       withHeader(from(kCart), "x-tenant", "a"), false, Reason::NoAllowMatched, ""},
      {"conditions are ANDed",
       policy("p",
              "{rules: [{when: [{key: source.namespace, values: [shop]}, {key: "
              "source.principal, values: [\"*/sa/checkout\"]}]}]}"),
       from(kCart), false, Reason::NoAllowMatched, ""},
      {"source and port conditions",
       policy("p",
              "{rules: [{when: [{key: source.namespace, values: [shop]}, {key: "
              "source.principal, notValues: [\"*/sa/checkout\"]}, {key: destination.port, "
              "values: [\"8080\"]}]}]}"),
       from(kCart), true, Reason::AllowMatched, "shop/p"},
      // TCP: only principals, namespaces and ports can be evaluated (Istio's rules).
      {"TCP: ALLOW by ports", policy("p", "{rules: [{to: [{operation: {ports: [\"9000\"]}}]}]}"),
       tcp(kCart, 9000), true, Reason::AllowMatched, "shop/p"},
      {"TCP: an ALLOW rule with HTTP fields never matches",
       policy("p", "{rules: [{to: [{operation: {methods: [GET], ports: [\"9000\"]}}]}]}"),
       tcp(kCart, 9000), false, Reason::NoAllowMatched, ""},
      {"TCP: an ALLOW rule with a header condition never matches",
       policy("p",
              "{rules: [{when: [{key: \"request.headers[x]\", notValues: [a]}]}, {from: "
              "[{source: {namespaces: [shop]}}]}]}"),
       tcp(kCart, 9000), true, Reason::AllowMatched, "shop/p", 1},
      {"TCP: a DENY rule drops its HTTP fields",
       policy("p", "{action: DENY, rules: [{to: [{operation: {methods: [GET]}}]}]}"),
       tcp(kCart, 9001), false, Reason::DenyMatched, "shop/p"},
      {"TCP: a DENY rule keeps its TCP fields",
       policy("p",
              "{action: DENY, rules: [{to: [{operation: {methods: [GET], ports: "
              "[\"9000\"]}}]}]}"),
       tcp(kCart, 9001), true, Reason::NoPolicy, ""},
      {"TCP: a DENY rule keeps its TCP fields, matching",
       policy("p",
              "{action: DENY, rules: [{to: [{operation: {notPaths: [/x], ports: "
              "[\"9000\"]}}], when: [{key: \"request.headers[x]\", values: [a]}]}]}"),
       tcp(kCart, 9000), false, Reason::DenyMatched, "shop/p"},
      {"TCP: AUDIT drops HTTP fields as DENY does",
       policy("p", "{action: AUDIT, rules: [{to: [{operation: {paths: [/x]}}]}]}"),
       tcp(kCart, 9000),
       true,
       Reason::NoPolicy,
       "",
       0,
       {"shop/p"}},
      // Targets.
      {"a policy targeting another Service does not apply",
       policy("p", "{targetRefs: [{kind: Service, name: ledger}]}"), from(kCart), true,
       Reason::NoPolicy, ""},
      {"a namespace-wide policy and a targeted one both apply",
       policy("ns-deny", "{action: DENY, rules: [{from: [{source: {namespaces: [front]}}]}]}") +
           policy("billing-allow",
                  "{targetRefs: [{kind: Service, name: billing}], rules: "
                  "[{from: [{source: {namespaces: [front, shop]}}]}]}"),
       from(kFrontWeb), false, Reason::DenyMatched, "shop/ns-deny"},
      {"a targeted ALLOW applies beside a namespace-wide DENY",
       policy("ns-deny", "{action: DENY, rules: [{from: [{source: {namespaces: [front]}}]}]}") +
           policy("billing-allow",
                  "{targetRefs: [{kind: Service, name: billing}], rules: "
                  "[{from: [{source: {namespaces: [front, shop]}}]}]}"),
       from(kCart), true, Reason::AllowMatched, "shop/billing-allow"},
  };
}

TEST(EvaluateTest, Table) {
  const std::vector<Case> table = cases();
  ASSERT_GE(table.size(), 25u);
  for (const Case& test : table) {
    SCOPED_TRACE(test.name);
    std::vector<config::AuthorizationPolicy> policies = billingPolicies(test.policies);
    Decision decision = decide(policies, test.request);
    EXPECT_EQ(decision.allowed, test.allowed);
    EXPECT_EQ(reasonName(decision.reason), reasonName(test.reason));
    EXPECT_EQ(decision.policy, test.policy);
    EXPECT_EQ(decision.rule, test.rule);
    EXPECT_EQ(std::vector<std::string>(decision.audited.begin(), decision.audited.end()),
              test.audited);
  }
}

TEST(EvaluateTest, PrincipalNamespace) {
  EXPECT_EQ(principalNamespace(kCheckout), "shop");
  EXPECT_EQ(principalNamespace("spiffe://td/ns/a/sa/b"), "a");
  EXPECT_EQ(principalNamespace(""), "");
  EXPECT_EQ(principalNamespace("td/ns/a/sa/b"), "");             // no scheme
  EXPECT_EQ(principalNamespace("spiffe:///ns/a/sa/b"), "");      // no trust domain
  EXPECT_EQ(principalNamespace("spiffe://td"), "");              // no path
  EXPECT_EQ(principalNamespace("spiffe://td/ns//sa/b"), "");     // empty namespace
  EXPECT_EQ(principalNamespace("spiffe://td/ns/a/sa/"), "");     // empty service account
  EXPECT_EQ(principalNamespace("spiffe://td/ns/a/sa/b/c"), "");  // more segments
  EXPECT_EQ(principalNamespace("spiffe://td/x/ns/a/sa/b"), "");  // another shape
  EXPECT_EQ(principalNamespace("spiffe://td/ns/a"), "");
}

TEST(EvaluateTest, ValueForms) {
  config::AuthzValues values;
  EXPECT_FALSE(matches(values, "x"));
  values.exact = {"GET"};
  values.prefixes = {"/api/"};
  values.suffixes = {".json"};
  EXPECT_TRUE(matches(values, "GET"));
  EXPECT_FALSE(matches(values, "GETX"));
  EXPECT_TRUE(matches(values, "/api/"));
  EXPECT_FALSE(matches(values, "/api"));
  EXPECT_TRUE(matches(values, "a.json"));
  EXPECT_FALSE(matches(values, ""));
  values.present = true;
  EXPECT_TRUE(matches(values, "anything"));
  EXPECT_FALSE(matches(values, ""));  // "*" needs a value
}

TEST(EvaluateTest, ReasonNames) {
  EXPECT_EQ(reasonName(Reason::NoPolicy), "no_policy");
  EXPECT_EQ(reasonName(Reason::AllowMatched), "allowed_by_policy");
  EXPECT_EQ(reasonName(Reason::DenyMatched), "denied_by_policy");
  EXPECT_EQ(reasonName(Reason::NoAllowMatched), "no_allow_policy_matched");
}

TEST(EvaluateTest, WithoutHeaderLookupHeadersAreAbsent) {
  std::vector<config::AuthorizationPolicy> policies = billingPolicies(
      policy("p", "{rules: [{when: [{key: \"request.headers[x]\", notValues: [\"*\"]}]}]}"));
  Request request;
  request.isHttp = true;
  request.method = "GET";
  request.path = "/";
  EXPECT_TRUE(evaluate(policies, request).allowed);
  EXPECT_EQ(HeaderLookup()("x"), std::nullopt);
}

// The first yaml block of each example of the AuthorizationPolicy section of
// docs/configuration.md, in order.
std::vector<std::string> documentedExamples() {
  std::ifstream file(TRELLIS_DOCS_DIR "/configuration.md");
  std::stringstream content;
  content << file.rdbuf();
  std::string markdown = content.str();
  size_t section = markdown.find("\n## AuthorizationPolicy\n");
  if (section == std::string::npos) return {};
  size_t end = markdown.find("\n## ", section + 1);
  std::vector<std::string> examples;
  size_t start = markdown.find("```yaml\n", section);
  while (start < end) {
    start += 8;
    size_t close = markdown.find("```", start);
    examples.push_back(markdown.substr(start, close - start));
    start = markdown.find("```yaml\n", close + 3);
  }
  return examples;
}

TEST(EvaluateTest, DocumentedExamplesDecideAsDescribed) {
  std::vector<std::string> examples = documentedExamples();
  ASSERT_EQ(examples.size(), 3u);
  // 1: only checkout may call billing.
  auto onlyCheckout = billingPolicies(examples[0]);
  EXPECT_TRUE(decide(onlyCheckout, http(kCheckout, "POST", "/pay")).allowed);
  EXPECT_FALSE(decide(onlyCheckout, http(kCart, "POST", "/pay")).allowed);
  EXPECT_FALSE(decide(onlyCheckout, http(kCheckout, "DELETE", "/pay")).allowed);
  // 2: default deny for the whole namespace.
  auto defaultDeny = billingPolicies(examples[1]);
  EXPECT_EQ(defaultDeny.size(), 1u);
  EXPECT_FALSE(decide(defaultDeny, from(kCheckout)).allowed);
  EXPECT_FALSE(decide(defaultDeny, tcp(kCheckout, 5432)).allowed);
  // 3: deny a path to everyone but the admin namespace.
  auto denyPath = billingPolicies(examples[2]);
  Decision denied = decide(denyPath, http(kCheckout, "GET", "/admin/users"));
  EXPECT_FALSE(denied.allowed);
  EXPECT_EQ(denied.policy, "shop/deny-admin");
  EXPECT_TRUE(decide(denyPath, http(kCheckout, "GET", "/pay")).allowed);
  EXPECT_TRUE(
      decide(denyPath, http("spiffe://trellis.local/ns/ops/sa/admin", "GET", "/admin/users"))
          .allowed);
}

}  // namespace
}  // namespace trellis::authz
