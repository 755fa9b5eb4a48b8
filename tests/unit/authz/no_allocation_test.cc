// `authz::evaluate` must not allocate, except for the list of matching AUDIT policies.

#include <gtest/gtest.h>

#include <new>

#include "alloc_counter.h"
#include "authz_test_util.h"

namespace trellis::authz {
namespace {

using testing::billingPolicies;
using testing::kCart;
using testing::kCheckout;
using testing::kFrontWeb;
using testing::policy;
using testing::TestRequest;

TEST(NoAllocation, CounterSeesAllocations) {
  const long before = trellis::testing::allocationCount();
  void* p = ::operator new(16);  // a direct call, which the optimiser may not elide
  ::operator delete(p);
  EXPECT_EQ(trellis::testing::allocationCount() - before, 1);
}

// Every kind of field, ALLOW and DENY: the data path's common case.
constexpr std::string_view kSpec =
    "{rules: [{from: [{source: {principals: [\"trellis.local/ns/shop/*\", \"*/sa/web\"], "
    "notNamespaces: [kube-system]}}], to: [{operation: {methods: [GET, POST], paths: [/pay, "
    "\"/api/*\", \"*.json\"], notPorts: [\"1\"]}}], when: [{key: \"request.headers[x-tenant]\", "
    "notValues: [\"test-*\"]}, {key: source.namespace, values: [shop, front]}]}]}";

long allocationsOf(const std::vector<config::AuthorizationPolicy>& policies,
                   const TestRequest& test, bool& allowed, size_t& audited) {
  auto lookup = [&test](std::string_view name) { return test.header(name); };
  Request request;
  request.principal = test.principal;
  request.port = test.port;
  request.isHttp = test.http;
  request.method = test.method;
  request.path = test.path;
  request.headers = HeaderLookup(lookup);
  const long before = trellis::testing::allocationCount();
  Decision decision = evaluate(policies, request);
  const long made = trellis::testing::allocationCount() - before;
  allowed = decision.allowed;
  audited = decision.audited.size();
  return made;
}

TEST(NoAllocation, EvaluateWithoutAudit) {
  auto policies = billingPolicies(
      policy("deny", "{action: DENY, rules: [{to: [{operation: {paths: [\"/admin/*\"]}}]}]}") +
      policy("allow", kSpec) +
      policy("audit", "{action: AUDIT, rules: [{from: [{source: {namespaces: [ops]}}]}]}"));
  ASSERT_EQ(policies.size(), 3u);
  std::vector<TestRequest> requests(4);
  requests[0].principal = kCheckout;
  requests[0].path = "/api/v1/pay?x=1";
  requests[0].headers["x-tenant"] = "acme";
  requests[1].principal = kFrontWeb;
  requests[1].method = "POST";
  requests[1].path = "/admin/users";
  requests[2].principal = kCart;
  requests[2].http = false;
  requests[3].principal = "";
  const bool expected[] = {true, false, false, false};
  for (size_t i = 0; i < requests.size(); ++i) {
    bool allowed = false;
    size_t audited = 0;
    EXPECT_EQ(allocationsOf(policies, requests[i], allowed, audited), 0) << "request " << i;
    EXPECT_EQ(allowed, expected[i]) << "request " << i;
    EXPECT_EQ(audited, 0u) << "request " << i;
  }
}

TEST(NoAllocation, AMatchingAuditAllocatesItsList) {
  auto policies = billingPolicies(policy("audit", "{action: AUDIT, rules: [{}]}"));
  TestRequest request;
  request.principal = kCart;
  bool allowed = false;
  size_t audited = 0;
  EXPECT_GE(allocationsOf(policies, request, allowed, audited), 1);
  EXPECT_TRUE(allowed);
  EXPECT_EQ(audited, 1u);
}

}  // namespace
}  // namespace trellis::authz
