// What TLS costs a Connection on loopback, both ends on one thread and one event loop (so every
// figure is one core doing the client's and the server's work): connections per second
// (connect, accept, handshake, a 1-byte echo, close) plain, with a full TLS 1.3 mTLS handshake
// and with a resumed one; then bulk throughput plain vs TLS. Usage: tls_bench [scale]

#include <malloc.h>

#include <cstdio>
#include <cstdlib>
#include <string>
#include <vector>

#include "tls_test_util.h"

namespace trellis::tls::testing {
namespace {

using namespace std::chrono_literals;

struct Setup {
  pki::CertificateAuthority ca = pki::CertificateAuthority::createRoot("mesh.test", 24h);
  Identity server = issue(ca, "shop", "checkout");
  Identity client = issue(ca, "shop", "frontend");
  std::shared_ptr<const TlsContext> serverContext =
      makeContext(Side::Server, server, ca.chainPem(), {"h2"});
  std::shared_ptr<const TlsContext> clientContext =
      makeContext(Side::Client, client, ca.chainPem(), {"h2"});
};

/// Opens `count` connections one after another, each done once its 1-byte echo is back.
class ConnectionRate {
 public:
  ConnectionRate(EventLoop& loop, BufferPool& pool, std::shared_ptr<const TlsContext> server,
                 std::shared_ptr<const TlsContext> client, ClientSessionCache* cache)
      : loop_(loop), pool_(pool), listener_(loop, pool), client_(std::move(client)), cache_(cache) {
    listener_.context = std::move(server);
    listener_.configure = [](Peer& p) { p.echo = true; };
  }

  /// Returns connections per second, or -1 if one failed.
  double run(int count) {
    remaining_ = count;
    uint64_t start = EventLoop::monotonicMicros();
    next();
    loop_.run();
    uint64_t elapsed = EventLoop::monotonicMicros() - start;
    loop_.deferDestroy(std::move(current_));
    loop_.flushDeferred();
    if (failed_) return -1;
    return count * 1e6 / static_cast<double>(elapsed);
  }
  int reused() const { return reused_; }

 private:
  void next() {
    if (current_) {
      current_->conn->setResetOnClose();  // no TIME_WAIT pile-up across thousands of runs
      loop_.deferDestroy(std::move(current_));
    }
    for (auto& peer : listener_.peers) loop_.deferDestroy(std::move(peer));
    listener_.peers.clear();
    if (remaining_-- == 0 || failed_) {
      loop_.stop();
      return;
    }
    PeerPolicy policy = clientPolicy({}, cache_, cache_ != nullptr ? "bench|127.0.0.1" : "");
    current_ = connectPeer(loop_, pool_, listener_.port(), client_, policy);
    if (!current_ || current_->failed) {
      failed_ = true;
      loop_.stop();
      return;
    }
    current_->onEstablished = [](Peer& p) { p.conn->send("x"); };
    current_->onData = [this](Peer& p, std::string_view) {
      if (p.conn->sessionReused()) ++reused_;
      next();
    };
  }

