#pragma once
// A trellis-echo worker thread: one epoll loop over its own SO_REUSEPORT listeners and the
// connections it accepted (a connection never changes thread).

#include <cstdint>
#include <memory>
#include <unordered_map>
#include <vector>

#include "apps/echo/echo_connection.h"
#include "apps/echo/echo_response.h"
#include "apps/echo/timer_queue.h"

namespace trellis::echo {

class EchoWorker {
 public:
  /// Takes ownership of `listenFds` (non-blocking, already listening).
  EchoWorker(const EchoIdentity& identity, std::vector<int> listenFds);
  ~EchoWorker();
  EchoWorker(const EchoWorker&) = delete;
  EchoWorker& operator=(const EchoWorker&) = delete;

  /// Serves until `stop()` is called; returns false if the loop failed to start.
  bool run();
  /// Asks `run()` to return; safe to call from any thread.
  void stop();

 private:
  void acceptAll(int listenFd);

  const EchoIdentity& identity_;
  std::vector<int> listeners_;
  int epollFd_ = -1;
  int stopFd_ = -1;
  TimerQueue timers_;
  EchoHttp2Shared http2Shared_;
  std::unordered_map<uint64_t, std::unique_ptr<EchoConnection>> connections_;
  uint64_t nextConnectionId_;
};

}  // namespace trellis::echo
