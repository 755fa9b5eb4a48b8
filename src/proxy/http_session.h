#pragma once
// One downstream HTTP/1.x connection and the exchanges it carries, one at a time (pipelined
// requests wait in the input buffer and are answered in order).
//
// Per exchange: parse the request head → route → pick a backend and an endpoint → take a pooled
// upstream connection or connect → stream the request body → parse the response head → stream
// the response body → return the upstream connection to the pool. Bodies are never buffered
// whole: each direction holds at most `bufferBytes` before it stops reading the other side.

#include <memory>
#include <string>

#include "common/connection.h"
#include "common/socket.h"
#include "http/http1_parser.h"
#include "proxy/field_list.h"
#include "proxy/proxy_stats.h"
#include "proxy/route_decision.h"
#include "proxy/upstream_stream.h"
#include "proxy/worker.h"

namespace trellis::proxy {

class HttpSession final : public Session, public ConnectionOwner, public UpstreamStreamHandler {
 public:
  /// `down` may already hold client bytes (read while detecting the protocol).
  HttpSession(Worker& worker, std::unique_ptr<Connection> down, const SocketAddress& peer,
              size_t listenerIndex);
  ~HttpSession() override;

  void begin() override;
  void drain() override;
  void onConnectionEvent(Connection& connection, uint32_t events) override;

  // An HTTP/2 upstream (http_session_h2_upstream.cc): the HTTP/1 request is translated.
  void onUpstreamHeaders(int status, std::span<const http::HeaderField> fields,
                         bool endStream) override;
  void onUpstreamData(std::string_view data, bool endStream) override;
  void onUpstreamTrailers(std::span<const http::HeaderField> fields) override;
  void onUpstreamFailure(UpstreamFailure failure, uint32_t http2Code) override;
  void onUpstreamWritable() override;

 private:
  enum class State : uint8_t { ReadingHead, Proxying, Tunnel, Closing };
  enum class TimerPurpose : uint8_t { Idle, Header, Linger, TunnelIdle, RequestTimeout };

  // Downstream side.
  void onDownstreamEvent(uint32_t events);
  void readDownstream();
  void processDownstream();
  bool startRequest();
  /// The client sent the HTTP/2 preface: an Http2Session takes the connection over.
  void switchToHttp2();
  bool refreshConfig();
  /// The request goes through an UpstreamStream: the cluster speaks HTTP/2, or the route
  /// retries (RetryStream); the HTTP/1 request is translated to fields or re-framed.
  bool startStreamUpstream(const RuleRuntime& runtime, std::string_view path,
                           std::string_view host);
  /// Arms the route's request timeout and the stream idle timeout for the exchange starting.
  void armExchangeTimers();
  void onStreamIdle();
  void noteActivity() { lastActivityMs_ = worker_.loop().nowMs(); }
  /// Decodes the request body (de-chunking) into HTTP/2 DATA as fast as the stream takes it.
  void pushHttp2RequestBody();
  /// Acknowledges response bytes to the HTTP/2 upstream once the client took them.
  void ackHttp2Response();
  void startMirror(const RuleRuntime& runtime);
  void teeMirror(std::string_view bytes);
  void launchMirrors();
  // Upstream side.
  void onUpstreamEvent(uint32_t events);
  bool connectUpstream();
  void readUpstream();
  void processUpstream();
  void onUpstreamClosed(bool error);
  bool forwardRequestBody();
  bool forwardResponseBody(std::string_view head);
  void finishExchange();
  void releaseUpstream(bool reusable);
  // Replies made by the proxy itself.
  void localReply(int status, LocalReason reason, std::string_view reasonName, bool closeAfter,
                  std::string_view location = {}, uint32_t retryAfter = 0);
  void beginRequest();
  void resumePipelined();
  void recordResponse(int status);
  // Lifecycle.
  void armTimer(TimerPurpose purpose, uint64_t ms);
  void onTimer();
  void closeAfterFlush();
  /// Closes now, or after pending output reached the client.
  void closeWhenFlushed();
  void close();
  void resetExchange();
  void tunnelForward(Connection& from, Connection& to);

