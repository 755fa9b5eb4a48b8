#include "resilience/retry_rules.h"

#include <algorithm>

namespace trellis::resilience {

bool idempotentMethod(std::string_view method) {
  return method == "GET" || method == "HEAD" || method == "OPTIONS" || method == "TRACE" ||
         method == "PUT" || method == "DELETE";
}

bool retriableFailure(const config::RetryPolicy& policy, AttemptFailure failure, bool replaySafe) {
  // As in Envoy, "5xx" and "gateway-error" cover failures that would have become a 502/503/504.
  const uint32_t gateway = config::kRetry5xx | config::kRetryGatewayError;
  const uint32_t on = policy.retryOn;
  switch (failure) {
    case AttemptFailure::ConnectFailure:
    case AttemptFailure::ConnectTimeout:
      return (on & (config::kRetryConnectFailure | gateway)) != 0;
    case AttemptFailure::Refused:
      return (on & (config::kRetryRefusedStream | config::kRetryReset | gateway)) != 0;
    case AttemptFailure::Reset:
    case AttemptFailure::BadResponse:
      return replaySafe && (on & (config::kRetryReset | gateway)) != 0;
    case AttemptFailure::PerTryTimeout:
      return replaySafe && (on & (config::kRetryPerTryTimeout | gateway)) != 0;
  }
  return false;
}

bool retriableResponse(const config::RetryPolicy& policy, int status, int grpcStatus,
                       bool replaySafe) {
  if (!replaySafe) return false;
  const uint32_t on = policy.retryOn;
  if (grpcStatus >= 0 && grpcStatus < 32 &&
      (policy.retriableGrpcStatuses & (1u << grpcStatus)) != 0) {
    return true;
  }
  if (std::find(policy.retriableStatusCodes.begin(), policy.retriableStatusCodes.end(), status) !=
      policy.retriableStatusCodes.end()) {
    return true;
  }
  if (status >= 500 && status < 600 && (on & config::kRetry5xx) != 0) return true;
  if ((status == 502 || status == 503 || status == 504) && (on & config::kRetryGatewayError) != 0) {
    return true;
  }
  return status == 409 && (on & config::kRetryRetriable4xx) != 0;
}

config::Duration backoffDelay(const config::RetryPolicy& policy, uint32_t retry,
                              uint64_t random64) {
  const uint64_t base = static_cast<uint64_t>(std::max<int64_t>(policy.backoffBase.count(), 0));
  const uint64_t cap = static_cast<uint64_t>(std::max<int64_t>(policy.backoffMax.count(), 0));
  const uint32_t doublings = std::min<uint32_t>(retry > 0 ? retry - 1 : 0, 30);
  const uint64_t ceiling = std::min(cap, base << doublings);
  return config::Duration(ceiling == 0 ? 0 : static_cast<int64_t>(random64 % (ceiling + 1)));
}

}  // namespace trellis::resilience
