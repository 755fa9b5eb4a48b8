#pragma once
// Value parsers shared by the policy kinds (BackendPolicy, RoutePolicy, AuthorizationPolicy,
// PeerAuthentication), the Listener's connection rate limit and the HTTPRoute `retry` field;
// internal to the loader. Defined in policy_kinds.cc unless said otherwise.

#include <optional>
#include <string>

#include "config/resources.h"

namespace trellis::config {

/// The shapes a token bucket is written in.
enum class RateLimitForm {
  Requests,    // {requests, per, burst, by}: BackendPolicy and RoutePolicy rateLimit
  Connections  // {connections, per, burst}: Listener connectionRateLimit
};

/// A rate limit object into a token bucket (`per` defaults to 1s, `burst` to the rate).
std::optional<LocalRateLimit> parseRateLimit(Scope& scope, const Value& value, RateLimitForm form);

/// A gRPC status written as its name in the gRPC specification ("UNAVAILABLE") or as its number;
/// OK (0) is rejected, as it is never a failure.
std::optional<uint8_t> parseGrpcStatus(Scope& scope, const Value& value);

/// A targetRef's `group` when it names a Service: "" (the Kubernetes core group) or trellis.dev
/// (our own Service kind); an error otherwise.
std::optional<std::string> parseServiceGroup(Scope& scope, const Value& group);

/// GEP-713 targetRefs naming Services of the policy's own namespace (AuthorizationPolicy,
/// PeerAuthentication): 1 to 16 `{group, kind: Service, name}`, without duplicates. Returns
/// false when the field is absent: the policy then applies to every Service of its namespace.
/// Defined in authz_kind.cc.
bool parseServiceTargetRefs(Scope& scope, const Value& value, std::vector<PolicyTargetRef>& out);

/// A list of HTTP status codes from `min` to 599, without duplicates, at most `maxItems`.
std::vector<uint16_t> parseStatusCodes(Scope& scope, const Value& value, int64_t min,
                                       size_t maxItems);

}  // namespace trellis::config
