#include "resilience/health_checker.h"

#include <arpa/inet.h>
#include <gtest/gtest.h>
#include <netinet/in.h>
#include <poll.h>
#include <signal.h>
#include <spawn.h>
#include <sys/socket.h>
#include <sys/wait.h>
#include <unistd.h>

#include <atomic>
#include <chrono>
#include <cstdlib>
#include <filesystem>
#include <fstream>
#include <functional>
#include <map>
#include <mutex>
#include <set>
#include <string>
#include <thread>
#include <vector>

#include "common/event_loop.h"

extern char** environ;

namespace trellis::resilience {
namespace {

using Verdict = EndpointHealth::Verdict;
using namespace std::chrono_literals;

/// A blocking loopback listener; `port` receives its port.
int listenLoopback(uint16_t& port, bool listening = true) {
  int fd = ::socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
  int one = 1;
  ::setsockopt(fd, SOL_SOCKET, SO_REUSEADDR, &one, sizeof one);
  sockaddr_in address{};
  address.sin_family = AF_INET;
  address.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
  if (::bind(fd, reinterpret_cast<sockaddr*>(&address), sizeof address) != 0) return -1;
  if (listening && ::listen(fd, 64) != 0) return -1;
  socklen_t length = sizeof address;
  ::getsockname(fd, reinterpret_cast<sockaddr*>(&address), &length);
  port = ntohs(address.sin_port);
  return fd;
}

/// A port that refuses connections: bound (so nobody else takes it) but not listening.
struct ClosedPort {
  ClosedPort() : fd(listenLoopback(port, false)) {}
  ~ClosedPort() { ::close(fd); }
  uint16_t port = 0;
  int fd;
};

/// A listener that never calls accept(): the kernel completes handshakes into the backlog.
struct SilentListener {
  SilentListener() : fd(listenLoopback(port)) {}
  ~SilentListener() { close(); }
  void close() {
    if (fd >= 0) ::close(fd);
    fd = -1;
  }
  uint16_t port = 0;
  int fd;
};

/// A tiny HTTP/1.1 server on its own thread: answers every request with `status` (or a raw
/// response) and closes; in Silent mode it accepts and never answers.
class HttpServer {
 public:
  enum class Mode { Reply, Silent };
  explicit HttpServer(Mode mode = Mode::Reply) : mode_(mode), fd_(listenLoopback(port_)) {
    thread_ = std::thread([this] { run(); });
  }
  ~HttpServer() {
    stop_ = true;
    thread_.join();
    ::close(fd_);
    for (int fd : held_) ::close(fd);
  }
  uint16_t port() const { return port_; }
  void setStatus(int status) { status_ = status; }
  void setRawResponse(std::string response) {
    std::lock_guard lock(mutex_);
    raw_ = std::move(response);
  }
  int connections() const { return connections_; }
  std::vector<std::string> requests() {
    std::lock_guard lock(mutex_);
    return requests_;
  }

 private:
  void run() {
    while (!stop_) {
      pollfd p{fd_, POLLIN, 0};
      if (::poll(&p, 1, 10) <= 0) continue;
      int c = ::accept(fd_, nullptr, nullptr);
      if (c < 0) continue;
      ++connections_;
      if (mode_ == Mode::Silent) {
        held_.push_back(c);
        continue;
      }
      serve(c);
      ::close(c);
    }
  }
  void serve(int c) {
    std::string request;
    char buffer[4096];
    while (request.find("\r\n\r\n") == std::string::npos) {
      pollfd p{c, POLLIN, 0};
      if (::poll(&p, 1, 1000) <= 0) return;
      ssize_t n = ::recv(c, buffer, sizeof buffer, 0);
      if (n <= 0) return;
      request.append(buffer, static_cast<size_t>(n));
    }
    std::string response;
    {
      std::lock_guard lock(mutex_);
      requests_.push_back(request);
      response = raw_.empty() ? "HTTP/1.1 " + std::to_string(status_.load()) +
                                    " Whatever\r\nContent-Length: 2\r\nConnection: close\r\n\r\nok"
                              : raw_;
    }
    ::send(c, response.data(), response.size(), MSG_NOSIGNAL);
  }

