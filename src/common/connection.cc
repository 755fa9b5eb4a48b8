#include "common/connection.h"

#include <sys/socket.h>
#include <unistd.h>

#include <algorithm>
#include <cerrno>

#include "common/socket.h"

namespace trellis {
namespace {

// TLS's largest record: parts that fit together are written as one record.
constexpr size_t kTlsRecordBytes = 16384;

}  // namespace

Connection::Connection(EventLoop& loop, BufferPool& pool, int fd, bool connecting)
    : loop_(loop), fd_(fd), in_(&pool), out_(&pool), connecting_(connecting) {
  loop_.watch(fd_, this);
}

Connection::~Connection() {
  loop_.unwatch(fd_);
  if (resetOnClose_) {
    closeWithReset(fd_);
  } else {
    ::close(fd_);
  }
}

void Connection::onEvents(uint32_t events) {
  if (tls_ != nullptr) {
    onTlsEvents(events);
    return;
  }
  if (events & (EPOLLIN | EPOLLRDHUP | EPOLLHUP | EPOLLERR)) readReady_ = true;
  // Data and FIN can arrive before one read: the short read then does not mean "drained", and
  // no further edge will come for the FIN, so keep reading until read() returns 0.
  if (events & (EPOLLRDHUP | EPOLLHUP | EPOLLERR)) hangupSeen_ = true;
  if ((events & EPOLLOUT) && !connecting_ && !out_.empty()) {
    if (!flush()) events |= EPOLLERR;
  }
  if (owner_ != nullptr) owner_->onConnectionEvent(*this, events);
}

namespace {

// A buffer without a block starts with a pooled one: asking for `maxBytes` (64 KiB for HTTP
// sessions) would malloc and free a block the pool does not keep on every request. Longer
// input grows the buffer as before.
size_t firstReadSize(const Buffer& in, size_t maxBytes) {
  return in.hasBlock() ? maxBytes : std::min(maxBytes, BufferPool::kBlockSize);
}

}  // namespace

Connection::ReadResult Connection::read(size_t maxBytes) {
  if (tls_ != nullptr) return readTls(maxBytes);
  if (peerClosed_) return ReadResult::Eof;
  if (in_.writable() < 1024) in_.prepare(firstReadSize(in_, maxBytes));
  size_t room = in_.writable() < maxBytes ? in_.writable() : maxBytes;
  ssize_t n = ::read(fd_, in_.tail(), room);
  if (n > 0) {
    in_.commit(static_cast<size_t>(n));
    bytesRead_ += static_cast<size_t>(n);
    // A short read means the kernel queue is empty; the next arrival raises a new edge.
    if (static_cast<size_t>(n) < room && !hangupSeen_) readReady_ = false;
    return ReadResult::Data;
  }
  if (n == 0) {
    peerClosed_ = true;
    readReady_ = false;
    return ReadResult::Eof;
  }
  if (errno == EAGAIN || errno == EWOULDBLOCK) {
    readReady_ = false;
    return ReadResult::Again;
  }
  if (errno == EINTR) return ReadResult::Again;
  readReady_ = false;
  return ReadResult::Error;
}

bool Connection::send(std::initializer_list<std::string_view> parts) {
  if (tls_ != nullptr) return sendTls(parts);
  if (connecting_ || !out_.empty()) {
    for (std::string_view part : parts) out_.append(part);
    return true;
  }
  iovec iov[kMaxSendParts];
  int count = 0;
  for (std::string_view part : parts) {
    if (!part.empty() && count < kMaxSendParts) {
      iov[count++] = {const_cast<char*>(part.data()), part.size()};
    }
  }
  if (count == 0) return true;
  ssize_t n = ::writev(fd_, iov, count);
  if (n < 0) {
    if (errno != EAGAIN && errno != EWOULDBLOCK && errno != EINTR) return false;
    n = 0;
  }
  bytesWritten_ += static_cast<size_t>(n);
  // Buffer whatever the kernel did not take, in order.
  size_t written = static_cast<size_t>(n);
  for (std::string_view part : parts) {
    if (written >= part.size()) {
      written -= part.size();
      continue;
    }
    out_.append(part.data() + written, part.size() - written);
    written = 0;
  }
  return true;
}

bool Connection::flush() {
  if (tls_ != nullptr) return flushTls();
  while (!out_.empty()) {
    ssize_t n = ::write(fd_, out_.data(), out_.size());
    if (n < 0) {
      if (errno == EINTR) continue;
      return errno == EAGAIN || errno == EWOULDBLOCK;
    }
    bytesWritten_ += static_cast<size_t>(n);
    out_.consume(static_cast<size_t>(n));
  }
  out_.shrinkIfEmpty();
  if (shutdownPending_) {
    ::shutdown(fd_, SHUT_WR);
    shutdownPending_ = false;
  }
  return true;
}

int Connection::tcpConnectState() const {
  int err = 0;
  socklen_t len = sizeof err;
  if (::getsockopt(fd_, SOL_SOCKET, SO_ERROR, &err, &len) != 0) err = errno;
  if (err != 0) return err;
  // Still in progress: no error yet, but the socket is not writable.
  sockaddr_storage peer;
  socklen_t peerLen = sizeof peer;
  if (::getpeername(fd_, reinterpret_cast<sockaddr*>(&peer), &peerLen) != 0) return -1;
  return 0;
}

bool Connection::finishConnect(int& error) {
  if (!connecting_) return true;
  if (tls_ != nullptr) {
    switch (advanceTls()) {
      case TlsStep::InProgress:
        error = 0;
        return false;
      case TlsStep::Failed:
        error = tlsErrno_;
        return false;
      case TlsStep::Done:
        if (flushTls()) return true;
        error = EPROTO;
        return false;
    }
  }
  int state = tcpConnectState();
  if (state != 0) {
    error = state > 0 ? state : 0;
    return false;
  }
  connecting_ = false;
  return flush();
}

void Connection::shutdownWrite() {
  if (tls_ != nullptr) {
    shutdownPending_ = true;
    if (!connecting_ && out_.empty()) flushTls();
    return;
  }
  if (out_.empty()) {
    ::shutdown(fd_, SHUT_WR);
  } else {
    shutdownPending_ = true;
  }
}

bool Connection::startTls(std::shared_ptr<const tls::TlsContext> context, TlsPeerPolicy policy) {
  // Plaintext already queued would be encrypted as if sent after the handshake.
  if (tls_ != nullptr || !out_.empty()) return false;
  tls_ = std::make_unique<tls::TlsStream>(std::move(context), std::move(policy), fd_, in_.view());
  in_.clear();
  in_.shrinkIfEmpty();
  tcpConnecting_ = connecting_;
  connecting_ = true;
  readReady_ = false;
  if (!tls_->ok()) {
    tlsErrno_ = EPROTO;
    return false;
  }
  // Start now rather than on the next event: the edge that would have started it (the
  // connect's EPOLLOUT, a server's ClientHello) may already have been reported.
  return advanceTls() != TlsStep::Failed;
}

Connection::TlsStep Connection::advanceTls() {
  if (tlsErrno_ != 0) return TlsStep::Failed;
  if (tcpConnecting_) {
    int state = tcpConnectState();
    if (state < 0) return TlsStep::InProgress;
    if (state > 0) {
      tlsErrno_ = state;
      return TlsStep::Failed;
    }
    tcpConnecting_ = false;
  }
  switch (tls_->handshake()) {
    case tls::TlsStream::Status::Ok:
      connecting_ = false;
      readReady_ = true;  // records may have come with the handshake's last flight
      return TlsStep::Done;
    case tls::TlsStream::Status::WantRead:
    case tls::TlsStream::Status::WantWrite:
      // Either way the socket was found not ready, so its next change raises an edge.
      return TlsStep::InProgress;
    default:
      tlsErrno_ = EPROTO;
      return TlsStep::Failed;
  }
}

void Connection::onTlsEvents(uint32_t events) {
  if (events & (EPOLLIN | EPOLLRDHUP | EPOLLHUP | EPOLLERR)) {
    readReady_ = true;
    tls_->markSocketReadable();
  }
  if (events & (EPOLLRDHUP | EPOLLHUP | EPOLLERR)) hangupSeen_ = true;
  if (connecting_) {
    // The owner hears nothing until the handshake ends, whichever events drive it.
    TlsStep step = advanceTls();
    if (step == TlsStep::InProgress) return;
    if (step == TlsStep::Failed) {
      events = EPOLLERR;
    } else {
      events = EPOLLIN | EPOLLOUT | (events & (EPOLLRDHUP | EPOLLHUP | EPOLLERR));
      if (!flushTls()) events |= EPOLLERR;  // what was sent during the handshake
    }
  } else {
    if (readWantsWrite_ && (events & EPOLLOUT)) {
      readWantsWrite_ = false;
      readReady_ = true;
    }
    bool canWrite = (events & EPOLLOUT) || (writeWantsRead_ && (events & EPOLLIN));
    if (canWrite && (!out_.empty() || shutdownPending_)) {
      writeWantsRead_ = false;
      if (!flushTls()) events |= EPOLLERR;
    }
  }
  if (owner_ != nullptr) owner_->onConnectionEvent(*this, events);
}

Connection::ReadResult Connection::readTls(size_t maxBytes) {
  if (peerClosed_) return ReadResult::Eof;
  if (connecting_) {
    readReady_ = false;
    return tlsErrno_ != 0 ? ReadResult::Error : ReadResult::Again;
  }
  if (in_.writable() < 1024) in_.prepare(firstReadSize(in_, maxBytes));
  size_t room = in_.writable() < maxBytes ? in_.writable() : maxBytes;
  size_t got = 0;
  switch (tls_->read(in_.tail(), room, got)) {
    case tls::TlsStream::Status::Ok:
      in_.commit(got);
      bytesRead_ += got;
      // Drained only if OpenSSL holds no further record and the socket was found empty since
      // the last edge.
      if (got > 0 && !hangupSeen_ && tls_->socketDrained() && !tls_->inputBuffered()) {
        readReady_ = false;
      }
      return ReadResult::Data;
    case tls::TlsStream::Status::WantRead:
      readReady_ = false;
      return ReadResult::Again;
    case tls::TlsStream::Status::WantWrite:
      readReady_ = false;
      readWantsWrite_ = true;  // EPOLLOUT makes it readable again
      return ReadResult::Again;
    case tls::TlsStream::Status::Closed:
      peerClosed_ = true;
      readReady_ = false;
      return ReadResult::Eof;
    case tls::TlsStream::Status::Error:
      break;
  }
  readReady_ = false;
  return ReadResult::Error;
}

bool Connection::sendTls(std::initializer_list<std::string_view> parts) {
  if (connecting_ || !out_.empty()) {
    for (std::string_view part : parts) out_.append(part);
    return true;
  }
  size_t total = 0;
  int count = 0;
  for (std::string_view part : parts) {
    if (part.empty()) continue;
    total += part.size();
    ++count;
  }
  if (count == 0) return true;
  if (count > 1 && total <= kTlsRecordBytes) {
    // One record for all of it (a head and its body): the output buffer is the scratch space,
    // and any part OpenSSL does not take now stays there for flush().
    for (std::string_view part : parts) out_.append(part);
    return flushTls();
  }
  const std::string_view* end = parts.end();
  for (const std::string_view* part = parts.begin(); part != end; ++part) {
    std::string_view rest = *part;
    while (!rest.empty()) {
      size_t taken = 0;
      tls::TlsStream::Status status = tls_->write(rest.data(), rest.size(), taken);
      if (status == tls::TlsStream::Status::Ok) {
        bytesWritten_ += taken;
        rest.remove_prefix(taken);
        continue;
      }
      if (status == tls::TlsStream::Status::Error) return false;
      // OpenSSL keeps the record it could not send and expects these bytes again: they go to
      // the output buffer, in order, and flush() retries from there.
      writeWantsRead_ = status == tls::TlsStream::Status::WantRead;
      out_.append(rest);
      for (++part; part != end; ++part) out_.append(*part);
      return true;
    }
  }
  return true;
}

bool Connection::flushTls() {
  if (connecting_) return tlsErrno_ == 0;
  while (!out_.empty()) {
    size_t taken = 0;
    tls::TlsStream::Status status = tls_->write(out_.data(), out_.size(), taken);
    if (status == tls::TlsStream::Status::Ok) {
      bytesWritten_ += taken;
      out_.consume(taken);
      continue;
    }
    if (status == tls::TlsStream::Status::Error) return false;
    writeWantsRead_ = status == tls::TlsStream::Status::WantRead;
    return true;
  }
  out_.shrinkIfEmpty();
  if (shutdownPending_) {
    tls::TlsStream::Status status = tls_->shutdown();
    if (status == tls::TlsStream::Status::WantWrite) return true;
    if (status == tls::TlsStream::Status::WantRead) {
      writeWantsRead_ = true;
      return true;
    }
    shutdownPending_ = false;
    ::shutdown(fd_, SHUT_WR);
    return status == tls::TlsStream::Status::Ok;
  }
  return true;
}

std::string_view Connection::peerIdentity() const {
  return tls_ != nullptr ? tls_->peerIdentity() : std::string_view();
}

std::string_view Connection::alpn() const {
  return tls_ != nullptr ? tls_->alpn() : std::string_view();
}

bool Connection::sessionReused() const {
  return tls_ != nullptr && tls_->sessionReused();
}

std::string_view Connection::tlsError() const {
  return tls_ != nullptr ? std::string_view(tls_->error()) : std::string_view();
}

}  // namespace trellis
