#pragma once
// One keep-alive HTTP/1.1 client connection of the load generator: at most one request in
// flight, the response framed with the project's HTTP/1 parser, and a transparent reconnect when
// the server closes the connection or a connect fails.

#include <cstdint>
#include <memory>
#include <string_view>

#include "common/buffer.h"
#include "common/connection.h"
#include "common/event_loop.h"
#include "common/socket.h"
#include "common/timer_wheel.h"
#include "http/http1_parser.h"

namespace trellis::loadgen {

/// What the driver knows about a request: when its latency clock started and whether it falls
/// in the measured window.
struct RequestTag {
  uint64_t startNs = 0;
  bool measured = false;
};

class ClientConnection;

/// Receives the outcome of each request and the moments a connection can take a new one.
class ClientEvents {
 public:
  virtual ~ClientEvents() = default;
  virtual void onIdle(ClientConnection& client) = 0;
  virtual void onResponse(ClientConnection& client, const RequestTag& tag, int status) = 0;
  /// The request in flight was lost (reset, close or malformed response).
  virtual void onRequestFailed(ClientConnection& client, const RequestTag& tag) = 0;
  /// A connect failed, or an idle connection broke: an error that lost no request.
  virtual void onConnectionError(ClientConnection& client) = 0;
};

class ClientConnection final : public ConnectionOwner {
 public:
  static constexpr uint64_t kReconnectDelayMs = 10;

  ClientConnection(EventLoop& loop, BufferPool& pool, const SocketAddress& target,
                   std::string_view request, ClientEvents& events);
  ~ClientConnection() override;

  void connect();
  /// No request in flight and the connection is established.
  bool idle() const { return connection_ != nullptr && !connecting_ && !busy_; }
  bool busy() const { return busy_; }
  /// Sends the request; `idle()` must be true.
  void send(const RequestTag& tag);
  /// Closes the connection and stops reconnecting.
  void shutdown();

  void onConnectionEvent(Connection& connection, uint32_t events) override;

 private:
  enum class Progress : uint8_t { NeedMore, Complete, Malformed };
  Progress parseResponse();
  void finishResponse(bool keepAlive);
  void fail(bool connectFailed);
  void drop();

  EventLoop& loop_;
  BufferPool& pool_;
  const SocketAddress& target_;
  std::string_view request_;
  ClientEvents& events_;
  std::unique_ptr<Connection> connection_;
  Timer reconnectTimer_;
  bool connecting_ = false;
  bool busy_ = false;
  bool stopped_ = false;
  RequestTag tag_;

  // Response framing state.
  http::ResponseHead head_;
  bool headDone_ = false;
  int status_ = 0;
  bool keepAlive_ = true;
  uint64_t bodyRemaining_ = 0;
  http::ChunkedFramer chunked_;
};

}  // namespace trellis::loadgen