  Mode mode_;
  uint16_t port_ = 0;
  int fd_;
  std::thread thread_;
  std::atomic<bool> stop_{false};
  std::atomic<int> status_{200};
  std::atomic<int> connections_{0};
  std::vector<int> held_;  // server thread only
  std::mutex mutex_;
  std::string raw_;
  std::vector<std::string> requests_;
};

struct Seen {
  std::string cluster;
  std::string endpoint;
  ProbeOutcome outcome;
  std::string detail;
  Verdict verdict;
  bool changed;
  uint64_t atMs;
};

config::HealthCheck httpCheck() {
  config::HealthCheck check;
  check.type = config::HealthCheck::Type::Http;
  check.interval = 20ms;
  check.timeout = 500ms;
  check.unhealthyThreshold = 3;
  check.healthyThreshold = 2;
  return check;
}

config::Cluster makeCluster(const std::string& name, const std::vector<uint16_t>& ports,
                            const config::HealthCheck& check) {
  config::Cluster cluster;
  cluster.name = name;
  for (uint16_t port : ports) cluster.endpoints.push_back({"127.0.0.1", port, 1, {}});
  cluster.healthCheck = check;
  return cluster;
}

std::string key(uint16_t port) {
  return "127.0.0.1:" + std::to_string(port);
}

class HealthCheckerTest : public ::testing::Test {
 protected:
  HealthCheckerTest() {
    checker.setProbeListener([this](const ProbeReport& report) {
      seen.push_back(Seen{std::string(report.cluster), std::string(report.endpoint), report.outcome,
                          std::string(report.detail), report.verdict, report.verdictChanged,
                          EventLoop::monotonicMs()});
      if (until && until()) stopOnce();
    });
  }

  /// Shared state as the proxy's ActiveConfig builds it.
  ClusterState stateFor(const config::Cluster& cluster) {
    ClusterState state;
    state.shared = shared.cluster(cluster.name);
    for (const auto& endpoint : cluster.endpoints) {
      state.endpointState.push_back(
          shared.endpoint(cluster.name, endpoint.host + ":" + std::to_string(endpoint.port)));
      state.endpoints.push_back(state.endpointState.back().get());
    }
    return state;
  }

  void apply(const std::vector<const config::Cluster*>& clusters) {
    std::vector<HealthTarget> targets;
    for (const config::Cluster* cluster : clusters) {
      targets.push_back(HealthTarget{cluster, stateFor(*cluster), {}});
    }
    checker.update(targets);
  }

  /// Runs the loop until `done` holds after a probe, or `maxMs` passed. True if `done` held.
  bool runUntil(std::function<bool()> done, uint64_t maxMs = 5000) {
    if (done()) return true;
    until = done;
    stopIssued = false;
    loop.timers().advance(EventLoop::monotonicMs());  // the loop's clock was idle meanwhile
    Timer watchdog([this] { stopOnce(); });
    watchdog.arm(loop.timers(), maxMs);
    loop.run();
    until = nullptr;
    return done();
  }
  /// EventLoop::stop() takes effect when the loop reads its wake-up; a second stop() in the same
  /// run would be left for the next run, which would then end at once.
  void stopOnce() {
    if (stopIssued) return;
    stopIssued = true;
    loop.stop();
  }
  /// Runs until `count` more probes of `endpoint` were reported.
  bool runProbes(const std::string& endpoint, size_t count) {
    const size_t target = probesOf(endpoint) + count;
    return runUntil([&] { return probesOf(endpoint) >= target; });
  }
  /// Runs for `ms` whatever happens.
  void runFor(uint64_t ms) {
    runUntil([] { return false; }, ms);
  }

