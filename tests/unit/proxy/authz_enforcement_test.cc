// AuthorizationPolicy enforcement in the proxy (route_decision.h): decideRoute answers denied
// requests itself with 403 rbac_denied before routing, authorize() counts the deciding policy,
// and neither allocates when a request is allowed without an AUDIT match.

#include <gtest/gtest.h>

#include <string>
#include <vector>

#include "alloc_counter.h"
#include "proxy/route_decision.h"
#include "proxy/worker.h"

namespace trellis::proxy {
namespace {

using config::AuthorizationPolicy;
using config::AuthzAction;
using config::AuthzRule;

constexpr std::string_view kCheckout = "spiffe://trellis.local/ns/shop/sa/checkout";

AuthorizationPolicy policy(std::string name, AuthzAction action, std::vector<AuthzRule> rules) {
  AuthorizationPolicy p;
  p.name = std::move(name);
  p.ns = "shop";
  p.qualifiedName = "shop/" + p.name;
  p.action = action;
  p.rules = std::move(rules);
  return p;
}

// DENY /admin/*; ALLOW checkout's GETs, or any request whose x-tenant header is "a,b";
// AUDIT /audited.
std::vector<AuthorizationPolicy> billingPolicies() {
  AuthzRule admin;
  admin.to.emplace_back().paths.prefixes = {"/admin/"};
  admin.usesHttp = true;
  AuthzRule checkout;
  checkout.from.emplace_back().principals.exact = {std::string(kCheckout)};
  checkout.to.emplace_back().methods.exact = {"GET"};
  checkout.usesHttp = true;
  AuthzRule tenant;
  config::AuthzCondition header;
  header.header = "x-tenant";
  header.values.exact = {"a,b"};
  tenant.when = {header};
  tenant.usesHttp = true;
  AuthzRule audited;
  audited.to.emplace_back().paths.exact = {"/audited"};
  audited.usesHttp = true;
  return {policy("deny-admin", AuthzAction::Deny, {admin}),
          policy("callers", AuthzAction::Allow, {checkout, tenant}),
          policy("audit", AuthzAction::Audit, {audited})};
}

class AuthzEnforcement : public ::testing::Test {
 protected:
  void SetUp() override {
    listener_.name = "shop/inbound";
    listener_.port = 15006;
    listener_.service = "shop/billing";
    runtime_.config = &listener_;
    runtime_.routes = &routes_;
    runtime_.stats = &stats_.listener(listener_.name);
    runtime_.unroutedStats = &stats_.request({listener_.name, "", ""});
    runtime_.authz.policies = policies_;
    for (const AuthorizationPolicy& p : policies_) {
      runtime_.authz.stats.push_back(&stats_.authz(listener_.name, p.qualifiedName));
    }
    runtime_.authz.noAllowMatched = &stats_.authz(listener_.name, std::string(kNoAllowMatched));
  }

  RouteDecision decide(std::string_view method, std::string_view path, std::string_view principal,
                       const std::vector<http::HeaderField>& headers = {}) {
    routing::RequestView request{method, "billing", path, "", headers};
    return decideRoute(worker_, config_, runtime_, request, "10.0.0.7", principal, pathStorage_);
  }

  uint64_t denied(const std::string& policy) {
    return stats_.authz(listener_.name, policy).denied.value();
  }

