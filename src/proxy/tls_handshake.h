#pragma once
// Mutual TLS on the proxy's connections (docs/tls.md, docs/design/mtls-plan.md §2).
//
// Inbound: a listener whose mtls mode is not DISABLE hands each accepted connection to a
// TlsAcceptor first. PERMISSIVE looks at the first byte (0x16 opens a TLS handshake record:
// mutual TLS; anything else is served as plaintext and counted); STRICT refuses plaintext. After
// the handshake the session for the listener's protocol takes over and sees plaintext; HTTP/2 is
// chosen by ALPN h2 (or the preface). A handshake not done within the listener's
// tlsHandshakeTimeout is closed.
//
// Outbound: an endpoint with an identity is a mesh proxy's inbound address: its connections
// start TLS with the client context for the cluster's protocol, insist on that SPIFFE ID and
// resume sessions from the worker's cache. Plain endpoints pay one branch.

#include <memory>
#include <string>
#include <string_view>

#include "common/connection.h"
#include "common/socket.h"
#include "proxy/proxy_stats.h"
#include "proxy/worker.h"

namespace trellis::proxy {

/// Why a handshake failed, from the TLS layer's message (Connection::tlsError()).
TlsFailure classifyTlsFailure(std::string_view error);

/// Starts client TLS on `connection`, a new connection to `endpoint` of `cluster` (whose
/// identity is set): the client context for `protocol`, that identity expected. False when the
/// proxy has no certificate or TLS could not start (counted only in the latter case): the
/// attempt fails with upstream_tls_failure.
bool startUpstreamTls(Worker& worker, upstream::ClusterRuntime& cluster, int endpoint,
                      Connection& connection, config::UpstreamProtocol protocol);

/// A new upstream connection: TLS when the endpoint is a mesh proxy, nothing otherwise.
inline bool secureUpstream(Worker& worker, upstream::ClusterRuntime& cluster, int endpoint,
                           Connection& connection, config::UpstreamProtocol protocol) {
  if (cluster.config.endpoints[endpoint].identity.empty()) return true;
  return startUpstreamTls(worker, cluster, endpoint, connection, protocol);
}

/// After finishConnect() succeeded on an upstream connection: counts its handshake, if any.
inline void countUpstreamHandshake(Worker& worker, const Connection& connection) {
  if (!connection.tls()) return;
  TlsStats& stats = worker.stats().tls;
  stats.upstreamHandshakes.inc();
  if (connection.sessionReused()) stats.upstreamResumed.inc();
}

/// After finishConnect() failed on an upstream connection: true (and counted) when the TLS
/// handshake failed, false for a plain connect failure (refused, unreachable).
bool upstreamTlsFailed(Worker& worker, Connection& connection);

/// The first moments of a connection on a listener with mutual TLS: the first byte, the
/// handshake, then the listener's session.
class TlsAcceptor final : public Session, public ConnectionOwner {
 public:
  TlsAcceptor(Worker& worker, std::unique_ptr<Connection> down, const SocketAddress& peer,
              size_t listenerIndex);
  ~TlsAcceptor() override;

  void begin() override;
  void drain() override;  // nothing was served yet: nothing is lost
  void onConnectionEvent(Connection& connection, uint32_t events) override;

 private:
  void onFirstBytes();
  void startHandshake();
  void onTimer();
  void fail(TlsFailure reason);
  /// Hands the connection to the session for its listener's protocol (and ALPN).
  void handOff();
  void servePlaintext();
  void close();
  /// The listener in the worker's current snapshot (found by name: a reload may have changed
  /// its mode since the accept); null once it was removed.
  const ListenerRuntime* currentListener() const;

  Worker& worker_;
  std::shared_ptr<const WorkerConfig> config_;  // keeps listener_ and the contexts alive
  const ListenerRuntime* listener_;
  std::unique_ptr<Connection> down_;
  SocketAddress peer_;
  Timer timer_;
  uint64_t acceptedMs_ = 0;
  bool handshaking_ = false;
};

}  // namespace trellis::proxy