  size_t probesOf(const std::string& endpoint) const {
    return static_cast<size_t>(std::count_if(
        seen.begin(), seen.end(), [&](const Seen& s) { return s.endpoint == endpoint; }));
  }
  const Seen& last(const std::string& endpoint) const {
    for (auto it = seen.rbegin(); it != seen.rend(); ++it) {
      if (it->endpoint == endpoint) return *it;
    }
    ADD_FAILURE() << "no probe of " << endpoint;
    return seen.front();
  }
  Verdict verdict(const std::string& cluster, uint16_t port) {
    return static_cast<Verdict>(
        shared.endpoint(cluster, key(port))->activeHealth.load(std::memory_order_relaxed));
  }
  uint64_t version(const std::string& cluster) {
    return shared.cluster(cluster)->healthVersion.load(std::memory_order_acquire);
  }
  std::map<std::string, HealthCheckStats> stats() const {
    std::map<std::string, HealthCheckStats> out;
    checker.visit([&](const std::string& name, const HealthCheckStats& s) { out[name] = s; });
    return out;
  }

  EventLoop loop;  // outlives the checker
  SharedState shared;
  HealthChecker checker{loop, 42};
  std::vector<Seen> seen;
  std::function<bool()> until;
  bool stopIssued = false;
};

TEST_F(HealthCheckerTest, HttpVerdictsFlipAfterExactlyTheThresholds) {
  HttpServer server;
  const auto cluster = makeCluster("default/web:80", {server.port()}, httpCheck());
  const std::string ep = key(server.port());
  apply({&cluster});

  // The first probe decides at once.
  ASSERT_TRUE(runProbes(ep, 1));
  EXPECT_EQ(last(ep).outcome, ProbeOutcome::Ok);
  EXPECT_TRUE(last(ep).changed);
  EXPECT_EQ(verdict(cluster.name, server.port()), EndpointHealth::kHealthy);
  EXPECT_EQ(version(cluster.name), 1u);
  ASSERT_EQ(server.requests().size(), 1u);
  EXPECT_EQ(server.requests()[0],
            "GET /healthz HTTP/1.1\r\nHost: web.default\r\nUser-Agent: trellis-health\r\n"
            "Connection: close\r\n\r\n");

  // unhealthyThreshold (3) consecutive failures, and not one fewer.
  server.setStatus(503);
  ASSERT_TRUE(runProbes(ep, 2));
  EXPECT_EQ(last(ep).outcome, ProbeOutcome::Failed);
  EXPECT_EQ(last(ep).detail, "HTTP status 503");
  EXPECT_EQ(verdict(cluster.name, server.port()), EndpointHealth::kHealthy);
  EXPECT_EQ(version(cluster.name), 1u);
  ASSERT_TRUE(runProbes(ep, 1));
  EXPECT_TRUE(last(ep).changed);
  EXPECT_EQ(verdict(cluster.name, server.port()), EndpointHealth::kUnhealthy);
  EXPECT_EQ(version(cluster.name), 2u);
  EXPECT_EQ(stats()[cluster.name].endpointsUnhealthy, 1u);

  // healthyThreshold (2) consecutive successes.
  server.setStatus(200);
  ASSERT_TRUE(runProbes(ep, 1));
  EXPECT_EQ(last(ep).outcome, ProbeOutcome::Ok);
  EXPECT_EQ(verdict(cluster.name, server.port()), EndpointHealth::kUnhealthy);
  EXPECT_EQ(version(cluster.name), 2u);
  ASSERT_TRUE(runProbes(ep, 1));
  EXPECT_EQ(verdict(cluster.name, server.port()), EndpointHealth::kHealthy);
  EXPECT_EQ(version(cluster.name), 3u);

  // Failures must be consecutive: a success in between starts the count again.
  server.setStatus(500);
  ASSERT_TRUE(runProbes(ep, 2));
  server.setStatus(204);
  ASSERT_TRUE(runProbes(ep, 1));
  server.setStatus(500);
  ASSERT_TRUE(runProbes(ep, 2));
  EXPECT_EQ(verdict(cluster.name, server.port()), EndpointHealth::kHealthy);
  EXPECT_EQ(version(cluster.name), 3u);
  ASSERT_TRUE(runProbes(ep, 1));
  EXPECT_EQ(verdict(cluster.name, server.port()), EndpointHealth::kUnhealthy);
  EXPECT_EQ(version(cluster.name), 4u);

  const HealthCheckStats s = stats()[cluster.name];
  EXPECT_EQ(s.probesOk, 4u);
  EXPECT_EQ(s.probesFailed, 8u);
  EXPECT_EQ(s.probesTimedOut, 0u);
  EXPECT_EQ(s.endpoints, 1u);
  EXPECT_EQ(s.endpointsUnhealthy, 1u);
}

TEST_F(HealthCheckerTest, HttpExpectedStatusRangesHostAndPath) {
  HttpServer server;
  auto check = httpCheck();
  check.path = "/ready?deep=1";
  check.host = "health.internal";
  check.expectedStatuses = {{200, 200}, {418, 418}};
  const auto cluster = makeCluster("default/web:80", {server.port()}, check);
  const std::string ep = key(server.port());
  apply({&cluster});

  server.setStatus(418);
  ASSERT_TRUE(runProbes(ep, 1));
  EXPECT_EQ(last(ep).outcome, ProbeOutcome::Ok);
  server.setStatus(204);  // a 2xx, but not listed
  ASSERT_TRUE(runProbes(ep, 1));
  EXPECT_EQ(last(ep).outcome, ProbeOutcome::Failed);
  server.setStatus(200);
  ASSERT_TRUE(runProbes(ep, 1));
  EXPECT_EQ(last(ep).outcome, ProbeOutcome::Ok);
  ASSERT_GE(server.requests().size(), 1u);
  EXPECT_EQ(server.requests()[0],
            "GET /ready?deep=1 HTTP/1.1\r\nHost: health.internal\r\nUser-Agent: "
            "trellis-health\r\nConnection: close\r\n\r\n");
}

TEST_F(HealthCheckerTest, HttpInterimAndMalformedResponses) {
  HttpServer server;
  const auto cluster = makeCluster("c", {server.port()}, httpCheck());
  const std::string ep = key(server.port());
  apply({&cluster});

  server.setRawResponse(
      "HTTP/1.1 100 Continue\r\n\r\nHTTP/1.1 200 OK\r\nContent-Length: 0\r\n\r\n");
  ASSERT_TRUE(runProbes(ep, 1));
  EXPECT_EQ(last(ep).outcome, ProbeOutcome::Ok) << last(ep).detail;
  server.setRawResponse("SSH-2.0-OpenSSH_9.2\r\n\r\n");
  ASSERT_TRUE(runProbes(ep, 1));
  EXPECT_EQ(last(ep).outcome, ProbeOutcome::Failed);
  EXPECT_NE(last(ep).detail.find("bad response"), std::string::npos) << last(ep).detail;
}

TEST_F(HealthCheckerTest, RefusedConnectionFailsAndFirstProbeDecides) {
  ClosedPort closed;
  const auto cluster = makeCluster("c", {closed.port}, httpCheck());
  const std::string ep = key(closed.port);
  EXPECT_EQ(verdict("c", closed.port), EndpointHealth::kUnknown);
  apply({&cluster});
  ASSERT_TRUE(runProbes(ep, 1));
  EXPECT_EQ(last(ep).outcome, ProbeOutcome::Failed);
  EXPECT_NE(last(ep).detail.find("refused"), std::string::npos) << last(ep).detail;
  // From kUnknown one failure decides, whatever unhealthyThreshold says.
  EXPECT_EQ(verdict("c", closed.port), EndpointHealth::kUnhealthy);
  EXPECT_EQ(version("c"), 1u);
  ASSERT_TRUE(runProbes(ep, 2));
  EXPECT_EQ(version("c"), 1u);  // no change, no bump
  EXPECT_EQ(stats()["c"].probesFailed, 3u);
}

TEST_F(HealthCheckerTest, SilentServerTimesOut) {
  HttpServer server(HttpServer::Mode::Silent);
  auto check = httpCheck();
  check.timeout = 60ms;
  const auto cluster = makeCluster("c", {server.port()}, check);
  const std::string ep = key(server.port());
  apply({&cluster});
  const uint64_t start = EventLoop::monotonicMs();
  ASSERT_TRUE(runProbes(ep, 2));
  // Two timeouts and an interval in between, at the least.
  EXPECT_GE(last(ep).atMs - start, 2 * 60u + 20u);
  EXPECT_EQ(last(ep).outcome, ProbeOutcome::TimedOut);
  EXPECT_EQ(verdict("c", server.port()), EndpointHealth::kUnhealthy);
  const HealthCheckStats s = stats()["c"];
  EXPECT_EQ(s.probesTimedOut, 2u);
  EXPECT_EQ(s.probesFailed, 0u);
  EXPECT_EQ(s.probesOk, 0u);
  EXPECT_GE(server.connections(), 2);
}

TEST_F(HealthCheckerTest, TcpConnectDecides) {
  SilentListener listener;  // connect succeeds without accept()
  auto check = httpCheck();
  check.type = config::HealthCheck::Type::Tcp;
  check.unhealthyThreshold = 2;
  const auto cluster = makeCluster("tcp", {listener.port}, check);
  const std::string ep = key(listener.port);
  apply({&cluster});
  ASSERT_TRUE(runProbes(ep, 2));
  EXPECT_EQ(last(ep).outcome, ProbeOutcome::Ok);
  EXPECT_EQ(verdict("tcp", listener.port), EndpointHealth::kHealthy);

  listener.close();  // the port refuses from now on
  ASSERT_TRUE(runProbes(ep, 1));
  EXPECT_EQ(last(ep).outcome, ProbeOutcome::Failed);
  EXPECT_EQ(verdict("tcp", listener.port), EndpointHealth::kHealthy);
  ASSERT_TRUE(runProbes(ep, 1));
  EXPECT_EQ(verdict("tcp", listener.port), EndpointHealth::kUnhealthy);
  EXPECT_EQ(version("tcp"), 2u);
}

// A mesh endpoint (one with an identity) is probed over mutual TLS, as traffic reaches it: a
// plaintext probe would be refused by a STRICT peer. Without a workload certificate the probe
// fails and says why, instead of probing in plaintext.
TEST_F(HealthCheckerTest, MeshEndpointIsNeverProbedInPlaintext) {
  SilentListener listener;
  auto check = httpCheck();
  check.type = config::HealthCheck::Type::Tcp;
  auto cluster = makeCluster("mesh", {listener.port}, check);
  cluster.endpoints[0].identity = "spiffe://trellis.local/ns/shop/sa/billing";
  const std::string ep = key(listener.port);
  apply({&cluster});
  ASSERT_TRUE(runProbes(ep, 1));
  EXPECT_EQ(last(ep).outcome, ProbeOutcome::Failed);
  EXPECT_EQ(last(ep).detail, "mutual TLS: this proxy has no workload certificate");
  EXPECT_EQ(verdict("mesh", listener.port), EndpointHealth::kUnhealthy);
}

TEST_F(HealthCheckerTest, UpdateKeepsCountersOfRemainingEndpointsAndStopsRemovedOnes) {
  HttpServer a;
  HttpServer b;
  auto cluster = makeCluster("c", {a.port()}, httpCheck());
  const std::string epA = key(a.port());
  const std::string epB = key(b.port());
  apply({&cluster});
  ASSERT_TRUE(runProbes(epA, 1));
  EXPECT_EQ(verdict("c", a.port()), EndpointHealth::kHealthy);
  a.setStatus(503);
  ASSERT_TRUE(runProbes(epA, 2));

  // A new configuration adds b and changes the path: a keeps its two failures.
  auto next = makeCluster("c", {a.port(), b.port()}, httpCheck());
  next.healthCheck->path = "/v2/health";
  apply({&next});
  ASSERT_TRUE(runProbes(epA, 1));
  EXPECT_EQ(verdict("c", a.port()), EndpointHealth::kUnhealthy);
  EXPECT_NE(a.requests().back().find("GET /v2/health "), std::string::npos);
  ASSERT_TRUE(runUntil([&] { return probesOf(epB) >= 1; }));
  EXPECT_EQ(verdict("c", b.port()), EndpointHealth::kHealthy);
  EXPECT_EQ(stats()["c"].endpoints, 2u);

  // a leaves: its probes stop and its verdict no longer holds.
  const uint64_t before = version("c");
  auto onlyB = makeCluster("c", {b.port()}, httpCheck());
  apply({&onlyB});
  EXPECT_EQ(verdict("c", a.port()), EndpointHealth::kUnknown);
  EXPECT_EQ(version("c"), before + 1);
  const size_t probesOfA = probesOf(epA);
  const int connectionsOfA = a.connections();
  ASSERT_TRUE(runProbes(epB, 4));
  EXPECT_EQ(probesOf(epA), probesOfA);
  EXPECT_EQ(a.connections(), connectionsOfA);
  EXPECT_EQ(stats()["c"].endpoints, 1u);

  // The cluster drops its health check: everything stops, verdicts reset.
  auto unchecked = onlyB;
  unchecked.healthCheck.reset();
  apply({&unchecked});
  EXPECT_EQ(verdict("c", b.port()), EndpointHealth::kUnknown);
  EXPECT_TRUE(stats().empty());
  const size_t total = seen.size();
  runFor(100);
  EXPECT_EQ(seen.size(), total);
}

TEST_F(HealthCheckerTest, StopCancelsEverythingAndKeepsVerdicts) {
  HttpServer server(HttpServer::Mode::Silent);
  ClosedPort closed;
  auto check = httpCheck();
  check.timeout = 60ms;
  const auto cluster = makeCluster("c", {server.port(), closed.port}, check);
  apply({&cluster});
  ASSERT_TRUE(runUntil([&] { return probesOf(key(closed.port)) >= 1; }));
  EXPECT_EQ(verdict("c", closed.port), EndpointHealth::kUnhealthy);
  // The probe of the silent server may be in flight; stopping must abandon it quietly.
  checker.stop();
  const size_t total = seen.size();
  runFor(150);
  EXPECT_EQ(seen.size(), total);
  EXPECT_EQ(verdict("c", closed.port), EndpointHealth::kUnhealthy);
  EXPECT_TRUE(stats().empty());
}

TEST_F(HealthCheckerTest, ListenerMayStopTheCheckerFromInsideAProbe) {
  ClosedPort closed;
  const auto cluster = makeCluster("c", {closed.port}, httpCheck());
  apply({&cluster});
  // The listener runs inside the probe's own callbacks (here: a refused connect, reported from
  // the interval timer); stop() from there must work, and no probe may follow.
  checker.setProbeListener([&](const ProbeReport&) {
    checker.stop();
    seen.push_back(Seen{});
    stopOnce();
  });
  ASSERT_TRUE(runUntil([&] { return !seen.empty(); }, 2000));
  EXPECT_EQ(seen.size(), 1u);
  runFor(100);
  EXPECT_EQ(seen.size(), 1u);
}

TEST_F(HealthCheckerTest, FirstProbesAreJitteredWithinTenPercentOfTheInterval) {
  SilentListener listener;
  auto check = httpCheck();
  check.type = config::HealthCheck::Type::Tcp;
  check.interval = 2000ms;
  std::vector<config::Cluster> clusters;
  for (int i = 0; i < 8; ++i)
    clusters.push_back(makeCluster("c" + std::to_string(i), {listener.port}, check));
  std::vector<const config::Cluster*> pointers;
  for (const auto& cluster : clusters) pointers.push_back(&cluster);
  const uint64_t start = EventLoop::monotonicMs();
  apply(pointers);
  ASSERT_TRUE(runUntil([&] { return seen.size() >= clusters.size(); }, 1000));
  uint64_t first = UINT64_MAX;
  uint64_t lastAt = 0;
  for (const Seen& s : seen) {
    first = std::min(first, s.atMs);
    lastAt = std::max(lastAt, s.atMs);
  }
  EXPECT_LE(lastAt - start, 200u + 50u);  // 10% of 2 s, plus timer ticks and slack
  EXPECT_GT(lastAt - first, 4u);          // not in lockstep
}

TEST_F(HealthCheckerTest, TargetsOfAnActiveConfigLikeObject) {
  struct FakeActive {  // the shape of proxy::ActiveConfig
    std::shared_ptr<const config::Snapshot> snapshot;
    std::map<std::string, ClusterState> clusters;
    const ClusterState* cluster(const std::string& name) const {
      auto it = clusters.find(name);
      return it == clusters.end() ? nullptr : &it->second;
    }
  };
  auto snapshot = std::make_shared<config::Snapshot>();
  snapshot->clusters["checked"] = makeCluster("checked", {1}, httpCheck());
  snapshot->clusters["unchecked"] = makeCluster("unchecked", {2}, httpCheck());
  snapshot->clusters["unchecked"].healthCheck.reset();
  snapshot->clusters["stateless"] = makeCluster("stateless", {3}, httpCheck());
  FakeActive active{snapshot, {}};
  active.clusters["checked"] = stateFor(snapshot->clusters["checked"]);
  active.clusters["unchecked"] = stateFor(snapshot->clusters["unchecked"]);

  const auto targets = HealthChecker::targetsOf(active);
  ASSERT_EQ(targets.size(), 1u);
  EXPECT_EQ(targets[0].cluster, &snapshot->clusters.at("checked"));
  EXPECT_EQ(targets[0].state.shared, shared.cluster("checked"));
  ASSERT_EQ(targets[0].state.endpointState.size(), 1u);
}

// ---------------------------------------------------------------------------------------------
// gRPC against python3-grpcio (an independent HTTP/2 and gRPC implementation).

constexpr const char* kGrpcHealthServer = R"PY(
import os, sys, threading, time
from concurrent import futures
import grpc

# Exit with the test even if it crashes: an orphan holding the test's output open would keep
# ctest waiting.
PARENT = os.getppid()
def watch_parent():
    while os.getppid() == PARENT:
        time.sleep(0.2)
    os._exit(0)
threading.Thread(target=watch_parent, daemon=True).start()

SERVING = {"": 1, "good": 1, "bad": 2}

def parse_service(request):
    if not request:
        return ""
    if request[0] != 0x0A or len(request) < 2 or request[1] >= 0x80:
        return None
    return request[2:2 + request[1]].decode()

def check(request, context):
    service = parse_service(request)
    if service not in SERVING:
        context.abort(grpc.StatusCode.NOT_FOUND, "unknown service %r" % service)
    return bytes([0x08, SERVING[service]])

server = grpc.server(futures.ThreadPoolExecutor(max_workers=4))
server.add_generic_rpc_handlers((grpc.method_handlers_generic_handler(
    "grpc.health.v1.Health", {"Check": grpc.unary_unary_rpc_method_handler(check)}),))
port = server.add_insecure_port("127.0.0.1:0")
server.start()
with open(sys.argv[1] + ".tmp", "w") as f:
    f.write(str(port))
os.rename(sys.argv[1] + ".tmp", sys.argv[1])
server.wait_for_termination()
)PY";

class PythonGrpcHealthServer {
 public:
  PythonGrpcHealthServer() {
    char pattern[] = "/tmp/trellis-hc-XXXXXX";
    dir_ = ::mkdtemp(pattern);
    std::ofstream(dir_ + "/server.py") << kGrpcHealthServer;
    const std::string script = dir_ + "/server.py";
    const std::string ready = dir_ + "/port";
    const char* argv[] = {"/usr/bin/python3", script.c_str(), ready.c_str(), nullptr};
    if (::posix_spawn(&pid_, argv[0], nullptr, nullptr, const_cast<char**>(argv), environ) != 0) {
      pid_ = -1;
      return;
    }
    for (int i = 0; i < 300 && port_ == 0; ++i) {
      std::ifstream in(ready);
      int port = 0;
      if (in >> port) port_ = static_cast<uint16_t>(port);
      if (port_ == 0) std::this_thread::sleep_for(50ms);
    }
  }
  ~PythonGrpcHealthServer() {
    if (pid_ > 0) {
      ::kill(pid_, SIGKILL);
      ::waitpid(pid_, nullptr, 0);
    }
    std::filesystem::remove_all(dir_);
  }
  uint16_t port() const { return port_; }

