#include "proxy/worker.h"

#include <sys/socket.h>
#include <unistd.h>

#include <cerrno>

#include "common/logging.h"
#include "common/socket.h"
#include "proxy/http2_session.h"
#include "proxy/http2_upstream_pool.h"
#include "proxy/http_session.h"
#include "proxy/protocol_sniffer.h"
#include "proxy/tcp_session.h"
#include "proxy/tls_handshake.h"

namespace trellis::proxy {

/// One SO_REUSEPORT listening socket of this worker; the kernel spreads connections across
/// workers' sockets, so accepting never contends with another thread.
class Worker::ListenSocket final : public EventHandler {
 public:
  ListenSocket(Worker& worker, int fd)
      : worker_(worker), fd_(fd), resume_([this] { worker_.loop_.watchReadable(fd_, this); }) {
    worker_.loop_.watchReadable(fd_, this);
  }
  ~ListenSocket() override {
    if (!resume_.armed()) worker_.loop_.unwatch(fd_);
    ::close(fd_);
  }
  void onEvents(uint32_t) override {
    // Bounded batch so one busy listener cannot starve established connections.
    for (int i = 0; i < 64; ++i) {
      SocketAddress peer;
      peer.length = sizeof peer.storage;
      int fd = ::accept4(fd_, reinterpret_cast<sockaddr*>(&peer.storage), &peer.length,
                         SOCK_NONBLOCK | SOCK_CLOEXEC);
      if (fd < 0) {
        if (errno == EMFILE || errno == ENFILE || errno == ENOBUFS || errno == ENOMEM) {
          // Out of descriptors or memory: the socket stays readable, so pause it briefly
          // instead of spinning; connections wait in the kernel's accept queue meanwhile.
          worker_.stats_.listener(worker_.config_->listeners[listenerIndex].config->name)
              .acceptPauses.inc();
          worker_.loop_.unwatch(fd_);
          resume_.arm(worker_.loop_.timers(), 100);
        }
        return;
      }
      if (worker_.draining_) {
        ::close(fd);
        continue;
      }
      const auto& listener = worker_.config_->listeners[listenerIndex];
      if (listener.connectionLimiter != nullptr &&
          !listener.connectionLimiter->tryAcquire(
              {}, static_cast<int64_t>(EventLoop::monotonicMicros()))) {
        // Over the listener's connection rate: closed at once, before any byte is read.
        listener.stats->connectionsRateLimited.inc();
        ::close(fd);
        continue;
      }
      setNoDelay(fd);
      listener.stats->connectionsTotal.inc();
      auto connection = std::make_unique<Connection>(worker_.loop_, worker_.buffers_, fd);
      std::unique_ptr<Session> session;
      if (listener.config->mtls != config::MtlsMode::Disable) {
        // Mutual TLS (or PERMISSIVE's plaintext) first; the listener's session comes after.
        session =
            std::make_unique<TlsAcceptor>(worker_, std::move(connection), peer, listenerIndex);
        worker_.adopt(std::move(session));
        continue;
      }
      worker_.adopt(makeSession(worker_, std::move(connection), peer, listenerIndex));
    }
  }
  size_t listenerIndex = 0;

