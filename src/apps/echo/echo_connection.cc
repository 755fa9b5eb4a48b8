#include "apps/echo/echo_connection.h"

#include <sys/epoll.h>
#include <sys/socket.h>
#include <unistd.h>

#include <algorithm>
#include <cerrno>
#include <cstring>
#include <iterator>

#include <fmt/format.h>

#include "http/protocol_detection.h"

namespace trellis::echo {
namespace {

constexpr size_t kInitialInput = size_t{16} * 1024;
constexpr size_t kMaxInput = size_t{128} * 1024;  // above the parser's 60 KiB head limit
constexpr size_t kMinReadRoom = size_t{4} * 1024;
constexpr size_t kOutputHighWater = size_t{256} * 1024;  // stop serving new requests above this
constexpr size_t kStreamLowWater = size_t{64} * 1024;    // refill a body=N stream below this
constexpr size_t kStreamPiece = size_t{64} * 1024;
constexpr auto kDrainTimeout = std::chrono::seconds(2);

char asciiLower(char c) {
  return (c >= 'A' && c <= 'Z') ? static_cast<char>(c - 'A' + 'a') : c;
}

bool containsIgnoreCase(std::string_view haystack, std::string_view lowerNeedle) {
  if (lowerNeedle.size() > haystack.size()) return false;
  for (size_t i = 0; i + lowerNeedle.size() <= haystack.size(); ++i) {
    size_t k = 0;
    while (k < lowerNeedle.size() && asciiLower(haystack[i + k]) == lowerNeedle[k]) ++k;
    if (k == lowerNeedle.size()) return true;
  }
  return false;
}

}  // namespace

EchoConnection::EchoConnection(int fd, uint64_t id, const EchoIdentity& identity,
                               TimerQueue& timers, EchoHttp2Shared& http2Shared)
    : fd_(fd), id_(id), identity_(identity), timers_(timers), http2Shared_(http2Shared) {}

EchoConnection::~EchoConnection() {
  close(fd_);
}

bool EchoConnection::onEvents(uint32_t events) {
  if (http2_) return afterHttp2(http2_->onEvents(events));
  if (events & EPOLLRDHUP) peerHalfClosed_ = true;
  if (events & (EPOLLIN | EPOLLRDHUP | EPOLLHUP | EPOLLERR)) readable_ = true;
  if (events & (EPOLLOUT | EPOLLHUP | EPOLLERR)) writable_ = true;
  return drive();
}

bool EchoConnection::onTimer(uint64_t token) {
  if (http2_) return afterHttp2(http2_->onTimer(token));
  if (token != timerToken_) return true;  // superseded
  if (state_ == State::Delayed) {
    if (respond() == Step::Finished) return false;
    return drive();
  }
  // The drain timer: the peer never closed after our FIN.
  return state_ != State::Closing;
}

// Runs until nothing can progress without a new event. Responses to all buffered (pipelined)
// requests are produced before flushing, so they leave in one send.
bool EchoConnection::drive() {
  for (;;) {
    if (state_ == State::Http2) return true;
    if (state_ == State::Closing) return flushOutput() && driveClosing();
    Step step = pendingOutput() > kOutputHighWater ? Step::Idle : advance();
    if (step == Step::Finished) return false;
    if (step == Step::Progress) continue;
    const size_t unsent = pendingOutput();
    if (!flushOutput()) return false;
    if (pendingOutput() < unsent) continue;  // room again, e.g. for the next body=N piece
    ReadResult read = readInput();
    if (read == ReadResult::Error) return false;
    if (read == ReadResult::Eof) peerClosed_ = true;
    if (read == ReadResult::Data || read == ReadResult::Eof) continue;
    break;
  }
  // A half-closed peer gets every complete request answered; then the connection ends.
  bool waitingForInput = state_ == State::Head || state_ == State::Body || state_ == State::Tunnel;
  return !(peerClosed_ && waitingForInput && pendingOutput() == 0);
}

// Lingering close: a FIN after the last response, then input is discarded until the peer's FIN,
// so unread request bytes cannot make the kernel answer with an RST that destroys the response.
bool EchoConnection::driveClosing() {
  if (pendingOutput() > 0) return true;
  if (!shutdownSent_) {
    shutdownSent_ = true;
    shutdown(fd_, SHUT_WR);
    timers_.schedule(Clock::now() + kDrainTimeout, id_, ++timerToken_);
  }
  for (;;) {
    if (peerClosed_) return false;
    inStart_ = inEnd_ = 0;
    ReadResult read = readInput();
    if (read == ReadResult::Eof || read == ReadResult::Error) return false;
    if (read != ReadResult::Data) return true;
  }
}

EchoConnection::Step EchoConnection::advance() {
  switch (state_) {
    case State::Head:
      return parseHead();
    case State::Body:
      return readBody();
    case State::Streaming:
      return produceStream();
    case State::Tunnel:
      return echoTunnel();
    case State::Delayed:
    case State::Closing:
    case State::Http2:
      return Step::Idle;
  }
  return Step::Idle;
}

EchoConnection::Step EchoConnection::parseHead() {
  if (inStart_ == inEnd_) return Step::Idle;
  if (!protocolKnown_) {
    // Only a connection's first bytes decide; anything but the HTTP/2 preface is HTTP/1.
    auto detected =
        http::detectProtocol(std::string_view(in_.data() + inStart_, inEnd_ - inStart_));
    if (detected == http::DetectedProtocol::NeedMoreData && !peerClosed_) return Step::Idle;
    protocolKnown_ = true;
    if (detected == http::DetectedProtocol::Http2) return switchToHttp2();
  }
  http::ParseError error = http::ParseError::None;
  http::ParseStatus status =
      http::parseRequestHead(in_.data() + inStart_, inEnd_ - inStart_, limits_, head_, error);
  if (status == http::ParseStatus::Incomplete) return Step::Idle;
  if (status == http::ParseStatus::Error) {
    respondError(http::statusFor(error), http::parseErrorName(error));
    return Step::Progress;
  }
  beginRequest();
  return Step::Progress;
}

EchoConnection::Step EchoConnection::switchToHttp2() {
  http2_ = std::make_unique<EchoHttp2Connection>(fd_, id_, identity_, timers_, timerToken_,
                                                 http2Shared_);
  const std::string_view received(in_.data() + inStart_, inEnd_ - inStart_);
  const EchoHttp2Connection::Outcome outcome = http2_->start(received, readable_, writable_);
  std::vector<char>().swap(in_);  // the codec copied what it needs
  inStart_ = inEnd_ = 0;
  state_ = State::Http2;
  switch (outcome) {
    case EchoHttp2Connection::Outcome::Open:
      return Step::Progress;  // drive() hands over to http2_
    case EchoHttp2Connection::Outcome::Abort:
      return Step::Finished;
    case EchoHttp2Connection::Outcome::Close:
      break;
  }
  leaveHttp2();
  return Step::Progress;
}

bool EchoConnection::afterHttp2(EchoHttp2Connection::Outcome outcome) {
  switch (outcome) {
    case EchoHttp2Connection::Outcome::Open:
      return true;
    case EchoHttp2Connection::Outcome::Abort:
      return false;
    case EchoHttp2Connection::Outcome::Close:
      break;
  }
  leaveHttp2();
  return drive();
}

// The HTTP/2 side ends with a FIN through the same lingering close as HTTP/1.
void EchoConnection::leaveHttp2() {
  http2_.reset();
  readable_ = true;  // the HTTP/2 side consumed the edge; a spurious read costs one EAGAIN
  state_ = State::Closing;
}

void EchoConnection::beginRequest() {
  const size_t headBytes = head_.headBytes;
  keepAlive_ = head_.keepAlive;
  http10_ = head_.versionMinor == 0;
  isHeadMethod_ = head_.method == "HEAD";
  bodyBytes_ = 0;
  const http::HeaderField* upgrade = head_.find("upgrade");
  if (head_.connectionUpgrade && upgrade && containsIgnoreCase(upgrade->value, "websocket")) {
    startWebSocket();
    inStart_ += headBytes;
    return;
  }
  json_.clear();
  if (head_.path == "/healthz") {
    knobs_.clear();
    reply_ = Reply::Health;
  } else if (!parseKnobs(head_, knobs_)) {
    reply_ = Reply::BadKnob;
  } else {
    reply_ = Reply::Echo;
    if (!knobs_.bodyBytes) {
      appendEchoJsonStart(identity_, head_, http10_ ? "HTTP/1.0" : "HTTP/1.1", json_);
    }
  }
  chunkedBody_ = head_.framing == http::BodyFraming::Chunked;
  bodyRemaining_ = head_.framing == http::BodyFraming::ContentLength ? head_.contentLength : 0;
  if (chunkedBody_) framer_.reset();
  bool hasBody = chunkedBody_ || bodyRemaining_ > 0;
  if (head_.expectContinue && hasBody && !http10_) out_ += "HTTP/1.1 100 Continue\r\n\r\n";
  inStart_ += headBytes;
  state_ = State::Body;
}

EchoConnection::Step EchoConnection::readBody() {
  const size_t available = inEnd_ - inStart_;
  if (chunkedBody_) {
    if (available == 0) return Step::Idle;
    auto result = framer_.feed(in_.data() + inStart_, available,
                               [this](const char*, size_t n) { bodyBytes_ += n; });
    inStart_ += result.consumed;
    if (result.error) {
      respondError(400, "bad_chunk");
      return Step::Progress;
    }
    if (result.done) return finishRequest();
    return result.consumed > 0 ? Step::Progress : Step::Idle;
  }
  size_t take = static_cast<size_t>(std::min<uint64_t>(bodyRemaining_, available));
  inStart_ += take;
  bodyRemaining_ -= take;
  bodyBytes_ += take;
  if (bodyRemaining_ == 0) return finishRequest();
  return take > 0 ? Step::Progress : Step::Idle;
}

EchoConnection::Step EchoConnection::finishRequest() {
  if (knobs_.delay.count() > 0) {
    state_ = State::Delayed;
    timers_.schedule(Clock::now() + knobs_.delay, id_, ++timerToken_);
    return Step::Progress;
  }
  return respond();
}

EchoConnection::Step EchoConnection::respond() {
  if (knobs_.reset) return resetConnection();
  if (knobs_.close) {
    startClosing();
    return Step::Progress;
  }
  if (knobs_.garbage) {
    out_ += "HTTP/1.1 abc\r\n\r\n";
    startClosing();
    return Step::Progress;
  }
  switch (reply_) {
    case Reply::Health:
      respondText(200, "ok");
      break;
    case Reply::BadKnob:
      respondText(400, knobs_.error);
      break;
    case Reply::Echo:
      respondEcho();
      break;
  }
  return Step::Progress;
}

void EchoConnection::respondEcho() {
  ResponseSpec spec;
  spec.status = knobs_.status;
  spec.keepAlive = keepAlive_;
  spec.http10 = http10_;
  spec.chunked = knobs_.chunked && !http10_;  // HTTP/1.0 clients cannot decode chunked
  spec.extraHeaders = &knobs_.headers;
  spec.trailers = &knobs_.trailers;
  const bool sendBody = !isHeadMethod_ && statusAllowsBody(spec.status);
  if (knobs_.bodyBytes) {
    spec.contentType = "application/octet-stream";
    spec.contentLength = *knobs_.bodyBytes;
    appendResponseHead(identity_, spec, out_);
    if (sendBody) {
      streamRemaining_ = *knobs_.bodyBytes;
      streamChunked_ = spec.chunked;
      state_ = State::Streaming;
    } else {
      afterResponse();
    }
    return;
  }
  appendEchoJsonEnd(bodyBytes_, json_);
  spec.contentType = "application/json";
  spec.contentLength = json_.size();
  appendResponseHead(identity_, spec, out_);
  if (sendBody) {
    if (spec.chunked) {
      fmt::format_to(std::back_inserter(out_), "{:x}\r\n", json_.size());
      out_ += json_;
      out_ += "\r\n";
      appendLastChunk(knobs_.trailers, out_);
    } else {
      out_ += json_;
    }
  }
  afterResponse();
}

void EchoConnection::respondText(int status, std::string_view text) {
  ResponseSpec spec;
  spec.status = status;
  spec.contentType = "text/plain";
  spec.contentLength = text.size();
  spec.keepAlive = keepAlive_;
  spec.http10 = http10_;
  appendResponseHead(identity_, spec, out_);
  if (!isHeadMethod_) out_ += text;
  afterResponse();
}

void EchoConnection::respondError(int status, std::string_view reason) {
  keepAlive_ = false;
  isHeadMethod_ = false;
  ResponseSpec spec;
  spec.status = status;
  spec.contentType = "text/plain";
  spec.contentLength = reason.size() + 1;
  spec.keepAlive = false;
  appendResponseHead(identity_, spec, out_);
  out_ += reason;
  out_ += '\n';
  startClosing();
}

void EchoConnection::startWebSocket() {
  const http::HeaderField* key = head_.find("sec-websocket-key");
  if (!key || key->value.empty()) {
    respondError(400, "missing_websocket_key");
    return;
  }
  auto it = std::back_inserter(out_);
  fmt::format_to(it, "HTTP/1.1 101 Switching Protocols\r\n{}", identity_.headerLines);
  fmt::format_to(it,
                 "upgrade: websocket\r\nconnection: Upgrade\r\nsec-websocket-accept: {}\r\n\r\n",
                 webSocketAccept(key->value));
  state_ = State::Tunnel;
}

void EchoConnection::afterResponse() {
  if (keepAlive_) {
    state_ = State::Head;
  } else {
    startClosing();
  }
}

EchoConnection::Step EchoConnection::produceStream() {
  if (pendingOutput() >= kStreamLowWater) return Step::Idle;
  size_t piece = static_cast<size_t>(std::min<uint64_t>(streamRemaining_, kStreamPiece));
  if (piece > 0) {
    if (streamChunked_) fmt::format_to(std::back_inserter(out_), "{:x}\r\n", piece);
    out_.append(piece, 'x');
    if (streamChunked_) out_ += "\r\n";
    streamRemaining_ -= piece;
  }
  if (streamRemaining_ == 0) {
    if (streamChunked_) appendLastChunk(knobs_.trailers, out_);
    afterResponse();
  }
  return Step::Progress;
}

EchoConnection::Step EchoConnection::echoTunnel() {
  if (inStart_ == inEnd_) return Step::Idle;
  out_.append(in_.data() + inStart_, inEnd_ - inStart_);
  inStart_ = inEnd_ = 0;
  return Step::Progress;
}

EchoConnection::Step EchoConnection::resetConnection() {
  flushOutput();  // best effort for responses to earlier pipelined requests
  linger abort{1, 0};
  setsockopt(fd_, SOL_SOCKET, SO_LINGER, &abort, sizeof(abort));
  return Step::Finished;
}

bool EchoConnection::flushOutput() {
  while (pendingOutput() > 0 && writable_) {
    const size_t pending = pendingOutput();
    ssize_t n = send(fd_, out_.data() + outStart_, pending, MSG_NOSIGNAL);
    if (n > 0) {
      outStart_ += static_cast<size_t>(n);
      // A short write means the socket buffer is full; EPOLLOUT will report when it drains.
      if (static_cast<size_t>(n) < pending) writable_ = false;
    } else if (n < 0 && errno == EINTR) {
      continue;
    } else if (n < 0 && (errno == EAGAIN || errno == EWOULDBLOCK)) {
      writable_ = false;
    } else {
      return false;
    }
  }
  if (outStart_ == out_.size()) {
    out_.clear();
    outStart_ = 0;
    if (out_.capacity() > 4 * kOutputHighWater) out_.shrink_to_fit();
  } else if (outStart_ > kStreamLowWater && outStart_ * 2 > out_.size()) {
    out_.erase(0, outStart_);
    outStart_ = 0;
  }
  return true;
}

EchoConnection::ReadResult EchoConnection::readInput() {
  if (!readable_ || peerClosed_) return ReadResult::WouldBlock;
  if (!makeReadRoom()) return ReadResult::NoRoom;
  for (;;) {
    const size_t room = in_.size() - inEnd_;
    ssize_t n = recv(fd_, in_.data() + inEnd_, room, 0);
    if (n > 0) {
      inEnd_ += static_cast<size_t>(n);
      // A short read drained the socket (epoll(7)); unless a FIN is pending, skip the EAGAIN.
      if (static_cast<size_t>(n) < room && !peerHalfClosed_) readable_ = false;
      return ReadResult::Data;
    }
    if (n == 0) return ReadResult::Eof;
    if (errno == EINTR) continue;
    if (errno == EAGAIN || errno == EWOULDBLOCK) {
      readable_ = false;
      return ReadResult::WouldBlock;
    }
    return ReadResult::Error;
  }
}

// Input is consumed as it is parsed, so compaction never invalidates a live parsed head.
bool EchoConnection::makeReadRoom() {
  if (inStart_ == inEnd_) inStart_ = inEnd_ = 0;
  if (in_.empty()) in_.resize(kInitialInput);
  if (in_.size() - inEnd_ >= kMinReadRoom) return true;
  if (inStart_ > 0) {
    std::memmove(in_.data(), in_.data() + inStart_, inEnd_ - inStart_);
    inEnd_ -= inStart_;
    inStart_ = 0;
    if (in_.size() - inEnd_ >= kMinReadRoom) return true;
  }
  if (in_.size() < kMaxInput) {
    in_.resize(std::min(in_.size() * 2, kMaxInput));
    return true;
  }
  return inEnd_ < in_.size();
}

}  // namespace trellis::echo