 private:
  std::string dir_;
  pid_t pid_ = -1;
  uint16_t port_ = 0;
};

bool pythonGrpcAvailable() {
  return std::system("/usr/bin/python3 -c 'import grpc' >/dev/null 2>&1") == 0;
}

TEST_F(HealthCheckerTest, GrpcHealthCheckAgainstGrpcio) {
  // python3-grpcio is installed by scripts/install-deps.sh: its absence is a failure, not a skip.
  ASSERT_TRUE(pythonGrpcAvailable()) << "/usr/bin/python3 has no grpc module";
  PythonGrpcHealthServer server;
  ASSERT_NE(server.port(), 0) << "the python gRPC server did not start";
  HttpServer http1;  // not HTTP/2 at all

  auto check = httpCheck();
  check.type = config::HealthCheck::Type::Grpc;
  auto withService = [&](std::string name, std::string service, uint16_t port) {
    auto c = check;
    c.grpcService = std::move(service);
    return makeCluster(std::move(name), {port}, c);
  };
  // Cluster names as the loader makes them ("ns/svc:port") are the default :authority.
  const auto good = withService("default/good:50051", "good", server.port());
  const auto whole = withService("whole", "", server.port());
  const auto bad = withService("bad", "bad", server.port());
  const auto missing = withService("missing", "no.such.Service", server.port());
  const auto notGrpc = withService("http1", "", http1.port());
  apply({&good, &whole, &bad, &missing, &notGrpc});

  auto probesOfCluster = [&](const std::string& name) {
    return std::count_if(seen.begin(), seen.end(),
                         [&](const Seen& s) { return s.cluster == name; });
  };
  auto lastOf = [&](const std::string& name) {
    for (auto it = seen.rbegin(); it != seen.rend(); ++it) {
      if (it->cluster == name) return *it;
    }
    return Seen{};
  };
  ASSERT_TRUE(runUntil([&] {
    for (const char* name : {"default/good:50051", "whole", "bad", "missing", "http1"}) {
      if (probesOfCluster(name) < 2) return false;
    }
    return true;
  }));
  EXPECT_EQ(lastOf("default/good:50051").outcome, ProbeOutcome::Ok)
      << lastOf("default/good:50051").detail;
  EXPECT_EQ(verdict("default/good:50051", server.port()), EndpointHealth::kHealthy);
  EXPECT_EQ(lastOf("whole").outcome, ProbeOutcome::Ok) << lastOf("whole").detail;
  EXPECT_EQ(verdict("whole", server.port()), EndpointHealth::kHealthy);

  EXPECT_EQ(lastOf("bad").outcome, ProbeOutcome::Failed);
  EXPECT_EQ(lastOf("bad").detail, "serving status NOT_SERVING");
  EXPECT_EQ(verdict("bad", server.port()), EndpointHealth::kUnhealthy);
  EXPECT_EQ(lastOf("missing").outcome, ProbeOutcome::Failed);
  EXPECT_NE(lastOf("missing").detail.find("grpc-status 5 NOT_FOUND"), std::string::npos)
      << lastOf("missing").detail;
  EXPECT_EQ(verdict("missing", server.port()), EndpointHealth::kUnhealthy);
  EXPECT_EQ(lastOf("http1").outcome, ProbeOutcome::Failed);
  EXPECT_EQ(verdict("http1", http1.port()), EndpointHealth::kUnhealthy);

  auto s = stats();
  EXPECT_GE(s["whole"].probesOk, 2u);
  EXPECT_EQ(s["whole"].probesFailed + s["whole"].probesTimedOut, 0u);
  EXPECT_EQ(s["bad"].probesOk, 0u);
}

}  // namespace
}  // namespace trellis::resilience
