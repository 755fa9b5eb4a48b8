#include "proxy/proxy_server.h"

#include <signal.h>
#include <sys/signalfd.h>
#include <unistd.h>

#include <fstream>
#include <mutex>
#include <nlohmann/json.hpp>
#include <thread>

#include "common/logging.h"
#include "config/dump.h"
#include "config/loader.h"

namespace trellis::proxy {

/// SIGHUP reloads, SIGTERM/SIGINT drain and exit; delivered through a signalfd on the main loop.
class ProxyServer::Signals final : public EventHandler {
 public:
  explicit Signals(ProxyServer& server) : server_(server) {
    sigset_t mask;
    sigemptyset(&mask);
    sigaddset(&mask, SIGHUP);
    sigaddset(&mask, SIGTERM);
    sigaddset(&mask, SIGINT);
    fd_ = ::signalfd(-1, &mask, SFD_NONBLOCK | SFD_CLOEXEC);
    server_.loop_.watchReadable(fd_, this);
  }
  ~Signals() override {
    server_.loop_.unwatch(fd_);
    ::close(fd_);
  }
  void onEvents(uint32_t) override {
    signalfd_siginfo info;
    while (::read(fd_, &info, sizeof info) == sizeof info) {
      if (info.ssi_signo == SIGHUP) {
        log::info("SIGHUP: reloading {}", server_.options_.configPath);
        server_.reload();
      } else {
        log::info("signal {}: draining", info.ssi_signo);
        server_.shutdown();
      }
    }
  }

