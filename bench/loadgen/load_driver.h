#pragma once
// Drives a closed- or open-loop HTTP/1.1 load over a fixed set of keep-alive connections.
//
// Closed loop: every connection sends its next request as soon as the previous response arrives.
// Open loop: requests are scheduled at uniform intervals from a microsecond timerfd; a request
// goes out on an idle connection or waits in a queue, and its latency counts from its scheduled
// time, so a stalled server is charged for the requests it delayed (no coordinated omission).

#include <cstdint>
#include <deque>
#include <memory>
#include <string>
#include <vector>

#include "client_connection.h"
#include "common/event_loop.h"
#include "latency_samples.h"

namespace trellis::loadgen {

struct LoadOptions {
  std::string target;      // IP:PORT
  std::string host;        // Host header; the target when empty
  std::string path = "/";  // request-target
  uint32_t connections = 10;
  double durationS = 10;
  double warmupS = 0;
  double rate = 0;           // requests/s; 0 = closed loop
  uint64_t requests = 0;     // when > 0, stop after this many measured requests (no duration)
  double drainTimeoutS = 5;  // how long requests still outstanding at the end may take
  double timeoutS = 0;       // hard limit on the whole run; 0 = none
};

struct LoadResult {
  uint64_t requests = 0;  // measured responses, any status
  uint64_t non2xx = 0;
  uint64_t failedRequests = 0;    // measured requests lost to a connection failure
  uint64_t connectionErrors = 0;  // failed connects and broken idle connections
  uint64_t timedOut = 0;  // measured requests outstanding (or never sent) when the run timed out
  uint64_t warmupRequests = 0;
  double elapsedS = 0;  // from the end of warm-up to the last measured completion
  double rps = 0;
  size_t maxQueue = 0;           // open loop: most requests ever waiting for a connection
  double maxSchedulerLagUs = 0;  // open loop: latest timer wake-up after a scheduled send
  LatencySummary latency;

  uint64_t errors() const { return non2xx + failedRequests + timedOut + connectionErrors; }
};

class LoadDriver final : public ClientEvents {
 public:
  LoadDriver(EventLoop& loop, const SocketAddress& target, LoadOptions options);
  ~LoadDriver() override;

  /// Runs the load to completion on `loop` (blocks).
  LoadResult run();

  void onIdle(ClientConnection& client) override;
  void onResponse(ClientConnection& client, const RequestTag& tag, int status) override;
  void onRequestFailed(ClientConnection& client, const RequestTag& tag) override;
  void onConnectionError(ClientConnection& client) override;

 private:
  class Ticker;
  enum class Phase : uint8_t { Running, Draining, Done };

  void onTick();
  void scheduleDue(uint64_t now);
  void dispatchQueued();
  void sendNext(ClientConnection& client, uint64_t now);
  bool mayIssue(uint64_t now) const;
  void noteCompletion(const RequestTag& tag);
  void beginDrain(uint64_t now);
  void finish();
  void armTicker();

  EventLoop& loop_;
  SocketAddress target_;
  LoadOptions options_;
  std::string request_;
  BufferPool pool_;
  std::vector<std::unique_ptr<ClientConnection>> clients_;
  std::unique_ptr<Ticker> ticker_;
  int timerFd_ = -1;

  Phase phase_ = Phase::Running;
  uint64_t startNs_ = 0;
  uint64_t warmupEndNs_ = 0;
  uint64_t endNs_ = UINT64_MAX;  // end of scheduling in duration mode
  uint64_t drainDeadlineNs_ = 0;
  uint64_t hardDeadlineNs_ = UINT64_MAX;
  uint64_t intervalNs_ = 0;      // open loop
  uint64_t nextScheduleNs_ = 0;  // open loop
  uint64_t issuedMeasured_ = 0;
  uint64_t completedMeasured_ = 0;
  uint64_t outstanding_ = 0;  // measured requests queued or in flight
  uint64_t lastCompletionNs_ = 0;
  std::deque<RequestTag> queue_;
  LatencySamples samples_;
  LoadResult result_;
};

/// CLOCK_MONOTONIC in nanoseconds.
uint64_t monotonicNs();

}  // namespace trellis::loadgen
