// trellis-echo: an HTTP/1.1 and HTTP/2 (h2c, prior knowledge, on the same port) echo server used
// as the upstream in tests, demos and benchmarks. Every request is answered with a JSON
// description of itself; knobs in the query string or in x-echo-* headers change the response
// (status, delay, close, reset, body size, chunking, ...); gRPC requests get their messages
// echoed back. See README.md beside this file.

#include <signal.h>
#include <unistd.h>

#include <cstdio>
#include <fstream>
#include <memory>
#include <string>
#include <thread>
#include <vector>

#include <fmt/format.h>
#include <CLI/CLI.hpp>

#include "apps/echo/echo_knobs.h"
#include "apps/echo/echo_response.h"
#include "apps/echo/echo_worker.h"
#include "apps/echo/listen_address.h"

namespace {

struct Options {
  std::vector<std::string> listen;
  std::string name = "echo";
  std::string instance;
  int threads = 1;
  std::string readyFile;
};

std::string defaultInstance() {
  char host[256] = {};
  if (gethostname(host, sizeof(host) - 1) != 0 || host[0] == '\0') return "echo-0";
  return host;
}

bool safeHeaderValue(const std::string& value) {
  for (char c : value) {
    auto u = static_cast<unsigned char>(c);
    if (u < 0x20 || u == 0x7f) return false;
  }
  return true;
}

// Written to a temporary name and renamed, so a reader never sees a partial file.
bool writeReadyFile(const std::string& path, const std::vector<std::string>& lines) {
  const std::string temp = path + ".tmp";
  {
    std::ofstream out(temp, std::ios::trunc);
    for (const auto& line : lines) out << line << '\n';
    if (!out.flush()) return false;
  }
  return std::rename(temp.c_str(), path.c_str()) == 0;
}

}  // namespace

int main(int argc, char** argv) {
  using namespace trellis::echo;
  Options options;
  CLI::App app{"trellis-echo: HTTP/1.1 and h2c echo server for tests, demos and benchmarks"};
  app.add_option("--listen", options.listen,
                 "ADDR:PORT to listen on, repeatable; port 0 picks a free port "
                 "(default 127.0.0.1:8080)");
  app.add_option("--name", options.name, "Service name reported in responses")
      ->capture_default_str();
  app.add_option("--instance", options.instance, "Instance id reported (default: hostname)");
  app.add_option("--threads", options.threads, "Worker threads, each with its own epoll loop")
      ->check(CLI::Range(1, 256))
      ->capture_default_str();
  app.add_option("--ready-file", options.readyFile,
                 "Written with the bound ADDR:PORT lines once listening");
  std::string knobs;
  app.add_option("--knobs", knobs,
                 "Knobs applied to every request before its own, as a query string "
                 "(e.g. delay=2s or status=503)");
  CLI11_PARSE(app, argc, argv);
  if (!setDefaultKnobs(knobs)) {
    fmt::print(stderr, "trellis-echo: invalid --knobs {}\n", knobs);
    return 2;
  }

  if (options.listen.empty()) options.listen.push_back("127.0.0.1:8080");
  if (options.instance.empty()) options.instance = defaultInstance();
  if (!safeHeaderValue(options.name) || !safeHeaderValue(options.instance)) {
    fmt::print(stderr, "trellis-echo: --name and --instance must not contain control bytes\n");
    return 2;
  }

  // Signals are taken synchronously by the main thread; workers never see them.
  sigset_t stopSignals;
  sigemptyset(&stopSignals);
  sigaddset(&stopSignals, SIGINT);
  sigaddset(&stopSignals, SIGTERM);
  pthread_sigmask(SIG_BLOCK, &stopSignals, nullptr);
  signal(SIGPIPE, SIG_IGN);

  std::vector<std::vector<int>> workerFds(static_cast<size_t>(options.threads));
  std::vector<std::string> boundAddresses;
  for (const std::string& text : options.listen) {
    std::string error;
    auto address = parseListenAddress(text, error);
    sockaddr_storage bound{};
    std::vector<int> fds;
    if (address) fds = openReusePortListeners(*address, options.threads, bound, error);
    if (fds.empty()) {
      fmt::print(stderr, "trellis-echo: --listen {}\n", error);
      return 1;
    }
    for (size_t i = 0; i < fds.size(); ++i) workerFds[i].push_back(fds[i]);
    boundAddresses.push_back(formatAddress(bound));
  }

  const EchoIdentity identity = makeEchoIdentity(options.name, options.instance);
  std::vector<std::unique_ptr<EchoWorker>> workers;
  std::vector<std::thread> threads;
  workers.reserve(workerFds.size());
  threads.reserve(workerFds.size());
  for (auto& fds : workerFds) workers.push_back(std::make_unique<EchoWorker>(identity, fds));
  for (auto& worker : workers) {
    threads.emplace_back([&worker] {
      if (!worker->run()) fmt::print(stderr, "trellis-echo: worker loop failed\n");
    });
  }

  // The kernel queues connections from listen() on, so the server is ready before workers spin.
  for (const auto& address : boundAddresses) {
    fmt::print("trellis-echo {}/{} listening on {}\n", options.name, options.instance, address);
  }
  std::fflush(stdout);
  int status = 0;
  if (!options.readyFile.empty() && !writeReadyFile(options.readyFile, boundAddresses)) {
    fmt::print(stderr, "trellis-echo: cannot write --ready-file {}\n", options.readyFile);
    status = 1;
  } else {
    int signal = 0;
    sigwait(&stopSignals, &signal);
  }
  for (auto& worker : workers) worker->stop();
  for (auto& thread : threads) thread.join();
  return status;
}
