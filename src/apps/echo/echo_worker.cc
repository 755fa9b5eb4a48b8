#include "apps/echo/echo_worker.h"

#include <netinet/in.h>
#include <netinet/tcp.h>
#include <sys/epoll.h>
#include <sys/eventfd.h>
#include <sys/socket.h>
#include <unistd.h>

#include <cerrno>
#include <cstdio>
#include <cstring>

namespace trellis::echo {
namespace {

// epoll data tags: listener indexes count up from 0, connection ids from kFirstConnectionId.
constexpr uint64_t kStopTag = (uint64_t{1} << 20) - 1;
constexpr uint64_t kFirstConnectionId = uint64_t{1} << 20;
constexpr int kMaxEvents = 256;

}  // namespace

EchoWorker::EchoWorker(const EchoIdentity& identity, std::vector<int> listenFds)
    : identity_(identity), listeners_(std::move(listenFds)), nextConnectionId_(kFirstConnectionId) {
  epollFd_ = epoll_create1(EPOLL_CLOEXEC);
  stopFd_ = eventfd(0, EFD_NONBLOCK | EFD_CLOEXEC);
}

EchoWorker::~EchoWorker() {
  connections_.clear();
  for (int fd : listeners_) close(fd);
  if (stopFd_ >= 0) close(stopFd_);
  if (epollFd_ >= 0) close(epollFd_);
}

void EchoWorker::stop() {
  uint64_t one = 1;
  if (write(stopFd_, &one, sizeof(one)) < 0) std::perror("trellis-echo: stop");
}

bool EchoWorker::run() {
  if (epollFd_ < 0 || stopFd_ < 0) return false;
  auto add = [this](int fd, uint64_t tag) {
    epoll_event event{};
    event.events = EPOLLIN;
    event.data.u64 = tag;
    return epoll_ctl(epollFd_, EPOLL_CTL_ADD, fd, &event) == 0;
  };
  if (!add(stopFd_, kStopTag)) return false;
  for (size_t i = 0; i < listeners_.size(); ++i) {
    if (!add(listeners_[i], i)) return false;
  }
  epoll_event events[kMaxEvents];
  for (bool stopping = false; !stopping;) {
    int count = epoll_wait(epollFd_, events, kMaxEvents, timers_.waitMillis(Clock::now()));
    if (count < 0) {
      if (errno == EINTR) continue;
      std::perror("trellis-echo: epoll_wait");
      return false;
    }
    for (int i = 0; i < count; ++i) {
      const uint64_t tag = events[i].data.u64;
      if (tag == kStopTag) {
        stopping = true;
      } else if (tag < listeners_.size()) {
        acceptAll(listeners_[tag]);
      } else if (auto it = connections_.find(tag); it != connections_.end()) {
        if (!it->second->onEvents(events[i].events)) connections_.erase(it);
      }
    }
    timers_.runExpired(Clock::now(), [this](uint64_t id, uint64_t token) {
      if (auto it = connections_.find(id); it != connections_.end()) {
        if (!it->second->onTimer(token)) connections_.erase(it);
      }
    });
  }
  return true;
}

void EchoWorker::acceptAll(int listenFd) {
  for (;;) {
    int fd = accept4(listenFd, nullptr, nullptr, SOCK_NONBLOCK | SOCK_CLOEXEC);
    if (fd < 0) {
      if (errno == EINTR || errno == ECONNABORTED) continue;
      if (errno != EAGAIN && errno != EWOULDBLOCK) std::perror("trellis-echo: accept");
      return;
    }
    int one = 1;
    setsockopt(fd, IPPROTO_TCP, TCP_NODELAY, &one, sizeof(one));
    const uint64_t id = nextConnectionId_++;
    epoll_event event{};
    event.events = EPOLLIN | EPOLLOUT | EPOLLRDHUP | EPOLLET;
    event.data.u64 = id;
    if (epoll_ctl(epollFd_, EPOLL_CTL_ADD, fd, &event) != 0) {
      std::perror("trellis-echo: epoll_ctl");
      close(fd);
      continue;
    }
    connections_.emplace(
        id, std::make_unique<EchoConnection>(fd, id, identity_, timers_, http2Shared_));
  }
}

}  // namespace trellis::echo