  EventLoop& loop_;
  BufferPool& pool_;
  Listener listener_;
  std::shared_ptr<const TlsContext> client_;
  ClientSessionCache* cache_;
  std::unique_ptr<Peer> current_;
  int remaining_ = 0;
  int reused_ = 0;
  bool failed_ = false;
};

/// Sends `total` bytes client to server (64 KiB sends, 256 KiB in flight at most); returns MB/s.
double throughput(EventLoop& loop, BufferPool& pool,
                  const std::shared_ptr<const TlsContext>& server,
                  const std::shared_ptr<const TlsContext>& client, size_t total) {
  Listener listener(loop, pool);
  listener.context = server;
  size_t received = 0;
  uint64_t start = 0;
  listener.configure = [&](Peer& p) {
    p.onData = [&](Peer&, std::string_view data) {
      received += data.size();
      if (received == total) loop.stop();
    };
  };
  const std::string chunk(size_t{64} * 1024, 'b');
  size_t sent = 0;
  auto pump = [&](Peer& p) {
    while (sent < total && p.conn->pendingBytes() < size_t{256} * 1024) {
      p.conn->send(chunk);
      sent += chunk.size();
    }
  };
  auto peer = connectPeer(loop, pool, listener.port(), client, clientPolicy());
  peer->onEstablished = [&](Peer& p) {
    start = EventLoop::monotonicMicros();
    pump(p);
  };
  peer->onEvent = pump;
  loop.run();
  uint64_t elapsed = EventLoop::monotonicMicros() - start;
  return static_cast<double>(total) / static_cast<double>(elapsed);  // bytes/us = MB/s
}

/// Heap bytes per connection end of `count` idle, established pairs (each did a 1-byte echo
/// and gave its buffers back, as an idle proxy connection does).
double idleBytesPerEnd(EventLoop& loop, const std::shared_ptr<const TlsContext>& server,
                       const std::shared_ptr<const TlsContext>& client, int count,
                       bool releaseTls) {
  BufferPool pool(0);  // keeps no free block, so that only the connections are counted
  const size_t before = mallinfo2().uordblks;
  size_t after = before;
  {
    Listener listener(loop, pool);
    listener.context = server;
    listener.configure = [](Peer& p) { p.echo = true; };
    std::vector<std::unique_ptr<Peer>> clients;
    for (int i = 0; i < count; ++i) {
      clients.push_back(connectPeer(loop, pool, listener.port(), client, clientPolicy()));
      clients.back()->onEstablished = [](Peer& p) { p.conn->send("x"); };
    }
    runUntil(loop, [&] {
      for (const auto& c : clients) {
        if (c->received != "x") return false;
      }
      return true;
    });
    for (const auto& c : clients) c->conn->releaseIdleBuffers();
    for (const auto& p : listener.peers) p->conn->releaseIdleBuffers();
    if (releaseTls) {
      for (const auto& c : clients) c->conn->releaseTlsBuffers();
      for (const auto& p : listener.peers) p->conn->releaseTlsBuffers();
    }
    after = mallinfo2().uordblks;
  }
  return (static_cast<double>(after) - static_cast<double>(before)) / (2.0 * count);
}

}  // namespace
}  // namespace trellis::tls::testing

int main(int argc, char** argv) {
  using namespace trellis;
  using namespace trellis::tls::testing;
  const int scale = argc > 1 ? std::max(1, std::atoi(argv[1])) : 1;
  Setup setup;
  EventLoop loop;
  BufferPool pool;

  const int plainCount = 4000 * scale;
  const int tlsCount = 1000 * scale;
  double plain = ConnectionRate(loop, pool, nullptr, nullptr, nullptr).run(plainCount);
  double full =
      ConnectionRate(loop, pool, setup.serverContext, setup.clientContext, nullptr).run(tlsCount);
  tls::ClientSessionCache cache;
  ConnectionRate resumedRate(loop, pool, setup.serverContext, setup.clientContext, &cache);
  double resumed = resumedRate.run(tlsCount);
  std::printf("connections/s (connect, handshake, 1-byte echo, close; one core for both ends)\n");
  std::printf("  plain TCP            %8.0f  (%d connections)\n", plain, plainCount);
  std::printf("  TLS 1.3 mTLS, full   %8.0f  (%d connections)\n", full, tlsCount);
  std::printf("  TLS 1.3 mTLS, resumed%8.0f  (%d connections, %d resumed)\n", resumed, tlsCount,
              resumedRate.reused());

  const size_t total = size_t{512} << 20;
  double plainMbps = throughput(loop, pool, nullptr, nullptr, total * scale);
  double tlsMbps = throughput(loop, pool, setup.serverContext, setup.clientContext, total * scale);
  std::printf("bulk transfer, %zu MiB client to server (one core encrypts and decrypts)\n",
              (total * scale) >> 20);
  std::printf("  plain TCP            %8.0f MB/s\n", plainMbps);
  std::printf("  TLS 1.3 AES-128-GCM  %8.0f MB/s\n", tlsMbps);

  const int idle = 200;
  double plainBytes = idleBytesPerEnd(loop, nullptr, nullptr, idle, false);
  double tlsBytes = idleBytesPerEnd(loop, setup.serverContext, setup.clientContext, idle, false);
  double tlsReleased = idleBytesPerEnd(loop, setup.serverContext, setup.clientContext, idle, true);
  std::printf("heap per idle connection end (%d pairs, buffers released)\n", idle);
  std::printf("  plain TCP            %8.0f bytes\n", plainBytes);
  std::printf("  TLS 1.3              %8.0f bytes\n", tlsBytes);
  std::printf("  TLS 1.3, releaseTlsBuffers() %8.0f bytes\n", tlsReleased);
  return plain > 0 && full > 0 && resumed > 0 ? 0 : 1;
}
