#include "common/connection.h"

#include <sys/socket.h>
#include <unistd.h>

#include <cerrno>

#include "common/socket.h"

namespace trellis {

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
  if (events & (EPOLLIN | EPOLLRDHUP | EPOLLHUP | EPOLLERR)) readReady_ = true;
  // Data and FIN can arrive before one read: the short read then does not mean "drained", and
  // no further edge will come for the FIN, so keep reading until read() returns 0.
  if (events & (EPOLLRDHUP | EPOLLHUP | EPOLLERR)) hangupSeen_ = true;
  if ((events & EPOLLOUT) && !connecting_ && !out_.empty()) {
    if (!flush()) events |= EPOLLERR;
  }
  if (owner_ != nullptr) owner_->onConnectionEvent(*this, events);
}

Connection::ReadResult Connection::read(size_t maxBytes) {
  if (peerClosed_) return ReadResult::Eof;
  if (in_.writable() < 1024) in_.prepare(maxBytes);
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

bool Connection::finishConnect(int& error) {
  if (!connecting_) return true;
  int err = 0;
  socklen_t len = sizeof err;
  if (::getsockopt(fd_, SOL_SOCKET, SO_ERROR, &err, &len) != 0) err = errno;
  if (err != 0) {
    error = err;
    return false;
  }
  // Still in progress: no error yet, but the socket is not writable.
  sockaddr_storage peer;
  socklen_t peerLen = sizeof peer;
  if (::getpeername(fd_, reinterpret_cast<sockaddr*>(&peer), &peerLen) != 0) {
    error = 0;
    return false;
  }
  connecting_ = false;
  return flush();
}

void Connection::shutdownWrite() {
  if (out_.empty()) {
    ::shutdown(fd_, SHUT_WR);
  } else {
    shutdownPending_ = true;
  }
}

}  // namespace trellis
