#pragma once
// Where a request is retried: one logical upstream stream made of one or more attempts, for
// routes with a retry policy, a per-try timeout or an injected delay. The exchange talks to it
// as to any UpstreamStream; behind it each attempt is a real HTTP/1 or HTTP/2 upstream stream.
//
// It keeps a copy of the request body (at most the listener's bufferBytes: the replay buffer)
// so that a failed attempt can be sent again in full, and holds back a retriable response head
// (a 503, a trailers-only UNAVAILABLE) until it decides. A retry goes to another endpoint where
// there is one, after a full-jitter exponential backoff, within the cluster's retry budget and
// maxRetries. Once a response head has gone to the exchange, or the body outgrew the replay
// buffer, the attempt in flight is the last one.
//
// It is also where a request waits for a connection when its cluster is at maxConnections
// (proxy/connection_gate.h).

#include <cstdint>
#include <span>
#include <string>
#include <utility>
#include <vector>

#include "common/event_loop.h"
#include "proxy/field_list.h"
#include "proxy/route_decision.h"
#include "proxy/upstream_stream.h"
#include "resilience/retry_rules.h"
#include "upstream/cluster_connections.h"

namespace trellis::proxy {

/// The request as every attempt sends it.
struct AttemptRequest {
  FieldList* http2Fields = nullptr;  // HTTP/2 clusters; the exchange keeps it alive
  std::string http1Head;             // HTTP/1 clusters: the serialised head
  std::string method;
  bool hasBody = false;
  bool chunked = false;       // HTTP/1 clusters: send the body with chunked framing
  bool grpc = false;          // trailers-only responses carry a grpc-status to retry on
  uint64_t deadlineAtMs = 0;  // gRPC with a deadline (loop time): a retry's grpc-timeout is
                              // the time left, not the whole
  size_t replayLimit = 0;     // replay buffer size
};

class RetryStream final : public UpstreamStream,
                          public UpstreamStreamHandler,
                          public upstream::ConnectionWaiter {
 public:
  /// Starts the first attempt on `route.endpoint` (after `delay`, for fault injection). `route`
  /// belongs to the exchange and outlives the stream; retries move its endpoint. Never null:
  /// every failure reaches `handler`, from the event loop.
  static RetryStream* open(Worker& worker, RouteDecision& route, AttemptRequest request,
                           config::Duration delay, UpstreamStreamHandler& handler);

  // UpstreamStream (the exchange's side).
  size_t sendData(std::string_view data, bool endStream) override;
  void sendTrailers(std::span<const http::HeaderField> fields) override;
  void consumed(size_t n) override;
  void release() override;

  // UpstreamStreamHandler (the current attempt's side).
  void onUpstreamHeaders(int status, std::span<const http::HeaderField> fields,
                         bool endStream) override;
  void onUpstreamData(std::string_view data, bool endStream) override;
  void onUpstreamTrailers(std::span<const http::HeaderField> fields) override;
  void onUpstreamFailure(UpstreamFailure failure, uint32_t http2Code) override;
  void onUpstreamWritable() override;

  // ConnectionWaiter: a connection of the cluster was freed while this stream waited.
  void onConnectionFreed() override;

  RetryStream(Worker& worker, RouteDecision& route, AttemptRequest request,
              UpstreamStreamHandler& handler);
  ~RetryStream() override;

 private:
  enum class Pending : uint8_t { None, FirstAttempt, Retry, Failure, Connection, Overflow };
  void onTimer();
  /// `woken`: called from onConnectionFreed(), at the front of the cluster's queue.
  void startAttempt(bool woken = false);
  void tellUpstreamTimeLeft();
  void announceRoomAfterOpen();
  void releaseAttempt();
  /// Sends what the current attempt has not taken of the replay buffer (and the end).
  void pushBody();
  /// An attempt failed with `failure` (no response) or a retriable `status`: retry or give up.
  void attemptFailed(resilience::AttemptFailure failure, UpstreamFailure reported);
  bool mayRetry();
  void fail(UpstreamFailure failure);
  /// Calls into the exchange, which may release() this stream from inside the call.
  template <typename F>
  bool toHandler(F&& call);

  Worker& worker_;
  RouteDecision& route_;
  AttemptRequest request_;
  UpstreamStreamHandler& handler_;
  const config::RetryPolicy* policy_;
  UpstreamStream* attempt_ = nullptr;
  Timer timer_;   // delay, backoff, deferred failure
  Timer perTry_;  // the current attempt's per-try timeout
  Pending pending_ = Pending::None;
  UpstreamFailure pendingFailure_ = UpstreamFailure::ConnectFailure;
  std::string replay_;  // request body so far
  size_t sent_ = 0;     // bytes of replay_ the current attempt took
  std::vector<std::pair<std::string, std::string>> trailers_;
  static constexpr uint8_t kMaxRefusedRetries = 3;
  uint32_t retries_ = 0;
  uint8_t refusedRetries_ = 0;
  int lastEndpoint_ = -1;
  bool replaySafe_ = false;  // idempotent, gRPC, or the policy allows it
  bool replayable_ = true;   // the whole body so far is in replay_
  bool requestEnded_ = false;
  bool hasTrailers_ = false;
  bool endSent_ = false;     // the current attempt has the whole request
  bool committed_ = false;   // a response head went to the exchange
  bool holdsRetry_ = false;  // counted in the cluster's maxRetries
  bool wantWritable_ = false;
  bool released_ = false;
  int depth_ = 0;  // nested calls into the exchange
};

/// Whether an exchange on `route` goes through a RetryStream: it may retry, has a per-try
/// timeout or an injected delay, or must wait for a connection.
bool needsRetryStream(Worker& worker, const RouteDecision& route);

}  // namespace trellis::proxy
