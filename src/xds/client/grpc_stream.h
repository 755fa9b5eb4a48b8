#pragma once
// One gRPC bidirectional-streaming call on its own HTTP/2 connection (h2c with prior knowledge,
// or TLS with ALPN h2), driven by an EventLoop: our nghttp2 codec in the client role plus gRPC
// message framing. It replaces libgrpc for the proxy's single ADS stream, which would cost the
// sidecar ~8 MiB of RSS (shared/design.md §6).
//
// Single use: connect, exchange messages, and report the end once through Handler::onClosed
// (connect failure or timeout, reset, GOAWAY, trailers, peer close, bad framing). The owner then
// destroys the object, outside of its callbacks, and makes a new one to reconnect.

#include <cstdint>
#include <memory>
#include <span>
#include <string>
#include <string_view>

#include "common/buffer.h"
#include "common/connection.h"
#include "common/event_loop.h"
#include "common/socket.h"
#include "http/http2/http2_connection.h"
#include "xds/client/grpc_message_reader.h"

namespace trellis::xds::client {

class GrpcStream final : public ConnectionOwner,
                         public http2::Http2Connection::Listener,
                         public BatchEndHandler {
 public:
  class Handler {
   public:
    virtual ~Handler() = default;
    /// The connection is established (with TLS: the handshake is done).
    virtual void onConnected() = 0;
    /// One received message (a view valid during the call). The handler may send() or cancel().
    virtual void onMessage(std::string_view message) = 0;
    /// The call is over, for `reason`. Called once; nothing is called after it.
    virtual void onClosed(const std::string& reason) = 0;
  };

  struct Options {
    SocketAddress address;
    std::string authority;  // :authority, e.g. "127.0.0.1:18000"
    std::string path;       // "/package.Service/Method"
    std::string userAgent;
    size_t maxMessageBytes = size_t{16} << 20;
    uint64_t connectTimeoutMs = 5000;
    /// Mutual TLS (ALPN h2) when set; the policy names the server identity insisted on.
    std::shared_ptr<const tls::TlsContext> tlsContext;
    tls::PeerPolicy tlsPolicy;
  };

  /// `pool` and `stats` must outlive the stream.
  GrpcStream(EventLoop& loop, BufferPool& pool, http2::Http2Stats& stats, Options options,
             Handler& handler);
  ~GrpcStream() override;
  GrpcStream(const GrpcStream&) = delete;
  GrpcStream& operator=(const GrpcStream&) = delete;

  /// Starts connecting and queues the request head. Returns "" or why no connection could even
  /// be started (then no callback follows).
  std::string start();
  /// Queues one message (framed here). A server that leaves 16 MiB unread ends the call.
  void send(std::string_view message);
  /// Ends the call from this side: RST_STREAM(CANCEL) and GOAWAY go out at the end of the event
  /// batch, best effort. No callback follows.
  void cancel();
  bool closed() const { return closed_; }

  // ConnectionOwner, Http2Connection::Listener, BatchEndHandler.
  void onConnectionEvent(Connection& connection, uint32_t events) override;
  void onHeaders(int32_t streamId, std::span<const http::HeaderField> fields,
                 bool endStream) override;
  void onData(int32_t streamId, std::string_view data, bool endStream) override;
  void onTrailers(int32_t streamId, std::span<const http::HeaderField> fields) override;
  void onStreamReset(int32_t streamId, uint32_t errorCode) override;
  void onGoaway(int32_t lastStreamId, uint32_t errorCode) override;
  void onStreamClosed(int32_t streamId) override;
  void onStreamWritable(int32_t streamId) override;
  void onBatchEnd() override;

 private:
  /// Closes the call: the stream is reset unless it already ended, the connection is told
  /// GOAWAY, and the handler hears `reason` when `notify`.
  void fail(const std::string& reason, bool notify = true);
  void pushQueued();
  void scheduleFlush();
  void flush();
  /// The end of the call as the server's grpc-status/grpc-message put it.
  void finishWithStatus(std::span<const http::HeaderField> fields);

  EventLoop& loop_;
  BufferPool& pool_;
  Options options_;
  Handler& handler_;
  std::unique_ptr<Connection> socket_;  // made by start()
  http2::Http2Connection codec_;
  Buffer scratch_;
  Timer connectTimer_;
  GrpcMessageReader reader_;
  std::string queued_;  // framed messages the codec's per-stream queue did not take yet
  size_t queuedOffset_ = 0;
  std::string deferredFailure_;  // found while the handler was calling in; reported after
  int32_t streamId_ = -1;
  bool headersSeen_ = false;
  bool streamEnded_ = false;  // the server's side of the stream is finished
  bool connected_ = false;    // TCP connected (and, with TLS, the handshake done)
  bool closed_ = false;
  bool inReceive_ = false;  // inside codec_.receive(): nghttp2 must not be re-entered to send
};

}  // namespace trellis::xds::client
