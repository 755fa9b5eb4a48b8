#pragma once
// A worker thread: one event loop, its own SO_REUSEPORT listening sockets, its own connection
// pools, load balancers and stats. A connection never leaves the worker that accepted it, so
// nothing on the request path is shared with another thread.

#include <atomic>
#include <cstdint>
#include <functional>
#include <list>
#include <map>
#include <memory>
#include <span>
#include <string>
#include <thread>
#include <unordered_map>
#include <vector>

#include "common/buffer.h"
#include "common/connection.h"
#include "common/event_loop.h"
#include "common/socket.h"
#include "proxy/active_config.h"
#include "proxy/proxy_stats.h"
#include "tls/tls_context.h"
#include "upstream/cluster_runtime.h"
#include "upstream/connection_pool.h"
#include "upstream/lb/prng.h"

namespace trellis::proxy {

class Session;
class Http2UpstreamPool;

/// Per-rule data resolved once per snapshot on each worker, so routing a request costs one
/// pointer-keyed lookup.
struct RuleRuntime {
  std::vector<upstream::ClusterRuntime*> backends;  // parallel to rule.backends; null = missing
  std::vector<RequestStats*> stats;                 // parallel to rule.backends
  std::vector<upstream::ClusterRuntime*> mirrors;   // parallel to rule.mirrors
  RequestStats* localStats = nullptr;               // replies made without a backend
  resilience::RateLimiter* rateLimiter = nullptr;   // the rule's local rate limit, if any
};

/// The AuthorizationPolicies of the Service a listener serves (empty: everything is allowed)
/// and their counters, resolved once per snapshot (route_decision.h: authorize()).
struct ListenerAuthz {
  std::span<const config::AuthorizationPolicy> policies;
  std::vector<AuthzStats*> stats;        // parallel to policies
  AuthzStats* noAllowMatched = nullptr;  // denials that no single policy decided
};

struct ListenerRuntime {
  const config::Listener* config = nullptr;
  const routing::RouteTable* routes = nullptr;
  ListenerStats* stats = nullptr;
  RequestStats* unroutedStats = nullptr;  // requests that matched no rule / bad input
  upstream::ClusterRuntime* tcpCluster = nullptr;
  RequestStats* tcpStats = nullptr;
  resilience::RateLimiter* connectionLimiter = nullptr;  // Tcp/Auto: new connections
  ListenerAuthz authz;
};

/// A worker's view of one ActiveConfig.
struct WorkerConfig {
  std::shared_ptr<const ActiveConfig> active;
  std::map<std::string, std::shared_ptr<upstream::ClusterRuntime>> clusters;
  std::vector<ListenerRuntime> listeners;  // parallel to snapshot->listeners
  std::unordered_map<const config::RouteRule*, RuleRuntime> rules;

  const RuleRuntime* rule(const config::RouteRule* r) const {
    auto it = rules.find(r);
    return it == rules.end() ? nullptr : &it->second;
  }
  /// The listener named `name` ("<namespace>/<name>"), or null.
  const ListenerRuntime* listenerNamed(std::string_view name) const {
    for (const ListenerRuntime& listener : listeners) {
      if (listener.config->name == name) return &listener;
    }
    return nullptr;
  }
};

/// Moves a session to the worker's current snapshot: `config` and `listener` are updated when
/// the listener named `name` still exists. False when it was removed (the session finishes on
/// the old snapshot, then closes).
bool refreshListener(const std::shared_ptr<const WorkerConfig>& current, const std::string& name,
                     std::shared_ptr<const WorkerConfig>& config, const ListenerRuntime*& listener);

class Worker {
 public:
  Worker(int index, WorkerStats& stats);
  ~Worker();

  /// Starts the thread; `onListening` is called (on the worker thread) after the first config
  /// has been applied, with an error message if a listener could not be opened.
  void start(std::shared_ptr<const ActiveConfig> config,
             std::function<void(const std::string& error)> onListening);
  /// Thread-safe: switch to `config` (new connections and new requests use it).
  void applyConfig(std::shared_ptr<const ActiveConfig> config);
  /// Thread-safe: stop accepting, finish in-flight requests, close idle connections; the
  /// thread exits when no connection is left or after `deadlineMs`.
  void drain(uint64_t deadlineMs);
  /// Waits for the thread to exit (after drain, or stop()).
  void join();
  /// Thread-safe: stops the loop at once.
  void stop();

  // Used by sessions on the worker thread.
  EventLoop& loop() { return loop_; }
  BufferPool& buffers() { return buffers_; }
  /// TLS sessions to resume, by "cluster|ip:port" (mutual TLS to mesh endpoints).
  tls::ClientSessionCache& tlsSessions() { return tlsSessions_; }
  upstream::ConnectionPools& pools() { return pools_; }
  Http2UpstreamPool& http2Pool() { return *http2Pool_; }
  WorkerStats& stats() { return stats_; }
  const std::shared_ptr<const WorkerConfig>& config() const { return config_; }
  upstream::Prng& random() { return random_; }
  bool draining() const { return draining_; }
  void adopt(std::unique_ptr<Session> session);
  void release(Session* session);
  size_t sessionCount() const { return sessions_.size(); }

 private:
  class ListenSocket;
  std::string apply(const std::shared_ptr<const ActiveConfig>& config);
  void maybeFinishDrain();

  int index_;
  WorkerStats& stats_;
  EventLoop loop_;
  BufferPool buffers_;
  tls::ClientSessionCache tlsSessions_;  // before the pools: outlives their connections
  upstream::ConnectionPools pools_;
  std::unique_ptr<Http2UpstreamPool> http2Pool_;
  // By cluster name: connection counts and waiting requests outlive snapshots.
  std::map<std::string, std::shared_ptr<upstream::ClusterConnections>> clusterConnections_;
  upstream::Prng random_;
  std::shared_ptr<const WorkerConfig> config_;
  std::map<std::string, std::unique_ptr<ListenSocket>> listenSockets_;  // by "addr:port"
  std::list<std::unique_ptr<Session>> sessions_;
  std::unordered_map<Session*, std::list<std::unique_ptr<Session>>::iterator> sessionIndex_;
  bool draining_ = false;
  std::unique_ptr<Timer> drainTimer_;
  std::thread thread_;
};

/// A downstream connection being served (HTTP or TCP).
class Session {
 public:
  virtual ~Session() = default;
  /// Called once the worker has adopted the session (it may close itself from here on).
  virtual void begin() {}
  /// Graceful drain: close when idle, or after the in-flight request.
  virtual void drain() = 0;
  /// A new configuration is active on the worker (new requests will use it).
  virtual void onConfigApplied() {}
};

/// The session that serves a new connection on listener `listenerIndex` of the worker's current
/// configuration, by the listener's protocol; `alpn` (agreed in a TLS handshake) overrides what
/// HTTP and AUTO listeners would otherwise detect from the bytes.
std::unique_ptr<Session> makeSession(Worker& worker, std::unique_ptr<Connection> connection,
                                     const SocketAddress& peer, size_t listenerIndex,
                                     std::string_view alpn = {});

}  // namespace trellis::proxy