 private:
  Worker& worker_;
  int fd_;
  Timer resume_;
};

std::unique_ptr<Session> makeSession(Worker& worker, std::unique_ptr<Connection> connection,
                                     const SocketAddress& peer, size_t listenerIndex,
                                     std::string_view alpn) {
  const std::shared_ptr<const WorkerConfig>& config = worker.config();
  const ListenerRuntime& listener = config->listeners[listenerIndex];
  const config::ListenerProtocol protocol = listener.config->protocol;
  if (protocol == config::ListenerProtocol::Http2 ||
      (alpn == tls::kAlpnH2 && protocol != config::ListenerProtocol::Tcp)) {
    return std::make_unique<Http2Session>(worker, std::move(connection), peer.ip(), config,
                                          &listener);
  }
  if (protocol == config::ListenerProtocol::Tcp ||
      (alpn == tls::kAlpnMeshTcp && protocol == config::ListenerProtocol::Auto)) {
    return std::make_unique<TcpSession>(worker, std::move(connection), peer, listenerIndex);
  }
  if (protocol == config::ListenerProtocol::Auto && alpn != tls::kAlpnHttp11) {
    // Plaintext, or TLS without ALPN: the bytes tell.
    return std::make_unique<ProtocolSniffer>(worker, std::move(connection), peer, listenerIndex);
  }
  // HTTP/1, or the HTTP/2 preface, which HttpSession hands over to Http2Session.
  return std::make_unique<HttpSession>(worker, std::move(connection), peer, listenerIndex);
}

Worker::Worker(int index, WorkerStats& stats)
    : index_(index),
      stats_(stats),
      pools_(loop_),
      http2Pool_(std::make_unique<Http2UpstreamPool>(*this, stats.http2Upstream)),
      random_(0x7472656c6c6973ULL + static_cast<uint64_t>(index) * 0x9e3779b97f4a7c15ULL) {}

Worker::~Worker() {
  stop();
  join();
}

void Worker::stop() {
  loop_.stop();
}

void Worker::start(std::shared_ptr<const ActiveConfig> config,
                   std::function<void(const std::string&)> onListening) {
  thread_ = std::thread([this, config = std::move(config), onListening = std::move(onListening)] {
    std::string error = apply(config);
    onListening(error);
    loop_.run();
    // Tear down on the owning thread: sessions reference the loop and the pools.
    sessions_.clear();
    sessionIndex_.clear();
    listenSockets_.clear();
    pools_.clear();
    http2Pool_->clear();
    drainTimer_.reset();
    loop_.flushDeferred();  // before the buffer pool those objects return blocks to goes away
  });
}

void Worker::applyConfig(std::shared_ptr<const ActiveConfig> config) {
  loop_.post([this, config = std::move(config)] {
    std::string error = apply(config);
    if (!error.empty()) log::error("worker {}: {}", index_, error);
  });
}

std::string Worker::apply(const std::shared_ptr<const ActiveConfig>& active) {
  auto next = std::make_shared<WorkerConfig>();
  next->active = active;
  const config::Snapshot& snapshot = *active->snapshot;
  uint64_t seed = random_.next();
  for (auto it = clusterConnections_.begin(); it != clusterConnections_.end();) {
    // Kept while the cluster exists or a connection of it lives: counts span snapshots.
    const bool unused = !snapshot.clusters.contains(it->first) && it->second.use_count() == 1;
    it = unused ? clusterConnections_.erase(it) : std::next(it);
  }
  for (const auto& [name, cluster] : snapshot.clusters) {
    const resilience::ClusterState* state = active->cluster(name);
    auto runtime =
        std::make_shared<upstream::ClusterRuntime>(cluster, stats_.cluster(name), seed++, state);
    auto& connections = clusterConnections_[name];
    if (!connections || (state != nullptr && connections->shared() != state->shared)) {
      // New, or the cluster was removed and added again: its counts start afresh.
      connections = std::make_shared<upstream::ClusterConnections>(
          loop_, state != nullptr ? state->shared : nullptr, stats_.cluster(name));
    }
    runtime->connections = connections;
    next->clusters[name] = std::move(runtime);
  }
  auto clusterByName = [&](const std::string& name) -> upstream::ClusterRuntime* {
    auto it = next->clusters.find(name);
    return it == next->clusters.end() ? nullptr : it->second.get();
  };
  next->listeners.resize(snapshot.listeners.size());
  for (size_t i = 0; i < snapshot.listeners.size(); ++i) {
    const auto& listener = snapshot.listeners[i];
    ListenerRuntime& runtime = next->listeners[i];
    runtime.config = &listener;
    runtime.routes = &active->routeTables[i];
    runtime.stats = &stats_.listener(listener.name);
    runtime.unroutedStats = &stats_.request({listener.name, "", ""});
    runtime.connectionLimiter = active->connectionLimiters[i].get();
    if (auto it = snapshot.authorization.find(listener.service);
        !listener.service.empty() && it != snapshot.authorization.end()) {
      runtime.authz.policies = it->second;
      for (const auto& policy : it->second) {
        runtime.authz.stats.push_back(&stats_.authz(listener.name, policy.qualifiedName));
      }
      runtime.authz.noAllowMatched = &stats_.authz(listener.name, std::string(kNoAllowMatched));
    }
    if (listener.servesTcp()) {
      runtime.tcpCluster = clusterByName(listener.tcpCluster);
      runtime.tcpStats = &stats_.request({listener.name, "", listener.tcpCluster});
    }
    for (const auto& hostRules : listener.routes.routes) {
      for (const auto& rule : hostRules.rules) {
        RuleRuntime& ruleRuntime = next->rules[&rule];
        ruleRuntime.localStats = &stats_.request({listener.name, rule.routeName, ""});
        if (auto it = active->ruleLimiters.find(&rule); it != active->ruleLimiters.end()) {
          ruleRuntime.rateLimiter = it->second.get();
        }
        for (const auto& backend : rule.backends) {
          ruleRuntime.backends.push_back(clusterByName(backend.cluster));
          ruleRuntime.stats.push_back(
              &stats_.request({listener.name, rule.routeName, backend.cluster}));
        }
        for (const auto& mirror : rule.mirrors) {
          ruleRuntime.mirrors.push_back(clusterByName(mirror.cluster));
        }
      }
    }
  }

  // Listening sockets: open new addresses, keep existing ones, close removed ones.
  std::string error;
  std::map<std::string, std::unique_ptr<ListenSocket>> sockets;
  for (size_t i = 0; i < snapshot.listeners.size(); ++i) {
    const auto& listener = snapshot.listeners[i];
    auto address = SocketAddress::parse(listener.address, listener.port);
    if (!address) {
      error += "listener " + listener.name + ": bad address " + listener.address + "; ";
      continue;
    }
    std::string key = address->toString();
    auto existing = listenSockets_.find(key);
    if (existing != listenSockets_.end()) {
      sockets[key] = std::move(existing->second);
      listenSockets_.erase(existing);
    } else if (!draining_) {
      std::string listenError;
      int fd = listenOn(*address, true, listenError);
      if (fd < 0) {
        error += "listener " + listener.name + ": " + listenError + "; ";
        continue;
      }
      sockets[key] = std::make_unique<ListenSocket>(*this, fd);
    }
    if (sockets.count(key)) sockets[key]->listenerIndex = i;
  }
  listenSockets_ = std::move(sockets);  // the rest close here
  config_ = std::move(next);
  std::vector<Session*> current;
  for (auto& session : sessions_) current.push_back(session.get());
  for (Session* session : current) {
    if (sessionIndex_.count(session)) session->onConfigApplied();
  }
  return error;
}

bool refreshListener(const std::shared_ptr<const WorkerConfig>& current, const std::string& name,
                     std::shared_ptr<const WorkerConfig>& config,
                     const ListenerRuntime*& listener) {
  if (current == config) return true;
  const ListenerRuntime* candidate = current->listenerNamed(name);
  if (candidate == nullptr) return false;
  config = current;
  listener = candidate;
  return true;
}

void Worker::adopt(std::unique_ptr<Session> session) {
  Session* raw = session.get();
  sessions_.push_back(std::move(session));
  sessionIndex_[raw] = std::prev(sessions_.end());
  raw->begin();
}

void Worker::release(Session* session) {
  auto it = sessionIndex_.find(session);
  if (it == sessionIndex_.end()) return;
  loop_.deferDestroy(std::move(*it->second));
  sessions_.erase(it->second);
  sessionIndex_.erase(it);
  maybeFinishDrain();
}

void Worker::drain(uint64_t deadlineMs) {
  loop_.post([this, deadlineMs] {
    draining_ = true;
    listenSockets_.clear();
    pools_.clear();
    http2Pool_->drain();
    // drain() may close sessions, which erases them from the list: iterate over a copy.
    std::vector<Session*> current;
    for (auto& session : sessions_) current.push_back(session.get());
    for (Session* session : current) {
      if (sessionIndex_.count(session)) session->drain();
    }
    drainTimer_ = std::make_unique<Timer>([this] { loop_.stop(); });
    drainTimer_->arm(loop_.timers(), deadlineMs);
    maybeFinishDrain();
  });
}

void Worker::maybeFinishDrain() {
  if (draining_ && sessions_.empty()) loop_.stop();
}

void Worker::join() {
  if (thread_.joinable()) thread_.join();
}

}  // namespace trellis::proxy
