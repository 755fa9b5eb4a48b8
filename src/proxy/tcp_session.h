#pragma once
// An opaque TCP connection relayed to one endpoint of a cluster: bytes both ways with
// backpressure, half-close carried across (a FIN from one side becomes a FIN to the other), and
// an idle timeout.

#include <memory>

#include "common/connection.h"
#include "common/socket.h"
#include "proxy/worker.h"

namespace trellis::proxy {

class TcpSession final : public Session, public ConnectionOwner {
 public:
  /// `down` may already hold client bytes (read while detecting the protocol).
  TcpSession(Worker& worker, std::unique_ptr<Connection> down, const SocketAddress& peer,
             size_t listenerIndex);
  ~TcpSession() override;
  void begin() override;
  void drain() override {}  // opaque streams have no request boundary; they end on their own
  /// A listener that turned STRICT closes its plaintext relays, and a new AuthorizationPolicy
  /// is decided again for every open relay: neither waits for the connection to end.
  void onConfigApplied() override;
  void onConnectionEvent(Connection& connection, uint32_t events) override;

 private:
  bool start();
  void pump(Connection& from, Connection& to, bool& fromEof);
  void close();

  Worker& worker_;
  std::shared_ptr<const WorkerConfig> config_;
  const ListenerRuntime* listener_;
  std::unique_ptr<Connection> down_;
  std::unique_ptr<Connection> up_;
  upstream::ClusterRuntime* cluster_ = nullptr;
  int endpoint_ = -1;
  Timer idleTimer_;
  Timer connectTimer_;
  bool downEof_ = false;
  bool upEof_ = false;
  uint64_t startMicros_ = 0;
  SocketAddress peer_;
};

}  // namespace trellis::proxy
