#pragma once
// Serialises the HTTP/1.1 heads the proxy sends: the request it forwards upstream and the
// response it forwards downstream. Hop-by-hop fields (RFC 9110 §7.6.1) are dropped, route
// header modifiers applied and the forwarding headers added, writing straight into the
// connection's output buffer without intermediate strings.

#include <string_view>

#include "common/buffer.h"
#include "config/model.h"
#include "http/http1_parser.h"

namespace trellis::proxy {

struct ForwardedRequest {
  std::string_view path;       // after URLRewrite
  std::string_view query;      // without '?'
  std::string_view host;       // Host to send (rewritten or original)
  std::string_view clientIp;   // appended to x-forwarded-for
  std::string_view requestId;  // x-request-id to send (original or generated)
  bool upgrade = false;        // keep Connection: upgrade + Upgrade
  bool chunked = false;        // request body is chunked
};

/// Writes "METHOD path HTTP/1.1" and the forwarded header section to `out`.
void writeUpstreamRequestHead(Buffer& out, const http::RequestHead& request,
                              const config::HeaderModifier* modifier,
                              const ForwardedRequest& forwarded);

struct ForwardedResponse {
  bool chunked = false;   // body is sent chunked (passed through)
  bool keepAlive = true;  // downstream connection stays open after this response
  bool clientIsHttp10 = false;
  bool upgrade = false;  // 101: keep Connection: upgrade + Upgrade
};

/// Writes the status line and header section forwarded to the client.
void writeDownstreamResponseHead(Buffer& out, const http::ResponseHead& response,
                                 const config::HeaderModifier* modifier,
                                 const ForwardedResponse& forwarded);

/// True for a connection-specific field that a proxy must not forward (RFC 9110 §7.6.1):
/// the fixed list plus any field named in the message's Connection header.
bool isHopByHop(std::string_view lowerName, const http::MessageHead& head);

/// A random version 4 UUID in its canonical text form, from two 64-bit random values.
void formatUuid(uint64_t high, uint64_t low, char out[36]);

}  // namespace trellis::proxy