  WorkerStats stats_;
  Worker worker_{0, stats_};
  WorkerConfig config_;
  config::Listener listener_;
  config::RouteTableConfig routeConfig_;  // no route: an allowed request gets 404
  routing::RouteTable routes_{routeConfig_};
  std::vector<AuthorizationPolicy> policies_ = billingPolicies();
  ListenerRuntime runtime_;
  std::string pathStorage_;
};

TEST_F(AuthzEnforcement, DeniedRequestsGet403BeforeRouting) {
  RouteDecision d = decide("GET", "/admin/users", kCheckout);
  EXPECT_FALSE(d.forward());
  EXPECT_EQ(d.localStatus, 403);
  EXPECT_EQ(d.reason, LocalReason::RbacDenied);
  EXPECT_EQ(d.stats, runtime_.unroutedStats);
  EXPECT_EQ(denied("shop/deny-admin"), 1u);
  // No identity: no ALLOW policy matches.
  d = decide("GET", "/pay", "");
  EXPECT_EQ(d.localStatus, 403);
  EXPECT_EQ(d.reason, LocalReason::RbacDenied);
  EXPECT_EQ(denied(std::string(kNoAllowMatched)), 1u);
  d = decide("POST", "/pay", kCheckout);
  EXPECT_EQ(d.reason, LocalReason::RbacDenied);
  EXPECT_EQ(denied(std::string(kNoAllowMatched)), 2u);
  EXPECT_EQ(denied("shop/callers"), 0u);
}

// Every spelling the application reads as /admin is denied as /admin; the normal form is what
// gets routed and forwarded; a spelling that cannot be normalized is refused.
TEST_F(AuthzEnforcement, PathsAreNormalizedBeforeTheyAreAuthorized) {
  for (std::string_view path : {"//admin/users", "/./admin/users", "/x/../admin/users",
                                "/%61dmin/users", "/admin//users"}) {
    RouteDecision d = decide("GET", path, kCheckout);
    EXPECT_EQ(d.reason, LocalReason::RbacDenied) << path;
  }
  EXPECT_EQ(denied("shop/deny-admin"), 5u);
  RouteDecision d = decide("GET", "/x/../pay", kCheckout);
  EXPECT_EQ(d.reason, LocalReason::RouteNotFound);
  EXPECT_EQ(d.path, "/pay");
  d = decide("GET", "/admin%2fusers", kCheckout);
  EXPECT_EQ(d.localStatus, 400);
  EXPECT_EQ(d.reason, LocalReason::BadRequest);
  // Already normal: the request's own bytes, no copy.
  const std::string_view pay = "/pay";
  EXPECT_EQ(decide("GET", pay, kCheckout).path.data(), pay.data());
}

// A plaintext connection accepted before its listener turned STRICT has no identity: its
// requests are refused instead of slipping through.
TEST_F(AuthzEnforcement, StrictListenerRefusesRequestsWithoutIdentity) {
  listener_.mtls = config::MtlsMode::Strict;
  RouteDecision d = decide("GET", "/pay", "");
  EXPECT_EQ(d.localStatus, 403);
  EXPECT_EQ(d.reason, LocalReason::MtlsRequired);
  EXPECT_EQ(decide("GET", "/pay", kCheckout).reason, LocalReason::RouteNotFound);
}

TEST_F(AuthzEnforcement, AllowedRequestsAreRouted) {
  RouteDecision d = decide("GET", "/pay", kCheckout);
  EXPECT_EQ(d.localStatus, 404);
  EXPECT_EQ(d.reason, LocalReason::RouteNotFound);
  EXPECT_EQ(denied("shop/deny-admin") + denied(std::string(kNoAllowMatched)), 0u);
}

TEST_F(AuthzEnforcement, HeaderSentSeveralTimesIsJoined) {
  std::vector<http::HeaderField> headers = {{"x-tenant", "a"}, {"x-other", "z"}, {"x-tenant", "b"}};
  EXPECT_EQ(decide("PUT", "/x", "", headers).reason, LocalReason::RouteNotFound);
  headers.pop_back();
  EXPECT_EQ(decide("PUT", "/x", "", headers).reason, LocalReason::RbacDenied);
}

TEST_F(AuthzEnforcement, AuditMatchesAreCounted) {
  EXPECT_EQ(decide("GET", "/audited", kCheckout).reason, LocalReason::RouteNotFound);
  EXPECT_EQ(stats_.authz(listener_.name, "shop/audit").audited.value(), 1u);
}

TEST_F(AuthzEnforcement, ListenerWithoutPoliciesAllowsEverything) {
  runtime_.authz = ListenerAuthz{};
  EXPECT_EQ(decide("DELETE", "/admin/x", "").reason, LocalReason::RouteNotFound);
}

TEST_F(AuthzEnforcement, TcpConnectionsSeePrincipalAndPortOnly) {
  authz::Request request;
  request.port = listener_.port;
  request.principal = kCheckout;
  // deny-admin's rule has only HTTP fields: on TCP a DENY rule is kept without them (Istio),
  // so it matches every connection.
  EXPECT_FALSE(authorize(runtime_, request, "10.0.0.7"));
  EXPECT_EQ(denied("shop/deny-admin"), 1u);
  // Without it, callers' rules (all with HTTP fields) cannot hold on TCP: nothing is allowed.
  runtime_.authz.policies = std::span(policies_).subspan(1);
  runtime_.authz.stats.erase(runtime_.authz.stats.begin());
  EXPECT_FALSE(authorize(runtime_, request, "10.0.0.7"));
  EXPECT_EQ(denied(std::string(kNoAllowMatched)), 1u);
}

TEST_F(AuthzEnforcement, AllowPathDoesNotAllocate) {
  const std::vector<http::HeaderField> headers = {{"x-tenant", "a,b"}, {"accept", "*/*"}};
  // Warm up (first-use statics).
  (void)decide("GET", "/pay", kCheckout, headers);
  const long before = trellis::testing::allocationCount();
  RouteDecision first = decide("GET", "/pay", kCheckout, headers);
  RouteDecision second = decide("POST", "/tenant", "", headers);  // by the x-tenant rule
  const long made = trellis::testing::allocationCount() - before;
  EXPECT_EQ(first.reason, LocalReason::RouteNotFound);
  EXPECT_EQ(second.reason, LocalReason::RouteNotFound);
  EXPECT_EQ(made, 0);
  // The counter sees allocations: a denial logs, which allocates.
  const long beforeDenial = trellis::testing::allocationCount();
  EXPECT_EQ(decide("GET", "/admin/x", kCheckout).reason, LocalReason::RbacDenied);
  EXPECT_GT(trellis::testing::allocationCount() - beforeDenial, 0);
}

}  // namespace
}  // namespace trellis::proxy
