#pragma once
// Responses the proxy makes up itself (404, 503, redirects, …). Each carries a short,
// machine-readable reason in `x-trellis-reason` and in its body, so a client-side error is never
// a mystery; the same reason labels the local-reply counter.

#include <cstdint>
#include <string_view>

#include "common/buffer.h"

namespace trellis::proxy {

/// Appends a complete HTTP/1.1 response (head and a short text body) to `out`.
/// `retryAfter` > 0 adds `retry-after` (seconds), as 429 replies of rate limits do.
void writeLocalReply(Buffer& out, int status, std::string_view reason, std::string_view requestId,
                     std::string_view location, bool keepAlive, uint32_t retryAfter = 0);

}  // namespace trellis::proxy
