#include "proxy/http1_upstream_stream.h"

#include "common/socket.h"
#include "proxy/chunk_writer.h"
#include "proxy/connection_gate.h"
#include "proxy/head_writer.h"
#include "proxy/tls_handshake.h"

namespace trellis::proxy {

Http1UpstreamStream* Http1UpstreamStream::open(Worker& worker, upstream::ClusterRuntime& cluster,
                                               int endpoint, std::string_view head,
                                               std::string_view method, bool hasBody, bool chunked,
                                               UpstreamStreamHandler& handler,
                                               UpstreamFailure& failure) {
  auto stream = std::make_unique<Http1UpstreamStream>(worker, cluster, endpoint, method, hasBody,
                                                      chunked, handler);
  stream->head_.assign(head);
  if (!stream->connect(failure)) return nullptr;
  stream->up_->send(stream->head_);
  return stream.release();
}

Http1UpstreamStream::Http1UpstreamStream(Worker& worker, upstream::ClusterRuntime& cluster,
                                         int endpoint, std::string_view method, bool hasBody,
                                         bool chunked, UpstreamStreamHandler& handler)
    : worker_(worker),
      cluster_(cluster),
      clusterStats_(cluster.stats),
      endpoint_(endpoint),
      handler_(&handler),
      connectTimer_([this] {
        clusterStats_.connectTimeouts.inc();
        fail(UpstreamFailure::ConnectTimeout);
      }),
      method_(method),
      limit_(size_t{64} * 1024),
      chunked_(chunked),
      requestDone_(!hasBody) {}

Http1UpstreamStream::~Http1UpstreamStream() {
  if (up_) {
    up_->setOwner(nullptr);
    worker_.loop().deferDestroy(std::move(up_));
  }
}

bool Http1UpstreamStream::connect(UpstreamFailure& failure) {
  const std::string& key = cluster_.endpointKeys[endpoint_];
  up_ = worker_.pools().take(key);
  reused_ = up_ != nullptr;
  if (up_) {
    clusterStats_.connectionsReused.inc();
    up_->setOwner(this);
    return true;
  }
  makeRoomForConnection(worker_, cluster_);
  bool overflow = false;
  auto opened = cluster_.connect(endpoint_, overflow);
  if (opened.fd < 0) {
    failure = overflow ? UpstreamFailure::Overflow : UpstreamFailure::ConnectFailure;
    return false;
  }
  up_ = std::make_unique<Connection>(worker_.loop(), worker_.buffers(), opened.fd, true);
  up_->holdSlot(std::move(opened.slot));
  if (!secureUpstream(worker_, cluster_, endpoint_, *up_, config::UpstreamProtocol::Http1)) {
    up_->releaseSlot();
    worker_.loop().deferDestroy(std::move(up_));
    failure = UpstreamFailure::TlsFailure;
    return false;
  }
  up_->setOwner(this);
  connectTimer_.arm(worker_.loop().timers(),
                    static_cast<uint64_t>(cluster_.config.connectTimeout.count()));
  return true;
}

size_t Http1UpstreamStream::sendData(std::string_view data, bool endStream) {
  if (failed_ || requestDone_) return 0;
  if (up_->pendingBytes() >= limit_ && !data.empty()) {
    wantWritable_ = true;
    return 0;
  }
  if (!data.empty()) {
    requestBodyStarted_ = true;
    if (chunked_) {
      sendChunk(*up_, data);
    } else {
      up_->send(data);
    }
  }
  if (endStream) endRequest();
  return data.size();
}

void Http1UpstreamStream::sendTrailers(std::span<const http::HeaderField> fields) {
  if (failed_ || requestDone_) return;
  if (chunked_) sendLastChunk(*up_, fields);
  requestDone_ = true;  // a content-length body cannot carry trailers: they are dropped
}

void Http1UpstreamStream::endRequest() {
  if (chunked_) sendLastChunk(*up_, {});
  requestDone_ = true;
}

void Http1UpstreamStream::consumed(size_t n) {
  outstanding_ -= std::min(n, outstanding_);
  if (!failed_ && up_ && outstanding_ < limit_ && up_->readReady()) {
    worker_.loop().callAtBatchEnd(this);
  }
}

void Http1UpstreamStream::onBatchEnd() {
  if (!failed_ && !released_) readResponse();
}

void Http1UpstreamStream::release() {
  if (released_) return;
  released_ = true;
  handler_ = nullptr;
  connectTimer_.cancel();
  worker_.loop().cancelBatchEnd(this);
  if (up_) {
    up_->setOwner(nullptr);
    // Released from inside a callback: the bytes the handler was looking at are done with.
    if (unconsumed_ > 0 && up_->in().size() >= unconsumed_) up_->in().consume(unconsumed_);
    bool reusable = !failed_ && responseDone_ && requestDone_ && keepAlive_ && up_->in().empty() &&
                    up_->pendingBytes() == 0;
    if (reusable) {
      worker_.pools().put(cluster_.endpointKeys[endpoint_], std::move(up_),
                          cluster_.config.maxIdlePerEndpoint,
                          static_cast<uint64_t>(cluster_.config.idleTimeout.count()));
    } else {
      worker_.loop().deferDestroy(std::move(up_));
    }
  }
  worker_.loop().deferDestroy(std::unique_ptr<Http1UpstreamStream>(this));
}

void Http1UpstreamStream::fail(UpstreamFailure failure) {
  if (failed_) return;
  failed_ = true;
  connectTimer_.cancel();
  if (up_) {
    up_->setOwner(nullptr);
    worker_.loop().deferDestroy(std::move(up_));
  }
  if (handler_ != nullptr) {
    UpstreamStreamHandler* handler = handler_;
    handler_ = nullptr;
    handler->onUpstreamFailure(failure, 0);
  }
}

void Http1UpstreamStream::onConnectionEvent(Connection& /*connection*/, uint32_t events) {
  if (failed_ || released_) return;
  // A TLS handshake ends inside the connection's own event handling: connecting() is already
  // false when its owner first hears of it, so the armed connect timer tells.
  if (up_->connecting() || connectTimer_.armed()) {
    if (!(events & (EPOLLOUT | EPOLLERR | EPOLLHUP))) return;
    int error = 0;
    if (!up_->finishConnect(error)) {
      if (error == 0) return;
      if (upstreamTlsFailed(worker_, *up_)) {
        fail(UpstreamFailure::TlsFailure);
        return;
      }
      clusterStats_.connectFailures.inc();
      fail(UpstreamFailure::ConnectFailure);
      return;
    }
    connectTimer_.cancel();
    countUpstreamHandshake(worker_, *up_);
  }
  if ((events & EPOLLOUT) && wantWritable_ && up_->pendingBytes() < limit_) {
    wantWritable_ = false;
    if (handler_ != nullptr) handler_->onUpstreamWritable();
    if (failed_ || released_) return;
  }
  readResponse();
}

void Http1UpstreamStream::readResponse() {
  while (!failed_ && !released_ && up_ && up_->readReady() && outstanding_ < limit_) {
    auto result = up_->read();
    if (result == Connection::ReadResult::Again) return;
    if (result == Connection::ReadResult::Data) {
      if (!processResponse()) return;
      continue;
    }
    // EOF or error.
    if (headDone_ && framing_ == http::BodyFraming::UntilClose &&
        result == Connection::ReadResult::Eof) {
      if (!up_->in().empty() && !processResponse()) return;
      responseDone_ = true;
      keepAlive_ = false;
      if (handler_ != nullptr) handler_->onUpstreamData({}, true);
      return;
    }
    if (!headDone_ && reused_ && !replayed_ && !requestBodyStarted_ && up_->in().empty()) {
      // A pooled connection the upstream had already closed: replay once on a fresh one.
      replayed_ = true;
      up_->setOwner(nullptr);
      up_->releaseSlot();  // its replacement takes the slot
      worker_.loop().deferDestroy(std::move(up_));
      UpstreamFailure failure = UpstreamFailure::ConnectFailure;
      if (!connect(failure)) {
        fail(failure);
        return;
      }
      up_->send(head_);
      if (requestDone_ && chunked_) up_->send("0\r\n\r\n");
      continue;
    }
    clusterStats_.resets.inc();
    fail(UpstreamFailure::Reset);
    return;
  }
}

bool Http1UpstreamStream::processResponse() {
  Buffer& in = up_->in();
  while (!headDone_) {
    http::ParseError error = http::ParseError::None;
    auto status =
        http::parseResponseHead(in.data(), in.size(), http::Limits{}, method_, response_, error);
    if (status == http::ParseStatus::Incomplete) return true;
    if (status == http::ParseStatus::Error || response_.status == 101) {
      clusterStats_.badResponses.inc();
      fail(UpstreamFailure::BadResponse);
      return false;
    }
    fields_.clear();
    for (const auto& field : response_.headers) {
      if (!isHopByHop(field.name, response_)) fields_.push_back(field);
    }
    const bool informational = response_.status < 200;
    if (!informational) {
      headDone_ = true;
      head_.clear();
      framing_ = response_.framing;
      remaining_ = response_.contentLength;
      keepAlive_ = response_.keepAlive;
      chunks_.reset();
      trailerText_.clear();
      chunks_.captureTrailers(&trailerText_);
    }
    const bool end = !informational && framing_ == http::BodyFraming::None;
    if (end) responseDone_ = true;
    unconsumed_ = response_.headBytes;
    if (handler_ != nullptr) handler_->onUpstreamHeaders(response_.status, fields_, end);
    unconsumed_ = 0;
    if (released_) return false;
    in.consume(response_.headBytes);
    if (failed_ || released_ || end) return false;
  }
  if (in.empty()) return true;
  std::string_view body;
  size_t consumed = 0;
  bool done = false;
  switch (framing_) {
    case http::BodyFraming::None:
      return false;
    case http::BodyFraming::ContentLength:
      consumed = static_cast<size_t>(std::min<uint64_t>(in.size(), remaining_));
      body = std::string_view(in.data(), consumed);
      remaining_ -= consumed;
      done = remaining_ == 0;
      break;
    case http::BodyFraming::UntilClose:
      consumed = in.size();
      body = std::string_view(in.data(), consumed);
      break;
    case http::BodyFraming::Chunked: {
      // Decoded payload runs are handed over one by one; framing bytes are dropped.
      auto result = chunks_.feed(in.data(), in.size(), [this](const char* p, size_t n) {
        outstanding_ += n;
        if (handler_ != nullptr) handler_->onUpstreamData(std::string_view(p, n), false);
      });
      if (result.error) {
        clusterStats_.badResponses.inc();
        fail(UpstreamFailure::BadResponse);
        return false;
      }
      if (released_ || failed_) return false;
      if (result.done) {
        responseDone_ = true;
        unconsumed_ = result.consumed;
        if (handler_ != nullptr) {
          http::parseTrailerSection(trailerText_, fields_);
          if (fields_.empty()) {
            handler_->onUpstreamData({}, true);
          } else {
            handler_->onUpstreamTrailers(fields_);
          }
        }
        unconsumed_ = 0;
        if (released_) return false;
      }
      in.consume(result.consumed);
      return !result.done;
    }
  }
  outstanding_ += body.size();
  if (done) responseDone_ = true;
  unconsumed_ = consumed;
  if (handler_ != nullptr) handler_->onUpstreamData(body, done);
  unconsumed_ = 0;
  if (released_ || failed_) return false;
  in.consume(consumed);
  return !done;
}

}  // namespace trellis::proxy
