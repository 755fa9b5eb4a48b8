#pragma once
// The resilience policies (circuit breakers, outlier detection, health checks, retry budgets,
// rate limits, timeouts, retries, fault injection) in xDS, both ways: encode_*_policy.cc and
// decode_*_policy.cc, called from the cluster, route and listener halves of the codec. The
// mapping, and why some settings travel as Trellis metadata, is in docs/mesh.md ("Resilience
// policies over xDS").

#include <algorithm>
#include <optional>
#include <string>
#include <string_view>

#include "config/model.h"
#include "envoy/config/cluster/v3/cluster.pb.h"
#include "envoy/config/route/v3/route_components.pb.h"
#include "xds/codec/path_forms.h"
#include "xds/codec/problems.h"
#include "xds/codec/trellis_metadata.h"

namespace trellis::xds::detail {

/// HTTP filter names: the keys of Route.typed_per_filter_config, and the HttpConnectionManager
/// filters that read them (Envoy applies a per-route config only when its filter is in the chain).
inline constexpr std::string_view kFaultFilter = "envoy.filters.http.fault";
inline constexpr std::string_view kLocalRateLimitFilter = "envoy.filters.http.local_ratelimit";
/// stat_prefix of the listener-level local_ratelimit filter (it has no bucket of its own).
inline constexpr std::string_view kLocalRateLimitStatPrefix = "http_local_rate_limiter";

// ---------------------------------------------------------------------------------------------
// Token buckets in Trellis metadata (cluster and connection limits, keyed route limits):
// {maxTokens, tokensPerFill, fillIntervalMs, header | sourceIP}.

void setRateLimit(Struct& metadata, std::string_view key, const config::LocalRateLimit& limit);
/// Reads `key` when present; false after an error.
bool readRateLimit(FieldsReader& settings, std::string_view key,
                   std::optional<config::LocalRateLimit>& out);

// ---------------------------------------------------------------------------------------------
// Clusters

/// circuit_breakers, outlier_detection, health_checks, common_lb_config; the retry budget and
/// the rate limit into `metadata`.
void encodeClusterPolicy(const config::Cluster& cluster, envoy::config::cluster::v3::Cluster& out,
                         Struct& metadata);
/// The standard fields encodeClusterPolicy writes. Absent fields take Envoy's defaults.
bool decodeClusterPolicy(const envoy::config::cluster::v3::Cluster& in, Problems& problems,
                         config::Cluster& out);
/// The metadata half: "retryBudget" and "rateLimit".
bool decodeClusterPolicySettings(FieldsReader& settings, config::Cluster& out);

// ---------------------------------------------------------------------------------------------
// Routes

/// Timeouts and retries into `action` (timeout, idle_timeout, retry_policy) and `metadata`.
/// `forwarding`: `action` is the route's own; otherwise it is a scratch action for a redirect or
/// direct response, whose request timeout is left out when it is 0.
void encodeRouteTimeouts(const config::RouteRule& rule, RouteDialect dialect, bool forwarding,
                         envoy::config::route::v3::RouteAction& action, Struct& metadata);
/// Fault injection and the route's rate limit: typed_per_filter_config, or metadata for keyed
/// buckets.
void encodeRouteFilters(const config::RouteRule& rule, RouteDialect dialect,
                        envoy::config::route::v3::Route& route, Struct& metadata);
/// The settings of a non-forwarding route's scratch RouteAction as metadata "routeAction" (its
/// protobuf JSON form), unless it is empty.
void attachRouteAction(const envoy::config::route::v3::RouteAction& action, Struct& metadata);

/// Reads what encodeRouteTimeouts wrote. `action` is the route's own, or the one read by
/// routeActionSettings; `path` names it in errors.
bool decodeRouteTimeouts(const envoy::config::route::v3::RouteAction& action,
                         FieldsReader& settings, const std::string& path, config::RouteRule& out);
/// Metadata "routeAction" of a redirect or direct response (empty when absent); `path` receives
/// the field path for errors. False after an error.
bool routeActionSettings(FieldsReader& settings, envoy::config::route::v3::RouteAction& out,
                         std::string& path);
/// typed_per_filter_config and the keyed-limit metadata.
bool decodeRouteFilters(const envoy::config::route::v3::Route& route, FieldsReader& settings,
                        const std::string& path, config::RouteRule& out);

// ---------------------------------------------------------------------------------------------
// Shared between the route halves

/// retry_on tokens with a RetryOn flag. "per-try-timeout" is not one: Envoy retries attempts that
/// ran out of per_try_timeout under 5xx, gateway-error and reset, so the flag travels in metadata.
struct RetryToken {
  std::string_view name;
  uint32_t flag;
};
inline constexpr RetryToken kRetryTokens[] = {{"connect-failure", config::kRetryConnectFailure},
                                              {"reset", config::kRetryReset},
                                              {"5xx", config::kRetry5xx},
                                              {"gateway-error", config::kRetryGatewayError},
                                              {"retriable-4xx", config::kRetryRetriable4xx},
                                              {"refused-stream", config::kRetryRefusedStream}};
inline constexpr std::string_view kRetriableStatusCodesToken = "retriable-status-codes";
/// The gRPC statuses Envoy (and gRPC clients) have retry_on tokens for; others travel in metadata.
struct GrpcRetryToken {
  std::string_view name;
  int code;
};
inline constexpr GrpcRetryToken kGrpcRetryTokens[] = {{"cancelled", 1},
                                                      {"deadline-exceeded", 4},
                                                      {"resource-exhausted", 8},
                                                      {"internal", 13},
                                                      {"unavailable", 14}};
inline constexpr int kMaxGrpcStatus = 16;

/// The one per-try timeout Envoy has (retry_policy.per_try_timeout) for the model's two: each
/// attempt ends at the earlier of them (0 = none).
inline config::Duration effectivePerTryTimeout(config::Duration route, config::Duration retry) {
  if (route.count() == 0) return retry;
  if (retry.count() == 0) return route;
  return std::min(route, retry);
}

void encodeHeaderMatch(const config::ValueMatch& match, RouteDialect dialect,
                       envoy::config::route::v3::HeaderMatcher& out);

}  // namespace trellis::xds::detail
