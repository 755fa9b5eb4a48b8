#pragma once
// One request/response exchange on a downstream HTTP/2 stream: route, pick an endpoint, open
// an upstream stream (HTTP/2 multiplexed, or HTTP/1.1 through the keep-alive pool), and move
// head, body and trailers across with flow control in both directions, translating where the
// protocols differ. gRPC requests get gRPC-shaped local replies and their grpc-timeout
// enforced as a deadline.
//
// Backpressure: request bytes the upstream has not taken are held (at most one stream window,
// since the window only reopens for bytes passed on); response bytes the downstream stream
// queue has not taken are held likewise and acknowledged upstream only as they leave.

#include <memory>
#include <span>
#include <string>
#include <string_view>

#include "common/buffer.h"
#include "common/event_loop.h"
#include "proxy/field_list.h"
#include "proxy/route_decision.h"
#include "proxy/upstream_stream.h"

namespace trellis::proxy {

class Http2Session;

class Http2Exchange final : public UpstreamStreamHandler {
 public:
  static constexpr uint8_t kMaxRefusedRetries = 3;
  Http2Exchange(Http2Session& session, int32_t streamId, std::shared_ptr<const WorkerConfig> config,
                const ListenerRuntime& listener);
  ~Http2Exchange() override;
  Http2Exchange(const Http2Exchange&) = delete;
  Http2Exchange& operator=(const Http2Exchange&) = delete;

  // From the downstream stream.
  void onRequestHeaders(std::span<const http::HeaderField> fields, bool endStream);
  void onRequestData(std::string_view data, bool endStream);
  void onRequestTrailers(std::span<const http::HeaderField> fields);
  /// The client reset the stream (or the connection is going away).
  void onDownstreamReset();
  /// The downstream stream's send queue has room again.
  void onDownstreamWritable();
  /// Response bytes wait for the client's window or queue.
  bool responseBlocked() const { return !responsePending_.empty(); }

  // From the upstream stream.
  void onUpstreamHeaders(int status, std::span<const http::HeaderField> fields,
                         bool endStream) override;
  void onUpstreamData(std::string_view data, bool endStream) override;
  void onUpstreamTrailers(std::span<const http::HeaderField> fields) override;
  void onUpstreamFailure(UpstreamFailure failure, uint32_t http2Code) override;
  void onUpstreamWritable() override;

 private:
  void startUpstream(std::span<const http::HeaderField> headers, std::string_view method,
                     std::string_view path, std::string_view query, std::string_view host,
                     bool hasBody, bool hasLength);
  /// A stream the upstream refused was never processed: open it again, once.
  bool retryRefused();
  void localReply(int status, LocalReason reason, std::string_view location = {},
                  uint32_t retryAfter = 0, int grpcStatus = -1);
  void pushRequestPending();
  void pushResponsePending();
  void noteGrpcStatus(std::span<const http::HeaderField> fields);
  void finishResponse();
  void record(int status);
  void releaseUpstream();
  void onDeadline();
  void onStreamIdle();
  void noteActivity();

  Http2Session& session_;
  int32_t id_;
  std::shared_ptr<const WorkerConfig> config_;
  const ListenerRuntime& listener_;
  RouteDecision route_;
  std::string normalizedPath_;  // route_.path when the request's was not in normal form
  RequestStats* stats_ = nullptr;
  UpstreamStream* upstream_ = nullptr;
  FieldList fields_;           // response heads and local replies
  FieldList upstreamFields_;   // the forwarded request head, kept for a refused-stream retry
  FieldList pendingTrailers_;  // response trailers waiting behind responsePending_
  FieldList pendingRequestTrailers_;
  Buffer requestPending_;
  Buffer responsePending_;
  Timer deadline_;
  Timer streamIdle_;  // re-armed lazily from lastActivityMs_
  uint64_t lastActivityMs_ = 0;
  uint64_t streamIdleMs_ = 0;
  uint64_t deadlineAtMs_ = 0;  // loop time the deadline ends; 0 = none
  std::string requestId_;
  uint64_t startMicros_ = 0;
  uint64_t requestBodyLimit_ = 0;
  uint64_t requestBodyBytes_ = 0;
  int responseStatus_ = 0;
  int grpcStatus_ = -1;  // final grpc-status seen, -1 = none
  bool grpc_ = false;
  bool routeDeadline_ = false;   // the deadline is the route's request timeout, not grpc-timeout
  bool viaRetryStream_ = false;  // retries, outlier reports and refused streams are its job
  bool headRequest_ = false;
  bool bodySent_ = false;       // request bytes reached the upstream: no transparent retry
  uint8_t refusedRetries_ = 0;  // REFUSED_STREAM: never processed, safe to send again (§8.7)
  bool inRequest_ = false;
  bool requestDone_ = false;  // the client ended its side
  bool requestPendingEnd_ = false;
  bool requestTrailersPending_ = false;
  bool responseStarted_ = false;
  bool responseDone_ = false;  // everything handed to the codec
  bool responsePendingEnd_ = false;
  bool responseTrailersPending_ = false;
};

}  // namespace trellis::proxy
