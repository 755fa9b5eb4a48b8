#include "xds/client/grpc_stream.h"

#include "http/http2/pump.h"

#include <netinet/in.h>
#include <netinet/tcp.h>
#include <sys/socket.h>

#include <cerrno>
#include <cstring>

#include "http/grpc.h"

namespace trellis::xds::client {
namespace {

// Output waits in the socket beyond this; the codec's queues hold the rest.
constexpr size_t kSocketHighWater = size_t{256} * 1024;
// Requests a server leaves unread beyond this end the call: it is not reading, and a client
// that answers every response must not queue without bound.
constexpr size_t kMaxQueuedBytes = size_t{16} << 20;
constexpr size_t kKeptQueueCapacity = size_t{64} * 1024;

/// A control plane whose host vanished sends no FIN: TCP keepalive notices within ~1 minute
/// (30 s idle, then 3 probes 10 s apart) where the stream would otherwise wait forever.
void enableKeepalive(int fd) {
  int on = 1, idle = 30, interval = 10, count = 3;
  ::setsockopt(fd, SOL_SOCKET, SO_KEEPALIVE, &on, sizeof on);
  ::setsockopt(fd, IPPROTO_TCP, TCP_KEEPIDLE, &idle, sizeof idle);
  ::setsockopt(fd, IPPROTO_TCP, TCP_KEEPINTVL, &interval, sizeof interval);
  ::setsockopt(fd, IPPROTO_TCP, TCP_KEEPCNT, &count, sizeof count);
}

http2::Http2Settings clientSettings() {
  http2::Http2Settings settings;
  // Configuration pushes are bursts of large messages: wide windows let one arrive in a single
  // round trip. Bytes are copied out at once, so the window is not what bounds memory.
  settings.initialWindowSize = 1u << 20;
  settings.connectionWindowSize = 4u << 20;
  settings.streamSendBufferBytes = size_t{256} * 1024;
  return settings;
}

std::string_view find(std::span<const http::HeaderField> fields, std::string_view name) {
  for (const auto& field : fields) {
    if (field.name == name) return field.value;
  }
  return {};
}

std::string errnoText(int error) {
  return std::strerror(error != 0 ? error : ECONNREFUSED);
}

}  // namespace

GrpcStream::GrpcStream(EventLoop& loop, BufferPool& pool, http2::Http2Stats& stats, Options options,
                       Handler& handler)
    : loop_(loop),
      pool_(pool),
      options_(std::move(options)),
      handler_(handler),
      codec_(http2::Http2Connection::Role::kClient, clientSettings(), *this, stats, &pool),
      scratch_(&pool),
      connectTimer_([this] {
        fail("connect to " + options_.address.toString() + ": timed out after " +
             std::to_string(options_.connectTimeoutMs) + " ms");
      }),
      reader_(options_.maxMessageBytes) {}

GrpcStream::~GrpcStream() = default;

std::string GrpcStream::start() {
  int fd = connectTo(options_.address);
  if (fd < 0) return "connect to " + options_.address.toString() + ": " + errnoText(errno);
  enableKeepalive(fd);
  socket_ = std::make_unique<Connection>(loop_, pool_, fd, true);
  socket_->setOwner(this);
  if (options_.tlsContext != nullptr &&
      !socket_->startTls(options_.tlsContext, options_.tlsPolicy)) {
    return "TLS to " + options_.address.toString() + ": " + std::string(socket_->tlsError());
  }
  if (!codec_.start()) return "HTTP/2 session could not start";
  const http::HeaderField head[] = {
      {":method", "POST"},
      {":scheme", options_.tlsContext != nullptr ? "https" : "http"},
      {":path", options_.path},
      {":authority", options_.authority},
      {"content-type", "application/grpc"},
      {"te", "trailers"},
      {"user-agent", options_.userAgent},
  };
  streamId_ = codec_.submitRequest(head, true);
  if (streamId_ < 0) return "HTTP/2 request could not be submitted";
  connectTimer_.arm(loop_.timers(), options_.connectTimeoutMs);
  return {};
}

void GrpcStream::send(std::string_view message) {
  if (closed_) return;
  appendGrpcMessage(queued_, message);
  pushQueued();
  if (queued_.size() - queuedOffset_ > kMaxQueuedBytes && deferredFailure_.empty()) {
    // Reported from onBatchEnd: the handler is in the middle of sending.
    deferredFailure_ = "the server has left " + std::to_string(queued_.size() - queuedOffset_) +
                       " bytes of requests unread";
  }
  scheduleFlush();
}

void GrpcStream::cancel() {
  fail("cancelled", false);
}

void GrpcStream::pushQueued() {
  while (queuedOffset_ < queued_.size()) {
    size_t n = codec_.submitData(streamId_, std::string_view(queued_).substr(queuedOffset_), false);
    if (n == 0) break;
    queuedOffset_ += n;
  }
  if (queuedOffset_ == queued_.size()) {
    // An idle sidecar must not keep the buffer of a one-off large request (many EDS names).
    if (queued_.capacity() > kKeptQueueCapacity) {
      std::string().swap(queued_);
    } else {
      queued_.clear();
    }
    queuedOffset_ = 0;
  }
}

void GrpcStream::scheduleFlush() {
  loop_.callAtBatchEnd(this);
}

void GrpcStream::onBatchEnd() {
  if (!deferredFailure_.empty() && !closed_) fail(deferredFailure_);
  flush();
}

void GrpcStream::flush() {
  if (socket_ == nullptr || socket_->connecting()) return;
  if (inReceive_) {  // nghttp2 cannot send from inside its receive callbacks
    scheduleFlush();
    return;
  }
  if (!http2::pumpOut(*socket_, codec_, scratch_, kSocketHighWater)) {
    fail("write to " + options_.address.toString() + ": " + errnoText(errno));
  }
}

void GrpcStream::fail(const std::string& reason, bool notify) {
  if (closed_) return;
  closed_ = true;
  connectTimer_.cancel();
  if (socket_ != nullptr) {
    if (streamId_ > 0 && !streamEnded_) codec_.resetStream(streamId_, http2::kCancel);
    codec_.goAway(http2::kNoError, false);
    scheduleFlush();
  }
  if (notify) handler_.onClosed(reason);
}

void GrpcStream::onConnectionEvent(Connection& /*connection*/, uint32_t events) {
  if (closed_) return;
  if (!connected_) {  // with TLS, connecting() is already false once the handshake is done
    int error = 0;
    if (!socket_->finishConnect(error)) {
      if (error == 0 && !(events & (EPOLLERR | EPOLLHUP))) return;
      if (socket_->tls() && !socket_->tlsError().empty()) {
        fail("TLS handshake with " + options_.address.toString() + ": " +
             std::string(socket_->tlsError()));
      } else {
        fail("connect to " + options_.address.toString() + ": " + errnoText(error));
      }
      return;
    }
    connected_ = true;
    connectTimer_.cancel();
    handler_.onConnected();
    if (closed_) return;
  }
  inReceive_ = true;  // the codec's callbacks run inside pumpIn
  const http2::PumpResult result = http2::pumpIn(*socket_, codec_);
  const int readError = errno;
  inReceive_ = false;
  if (closed_) return;
  switch (result) {
    case http2::PumpResult::Ok:
      break;
    case http2::PumpResult::ProtocolError:
      fail("HTTP/2 protocol error from the server (sent GOAWAY " +
           std::string(http2::errorCodeName(codec_.fatalErrorCode())) + ")");
      return;
    case http2::PumpResult::Error:
      fail("read from " + options_.address.toString() + ": " + errnoText(readError));
      return;
    case http2::PumpResult::PeerClosed:
      fail("connection closed by the server");
      return;
  }
  flush();
  if (!closed_ && codec_.closing()) fail("HTTP/2 connection closed");
}

void GrpcStream::onHeaders(int32_t streamId, std::span<const http::HeaderField> fields,
                           bool endStream) {
  if (streamId != streamId_ || closed_) return;
  std::string_view status =
      fields.empty() || fields[0].name != ":status" ? std::string_view() : fields[0].value;
  if (status.starts_with('1')) return;  // informational
  if (status != "200") {
    fail("HTTP status " + std::string(status) + " from the server");
    return;
  }
  std::string_view contentType = find(fields, "content-type");
  if (!http::grpc::isGrpcContentType(contentType)) {
    fail("the server answered with content-type '" + std::string(contentType) + "', not gRPC");
    return;
  }
  headersSeen_ = true;
  if (endStream) {  // Trailers-Only: the call ended before any message
    streamEnded_ = true;
    finishWithStatus(fields);
  }
}

void GrpcStream::onData(int32_t streamId, std::string_view data, bool endStream) {
  if (streamId != streamId_) return;
  if (!data.empty()) codec_.consumed(streamId, data.size());  // copied or handled right here
  if (closed_) return;
  if (!data.empty()) {
    std::string error = reader_.feed(data, [this](std::string_view message) {
      handler_.onMessage(message);
      return !closed_;
    });
    if (closed_) return;
    if (!error.empty()) {
      fail(error);
      return;
    }
  }
  if (endStream) {
    streamEnded_ = true;
    fail("stream ended by the server without trailers (no grpc-status)");
  }
}

void GrpcStream::onTrailers(int32_t streamId, std::span<const http::HeaderField> fields) {
  if (streamId != streamId_ || closed_) return;
  streamEnded_ = true;
  finishWithStatus(fields);
}

void GrpcStream::finishWithStatus(std::span<const http::HeaderField> fields) {
  std::string_view code = find(fields, "grpc-status");
  auto status = http::grpc::parseStatus(code);
  std::string reason = "stream ended by the server: grpc-status ";
  if (code.empty()) {
    reason += "missing";
  } else {
    reason += std::string(code) + " " +
              std::string(http::grpc::statusName(status.value_or(http::grpc::Status::Unknown)));
  }
  std::string_view message = find(fields, "grpc-message");
  if (!message.empty()) {
    reason += ": ";
    http::grpc::percentDecodeMessage(message, reason);
  }
  if (!reader_.atBoundary()) reason += " (in the middle of a message)";
  fail(reason);
}

void GrpcStream::onStreamReset(int32_t streamId, uint32_t errorCode) {
  if (streamId != streamId_ || closed_) return;
  streamEnded_ = true;
  fail("stream reset by the server: " + std::string(http2::errorCodeName(errorCode)));
}

void GrpcStream::onGoaway(int32_t /*lastStreamId*/, uint32_t errorCode) {
  if (closed_) return;
  // Even a graceful GOAWAY means the server wants this long-lived stream gone: reconnect now
  // rather than wait for it to be cut.
  fail("GOAWAY from the server: " + std::string(http2::errorCodeName(errorCode)));
}

void GrpcStream::onStreamClosed(int32_t streamId) {
  if (streamId != streamId_ || closed_) return;
  streamEnded_ = true;
  fail("stream closed");
}

void GrpcStream::onStreamWritable(int32_t streamId) {
  if (streamId == streamId_ && !closed_) pushQueued();
}

}  // namespace trellis::xds::client
