#pragma once
// The first moments of a connection on a `protocol: AUTO` listener: read the client's first
// bytes and hand the connection to the session that speaks them — HttpSession (HTTP/1),
// Http2Session (the HTTP/2 preface) or TcpSession (anything else). A client that stays silent
// for `detectTimeout` is relayed as TCP, so server-speaks-first protocols (MySQL, SMTP) work
// after that short wait; ports that carry them should be declared `TCP` to skip it.

#include <memory>

#include "common/connection.h"
#include "common/socket.h"
#include "proxy/worker.h"

namespace trellis::proxy {

class ProtocolSniffer final : public Session, public ConnectionOwner {
 public:
  ProtocolSniffer(Worker& worker, std::unique_ptr<Connection> down, const SocketAddress& peer,
                  size_t listenerIndex);
  ~ProtocolSniffer() override;

  void begin() override;
  void drain() override;
  void onConnectionEvent(Connection& connection, uint32_t events) override;

 private:
  enum class Target : unsigned char { Http1, Http2, Tcp };
  /// Hands off once the buffered bytes tell the protocol; false while they do not yet.
  bool classify();
  void handOff(Target target);
  void close();

  Worker& worker_;
  std::unique_ptr<Connection> down_;
  SocketAddress peer_;
  size_t listenerIndex_;
  Timer timer_;
};

}  // namespace trellis::proxy
