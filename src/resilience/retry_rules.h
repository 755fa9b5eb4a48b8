#pragma once
// Which outcomes of an upstream attempt a retry policy retries, and how long to wait before the
// next attempt. Pure functions of the policy; the retrying itself is proxy/retry_stream.h.

#include <cstdint>
#include <string_view>

#include "config/model.h"

namespace trellis::resilience {

/// How an upstream attempt failed before a response head arrived.
enum class AttemptFailure : uint8_t {
  ConnectFailure,  // refused, unreachable: the request never left
  ConnectTimeout,
  Refused,  // HTTP/2 REFUSED_STREAM or above GOAWAY's last stream: never processed
  Reset,    // connection lost or stream reset: the upstream may have acted on it
  BadResponse,
  PerTryTimeout,
};

/// RFC 9110 §9.2.2: methods whose repetition has the effect of one request.
bool idempotentMethod(std::string_view method);

/// Whether a failed attempt may be retried. `replaySafe`: the request may be sent twice
/// (idempotent method, gRPC call, or RetryPolicy::retryNonIdempotent). Failures that never
/// reached the upstream (connect failures, refused streams) do not need it.
bool retriableFailure(const config::RetryPolicy& policy, AttemptFailure failure, bool replaySafe);

/// Whether a final response head may be retried: `status`, and for a trailers-only gRPC
/// response its `grpcStatus` (-1 when there is none).
bool retriableResponse(const config::RetryPolicy& policy, int status, int grpcStatus,
                       bool replaySafe);

/// Full-jitter exponential backoff before retry number `retry` (1 = the first retry): uniform in
/// [0, min(backoffMax, backoffBase × 2^(retry-1))], drawn from `random64`.
config::Duration backoffDelay(const config::RetryPolicy& policy, uint32_t retry, uint64_t random64);

}  // namespace trellis::resilience
