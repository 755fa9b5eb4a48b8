#include "apps/echo/echo_http2_connection.h"

#include <sys/epoll.h>
#include <sys/socket.h>

#include <algorithm>
#include <cerrno>

namespace trellis::echo {
namespace {

// Frames are drained from the codec up to this much before writing; above it, the connection
// stops reading, so a client that does not read its responses cannot make the echo buffer.
constexpr size_t kOutputHighWater = size_t{64} * 1024;
constexpr size_t kReadChunk = size_t{32} * 1024;
// The garbage knob's bytes, as over HTTP/1: as a frame header they announce an oversized frame.
constexpr std::string_view kGarbage = "HTTP/1.1 abc\r\n\r\n";

}  // namespace

EchoHttp2Connection::EchoHttp2Connection(int fd, uint64_t connectionId,
                                         const EchoIdentity& identity, TimerQueue& timers,
                                         uint64_t& timerTokens, EchoHttp2Shared& shared)
    : fd_(fd),
      connectionId_(connectionId),
      identity_(identity),
      timers_(timers),
      timerTokens_(timerTokens),
      codec_(http2::Http2Connection::Role::kServer, shared.settings, *this, shared.stats,
             &shared.pool),
      out_(&shared.pool) {}

EchoHttp2Connection::~EchoHttp2Connection() = default;

EchoHttp2Connection::Outcome EchoHttp2Connection::start(std::string_view received, bool readable,
                                                        bool writable) {
  readable_ = readable;
  writable_ = writable;
  if (!codec_.start()) return Outcome::Abort;
  if (codec_.receive(received.data(), received.size()) == http2::Http2Connection::kFatal) {
    fatal_ = true;
  }
  return drive();
}

EchoHttp2Connection::Outcome EchoHttp2Connection::onEvents(uint32_t events) {
  if (events & EPOLLRDHUP) peerHalfClosed_ = true;
  if (events & (EPOLLIN | EPOLLRDHUP | EPOLLHUP | EPOLLERR)) readable_ = true;
  if (events & (EPOLLOUT | EPOLLHUP | EPOLLERR)) writable_ = true;
  return drive();
}

EchoHttp2Connection::Outcome EchoHttp2Connection::onTimer(uint64_t token) {
  for (EchoHttp2Stream* stream : live_) {
    if (stream->timerToken() == token) {
      stream->onTimer(*this);
      break;
    }
  }
  return drive();
}

// Reads and answers until the socket would block. Output is produced after each read, so the
// responses to everything one read brought leave in one send.
EchoHttp2Connection::Outcome EchoHttp2Connection::drive() {
  for (;;) {
    if (!flush()) return Outcome::Abort;
    ReadResult read = readSome();
    if (read == ReadResult::Error) return Outcome::Abort;
    if (read == ReadResult::Blocked) break;
  }
  return outcome();
}

EchoHttp2Connection::Outcome EchoHttp2Connection::outcome() {
  if (!out_.empty()) return Outcome::Open;  // the socket is full: wait for EPOLLOUT
  if (closeRequested_ || codec_.closing()) return Outcome::Close;
  const bool idle = codec_.activeStreams() == 0;
  if (peerClosed_ && idle && !codec_.wantWrite()) return Outcome::Close;
  if (idle) out_.shrinkIfEmpty();  // an idle connection holds no buffer
  return Outcome::Open;
}

EchoHttp2Connection::ReadResult EchoHttp2Connection::readSome() {
  if (!readable_ || peerClosed_ || fatal_ || closeRequested_ || out_.size() >= kOutputHighWater) {
    return ReadResult::Blocked;
  }
  char buffer[kReadChunk];
  for (;;) {
    ssize_t n = recv(fd_, buffer, sizeof(buffer), 0);
    if (n > 0) {
      // A short read drained the socket (epoll(7)); unless a FIN is pending, skip the EAGAIN.
      if (static_cast<size_t>(n) < sizeof(buffer) && !peerHalfClosed_) readable_ = false;
      if (codec_.receive(buffer, static_cast<size_t>(n)) == http2::Http2Connection::kFatal) {
        fatal_ = true;
      }
      return ReadResult::Data;
    }
    if (n == 0) {
      peerClosed_ = true;
      onPeerClosed();
      return ReadResult::Eof;
    }
    if (errno == EINTR) continue;
    if (errno == EAGAIN || errno == EWOULDBLOCK) {
      readable_ = false;
      return ReadResult::Blocked;
    }
    return ReadResult::Error;
  }
}

// Drains the codec into out_ and writes it, until everything is written or the socket is full.
bool EchoHttp2Connection::flush() {
  if (lastDrainPending_) {
    lastDrainPending_ = false;
    codec_.drainOutput(out_);
    if (garbage_) out_.append(kGarbage);
  }
  for (;;) {
    if (!closeRequested_ && out_.size() < kOutputHighWater) {
      codec_.drainOutput(out_, kOutputHighWater);
    }
    if (out_.empty() || !writable_) return true;
    if (!writeOut()) return false;
  }
}

bool EchoHttp2Connection::writeOut() {
  while (!out_.empty()) {
    const size_t pending = out_.size();
    ssize_t n = send(fd_, out_.data(), pending, MSG_NOSIGNAL);
    if (n > 0) {
      out_.consume(static_cast<size_t>(n));
      // A short write means the socket buffer is full; EPOLLOUT will report when it drains.
      if (static_cast<size_t>(n) < pending) {
        writable_ = false;
        return true;
      }
    } else if (n < 0 && errno == EINTR) {
      continue;
    } else if (n < 0 && (errno == EAGAIN || errno == EWOULDBLOCK)) {
      writable_ = false;
      return true;
    } else {
      return false;
    }
  }
  return true;
}

// The client will send nothing more: requests still arriving can never complete, so they are
// cancelled; complete ones (e.g. held by a delay) are still answered before the connection ends.
void EchoHttp2Connection::onPeerClosed() {
  for (EchoHttp2Stream* stream : live_) {
    if (!stream->requestComplete()) codec_.resetStream(stream->id(), http2::kCancel);
  }
}

EchoHttp2Stream* EchoHttp2Connection::find(int32_t streamId) const {
  auto it = std::find_if(live_.begin(), live_.end(),
                         [streamId](const EchoHttp2Stream* s) { return s->id() == streamId; });
  return it == live_.end() ? nullptr : *it;
}

void EchoHttp2Connection::onHeaders(int32_t streamId, std::span<const http2::HeaderField> fields,
                                    bool endStream) {
  EchoHttp2Stream* stream;
  if (!free_.empty()) {
    stream = free_.back();
    free_.pop_back();
  } else {
    allStreams_.push_back(std::make_unique<EchoHttp2Stream>());
    stream = allStreams_.back().get();
  }
  live_.push_back(stream);
  stream->begin(streamId, fields, endStream, *this);
}

void EchoHttp2Connection::onData(int32_t streamId, std::string_view data, bool endStream) {
  if (EchoHttp2Stream* stream = find(streamId)) {
    stream->onData(data, endStream, *this);
  } else {
    codec_.consumed(streamId, data.size());
  }
}

void EchoHttp2Connection::onTrailers(int32_t streamId,
                                     std::span<const http2::HeaderField> /*fields*/) {
  if (EchoHttp2Stream* stream = find(streamId)) stream->onTrailers(*this);
}

// The stream's end is handled in onStreamClosed, which always follows.
void EchoHttp2Connection::onStreamReset(int32_t /*streamId*/, uint32_t /*errorCode*/) {}

// Streams already accepted are still answered; the client closes when it is done.
void EchoHttp2Connection::onGoaway(int32_t /*lastStreamId*/, uint32_t /*errorCode*/) {}

void EchoHttp2Connection::onStreamClosed(int32_t streamId) {
  auto it = std::find_if(live_.begin(), live_.end(),
                         [streamId](const EchoHttp2Stream* s) { return s->id() == streamId; });
  if (it == live_.end()) return;
  free_.push_back(*it);
  *it = live_.back();
  live_.pop_back();
}

void EchoHttp2Connection::onStreamWritable(int32_t streamId) {
  if (EchoHttp2Stream* stream = find(streamId)) stream->onWritable(*this);
}

uint64_t EchoHttp2Connection::scheduleTimer(std::chrono::milliseconds delay) {
  const uint64_t token = ++timerTokens_;
  timers_.schedule(Clock::now() + delay, connectionId_, token);
  return token;
}

// Called from inside codec callbacks, where nghttp2 must not be asked for output: flush() acts.
void EchoHttp2Connection::closeConnection(bool garbage) {
  if (closeRequested_) return;
  closeRequested_ = true;
  lastDrainPending_ = true;
  garbage_ = garbage;
}

}  // namespace trellis::echo
