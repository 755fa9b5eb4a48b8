#pragma once
// Shared pieces of the TLS tests: certificates from trellis_pki, an event loop run until a
// condition holds, a listener that starts TLS on what it accepts, and connection owners that
// record what they see.

#include <sys/socket.h>
#include <sys/wait.h>
#include <unistd.h>

#include <cerrno>
#include <chrono>
#include <cstdint>
#include <functional>
#include <memory>
#include <optional>
#include <string>
#include <string_view>
#include <utility>
#include <vector>

#include "common/buffer.h"
#include "common/connection.h"
#include "common/event_loop.h"
#include "common/socket.h"
#include "tls/pki/certificate_authority.h"
#include "tls/pki/x509.h"
#include "tls/tls_context.h"

namespace trellis::tls::testing {

struct Identity {
  std::string chainPem;
  std::string keyPem;
  std::string id;  // spiffe://…
};

/// A workload certificate for spiffe://<ca's domain>/ns/<ns>/sa/<sa>, signed by `ca`.
inline Identity issue(const pki::CertificateAuthority& ca, std::string_view ns, std::string_view sa,
                      std::chrono::seconds ttl = std::chrono::hours(1)) {
  pki::KeyPtr key = pki::generateKey();
  std::optional<pki::SpiffeId> id = pki::SpiffeId::forWorkload(ca.trustDomain(), ns, sa);
  std::string error;
  std::optional<std::string> chain = ca.sign(pki::makeCsr(*key, *id), *id, ttl, &error);
  if (!chain) return {};
  return {*chain, pki::privateKeyPem(*key), id->uri()};
}

inline std::shared_ptr<const TlsContext> makeContext(Side side, const Identity& identity,
                                                     const std::string& bundle,
                                                     std::vector<std::string> alpn = {},
                                                     bool requirePeer = true,
                                                     std::string* error = nullptr) {
  TlsContext::Options options;
  options.side = side;
  options.certChainPem = identity.chainPem;
  options.privateKeyPem = identity.keyPem;
  options.trustBundlePem = bundle;
  options.requirePeerCertificate = requirePeer;
  options.alpn = std::move(alpn);
  std::string why;
  auto context = TlsContext::create(options, &why);
  if (error != nullptr) *error = why;
  return context;
}

/// Runs `loop` until `done()` holds or `timeoutMs` passed; returns done().
inline bool runUntil(EventLoop& loop, const std::function<bool()>& done, int timeoutMs = 10000) {
  if (done()) return true;
  const uint64_t deadline = EventLoop::monotonicMs() + static_cast<uint64_t>(timeoutMs);
  Timer* self = nullptr;
  Timer tick([&] {
    if (done() || EventLoop::monotonicMs() >= deadline) {
      loop.stop();
    } else {
      self->arm(loop.timers(), 1);
    }
  });
  self = &tick;
  tick.arm(loop.timers(), 1);
  loop.run();
  return done();
}

/// Owns one connection and records its life: the handshake's outcome, what it read, and how
/// it ended. Echoes when asked.
class Peer final : public ConnectionOwner {
 public:
  void onConnectionEvent(Connection& c, uint32_t events) override {
    if (c.connecting()) {
      int error = 0;
      if (!c.finishConnect(error)) {
        if (error == 0) {
          ++eventsWhileConnecting;  // the connection should not report these
          return;
        }
        failed = true;
        connectError = error;
        tlsError = std::string(c.tlsError());
        if (closeOnFailure) conn.reset();
        return;
      }
    }
    if (!established) {
      established = true;
      if (onEstablished) onEstablished(*this);
      if (!conn) return;
    }
    if (events & EPOLLERR) sawError = true;
    pump();
    if (conn && onEvent) onEvent(*this);
  }

  /// Reads while the connection is readable and the peer is not paused.
  void pump() {
    while (conn && !paused && !eof && !readError && conn->readReady()) {
      Connection::ReadResult result = conn->read(readSize);
      if (!conn->in().empty()) {
        std::string_view data = conn->in().view();
        if (onData) {
          onData(*this, data);
        } else {
          received.append(data);
        }
        if (echo) conn->send(data);
        conn->in().consume(data.size());
      }
      if (result == Connection::ReadResult::Eof) {
        eof = true;
        if (echo) conn->shutdownWrite();
      } else if (result == Connection::ReadResult::Error) {
        readError = true;
      } else if (result == Connection::ReadResult::Again) {
        break;
      }
    }
  }