  Worker& worker_;
  std::shared_ptr<const WorkerConfig> config_;
  const ListenerRuntime* listener_;
  std::string listenerName_;
  std::string peerIp_;
  std::string clientCert_;  // x-forwarded-client-cert for mutual TLS clients, else empty
  std::unique_ptr<Connection> down_;
  std::unique_ptr<Connection> up_;
  State state_ = State::ReadingHead;
  Timer timer_;
  TimerPurpose timerPurpose_ = TimerPurpose::Idle;
  Timer connectTimer_;
  Timer streamIdle_;  // fires at most once per idle period; re-armed lazily from lastActivityMs_
  uint64_t lastActivityMs_ = 0;
  uint64_t streamIdleMs_ = 0;
  bool draining_ = false;
  size_t headScanned_ = 0;    // bytes of the pending head already known not to complete it
  bool firstRequest_ = true;  // only a connection's first bytes may be the HTTP/2 preface

  // Current exchange.
  http::RequestHead request_;
  http::ResponseHead response_;
  std::shared_ptr<const WorkerConfig> exchangeConfig_;  // the snapshot this request started on
  RouteDecision route_;         // rule, cluster and endpoint; endpoint >= 0 while counted as active
  std::string normalizedPath_;  // route_.path when the request's was not in normal form
  RequestStats* requestStats_ = nullptr;
  Buffer upstreamHead_;    // serialised request head, kept until the response starts (replay)
  Buffer downstreamHead_;  // response head being assembled
  std::string method_;     // copy: request_ views die once the head is consumed
  std::string requestId_;
  const RuleRuntime* mirrorRuntime_ = nullptr;  // set while a mirror copy is being built
  std::string mirrorCopy_;
  uint64_t startMicros_ = 0;
  uint64_t requestBodyLimit_ = 0;
  uint64_t requestBodyBytes_ = 0;
  uint64_t requestRemaining_ = 0;
  uint64_t responseRemaining_ = 0;
  http::BodyFraming requestFraming_ = http::BodyFraming::None;
  http::BodyFraming responseFraming_ = http::BodyFraming::None;
  http::ChunkedFramer requestChunks_;
  http::ChunkedFramer responseChunks_;
  int responseStatus_ = 0;
  bool requestDone_ = false;
  bool requestBodyStarted_ = false;
  bool responseHeadDone_ = false;
  bool responseStarted_ = false;  // bytes of a response reached the client
  bool responseKeepAlive_ = false;
  bool decodeResponseChunks_ = false;
  bool clientKeepAlive_ = true;
  bool clientIsHttp10_ = false;
  bool upgradeRequested_ = false;
  bool upstreamReused_ = false;
  bool replayed_ = false;
  bool downEof_ = false;
  bool inRequest_ = false;
  bool upEof_ = false;
  // UpstreamStream leg (cluster appProtocol h2c/grpc, or a RetryStream).
  bool viaRetryStream_ = false;
  UpstreamStream* h2up_ = nullptr;
  FieldList h2Fields_;
  Buffer h2RequestPending_;  // decoded body bytes the stream has not taken yet
  bool h2RequestEnded_ = false;
  bool h2BodySent_ = false;  // body bytes reached the stream: a refused stream is not retried
  uint8_t h2Retries_ = 0;
  std::string h2RequestTrailers_;  // a chunked request's trailer section, sent as HTTP/2 trailers
  std::vector<http::HeaderField> h2TrailerFields_;
  bool h2ResponseChunked_ = false;
  bool h2HeadPending_ = false;    // response head waits in downstreamHead_ for the first body bytes
  size_t h2ResponseUnacked_ = 0;  // response bytes written to the client, not yet acknowledged
};

}  // namespace trellis::proxy
