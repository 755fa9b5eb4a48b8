#pragma once
// Helpers for the authorization engine tests: policies are written in YAML and loaded through
// the configuration loader, so that the tests read like the policies users write.

#include <gtest/gtest.h>

#include <map>
#include <optional>
#include <string>
#include <string_view>
#include <utility>
#include <vector>

#include "authz/authorization.h"
#include "config/loader.h"

namespace trellis::authz::testing {

inline constexpr std::string_view kCheckout = "spiffe://trellis.local/ns/shop/sa/checkout";
inline constexpr std::string_view kCart = "spiffe://trellis.local/ns/shop/sa/cart";
inline constexpr std::string_view kFrontWeb = "spiffe://trellis.local/ns/front/sa/web";

/// Services billing and ledger in namespace shop, for the policies to target.
inline constexpr std::string_view kServices = R"(apiVersion: trellis.dev/v1alpha1
kind: Service
metadata: {name: billing, namespace: shop}
spec: {ports: [{port: 8080}]}
---
apiVersion: trellis.dev/v1alpha1
kind: Service
metadata: {name: ledger, namespace: shop}
spec: {ports: [{port: 5432}]}
---
)";

/// An AuthorizationPolicy document in namespace shop with `spec` written in flow style.
inline std::string policy(std::string_view name, std::string_view spec) {
  return "apiVersion: trellis.dev/v1alpha1\nkind: AuthorizationPolicy\nmetadata: {name: " +
         std::string(name) + ", namespace: shop}\nspec: " + std::string(spec) + "\n---\n";
}

/// Loads kServices and `documents`; returns the policies of shop/billing (none: empty).
inline std::vector<config::AuthorizationPolicy> billingPolicies(std::string_view documents) {
  config::LoadResult result =
      config::loadString(std::string(kServices) + std::string(documents), "test.yaml");
  std::string problems;
  for (const auto& error : result.errors) problems += error.toString() + "\n";
  for (const auto& warning : result.warnings) problems += warning.toString() + "\n";
  EXPECT_TRUE(result.ok() && result.warnings.empty()) << problems;
  if (!result.ok()) return {};
  auto it = result.snapshot->authorization.find("shop/billing");
  if (it == result.snapshot->authorization.end()) return {};
  return it->second;
}

/// A request as a test writes it; `request()` gives the engine's view of it.
struct TestRequest {
  std::string principal;
  uint16_t port = 8080;
  bool http = true;
  std::string method = "GET";
  std::string path = "/";
  std::map<std::string, std::string> headers;  // lower-case names

  std::optional<std::string_view> header(std::string_view name) const {
    auto it = headers.find(std::string(name));
    if (it == headers.end()) return std::nullopt;
    return std::string_view(it->second);
  }
};

/// Evaluates `policies` for `test`.
inline Decision decide(const std::vector<config::AuthorizationPolicy>& policies,
                       const TestRequest& test) {
  auto lookup = [&test](std::string_view name) { return test.header(name); };
  Request request;
  request.principal = test.principal;
  request.port = test.port;
  request.isHttp = test.http;
  request.method = test.method;
  request.path = test.path;
  request.headers = HeaderLookup(lookup);
  return evaluate(policies, request);
}

}  // namespace trellis::authz::testing
