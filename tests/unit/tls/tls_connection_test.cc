// Connection over TLS between two proxies' worth of code on loopback: mutual TLS with SPIFFE
// identities, ALPN, backpressure with partial writes, refusals with precise reasons, session
// resumption, post-handshake messages and a handshake that starts from sniffed bytes.

#include <gtest/gtest.h>
#include <netinet/in.h>
#include <openssl/ssl.h>
#include <sys/socket.h>

#include <cerrno>
#include <chrono>
#include <thread>

#include "tls_test_util.h"

namespace trellis::tls::testing {
namespace {

using namespace std::chrono_literals;

class TlsConnectionTest : public ::testing::Test {
 protected:
  void SetUp() override {
    server = issue(ca, "shop", "checkout");
    client = issue(ca, "shop", "frontend");
    ASSERT_FALSE(server.chainPem.empty());
    ASSERT_FALSE(client.chainPem.empty());
  }

  std::shared_ptr<const TlsContext> serverContext(std::vector<std::string> alpn = {},
                                                  bool requirePeer = true) {
    auto context = makeContext(Side::Server, server, ca.chainPem(), std::move(alpn), requirePeer);
    EXPECT_TRUE(context);
    return context;
  }
  std::shared_ptr<const TlsContext> clientContext(std::vector<std::string> alpn = {}) {
    auto context = makeContext(Side::Client, client, ca.chainPem(), std::move(alpn));
    EXPECT_TRUE(context);
    return context;
  }
  Peer& serverPeer(Listener& listener) {
    EXPECT_TRUE(runUntil(loop, [&] { return !listener.peers.empty(); }));
    return *listener.peers.front();
  }