  std::unique_ptr<Connection> conn;
  bool established = false;
  bool failed = false;
  int connectError = 0;
  int eventsWhileConnecting = 0;
  bool sawError = false;
  bool eof = false;
  bool readError = false;
  bool echo = false;
  bool paused = false;
  bool closeOnFailure = false;
  size_t readSize = BufferPool::kBlockSize;  // the most one read() takes
  std::string received;
  std::function<void(Peer&)> onEstablished;
  std::function<void(Peer&, std::string_view)> onData;
  std::function<void(Peer&)> onEvent;
  std::string tlsError;  // copied when the handshake failed
};

/// A loopback listener; accepted sockets become Peers, with TLS started when a context is set.
class Listener final : public EventHandler {
 public:
  Listener(EventLoop& loop, BufferPool& pool) : loop_(loop), pool_(pool) {
    std::string error;
    fd_ = listenOn(*SocketAddress::parse("127.0.0.1", 0), false, error);
    if (fd_ >= 0) {
      port_ = localAddress(fd_)->port();
      loop_.watchReadable(fd_, this);
    }
  }
  ~Listener() override {
    peers.clear();
    if (fd_ >= 0) {
      loop_.unwatch(fd_);
      ::close(fd_);
    }
  }
  Listener(const Listener&) = delete;
  Listener& operator=(const Listener&) = delete;

  void onEvents(uint32_t /*events*/) override {
    for (;;) {
      int fd = ::accept4(fd_, nullptr, nullptr, SOCK_NONBLOCK | SOCK_CLOEXEC);
      if (fd < 0) return;
      setNoDelay(fd);  // as the proxy's workers do
      auto peer = std::make_unique<Peer>();
      peer->conn = std::make_unique<Connection>(loop_, pool_, fd);
      peer->conn->setOwner(peer.get());
      if (configure) configure(*peer);
      if (context && !peer->conn->startTls(context, policy)) {
        // Failed at once (the first flight was already there): no event will say so.
        peer->failed = true;
        peer->connectError = EPROTO;
        peer->tlsError = std::string(peer->conn->tlsError());
        if (peer->closeOnFailure) peer->conn.reset();
      }
      peers.push_back(std::move(peer));
    }
  }

  uint16_t port() const { return port_; }
  bool ok() const { return fd_ >= 0; }

  std::shared_ptr<const TlsContext> context;
  PeerPolicy policy{Side::Server, {}, {}, nullptr, {}};
  std::function<void(Peer&)> configure;  // before TLS starts
  std::vector<std::unique_ptr<Peer>> peers;

 private:
  EventLoop& loop_;
  BufferPool& pool_;
  int fd_ = -1;
  uint16_t port_ = 0;
};

/// A client Peer connecting to 127.0.0.1:`port`, TLS started at once (while the connect may
/// still be in progress) when `context` is set.
inline std::unique_ptr<Peer> connectPeer(EventLoop& loop, BufferPool& pool, uint16_t port,
                                         std::shared_ptr<const TlsContext> context,
                                         PeerPolicy policy) {
  int fd = connectTo(*SocketAddress::parse("127.0.0.1", port));
  if (fd < 0) return nullptr;
  auto peer = std::make_unique<Peer>();
  peer->conn = std::make_unique<Connection>(loop, pool, fd, /*connecting=*/true);
  peer->conn->setOwner(peer.get());
  if (context && !peer->conn->startTls(std::move(context), std::move(policy))) {
    peer->failed = true;
    peer->conn->finishConnect(peer->connectError);  // EPROTO, or the connect's errno
    peer->tlsError = std::string(peer->conn->tlsError());
  }
  return peer;
}

inline PeerPolicy clientPolicy(std::vector<std::string> expected = {},
                               ClientSessionCache* cache = nullptr, std::string key = {}) {
  PeerPolicy policy;
  policy.side = Side::Client;
  policy.expectedPeerIds = std::move(expected);
  policy.sni = "server.mesh.test";
  policy.sessionCache = cache;
  policy.sessionKey = std::move(key);
  return policy;
}

}  // namespace trellis::tls::testing
