#pragma once
// An AdsClient on its own EventLoop thread, as the proxy runs it on its main loop, with an
// ApplyFn that records every resource set it is given and answers with a scriptable verdict.

#include <chrono>
#include <condition_variable>
#include <functional>
#include <future>
#include <memory>
#include <mutex>
#include <thread>
#include <type_traits>
#include <vector>

#include "common/event_loop.h"
#include "xds/client/ads_client.h"

namespace trellis::xds::client::test {

using namespace std::chrono_literals;

class ClientHarness {
 public:
  explicit ClientHarness(AdsClientOptions options) {
    client_ = std::make_unique<AdsClient>(loop_, std::move(options),
                                          [this](const Resources& r) { return onApply(r); });
    thread_ = std::thread([this] { loop_.run(); });
  }
  ~ClientHarness() {
    // Destroyed once the loop has stopped: an event of the current batch may still name the
    // client's connection.
    loop_.stop();
    thread_.join();
    client_.reset();
    loop_.flushDeferred();
  }

  /// Runs `fn` on the loop thread and returns its result.
  template <typename Fn>
  auto call(Fn fn) -> std::invoke_result_t<Fn> {
    std::packaged_task<std::invoke_result_t<Fn>()> task(std::move(fn));
    auto result = task.get_future();
    loop_.post([&task] { task(); });
    return result.get();
  }

  std::string start() {
    return call([this] { return client_->start(); });
  }
  void stop() {
    call([this] { client_->stop(); });
  }
  AdsStatus status() {
    return call([this] { return client_->status(); });
  }

  /// Waits until `predicate(status())` holds; false after `timeout`.
  bool waitForStatus(const std::function<bool(const AdsStatus&)>& predicate,
                     std::chrono::milliseconds timeout = 10s) {
    auto deadline = std::chrono::steady_clock::now() + timeout;
    for (;;) {
      if (predicate(status())) return true;
      if (std::chrono::steady_clock::now() >= deadline) return false;
      std::unique_lock lock(mutex_);
      // Woken early by an apply; otherwise re-check a status that changed without one.
      changed_.wait_for(lock, 5ms);
    }
  }

  /// Every set given to the ApplyFn, accepted or not.
  std::vector<Resources> applied() {
    std::lock_guard lock(mutex_);
    return applied_;
  }
  size_t appliedCount() {
    std::lock_guard lock(mutex_);
    return applied_.size();
  }
  /// Waits until the ApplyFn has been called `n` times; false after `timeout`.
  bool waitForApplies(size_t n, std::chrono::milliseconds timeout = 10s) {
    std::unique_lock lock(mutex_);
    return changed_.wait_for(lock, timeout, [&] { return applied_.size() >= n; });
  }
  /// The ApplyFn's answer from now on ("" = accept).
  void setVerdict(std::function<std::string(const Resources&)> verdict) {
    std::lock_guard lock(mutex_);
    verdict_ = std::move(verdict);
  }

 private:
  std::string onApply(const Resources& resources) {
    std::lock_guard lock(mutex_);
    applied_.push_back(resources);
    changed_.notify_all();
    return verdict_ ? verdict_(resources) : std::string();
  }

  EventLoop loop_;
  std::unique_ptr<AdsClient> client_;
  std::thread thread_;
  std::mutex mutex_;
  std::condition_variable changed_;
  std::vector<Resources> applied_;
  std::function<std::string(const Resources&)> verdict_;
};

}  // namespace trellis::xds::client::test