  pki::CertificateAuthority ca = pki::CertificateAuthority::createRoot("mesh.test", 24h);
  Identity server;
  Identity client;
  EventLoop loop;
  BufferPool pool;
};

TEST_F(TlsConnectionTest, MutualTlsReportsBothIdentitiesAndTheServersAlpnChoice) {
  Listener listener(loop, pool);
  ASSERT_TRUE(listener.ok());
  listener.context = serverContext({"h2", "http/1.1"});
  listener.configure = [](Peer& p) { p.echo = true; };
  // The client prefers http/1.1; the server's order decides.
  auto peer = connectPeer(loop, pool, listener.port(), clientContext({"http/1.1", "h2"}),
                          clientPolicy({"spiffe://mesh.test/ns/shop/sa/other", server.id}));
  ASSERT_TRUE(peer);
  ASSERT_FALSE(peer->failed) << peer->conn->tlsError();
  EXPECT_TRUE(peer->conn->connecting());  // the handshake needs the server's answer
  peer->onEstablished = [](Peer& p) { p.conn->send("hello, ", "mesh"); };

  ASSERT_TRUE(runUntil(loop, [&] { return peer->received == "hello, mesh" || peer->failed; }))
      << peer->conn->tlsError();
  Peer& accepted = serverPeer(listener);
  EXPECT_TRUE(peer->conn->tls());
  EXPECT_EQ(peer->conn->peerIdentity(), server.id);
  EXPECT_EQ(accepted.conn->peerIdentity(), client.id);
  EXPECT_EQ(peer->conn->alpn(), "h2");
  EXPECT_EQ(accepted.conn->alpn(), "h2");
  EXPECT_FALSE(peer->conn->sessionReused());
  EXPECT_TRUE(peer->conn->tlsError().empty());
  // Neither owner heard of the socket before its handshake was done.
  EXPECT_EQ(peer->eventsWhileConnecting, 0);
  EXPECT_EQ(accepted.eventsWhileConnecting, 0);
  EXPECT_EQ(accepted.received, "hello, mesh");
  EXPECT_EQ(accepted.conn->bytesRead(), 11u);  // plaintext bytes
}

TEST_F(TlsConnectionTest, ReleasedTlsBuffersComeBackOnTheNextExchange) {
  Listener listener(loop, pool);
  listener.context = serverContext();
  listener.configure = [](Peer& p) { p.echo = true; };
  auto peer = connectPeer(loop, pool, listener.port(), clientContext(), clientPolicy());
  peer->onEstablished = [](Peer& p) { p.conn->send("one"); };
  ASSERT_TRUE(runUntil(loop, [&] { return peer->received == "one"; }));
  // Parked: both ends give their record buffers back, then the connection is used again.
  peer->conn->releaseIdleBuffers();
  peer->conn->releaseTlsBuffers();
  listener.peers.front()->conn->releaseIdleBuffers();
  listener.peers.front()->conn->releaseTlsBuffers();
  peer->conn->send(std::string(40000, 't'));
  ASSERT_TRUE(runUntil(loop, [&] { return peer->received.size() == 3 + 40000; }));
  EXPECT_EQ(peer->received.substr(3), std::string(40000, 't'));
}

TEST_F(TlsConnectionTest, ConnectionsWithoutAlpnAgreeOnNone) {
  Listener listener(loop, pool);
  listener.context = serverContext();
  auto peer = connectPeer(loop, pool, listener.port(), clientContext(), clientPolicy());
  ASSERT_TRUE(runUntil(loop, [&] { return peer->established || peer->failed; }));
  EXPECT_TRUE(peer->established) << peer->tlsError;
  EXPECT_EQ(peer->conn->alpn(), "");
}

TEST_F(TlsConnectionTest, ServerRefusesAClientOfferingNoneOfItsProtocols) {
  Listener listener(loop, pool);
  listener.context = serverContext({"h2"});
  auto peer = connectPeer(loop, pool, listener.port(), clientContext({"spdy/3"}), clientPolicy());
  ASSERT_TRUE(runUntil(loop, [&] { return peer->failed || peer->established; }));
  EXPECT_TRUE(peer->failed);
  EXPECT_EQ(peer->connectError, EPROTO);
  EXPECT_NE(peer->tlsError.find("no application protocol"), std::string::npos) << peer->tlsError;
}

// Pattern byte for stream position `i`: any loss, duplication or reordering shows.
char patternAt(uint64_t i) {
  return static_cast<char>((i * 2654435761u) >> 13);
}

/// Sends `total` pattern bytes in pieces of varied sizes (some as several parts), no more than
/// `window` ahead of what the connection took, then shuts down its write side.
struct PatternWriter {
  explicit PatternWriter(size_t total) : total(total) {}
  void pump(Connection& c) {
    static constexpr size_t kSizes[] = {1, 700, 5000, 16384, 16385, 40000, 3, 12000, 65536};
    while (sent < total && c.pendingBytes() < window) {
      size_t size = std::min(kSizes[step % std::size(kSizes)], total - sent);
      scratch.resize(size);
      for (size_t i = 0; i < size; ++i) scratch[i] = patternAt(sent + i);
      std::string_view all(scratch);
      bool ok = true;
      if (step % 3 == 1 && size >= 3) {  // a head and a body, or three parts
        size_t a = size / 3;
        size_t b = size / 3;
        ok = c.send({all.substr(0, a), all.substr(a, b), all.substr(a + b)});
      } else {
        ok = c.send(all);
      }
      if (!ok) {
        failed = true;
        return;
      }
      sent += size;
      ++step;
      maxPending = std::max(maxPending, c.pendingBytes());
    }
    if (sent == total && !shut) {
      shut = true;
      c.shutdownWrite();
    }
  }
  size_t total = 0;
  size_t window = size_t{256} * 1024;
  size_t sent = 0;
  size_t step = 0;
  size_t maxPending = 0;
  bool shut = false;
  bool failed = false;
  std::string scratch;
};

/// Checks the pattern as it arrives and pauses every `pauseEvery` bytes for `pauseMs`.
struct PausingChecker {
  PausingChecker(EventLoop& loop, Peer& peer)
      : loop(loop), peer(peer), resume([this] {
          this->peer.paused = false;
          this->peer.pump();  // readReady() stayed true: no new edge is needed to go on
        }) {}
  void onData(std::string_view data) {
    for (char c : data) {
      if (c != patternAt(received)) ++mismatches;
      ++received;
    }
    if (received / pauseEvery != (received - data.size()) / pauseEvery) {
      peer.paused = true;
      ++pauses;
      resume.arm(loop.timers(), pauseMs);
    }
  }
  EventLoop& loop;
  Peer& peer;
  Timer resume;
  size_t received = 0;
  size_t mismatches = 0;
  size_t pauseEvery = size_t{512} * 1024;
  uint64_t pauseMs = 12;
  int pauses = 0;
};

// A small send buffer makes the kernel take little at a time, so that OpenSSL's writes come
// back partial or WANT_WRITE. (A small receive window on loopback, below the MSS, would stall on
// TCP's persist timer instead.)
void smallSendBuffer(int fd) {
  int size = 16 * 1024;
  ::setsockopt(fd, SOL_SOCKET, SO_SNDBUF, &size, sizeof size);
}

TEST_F(TlsConnectionTest, FourMiBEachWayThroughPausingReadersArrivesByteExact) {
  constexpr size_t kTotal = size_t{4} << 20;
  Listener listener(loop, pool);
  listener.context = serverContext();
  PatternWriter serverWriter(kTotal);
  PatternWriter clientWriter(kTotal);
  std::unique_ptr<PausingChecker> serverChecker;
  listener.configure = [&](Peer& p) {
    smallSendBuffer(p.conn->fd());
    serverChecker = std::make_unique<PausingChecker>(loop, p);
    p.onData = [&](Peer&, std::string_view data) { serverChecker->onData(data); };
    p.onEstablished = [&](Peer& self) { serverWriter.pump(*self.conn); };
    p.onEvent = [&](Peer& self) { serverWriter.pump(*self.conn); };
  };
  auto peer = connectPeer(loop, pool, listener.port(), clientContext(), clientPolicy());
  ASSERT_TRUE(peer && !peer->failed);
  smallSendBuffer(peer->conn->fd());
  PausingChecker clientChecker(loop, *peer);
  clientChecker.pauseEvery = size_t{384} * 1024;
  peer->onData = [&](Peer&, std::string_view data) { clientChecker.onData(data); };
  peer->onEstablished = [&](Peer& self) { clientWriter.pump(*self.conn); };
  peer->onEvent = [&](Peer& self) { clientWriter.pump(*self.conn); };

  auto finished = [&] {
    if (peer->failed || peer->readError || clientWriter.failed || serverWriter.failed) return true;
    if (listener.peers.empty()) return false;
    Peer& s = *listener.peers.front();
    return s.failed || s.readError ||
           (peer->eof && s.eof && peer->conn->pendingBytes() == 0 && s.conn->pendingBytes() == 0);
  };
  ASSERT_TRUE(runUntil(loop, finished, 30000));
  Peer& accepted = *listener.peers.front();
  ASSERT_FALSE(peer->failed || peer->readError) << peer->conn->tlsError();
  ASSERT_FALSE(accepted.failed || accepted.readError) << accepted.conn->tlsError();
  EXPECT_FALSE(clientWriter.failed || serverWriter.failed);
  // Every byte, in order, and the end of stream (close_notify) right after the last one: each
  // side kept reading after its own shutdownWrite (TLS 1.3 half-close).
  EXPECT_EQ(clientChecker.received, kTotal);
  EXPECT_EQ(serverChecker->received, kTotal);
  EXPECT_EQ(clientChecker.mismatches, 0u);
  EXPECT_EQ(serverChecker->mismatches, 0u);
  EXPECT_TRUE(peer->eof && accepted.eof);
  EXPECT_EQ(peer->conn->bytesWritten(), kTotal);
  EXPECT_EQ(accepted.conn->bytesRead(), kTotal);
  // The readers paused and the writers had to keep what OpenSSL could not take.
  EXPECT_GT(clientChecker.pauses, 0);
  EXPECT_GT(serverChecker->pauses, 0);
  EXPECT_GT(clientWriter.maxPending, 64u * 1024);
  EXPECT_GT(serverWriter.maxPending, 64u * 1024);
}

TEST_F(TlsConnectionTest, SmallReadsDrainWhatOpenSslAlreadyHolds) {
  // Reads far smaller than a record leave decrypted bytes inside OpenSSL after the socket was
  // found empty: readReady() must stay true until they are out, as no new edge will come.
  Listener listener(loop, pool);
  listener.context = serverContext();
  listener.configure = [](Peer& p) { p.readSize = 100; };
  auto peer = connectPeer(loop, pool, listener.port(), clientContext(), clientPolicy());
  std::string payload(50000, 'x');
  for (size_t i = 0; i < payload.size(); ++i) payload[i] = patternAt(i);
  peer->onEstablished = [&](Peer& p) { p.conn->send(payload); };
  ASSERT_TRUE(runUntil(
      loop, [&] { return !listener.peers.empty() && listener.peers[0]->received == payload; },
      5000));
  EXPECT_FALSE(listener.peers.front()->conn->readReady());
}

TEST_F(TlsConnectionTest, InputArrivingWhileTheOwnerPausesIsNotLost) {
  // Three records arrive in one read (read-ahead); the owner takes one and pauses. More bytes
  // come meanwhile (their edge lands while it pauses). When it resumes, the two buffered records
  // come without touching the socket: the earlier short read must not count as "drained".
  Listener listener(loop, pool);
  listener.context = serverContext();
  listener.configure = [](Peer& p) {
    p.onData = [](Peer& self, std::string_view data) {
      self.received.append(data);
      if (self.received == "r1;") self.paused = true;
    };
  };
  auto peer = connectPeer(loop, pool, listener.port(), clientContext(), clientPolicy());
  peer->onEstablished = [](Peer& p) {
    p.conn->send("r1;");
    p.conn->send("r2;");
    p.conn->send("r3;");
  };
  ASSERT_TRUE(runUntil(loop, [&] { return !listener.peers.empty() && listener.peers[0]->paused; }));
  Peer& accepted = *listener.peers.front();
  EXPECT_EQ(accepted.received, "r1;");
  peer->conn->send("later");
  runUntil(
      loop, [] { return false; }, 30);  // the server's edge comes and goes
  accepted.paused = false;
  accepted.pump();
  ASSERT_TRUE(runUntil(
      loop, [&] { return accepted.received == "r1;r2;r3;later"; }, 3000))
      << accepted.received;
}

TEST_F(TlsConnectionTest, UnexpectedServerIdentityFailsTheClientNamingBoth) {
  Listener listener(loop, pool);
  listener.context = serverContext();
  auto peer = connectPeer(
      loop, pool, listener.port(), clientContext(),
      clientPolicy({"spiffe://mesh.test/ns/shop/sa/payments", "spiffe://mesh.test/ns/ops/sa/db"}));
  ASSERT_TRUE(runUntil(loop, [&] {
    return (peer->failed || peer->established) && !listener.peers.empty() &&
           (listener.peers.front()->failed || listener.peers.front()->established);
  }));
  ASSERT_TRUE(peer->failed);
  EXPECT_EQ(peer->connectError, EPROTO);
  EXPECT_NE(peer->tlsError.find("peer presented " + server.id +
                                ", expected one of "
                                "spiffe://mesh.test/ns/shop/sa/payments, "
                                "spiffe://mesh.test/ns/ops/sa/db"),
            std::string::npos)
      << peer->tlsError;
  // The client aborted with an alert: the server's handshake fails too.
  Peer& accepted = *listener.peers.front();
  EXPECT_TRUE(accepted.failed);
  EXPECT_NE(accepted.tlsError.find("alert"), std::string::npos) << accepted.tlsError;
}

TEST_F(TlsConnectionTest, ServerRequiringACertificateRefusesAClientWithoutOne) {
  Listener listener(loop, pool);
  listener.context = serverContext();
  auto anonymous = makeContext(Side::Client, Identity{}, ca.chainPem());
  ASSERT_TRUE(anonymous);
  auto peer = connectPeer(loop, pool, listener.port(), anonymous, clientPolicy());
  peer->onEstablished = [](Peer& p) { p.conn->send("request"); };
  ASSERT_TRUE(runUntil(loop, [&] {
    return !listener.peers.empty() && listener.peers.front()->failed &&
           (peer->failed || peer->readError || peer->eof);
  }));
  Peer& accepted = *listener.peers.front();
  EXPECT_EQ(accepted.connectError, EPROTO);
  EXPECT_NE(accepted.tlsError.find("no client certificate"), std::string::npos)
      << accepted.tlsError;
  EXPECT_EQ(accepted.received, "");
  // In TLS 1.3 the client's handshake ends before the server judges its certificate: the
  // refusal arrives as an alert on its first read.
  EXPECT_TRUE(peer->readError);
  EXPECT_NE(peer->conn->tlsError().find("certificate required"), std::string::npos)
      << peer->conn->tlsError();
}

TEST_F(TlsConnectionTest, ServerNotRequiringACertificateAcceptsAnAnonymousClient) {
  Listener listener(loop, pool);
  listener.context = serverContext({}, /*requirePeer=*/false);
  listener.configure = [](Peer& p) { p.echo = true; };
  auto anonymous = makeContext(Side::Client, Identity{}, ca.chainPem());
  auto peer = connectPeer(loop, pool, listener.port(), anonymous, clientPolicy({server.id}));
  peer->onEstablished = [](Peer& p) { p.conn->send("hi"); };
  ASSERT_TRUE(runUntil(loop, [&] { return peer->received == "hi" || peer->failed; }));
  EXPECT_EQ(listener.peers.front()->conn->peerIdentity(), "");
  EXPECT_EQ(peer->conn->peerIdentity(), server.id);
}

TEST_F(TlsConnectionTest, CertificatesFromAnotherCaAreRefusedBothWays) {
  auto other = pki::CertificateAuthority::createRoot("mesh.test", 24h);
  Identity stranger = issue(other, "shop", "checkout");
  {
    // A server with a certificate the client's bundle does not vouch for.
    Listener listener(loop, pool);
    listener.context = makeContext(Side::Server, stranger, ca.chainPem());
    auto peer = connectPeer(loop, pool, listener.port(), clientContext(), clientPolicy());
    ASSERT_TRUE(runUntil(loop, [&] { return peer->failed || peer->established; }));
    ASSERT_TRUE(peer->failed);
    // Its chain ends in the other root, which the bundle does not hold.
    EXPECT_NE(peer->tlsError.find("certificate verify failed: self-signed certificate in "
                                  "certificate chain"),
              std::string::npos)
        << peer->tlsError;
  }
  {
    // A client with one: the server refuses it.
    Listener listener(loop, pool);
    listener.context = serverContext();
    auto strangerClient = makeContext(Side::Client, stranger, ca.chainPem());
    auto peer = connectPeer(loop, pool, listener.port(), strangerClient, clientPolicy());
    ASSERT_TRUE(
        runUntil(loop, [&] { return !listener.peers.empty() && listener.peers.front()->failed; }));
    Peer& accepted = *listener.peers.front();
    EXPECT_NE(accepted.tlsError.find("certificate verify failed: self-signed certificate in "
                                     "certificate chain"),
              std::string::npos)
        << accepted.tlsError;
    EXPECT_EQ(accepted.conn->peerIdentity(), "");
  }
}

TEST_F(TlsConnectionTest, BundleWithTwoRootsTrustsBoth) {
  // Root rotation: certificates of the old and the new root both verify.
  auto next = pki::CertificateAuthority::createRoot("mesh.test", 24h);
  Identity renewed = issue(next, "shop", "checkout");
  Listener listener(loop, pool);
  listener.context = makeContext(Side::Server, renewed, ca.chainPem() + next.chainPem());
  auto peer = connectPeer(loop, pool, listener.port(),
                          makeContext(Side::Client, client, ca.chainPem() + next.chainPem()),
                          clientPolicy({renewed.id}));
  ASSERT_TRUE(runUntil(loop, [&] {
    return (peer->failed || peer->established) && !listener.peers.empty() &&
           (listener.peers.front()->failed || listener.peers.front()->established);
  }));
  EXPECT_TRUE(peer->established) << peer->tlsError;
  EXPECT_TRUE(listener.peers.front()->established) << listener.peers.front()->tlsError;
}

TEST_F(TlsConnectionTest, ExpiredCertificateIsRefused) {
  // The CA cannot sign in the past: a 1 s certificate, then a wait past its end.
  Identity shortLived = issue(ca, "shop", "checkout", 1s);
  ASSERT_FALSE(shortLived.chainPem.empty());
  Listener listener(loop, pool);
  listener.context = makeContext(Side::Server, shortLived, ca.chainPem());
  ASSERT_TRUE(listener.context);
  std::this_thread::sleep_for(2100ms);
  auto peer = connectPeer(loop, pool, listener.port(), clientContext(), clientPolicy());
  ASSERT_TRUE(runUntil(loop, [&] { return peer->failed || peer->established; }));
  ASSERT_TRUE(peer->failed);
  EXPECT_NE(peer->tlsError.find("certificate has expired"), std::string::npos) << peer->tlsError;
}

TEST_F(TlsConnectionTest, SecondConnectionResumesFromTheCache) {
  Listener listener(loop, pool);
  listener.context = serverContext({"h2"});
  listener.configure = [](Peer& p) { p.echo = true; };
  auto context = clientContext({"h2"});
  ClientSessionCache cache(8);
  const std::string key = "checkout|127.0.0.1:" + std::to_string(listener.port());
  auto exchange = [&](std::unique_ptr<Peer>& peer) {
    peer->onEstablished = [](Peer& p) { p.conn->send("ping"); };
    return runUntil(loop, [&] { return peer->received == "ping" || peer->failed; });
  };

  auto first =
      connectPeer(loop, pool, listener.port(), context, clientPolicy({server.id}, &cache, key));
  ASSERT_TRUE(exchange(first)) << first->tlsError;
  EXPECT_FALSE(first->conn->sessionReused());
  EXPECT_EQ(cache.size(), 1u);  // the ticket came before the echo
  first.reset();                // no close_notify: the cached copy stays resumable

  auto second =
      connectPeer(loop, pool, listener.port(), context, clientPolicy({server.id}, &cache, key));
  ASSERT_TRUE(exchange(second)) << second->tlsError;
  EXPECT_TRUE(second->conn->sessionReused());
  EXPECT_TRUE(listener.peers.back()->conn->sessionReused());
  // Identities and ALPN survive resumption.
  EXPECT_EQ(second->conn->peerIdentity(), server.id);
  EXPECT_EQ(listener.peers.back()->conn->peerIdentity(), client.id);
  EXPECT_EQ(second->conn->alpn(), "h2");

  auto otherKey = connectPeer(loop, pool, listener.port(), context,
                              clientPolicy({server.id}, &cache, "elsewhere|127.0.0.1:1"));
  ASSERT_TRUE(exchange(otherKey));
  EXPECT_FALSE(otherKey->conn->sessionReused());

  // A resumed session still answers to this connection's policy.
  auto wrongId = connectPeer(loop, pool, listener.port(), context,
                             clientPolicy({"spiffe://mesh.test/ns/shop/sa/payments"}, &cache, key));
  ASSERT_TRUE(runUntil(loop, [&] { return wrongId->failed || wrongId->established; }));
  EXPECT_TRUE(wrongId->failed);
  EXPECT_NE(wrongId->tlsError.find("peer presented " + server.id), std::string::npos)
      << wrongId->tlsError;

  // A renewed server context has a new ticket key: a full handshake, which still succeeds.
  listener.context = serverContext({"h2"});
  auto afterRenewal =
      connectPeer(loop, pool, listener.port(), context, clientPolicy({server.id}, &cache, key));
  ASSERT_TRUE(exchange(afterRenewal)) << afterRenewal->tlsError;
  EXPECT_FALSE(afterRenewal->conn->sessionReused());
}

// Resumption skips chain verification: a peer certificate that expired since the session began
// must still end the handshake, not ride on the ticket.
TEST_F(TlsConnectionTest, ResumptionAfterThePeersCertificateExpiredIsRefused) {
  Identity shortLived = issue(ca, "shop", "billing", 2s);
  ASSERT_FALSE(shortLived.chainPem.empty());
  Listener listener(loop, pool);
  listener.context = makeContext(Side::Server, shortLived, ca.chainPem(), {"h2"});
  ASSERT_TRUE(listener.context);
  listener.configure = [](Peer& p) { p.echo = true; };
  auto context = clientContext({"h2"});
  ClientSessionCache cache(8);
  const std::string key = "billing|127.0.0.1:" + std::to_string(listener.port());
  auto first =
      connectPeer(loop, pool, listener.port(), context, clientPolicy({shortLived.id}, &cache, key));
  first->onEstablished = [](Peer& p) { p.conn->send("ping"); };
  ASSERT_TRUE(runUntil(loop, [&] { return first->received == "ping" || first->failed; }))
      << first->tlsError;
  ASSERT_EQ(cache.size(), 1u);
  first.reset();
  std::this_thread::sleep_for(3100ms);  // past the certificate's end (whole seconds)
  auto resumed =
      connectPeer(loop, pool, listener.port(), context, clientPolicy({shortLived.id}, &cache, key));
  ASSERT_TRUE(runUntil(loop, [&] { return resumed->failed || resumed->established; }));
  EXPECT_TRUE(resumed->failed);
  EXPECT_NE(resumed->tlsError.find("expired"), std::string::npos) << resumed->tlsError;
}

void countKeyUpdates(int writeP, int /*version*/, int contentType, const void* buf, size_t len,
                     SSL* /*ssl*/, void* arg) {
  const auto* bytes = static_cast<const unsigned char*>(buf);
  if (writeP == 0 && contentType == SSL3_RT_HANDSHAKE && len > 0 &&
      bytes[0] == SSL3_MT_KEY_UPDATE) {
    ++*static_cast<int*>(arg);
  }
}

TEST_F(TlsConnectionTest, KeyUpdateInTheMiddleOfAStreamDoesNotStallEitherSide) {
  Listener listener(loop, pool);
  listener.context = serverContext();
  auto peer = connectPeer(loop, pool, listener.port(), clientContext(), clientPolicy());
  ASSERT_TRUE(runUntil(loop, [&] {
    return peer->established && !listener.peers.empty() && listener.peers.front()->established;
  }));
  Peer& accepted = *listener.peers.front();
  int clientSaw = 0;
  int serverSaw = 0;
  SSL_set_msg_callback(peer->conn->tlsStream()->native(), countKeyUpdates);
  SSL_set_msg_callback_arg(peer->conn->tlsStream()->native(), &clientSaw);
  SSL_set_msg_callback(accepted.conn->tlsStream()->native(), countKeyUpdates);
  SSL_set_msg_callback_arg(accepted.conn->tlsStream()->native(), &serverSaw);

  // The server rotates its keys and asks the client to do the same; the KeyUpdate goes out
  // with the next record.
  ASSERT_EQ(SSL_key_update(accepted.conn->tlsStream()->native(), SSL_KEY_UPDATE_REQUESTED), 1);
  accepted.conn->send("after the update");
  ASSERT_TRUE(runUntil(loop, [&] { return peer->received == "after the update"; }));
  peer->conn->send("reply");
  ASSERT_TRUE(runUntil(loop, [&] { return accepted.received == "reply" || accepted.readError; }))
      << accepted.conn->tlsError();
  EXPECT_EQ(clientSaw, 1);
  EXPECT_EQ(serverSaw, 1);  // the client's answering KeyUpdate
  // And the new keys carry more than one record each way.
  std::string big(100000, 'k');
  accepted.conn->send(big);
  peer->conn->send(big);
  ASSERT_TRUE(runUntil(loop, [&] {
    return peer->received.size() == 16 + big.size() && accepted.received.size() == 5 + big.size();
  }));
}

TEST_F(TlsConnectionTest, BytesSniffedBeforeStartTlsGoToTheHandshake) {
  // A listener that reads first (protocol detection) and starts TLS on what it saw.
  struct Sniffer final : ConnectionOwner {
    void onConnectionEvent(Connection& c, uint32_t /*events*/) override {
      while (c.readReady() && c.read() == Connection::ReadResult::Data) {
      }
      if (c.in().empty()) return;
      sniffed = c.in().size();
      firstByte = static_cast<unsigned char>(c.in().view()[0]);
      c.setOwner(peer);
      if (!c.startTls(context, PeerPolicy{Side::Server, {}, {}, nullptr, {}})) peer->failed = true;
    }
    Peer* peer = nullptr;
    std::shared_ptr<const TlsContext> context;
    size_t sniffed = 0;
    unsigned firstByte = 0;
  } sniffer;
  sniffer.context = serverContext();
  Listener listener(loop, pool);  // no context: plaintext until the sniffer decides
  listener.configure = [&](Peer& p) {
    p.echo = true;
    sniffer.peer = &p;
    p.conn->setOwner(&sniffer);
  };
  auto peer = connectPeer(loop, pool, listener.port(), clientContext(), clientPolicy());
  peer->onEstablished = [](Peer& p) { p.conn->send("sniffed"); };
  ASSERT_TRUE(runUntil(loop, [&] { return peer->received == "sniffed" || peer->failed; }))
      << peer->tlsError;
  EXPECT_EQ(sniffer.firstByte, 0x16u);  // a TLS handshake record
  EXPECT_GT(sniffer.sniffed, 100u);     // the ClientHello, read as plaintext
  EXPECT_EQ(listener.peers.front()->conn->peerIdentity(), client.id);
}

TEST_F(TlsConnectionTest, PlaintextHttpToATlsServerIsClosedWithATlsError) {
  Listener listener(loop, pool);
  listener.context = serverContext();
  listener.configure = [](Peer& p) { p.closeOnFailure = true; };
  int fd = ::socket(AF_INET, SOCK_STREAM, 0);
  ASSERT_GE(fd, 0);
  SocketAddress address = *SocketAddress::parse("127.0.0.1", listener.port());
  ASSERT_EQ(::connect(fd, address.get(), address.length), 0);
  const std::string request = "GET / HTTP/1.1\r\nHost: mesh.test\r\n\r\n";
  ASSERT_EQ(::send(fd, request.data(), request.size(), 0), static_cast<ssize_t>(request.size()));
  ASSERT_TRUE(runUntil(loop, [&] { return !listener.peers.empty() && listener.peers[0]->failed; }));
  Peer& accepted = *listener.peers.front();
  EXPECT_EQ(accepted.connectError, EPROTO);
  EXPECT_NE(accepted.tlsError.find("TLS handshake failed: http request"), std::string::npos)
      << accepted.tlsError;
  EXPECT_FALSE(accepted.conn);  // the owner closed it
  timeval timeout{2, 0};
  ::setsockopt(fd, SOL_SOCKET, SO_RCVTIMEO, &timeout, sizeof timeout);
  char buf[256];
  ssize_t n = ::recv(fd, buf, sizeof buf, 0);
  EXPECT_TRUE(n == 0 || (n < 0 && errno == ECONNRESET)) << "recv returned " << n;
  ::close(fd);
}

TEST_F(TlsConnectionTest, RefusedTcpConnectReportsItsErrnoNotATlsError) {
  int port = 0;
  {
    Listener closed(loop, pool);
    port = closed.port();
  }
  auto peer = connectPeer(loop, pool, static_cast<uint16_t>(port), clientContext(), clientPolicy());
  ASSERT_TRUE(peer);
  ASSERT_TRUE(runUntil(loop, [&] { return peer->failed || peer->established; }));
  EXPECT_EQ(peer->connectError, ECONNREFUSED);
  EXPECT_EQ(peer->tlsError, "");
}

TEST_F(TlsConnectionTest, StartTlsRefusesAPolicyForTheOtherSide) {
  Listener listener(loop, pool);
  PeerPolicy serverSide{Side::Server, {}, {}, nullptr, {}};
  auto peer = connectPeer(loop, pool, listener.port(), clientContext(), serverSide);
  ASSERT_TRUE(peer);
  EXPECT_TRUE(peer->failed);
  EXPECT_EQ(peer->conn->tlsError(), "a server connection needs a server context");
  int error = 0;
  EXPECT_FALSE(peer->conn->finishConnect(error));
  EXPECT_EQ(error, EPROTO);
}

TEST_F(TlsConnectionTest, SendsDuringTheHandshakeAreKeptAndShutdownWaitsForThem) {
  Listener listener(loop, pool);
  listener.context = serverContext();
  auto peer = connectPeer(loop, pool, listener.port(), clientContext(), clientPolicy());
  ASSERT_TRUE(peer->conn->connecting());
  peer->conn->send("early ", "bytes");
  peer->conn->shutdownWrite();
  EXPECT_EQ(peer->conn->pendingBytes(), 11u);
  ASSERT_TRUE(runUntil(loop, [&] { return !listener.peers.empty() && listener.peers[0]->eof; }));
  EXPECT_EQ(listener.peers.front()->received, "early bytes");
  EXPECT_EQ(peer->conn->pendingBytes(), 0u);
}

}  // namespace
}  // namespace trellis::tls::testing
