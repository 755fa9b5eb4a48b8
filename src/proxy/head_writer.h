#pragma once
// Serialises the heads the proxy sends — the request it forwards upstream and the response it
// forwards downstream — as HTTP/1.1 text or HTTP/2 field lists, from either protocol. Hop-by-hop
// fields (RFC 9110 §7.6.1) are dropped, route header modifiers applied and the forwarding headers
// added, writing straight into the connection's output buffer without intermediate strings.

#include <span>
#include <string_view>

#include "common/buffer.h"
#include "config/model.h"
#include "http/http1_parser.h"
#include "proxy/field_list.h"

namespace trellis::proxy {

struct ForwardedRequest {
  std::string_view path;       // after URLRewrite
  std::string_view query;      // without '?'
  std::string_view host;       // Host to send (rewritten or original)
  std::string_view clientIp;   // appended to x-forwarded-for
  std::string_view requestId;  // x-request-id to send (original or generated)
  bool upgrade = false;        // keep Connection: upgrade + Upgrade
  bool chunked = false;        // request body is chunked
  const std::string_view* upgradeProtocol = nullptr;  // set internally from the request
  std::string_view grpcTimeout = {};  // non-empty: replaces the request's grpc-timeout (deadline)
  /// x-forwarded-client-cert to send ("By=<own id>;URI=<client id>"), empty for none. The
  /// client's own x-forwarded-client-cert is always dropped: nobody may forge an identity.
  std::string_view clientCert = {};
};

/// Writes "METHOD path HTTP/1.1" and the forwarded header section to `out`.
void writeUpstreamRequestHead(Buffer& out, const http::RequestHead& request,
                              const config::HeaderModifier* modifier,
                              const ForwardedRequest& forwarded);

/// The same from an HTTP/2 request (`headers` without pseudo-headers): HTTP/2 → HTTP/1.1.
void writeUpstreamRequestHead(Buffer& out, std::string_view method,
                              std::span<const http::HeaderField> headers,
                              const config::HeaderModifier* modifier,
                              const ForwardedRequest& forwarded);

/// The forwarded request as HTTP/2 fields, pseudo-headers first. `http1Head` is the source
/// message when it is HTTP/1 (its Connection options are dropped too), else null.
void buildUpstreamRequestFields(FieldList& out, std::string_view method,
                                std::span<const http::HeaderField> headers,
                                const http::MessageHead* http1Head,
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

/// The same from an HTTP/2 response (`headers` without pseudo-headers): HTTP/2 → HTTP/1.1.
void writeDownstreamResponseHead(Buffer& out, int status,
                                 std::span<const http::HeaderField> headers,
                                 const config::HeaderModifier* modifier,
                                 const ForwardedResponse& forwarded);

/// The forwarded response as HTTP/2 fields (`:status` first); `http1Head` as above.
void buildDownstreamResponseFields(FieldList& out, int status,
                                   std::span<const http::HeaderField> headers,
                                   const http::MessageHead* http1Head,
                                   const config::HeaderModifier* modifier);

/// True for a connection-specific field that a proxy must not forward (RFC 9110 §7.6.1):
/// the fixed list plus any field named in the message's Connection header.
bool isHopByHop(std::string_view lowerName, const http::MessageHead& head);

/// A random version 4 UUID in its canonical text form, from two 64-bit random values.
void formatUuid(uint64_t high, uint64_t low, char out[36]);

}  // namespace trellis::proxy
