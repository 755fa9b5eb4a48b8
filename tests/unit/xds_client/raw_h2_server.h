#pragma once
// A hand-driven HTTP/2 "ADS server" on our own codec (server role), for what a real gRPC server
// never sends: messages cut at chosen byte offsets, several in one DATA frame, oversized or
// garbage messages, non-gRPC answers. Requests are parsed and queued for the test.

#include <chrono>
#include <condition_variable>
#include <deque>
#include <memory>
#include <mutex>
#include <optional>
#include <string>
#include <thread>
#include <vector>

#include "common/buffer.h"
#include "common/event_loop.h"
#include "envoy/service/discovery/v3/discovery.pb.h"
#include "http/http2/http2_types.h"

namespace trellis::xds::client::test {

class RawH2Server {
 public:
  struct Received {
    int connection;  // 1-based, in accept order
    envoy::service::discovery::v3::DiscoveryRequest request;
  };

  /// `streamWindow`: the receive window granted to each request stream (0 = never read).
  explicit RawH2Server(uint32_t streamWindow = 64 * 1024);
  ~RawH2Server();
  RawH2Server(const RawH2Server&) = delete;
  RawH2Server& operator=(const RawH2Server&) = delete;

  std::string address() const { return "127.0.0.1:" + std::to_string(port_); }

  /// Answers streams of connections accepted from now on with this HTTP status and no body
  /// (200 = a gRPC response whose messages the test sends).
  void setStatus(int status);
  /// Writes `chunks` as the body of the latest connection's stream, draining the codec after
  /// each one so that every chunk leaves in DATA frames of its own.
  void sendChunks(const std::vector<std::string>& chunks);
  /// Ends the latest connection's stream with trailers carrying `grpcStatus`.
  void sendTrailers(int grpcStatus, const std::string& message);

  /// The first queued request of `typeUrl`, removed; waits up to `timeout`.
  std::optional<Received> next(std::string_view typeUrl,
                               std::chrono::milliseconds timeout = std::chrono::seconds(10));
  /// Waits until `n` request streams have been opened in total.
  bool waitForStreams(int n, std::chrono::milliseconds timeout = std::chrono::seconds(10));
  /// Waits until the client has reset `n` streams (RST_STREAM) in total.
  bool waitForResets(int n, std::chrono::milliseconds timeout = std::chrono::seconds(10));
  /// The error code of the last RST_STREAM the client sent.
  uint32_t lastResetCode();

  class Conn;

 private:
  class Acceptor;
  friend class Conn;
  void runOnLoop(const std::function<void()>& fn);

  EventLoop loop_;
  BufferPool buffers_;
  http2::Http2Stats stats_;
  std::unique_ptr<Acceptor> acceptor_;
  std::vector<std::unique_ptr<Conn>> conns_;  // loop thread only
  uint16_t port_ = 0;
  uint32_t streamWindow_;
  std::thread thread_;

  std::mutex mutex_;
  std::condition_variable changed_;
  std::deque<Received> requests_;
  int status_ = 200;
  int streams_ = 0;
  int resets_ = 0;
  uint32_t lastResetCode_ = 0;
};

}  // namespace trellis::xds::client::test
