#include "load_driver.h"

#include <sys/timerfd.h>
#include <time.h>
#include <unistd.h>

#include <algorithm>
#include <cmath>

#include <fmt/format.h>

namespace trellis::loadgen {

uint64_t monotonicNs() {
  timespec ts;
  ::clock_gettime(CLOCK_MONOTONIC, &ts);
  return static_cast<uint64_t>(ts.tv_sec) * 1'000'000'000ULL + static_cast<uint64_t>(ts.tv_nsec);
}

namespace {

uint64_t secondsToNs(double seconds) {
  return seconds <= 0 ? 0 : static_cast<uint64_t>(std::llround(seconds * 1e9));
}

}  // namespace

class LoadDriver::Ticker final : public EventHandler {
 public:
  explicit Ticker(LoadDriver& driver) : driver_(driver) {}
  void onEvents(uint32_t) override {
    uint64_t expirations;
    [[maybe_unused]] auto n = ::read(driver_.timerFd_, &expirations, sizeof expirations);
    driver_.onTick();
  }

 private:
  LoadDriver& driver_;
};

LoadDriver::LoadDriver(EventLoop& loop, const SocketAddress& target, LoadOptions options)
    : loop_(loop), target_(target), options_(std::move(options)) {
  std::string host = options_.host.empty() ? options_.target : options_.host;
  request_ = fmt::format("GET {} HTTP/1.1\r\nHost: {}\r\n\r\n", options_.path, host);
  timerFd_ = ::timerfd_create(CLOCK_MONOTONIC, TFD_NONBLOCK | TFD_CLOEXEC);
  ticker_ = std::make_unique<Ticker>(*this);
  loop_.watchReadable(timerFd_, ticker_.get());
}

LoadDriver::~LoadDriver() {
  clients_.clear();
  loop_.unwatch(timerFd_);
  ::close(timerFd_);
}

LoadResult LoadDriver::run() {
  startNs_ = monotonicNs();
  warmupEndNs_ = startNs_ + secondsToNs(options_.warmupS);
  if (options_.requests == 0) endNs_ = warmupEndNs_ + secondsToNs(options_.durationS);
  if (options_.timeoutS > 0) hardDeadlineNs_ = startNs_ + secondsToNs(options_.timeoutS);
  if (options_.rate > 0) {
    intervalNs_ = std::max<uint64_t>(1, static_cast<uint64_t>(1e9 / options_.rate));
    nextScheduleNs_ = startNs_;
    samples_.reserve(options_.requests > 0
                         ? options_.requests
                         : static_cast<size_t>(options_.rate * options_.durationS * 1.1) + 16);
  } else {
    samples_.reserve(options_.requests > 0 ? options_.requests : 1 << 20);
  }
  clients_.reserve(options_.connections);
  for (uint32_t i = 0; i < options_.connections; ++i) {
    clients_.push_back(std::make_unique<ClientConnection>(loop_, pool_, target_, request_, *this));
  }
  for (auto& client : clients_) client->connect();
  armTicker();
  loop_.run();

  result_.latency = samples_.summarize();
  if (lastCompletionNs_ > warmupEndNs_) {
    result_.elapsedS = static_cast<double>(lastCompletionNs_ - warmupEndNs_) / 1e9;
    result_.rps = static_cast<double>(result_.requests) / result_.elapsedS;
  }
  return result_;
}

bool LoadDriver::mayIssue(uint64_t now) const {
  if (phase_ != Phase::Running || now >= endNs_) return false;
  return options_.requests == 0 || now < warmupEndNs_ || issuedMeasured_ < options_.requests;
}

void LoadDriver::sendNext(ClientConnection& client, uint64_t now) {
  if (!mayIssue(now)) return;
  RequestTag tag{now, now >= warmupEndNs_};
  if (tag.measured) {
    ++issuedMeasured_;
    ++outstanding_;
  } else {
    ++result_.warmupRequests;
  }
  client.send(tag);
}

void LoadDriver::onIdle(ClientConnection& client) {
  if (phase_ == Phase::Done) return;
  if (options_.rate <= 0) {
    sendNext(client, monotonicNs());
    return;
  }
  if (!queue_.empty()) {
    RequestTag tag = queue_.front();
    queue_.pop_front();
    client.send(tag);
  }
}

void LoadDriver::onResponse(ClientConnection&, const RequestTag& tag, int status) {
  if (!tag.measured) return;
  uint64_t now = monotonicNs();
  samples_.record(now - tag.startNs);
  ++result_.requests;
  if (status < 200 || status > 299) ++result_.non2xx;
  lastCompletionNs_ = now;
  noteCompletion(tag);
}

void LoadDriver::onRequestFailed(ClientConnection&, const RequestTag& tag) {
  if (!tag.measured) return;
  ++result_.failedRequests;
  lastCompletionNs_ = monotonicNs();
  noteCompletion(tag);
}

void LoadDriver::onConnectionError(ClientConnection&) {
  ++result_.connectionErrors;
}

void LoadDriver::noteCompletion(const RequestTag&) {
  ++completedMeasured_;
  --outstanding_;
  if (options_.requests > 0 && completedMeasured_ >= options_.requests) {
    finish();
  } else if (phase_ == Phase::Draining && outstanding_ == 0) {
    finish();
  }
}

void LoadDriver::scheduleDue(uint64_t now) {
  while (phase_ == Phase::Running && nextScheduleNs_ <= now && nextScheduleNs_ < endNs_) {
    bool measured = nextScheduleNs_ >= warmupEndNs_;
    if (measured && options_.requests > 0 && issuedMeasured_ >= options_.requests) {
      nextScheduleNs_ = UINT64_MAX;  // every measured request is scheduled
      break;
    }
    if (measured) {
      ++issuedMeasured_;
      ++outstanding_;
      double lagUs = static_cast<double>(now - nextScheduleNs_) / 1000.0;
      result_.maxSchedulerLagUs = std::max(result_.maxSchedulerLagUs, lagUs);
    } else {
      ++result_.warmupRequests;
    }
    queue_.push_back(RequestTag{nextScheduleNs_, measured});
    nextScheduleNs_ += intervalNs_;
  }
  result_.maxQueue = std::max(result_.maxQueue, queue_.size());
}

void LoadDriver::dispatchQueued() {
  for (auto& client : clients_) {
    if (queue_.empty() || phase_ == Phase::Done) return;
    if (!client->idle()) continue;
    RequestTag tag = queue_.front();
    queue_.pop_front();
    client->send(tag);
  }
}

void LoadDriver::onTick() {
  uint64_t now = monotonicNs();
  if (phase_ == Phase::Running && options_.rate > 0) scheduleDue(now);
  if (phase_ == Phase::Running && now >= endNs_) beginDrain(now);
  dispatchQueued();
  if ((phase_ == Phase::Draining && now >= drainDeadlineNs_) || now >= hardDeadlineNs_) finish();
  armTicker();
}

void LoadDriver::beginDrain(uint64_t now) {
  phase_ = Phase::Draining;
  drainDeadlineNs_ = now + secondsToNs(options_.drainTimeoutS);
  if (outstanding_ == 0) finish();
}

void LoadDriver::finish() {
  if (phase_ == Phase::Done) return;
  phase_ = Phase::Done;
  if (options_.requests == 0) {
    result_.timedOut = outstanding_;
  } else if (completedMeasured_ < options_.requests) {
    result_.timedOut = options_.requests - completedMeasured_;
  }
  queue_.clear();
  for (auto& client : clients_) client->shutdown();
  loop_.stop();
}

void LoadDriver::armTicker() {
  uint64_t next = UINT64_MAX;
  if (phase_ == Phase::Running) {
    if (options_.rate > 0) next = nextScheduleNs_;
    next = std::min(next, endNs_);
  } else if (phase_ == Phase::Draining) {
    next = drainDeadlineNs_;
  }
  if (phase_ != Phase::Done) next = std::min(next, hardDeadlineNs_);
  itimerspec spec{};
  if (next != UINT64_MAX) {
    spec.it_value.tv_sec = static_cast<time_t>(next / 1'000'000'000ULL);
    spec.it_value.tv_nsec = static_cast<long>(next % 1'000'000'000ULL);
    if (spec.it_value.tv_sec == 0 && spec.it_value.tv_nsec == 0) spec.it_value.tv_nsec = 1;
  }
  ::timerfd_settime(timerFd_, TFD_TIMER_ABSTIME, &spec, nullptr);
}

}  // namespace trellis::loadgen
