#pragma once
// trellis-proxy's process: loads the configuration, runs the workers, the admin listener and
// the signal handling on the main thread, reloads atomically and drains on shutdown.

#include <atomic>
#include <memory>
#include <string>
#include <vector>

#include "common/event_loop.h"
#include "proxy/active_config.h"
#include "proxy/admin_server.h"
#include "proxy/metrics.h"
#include "proxy/worker.h"

namespace trellis::proxy {

struct ProxyOptions {
  std::string configPath;
  unsigned concurrency = 0;  // 0 = number of cores
  std::string adminAddress = "127.0.0.1:9901";
  std::string adminPortFile;  // written with the bound admin port once ready
  uint64_t drainTimeoutMs = 5000;
};

class ProxyServer {
 public:
  explicit ProxyServer(ProxyOptions options);
  ~ProxyServer();
  /// Runs until SIGTERM/SIGINT and a drain; returns the process exit code.
  int run();

 private:
  class Signals;
  /// Loads the file and swaps it in; returns an empty string or the errors.
  std::string reload();
  AdminResponse handleAdmin(std::string_view method, std::string_view path);
  void shutdown();

  ProxyOptions options_;
  EventLoop loop_;
  AdminServer admin_;
  std::unique_ptr<Signals> signals_;
  std::vector<std::unique_ptr<WorkerStats>> stats_;
  std::vector<std::unique_ptr<Worker>> workers_;
  std::shared_ptr<const ActiveConfig> active_;
  ProcessStats process_;
  std::atomic<int> workersListening_{0};
  bool draining_ = false;
};

}  // namespace trellis::proxy
