#include "client_connection.h"

#include <algorithm>

namespace trellis::loadgen {

namespace {

const http::Limits kResponseLimits{};

}  // namespace

ClientConnection::ClientConnection(EventLoop& loop, BufferPool& pool, const SocketAddress& target,
                                   std::string_view request, ClientEvents& events)
    : loop_(loop),
      pool_(pool),
      target_(target),
      request_(request),
      events_(events),
      reconnectTimer_([this] { connect(); }) {}

ClientConnection::~ClientConnection() = default;

void ClientConnection::connect() {
  if (stopped_ || connection_ != nullptr) return;
  int fd = connectTo(target_);
  if (fd < 0) {
    events_.onConnectionError(*this);
    reconnectTimer_.arm(loop_.timers(), kReconnectDelayMs);
    return;
  }
  setNoDelay(fd);
  connecting_ = true;
  connection_ = std::make_unique<Connection>(loop_, pool_, fd, /*connecting=*/true);
  connection_->setOwner(this);
}

void ClientConnection::send(const RequestTag& tag) {
  tag_ = tag;
  busy_ = true;
  headDone_ = false;
  if (!connection_->send(request_)) fail(false);
}

void ClientConnection::shutdown() {
  stopped_ = true;
  reconnectTimer_.cancel();
  drop();
}

void ClientConnection::onConnectionEvent(Connection& connection, uint32_t events) {
  if (connecting_) {
    if ((events & (EPOLLOUT | EPOLLERR | EPOLLHUP)) == 0) return;
    int error = 0;
    if (!connection.finishConnect(error)) {
      if (error != 0) fail(true);
      return;
    }
    connecting_ = false;
    events_.onIdle(*this);
    return;
  }
  if (events & EPOLLERR) {
    fail(false);
    return;
  }
  while (connection_ != nullptr && connection_->readReady()) {
    Connection::ReadResult result = connection_->read();
    if (result == Connection::ReadResult::Again) break;
    if (result == Connection::ReadResult::Error) {
      fail(false);
      return;
    }
    if (result == Connection::ReadResult::Eof) {
      if (busy_ && headDone_ && head_.framing == http::BodyFraming::UntilClose) {
        connection_->in().clear();
        finishResponse(false);
      } else if (busy_) {
        fail(false);
      } else {
        drop();  // an idle keep-alive connection closed by the server: just reopen it
        connect();
      }
      return;
    }
    switch (parseResponse()) {
      case Progress::NeedMore:
        break;
      case Progress::Malformed:
        fail(false);
        return;
      case Progress::Complete:
        if (!connection_->in().empty()) {  // bytes beyond the response: not a valid exchange
          fail(false);
          return;
        }
        finishResponse(keepAlive_);
        break;
    }
  }
}

ClientConnection::Progress ClientConnection::parseResponse() {
  Buffer& in = connection_->in();
  if (!busy_) return in.empty() ? Progress::NeedMore : Progress::Malformed;
  while (!headDone_) {
    http::ParseError error = http::ParseError::None;
    auto status =
        http::parseResponseHead(in.data(), in.size(), kResponseLimits, "GET", head_, error);
    if (status == http::ParseStatus::Incomplete) return Progress::NeedMore;
    if (status == http::ParseStatus::Error) return Progress::Malformed;
    int code = head_.status;
    in.consume(head_.headBytes);
    if (code >= 100 && code < 200) continue;  // interim response; the final head follows
    headDone_ = true;
    status_ = code;
    keepAlive_ = head_.keepAlive;
    bodyRemaining_ = head_.contentLength;
    chunked_.reset();
  }
  switch (head_.framing) {
    case http::BodyFraming::None:
      return Progress::Complete;
    case http::BodyFraming::ContentLength: {
      uint64_t take = std::min<uint64_t>(bodyRemaining_, in.size());
      in.consume(take);
      bodyRemaining_ -= take;
      return bodyRemaining_ == 0 ? Progress::Complete : Progress::NeedMore;
    }
    case http::BodyFraming::Chunked: {
      auto result = chunked_.feed(in.data(), in.size());
      in.consume(result.consumed);
      if (result.error) return Progress::Malformed;
      return result.done ? Progress::Complete : Progress::NeedMore;
    }
    case http::BodyFraming::UntilClose:
      in.clear();
      return Progress::NeedMore;
  }
  return Progress::Malformed;
}

void ClientConnection::finishResponse(bool keepAlive) {
  busy_ = false;
  headDone_ = false;
  RequestTag tag = tag_;
  if (!keepAlive) drop();
  events_.onResponse(*this, tag, status_);
  if (!keepAlive) {
    connect();
    return;
  }
  if (connection_ == nullptr) return;  // the driver shut us down
  connection_->releaseIdleBuffers();
  events_.onIdle(*this);
}

void ClientConnection::fail(bool connectFailed) {
  bool lost = busy_;
  busy_ = false;
  headDone_ = false;
  drop();
  if (lost) {
    events_.onRequestFailed(*this, tag_);
  } else {
    events_.onConnectionError(*this);
  }
  if (stopped_) return;
  if (connectFailed) {
    reconnectTimer_.arm(loop_.timers(), kReconnectDelayMs);
  } else {
    connect();
  }
}

void ClientConnection::drop() {
  connecting_ = false;
  if (connection_ != nullptr) {
    connection_->setOwner(nullptr);
    loop_.deferDestroy(std::move(connection_));
  }
}

}  // namespace trellis::loadgen
