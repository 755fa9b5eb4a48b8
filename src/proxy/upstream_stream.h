#pragma once
// One request on its way to an upstream, whatever the upstream speaks. An exchange (a
// downstream HTTP/2 stream, or an HTTP/1 request bound for an HTTP/2 backend) talks to an
// UpstreamStream and hears back through UpstreamStreamHandler, so that protocol translation
// is a matter of which pair is plugged together (docs/http2.md, "Layers").
//
// Rules that keep the pair re-entrancy safe: an UpstreamStream never calls its handler from
// inside one of its own methods; handler callbacks come from the upstream's own events. The
// handler calls release() exactly once, after which the stream pointer is dead.

#include <cstddef>
#include <cstdint>
#include <span>
#include <string_view>

#include "http/header_field.h"
#include "proxy/proxy_stats.h"

namespace trellis::proxy {

enum class UpstreamFailure : uint8_t {
  ConnectFailure,  // refused, unreachable
  ConnectTimeout,
  Reset,          // connection lost, or RST_STREAM from the upstream
  Refused,        // never processed (REFUSED_STREAM, or above a GOAWAY's last stream id)
  BadResponse,    // unparsable or protocol-violating response
  PerTryTimeout,  // the attempt ran out of the route's per-try timeout
  Overflow,       // a circuit-breaker limit refused the attempt
  NoEndpoint,     // a retry found no usable endpoint
  TlsFailure,     // the mutual TLS handshake with a mesh endpoint failed (or could not start)
};

/// The reply a client gets when its exchange failed before any response byte.
struct FailureReply {
  int status;
  LocalReason reason;
};
constexpr FailureReply failureReply(UpstreamFailure failure) {
  switch (failure) {
    case UpstreamFailure::ConnectFailure:
      return {503, LocalReason::UpstreamConnectFailure};
    case UpstreamFailure::ConnectTimeout:
      return {503, LocalReason::UpstreamConnectTimeout};
    case UpstreamFailure::Refused:
    case UpstreamFailure::Reset:
      return {502, LocalReason::UpstreamReset};
    case UpstreamFailure::BadResponse:
      return {502, LocalReason::UpstreamBadResponse};
    case UpstreamFailure::PerTryTimeout:
      return {504, LocalReason::UpstreamPerTryTimeout};
    case UpstreamFailure::Overflow:
      return {503, LocalReason::UpstreamOverflow};
    case UpstreamFailure::NoEndpoint:
      return {503, LocalReason::NoHealthyEndpoint};
    case UpstreamFailure::TlsFailure:
      return {503, LocalReason::UpstreamTlsFailure};
  }
  return {502, LocalReason::UpstreamReset};
}

class UpstreamStreamHandler {
 public:
  virtual ~UpstreamStreamHandler() = default;
  /// The response head: `status` and the header fields (no pseudo-headers, no
  /// connection-specific fields). 1xx heads may come first.
  virtual void onUpstreamHeaders(int status, std::span<const http::HeaderField> fields,
                                 bool endStream) = 0;
  /// Response body bytes: the handler must take all of them (copy what it cannot pass on) and
  /// call consumed() as they leave, which is what paces the upstream.
  virtual void onUpstreamData(std::string_view data, bool endStream) = 0;
  /// Response trailers; they end the response.
  virtual void onUpstreamTrailers(std::span<const http::HeaderField> fields) = 0;
  /// The exchange failed; `http2Code` is the RST_STREAM code when there was one, else 0.
  virtual void onUpstreamFailure(UpstreamFailure failure, uint32_t http2Code) = 0;
  /// sendData() refused bytes earlier; there is room again.
  virtual void onUpstreamWritable() = 0;
};

class UpstreamStream {
 public:
  /// Request body bytes; returns how many were accepted (backpressure: wait for
  /// onUpstreamWritable). endStream counts only when everything was accepted.
  virtual size_t sendData(std::string_view data, bool endStream) = 0;
  /// Request trailers; they end the request.
  virtual void sendTrailers(std::span<const http::HeaderField> fields) = 0;
  /// `n` response body bytes left the handler: the upstream may send more.
  virtual void consumed(size_t n) = 0;
  /// The handler is done with the stream: unfinished streams are reset (HTTP/2) or their
  /// connection closed (HTTP/1); a finished HTTP/1 connection goes back to its pool.
  virtual void release() = 0;

 protected:
  ~UpstreamStream() = default;
};

}  // namespace trellis::proxy
