#pragma once
// One HTTP/2 stream of trellis-echo: the request as it arrives, then the response its knobs ask
// for. A plain request gets what HTTP/1 gives (JSON echo, body=N, status, delay, header,
// trailer, reset, close, garbage: see README.md); a gRPC request (content-type
// application/grpc*) gets its messages echoed back as they arrive, then `grpc-status`.

#include <chrono>
#include <cstdint>
#include <span>
#include <string>
#include <string_view>

#include "apps/echo/echo_http2_fields.h"
#include "apps/echo/echo_knobs.h"
#include "apps/echo/echo_response.h"
#include "http/http1_parser.h"
#include "http/http2/http2_connection.h"

namespace trellis::echo {

/// What a stream needs from the connection that carries it.
class EchoHttp2Context {
 public:
  virtual http2::Http2Connection& codec() = 0;
  virtual const EchoIdentity& identity() const = 0;
  /// Arranges for the stream's onTimer after `delay`; returns the token that names the timer.
  virtual uint64_t scheduleTimer(std::chrono::milliseconds delay) = 0;
  /// The close knob (garbage=false) or the garbage knob: the whole connection ends.
  virtual void closeConnection(bool garbage) = 0;

 protected:
  ~EchoHttp2Context() = default;
};

class EchoHttp2Stream {
 public:
  /// A new request head. Objects are recycled: begin() resets everything but buffer capacity.
  void begin(int32_t id, std::span<const http2::HeaderField> fields, bool endStream,
             EchoHttp2Context& ctx);
  void onData(std::string_view data, bool endStream, EchoHttp2Context& ctx);
  void onTrailers(EchoHttp2Context& ctx) { requestEnded(ctx); }
  /// The codec's send queue for this stream has room again.
  void onWritable(EchoHttp2Context& ctx);
  void onTimer(EchoHttp2Context& ctx);

  int32_t id() const { return id_; }
  uint64_t timerToken() const { return timerToken_; }
  bool requestComplete() const { return requestDone_; }

 private:
  enum class Mode : uint8_t {
    Echo,        // the JSON echo, or body=N
    Health,      // /healthz: 200 "ok"
    BadKnob,     // 400 with the knob error
    Grpc,        // echo the request's bytes, then grpc-status (OK or the knob's)
    GrpcReject,  // trailers-only with the knob's non-OK grpc-status, request body discarded
  };

  void requestEnded(EchoHttp2Context& ctx);
  /// The delay knob has elapsed (or was zero): the response may start.
  void respond(EchoHttp2Context& ctx);
  bool applyConnectionKnobs(EchoHttp2Context& ctx);
  void sendEcho(EchoHttp2Context& ctx);
  void sendText(int status, std::string_view text, EchoHttp2Context& ctx);
  void sendHead(EchoHttp2Context& ctx);
  void pumpBody(EchoHttp2Context& ctx);
  void startGrpc(EchoHttp2Context& ctx);
  void pumpGrpc(EchoHttp2Context& ctx);
  void sendGrpcTrailers(EchoHttp2Context& ctx);
  void sendGrpcTrailersOnly(EchoHttp2Context& ctx);
  http::grpc::Status grpcStatus() const;
  std::string_view grpcMessage() const;
  bool isGrpc() const { return mode_ == Mode::Grpc || mode_ == Mode::GrpcReject; }

  int32_t id_ = 0;
  Mode mode_ = Mode::Echo;
  bool headMethod_ = false;
  bool requestDone_ = false;  // END_STREAM (or trailers) received
  bool delayDone_ = false;    // the delay knob has elapsed
  bool responding_ = false;   // the response head is submitted
  bool finished_ = false;     // the whole response is submitted
  bool trailersPending_ = false;
  uint64_t timerToken_ = 0;
  uint64_t bodyBytes_ = 0;  // request body bytes received

  http::RequestHead head_;  // views valid only inside begin()
  EchoKnobs knobs_;
  Http2Fields fields_;
  std::string body_;         // the JSON echo or text reply being sent
  size_t bodySent_ = 0;      // of body_
  uint64_t fillerLeft_ = 0;  // body=N bytes still to submit
  std::string grpcPending_;  // gRPC bytes received but not yet taken by the codec (unconsumed)
};

}  // namespace trellis::echo
