#include "common/event_loop.h"

#include <sys/eventfd.h>
#include <time.h>
#include <unistd.h>

#include <array>
#include <cerrno>

namespace trellis {

class EventLoop::Wakeup : public EventHandler {
 public:
  explicit Wakeup(EventLoop& loop) : loop_(loop) {}
  void onEvents(uint32_t) override {
    uint64_t value;
    while (::read(loop_.wakeFd_, &value, sizeof value) > 0) {
    }
    loop_.runPosted();
  }

 private:
  EventLoop& loop_;
};

uint64_t EventLoop::monotonicMs() {
  timespec ts;
  ::clock_gettime(CLOCK_MONOTONIC, &ts);
  return static_cast<uint64_t>(ts.tv_sec) * 1000 + static_cast<uint64_t>(ts.tv_nsec) / 1000000;
}

uint64_t EventLoop::monotonicMicros() {
  timespec ts;
  ::clock_gettime(CLOCK_MONOTONIC, &ts);
  return static_cast<uint64_t>(ts.tv_sec) * 1000000 + static_cast<uint64_t>(ts.tv_nsec) / 1000;
}

EventLoop::EventLoop()
    : epollFd_(::epoll_create1(EPOLL_CLOEXEC)),
      wakeFd_(::eventfd(0, EFD_NONBLOCK | EFD_CLOEXEC)),
      wakeHandler_(std::make_unique<Wakeup>(*this)),
      timers_(monotonicMs()) {
  watchReadable(wakeFd_, wakeHandler_.get());
}

EventLoop::~EventLoop() {
  deferred_.clear();
  ::close(wakeFd_);
  ::close(epollFd_);
}

bool EventLoop::watch(int fd, EventHandler* handler) {
  epoll_event ev{};
  ev.events = EPOLLIN | EPOLLOUT | EPOLLRDHUP | EPOLLET;
  ev.data.ptr = handler;
  return ::epoll_ctl(epollFd_, EPOLL_CTL_ADD, fd, &ev) == 0;
}

bool EventLoop::watchReadable(int fd, EventHandler* handler) {
  epoll_event ev{};
  ev.events = EPOLLIN;
  ev.data.ptr = handler;
  return ::epoll_ctl(epollFd_, EPOLL_CTL_ADD, fd, &ev) == 0;
}

void EventLoop::unwatch(int fd) {
  ::epoll_ctl(epollFd_, EPOLL_CTL_DEL, fd, nullptr);
}

void EventLoop::run() {
  running_ = true;
  std::array<epoll_event, 256> events;
  while (running_) {
    int n = ::epoll_wait(epollFd_, events.data(), static_cast<int>(events.size()),
                         timers_.nextTimeoutMs());
    timers_.advance(monotonicMs());
    for (int i = 0; i < n; ++i) {
      static_cast<EventHandler*>(events[i].data.ptr)->onEvents(events[i].events);
    }
    runBatchEnd();
    flushDeferred();  // destructors may defer more objects: swap, do not clear in place
  }
}

void EventLoop::stop() {
  {
    std::lock_guard lock(postedMutex_);
    stopRequested_ = true;
  }
  uint64_t one = 1;
  [[maybe_unused]] auto r = ::write(wakeFd_, &one, sizeof one);
}

void EventLoop::post(std::function<void()> task) {
  {
    std::lock_guard lock(postedMutex_);
    posted_.push_back(std::move(task));
  }
  uint64_t one = 1;
  [[maybe_unused]] auto r = ::write(wakeFd_, &one, sizeof one);
}

void EventLoop::runPosted() {
  std::vector<std::function<void()>> tasks;
  bool stop;
  {
    std::lock_guard lock(postedMutex_);
    tasks.swap(posted_);
    stop = stopRequested_;
  }
  for (auto& task : tasks) task();
  if (stop) running_ = false;
}

void EventLoop::runBatchEnd() {
  // Handlers may schedule others (or themselves again) while running.
  for (size_t i = 0; i < batchEnd_.size(); ++i) {
    BatchEndHandler* handler = batchEnd_[i];
    if (handler == nullptr) continue;
    handler->scheduledOn_ = nullptr;
    batchEnd_[i] = nullptr;
    handler->onBatchEnd();
  }
  batchEnd_.clear();
}

void EventLoop::cancelBatchEnd(BatchEndHandler* handler) {
  if (handler->scheduledOn_ != this) return;
  handler->scheduledOn_ = nullptr;
  for (auto& entry : batchEnd_) {
    if (entry == handler) entry = nullptr;
  }
}

BatchEndHandler::~BatchEndHandler() {
  if (scheduledOn_ != nullptr) scheduledOn_->cancelBatchEnd(this);
}

void EventLoop::deferDelete(std::unique_ptr<Deferred> object) {
  deferred_.push_back(std::move(object));
}

}  // namespace trellis