 private:
  ProxyServer& server_;
  int fd_;
};

ProxyServer::ProxyServer(ProxyOptions options)
    : options_(std::move(options)),
      admin_(loop_, [this](std::string_view method, std::string_view path) {
        return handleAdmin(method, path);
      }) {}

ProxyServer::~ProxyServer() {
  for (auto& worker : workers_) worker->stop();
  workers_.clear();
}

int ProxyServer::run() {
  // Block the signals in every thread (workers inherit the mask); only the signalfd sees them.
  sigset_t mask;
  sigemptyset(&mask);
  sigaddset(&mask, SIGHUP);
  sigaddset(&mask, SIGTERM);
  sigaddset(&mask, SIGINT);
  pthread_sigmask(SIG_BLOCK, &mask, nullptr);
  ::signal(SIGPIPE, SIG_IGN);
  signals_ = std::make_unique<Signals>(*this);

  auto loaded = config::loadFile(options_.configPath);
  for (const auto& warning : loaded.warnings) log::warn("{}", warning.toString());
  if (!loaded.ok()) {
    for (const auto& error : loaded.errors) log::error("{}", error.toString());
    return 1;
  }
  auto snapshot = std::make_shared<config::Snapshot>(*loaded.snapshot);
  snapshot->version = 1;
  active_ = std::make_shared<const ActiveConfig>(std::move(snapshot));
  process_.configVersion = 1;

  unsigned n = options_.concurrency != 0 ? options_.concurrency
                                         : std::max(1u, std::thread::hardware_concurrency());
  process_.workers = n;
  std::mutex errorMutex;
  std::string startError;
  for (unsigned i = 0; i < n; ++i) {
    stats_.push_back(std::make_unique<WorkerStats>());
    workers_.push_back(std::make_unique<Worker>(static_cast<int>(i), *stats_.back()));
  }
  for (auto& worker : workers_) {
    worker->start(active_, [this, &errorMutex, &startError](const std::string& error) {
      if (!error.empty()) {
        std::lock_guard lock(errorMutex);
        startError += error;
      }
      workersListening_.fetch_add(1);
      loop_.post([] {});  // wake the main loop to re-check readiness
    });
  }
  // Wait for every worker to bind (readiness is only reported after this).
  while (workersListening_.load() < static_cast<int>(n)) std::this_thread::yield();
  {
    std::lock_guard lock(errorMutex);
    if (!startError.empty()) {
      log::error("{}", startError);
      for (auto& worker : workers_) worker->stop();
      return 1;
    }
  }

  auto adminAddress = SocketAddress::parseHostPort(options_.adminAddress);
  if (!adminAddress) {
    log::error("--admin-address {}: expected IP:PORT", options_.adminAddress);
    return 1;
  }
  if (std::string error = admin_.listen(*adminAddress); !error.empty()) {
    log::error("admin listener: {}", error);
    return 1;
  }
  if (!options_.adminPortFile.empty()) {
    std::string tmp = options_.adminPortFile + ".tmp";
    std::ofstream(tmp) << admin_.port() << "\n";
    ::rename(tmp.c_str(), options_.adminPortFile.c_str());
  }
  log::info("trellis-proxy ready: {} workers, {} listeners, admin on {}:{}", n,
            active_->snapshot->listeners.size(), adminAddress->ip(), admin_.port());
  loop_.run();
  for (auto& worker : workers_) worker->join();
  log::info("trellis-proxy stopped");
  return 0;
}

std::string ProxyServer::reload() {
  auto loaded = config::loadFile(options_.configPath);
  if (!loaded.ok()) {
    std::string errors;
    for (const auto& error : loaded.errors) errors += error.toString() + "\n";
    log::error("reload rejected, keeping version {}:\n{}", process_.configVersion, errors);
    process_.reloadsFailed++;
    process_.lastReloadOk = false;
    return errors;
  }
  for (const auto& warning : loaded.warnings) log::warn("{}", warning.toString());
  auto snapshot = std::make_shared<config::Snapshot>(*loaded.snapshot);
  snapshot->version = ++process_.configVersion;
  active_ = std::make_shared<const ActiveConfig>(std::move(snapshot));
  for (auto& worker : workers_) worker->applyConfig(active_);
  process_.reloadsSucceeded++;
  process_.lastReloadOk = true;
  log::info("configuration version {} applied", process_.configVersion);
  return {};
}

void ProxyServer::shutdown() {
  if (draining_) return;
  draining_ = true;
  admin_.close();
  for (auto& worker : workers_) worker->drain(options_.drainTimeoutMs);
  loop_.stop();
}

AdminResponse ProxyServer::handleAdmin(std::string_view method, std::string_view path) {
  AdminResponse response;
  if (path == "/healthz") {
    response.body = "ok\n";
  } else if (path == "/ready") {
    bool ready = !draining_ && active_ != nullptr;
    response.status = ready ? 200 : 503;
    response.body = ready ? "ready\n" : "not ready\n";
  } else if (path == "/stats/prometheus" || path == "/metrics") {
    std::vector<const WorkerStats*> shards;
    for (const auto& s : stats_) shards.push_back(s.get());
    response.contentType = "text/plain; version=0.0.4; charset=utf-8";
    response.body = renderPrometheus(shards, process_);
  } else if (path == "/config_dump") {
    nlohmann::json dump = config::toJson(*active_->snapshot);
    dump["version"] = process_.configVersion;
    dump["source"] = options_.configPath;
    response.contentType = "application/json";
    response.body = dump.dump(2, ' ', false, nlohmann::json::error_handler_t::replace) + "\n";
  } else if (path == "/clusters") {
    nlohmann::json clusters = nlohmann::json::array();
    for (const auto& [name, cluster] : active_->snapshot->clusters) {
      nlohmann::json endpoints = nlohmann::json::array();
      for (const auto& endpoint : cluster.endpoints) {
        endpoints.push_back(
            {{"address", endpoint.host}, {"port", endpoint.port}, {"weight", endpoint.weight}});
      }
      uint64_t opened = 0, reused = 0, failures = 0, resets = 0;
      int64_t active = 0;
      for (const auto& shard : stats_) {
        const auto& s = shard->cluster(name);
        opened += s.connectionsOpened.value();
        reused += s.connectionsReused.value();
        failures += s.connectFailures.value() + s.connectTimeouts.value();
        resets += s.resets.value();
        active += s.activeRequests.value();
      }
      clusters.push_back({{"name", name},
                          {"endpoints", endpoints},
                          {"stats",
                           {{"connections_opened", opened},
                            {"connections_reused", reused},
                            {"connect_failures", failures},
                            {"resets", resets},
                            {"requests_active", active}}}});
    }
    response.contentType = "application/json";
    response.body = nlohmann::json{{"clusters", clusters}}.dump(2) + "\n";
  } else if (path == "/reload") {
    if (method != "POST") {
      response.status = 405;
      response.body = "use POST\n";
    } else {
      std::string errors = reload();
      response.status = errors.empty() ? 200 : 400;
      response.body = errors.empty()
                          ? "reloaded: version " + std::to_string(process_.configVersion) + "\n"
                          : errors;
    }
  } else {
    response.status = 404;
    response.body =
        "endpoints: /ready /healthz /stats/prometheus /config_dump /clusters POST /reload\n";
  }
  return response;
}

}  // namespace trellis::proxy
