#pragma once
// An HTTP/1.1 upstream leg behind the UpstreamStream interface, for requests that arrived over
// HTTP/2: the head is sent as HTTP/1.1 text, the body as-is or chunked, and the response is
// parsed back into fields and decoded body bytes. One connection carries one exchange at a
// time and returns to the worker's keep-alive pool when both messages completed cleanly.

#include <memory>
#include <string>
#include <string_view>
#include <vector>

#include "common/connection.h"
#include "http/http1_parser.h"
#include "proxy/upstream_stream.h"
#include "proxy/worker.h"

namespace trellis::proxy {

class Http1UpstreamStream final : public UpstreamStream,
                                  public ConnectionOwner,
                                  public BatchEndHandler {
 public:
  /// Starts the exchange with `head` (a complete HTTP/1.1 request head). `chunked`: the body
  /// is sent with chunked framing (no content-length was given). Returns null when no
  /// connection could be started (`failure` says why: ConnectFailure, Overflow or TlsFailure);
  /// later failures reach `handler`.
  static Http1UpstreamStream* open(Worker& worker, upstream::ClusterRuntime& cluster, int endpoint,
                                   std::string_view head, std::string_view method, bool hasBody,
                                   bool chunked, UpstreamStreamHandler& handler,
                                   UpstreamFailure& failure);

  size_t sendData(std::string_view data, bool endStream) override;
  void sendTrailers(std::span<const http::HeaderField> fields) override;
  void consumed(size_t n) override;
  void release() override;

  void onConnectionEvent(Connection& connection, uint32_t events) override;
  /// Resumes reading after consumed() made room (never from inside the handler's call).
  void onBatchEnd() override;

  Http1UpstreamStream(Worker& worker, upstream::ClusterRuntime& cluster, int endpoint,
                      std::string_view method, bool hasBody, bool chunked,
                      UpstreamStreamHandler& handler);
  ~Http1UpstreamStream() override;

 private:
  bool connect(UpstreamFailure& failure);
  void readResponse();
  /// Parses what is buffered; false once the exchange ended or failed.
  bool processResponse();
  void fail(UpstreamFailure failure);
  void endRequest();

  Worker& worker_;
  upstream::ClusterRuntime& cluster_;
  upstream::ClusterStats& clusterStats_;
  int endpoint_;
  UpstreamStreamHandler* handler_;
  std::unique_ptr<Connection> up_;
  Timer connectTimer_;
  std::string method_;
  std::string head_;  // kept until the response starts, to replay on a stale pooled connection
  http::ResponseHead response_;
  std::vector<http::HeaderField> fields_;
  http::ChunkedFramer chunks_;
  std::string trailerText_;  // a chunked response's trailer section, for HTTP/2 clients
  http::BodyFraming framing_ = http::BodyFraming::None;
  uint64_t remaining_ = 0;
  size_t outstanding_ = 0;  // response bytes handed over and not yet consumed
  size_t limit_;            // pause reading beyond this many outstanding bytes
  size_t unconsumed_ = 0;   // input bytes a running handler callback is looking at
  bool chunked_;
  bool requestDone_;
  bool requestBodyStarted_ = false;
  bool wantWritable_ = false;
  bool headDone_ = false;
  bool responseDone_ = false;
  bool keepAlive_ = false;
  bool reused_ = false;
  bool replayed_ = false;
  bool failed_ = false;
  bool released_ = false;
};

}  // namespace trellis::proxy
