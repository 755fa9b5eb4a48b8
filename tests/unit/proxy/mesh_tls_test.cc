// Mutual TLS pieces of the proxy: MeshTls contexts from PEM, the classification of handshake
// failures (from real handshakes), x-forwarded-client-cert in forwarded heads, and the TLS
// metrics. The data path end to end is tests/integration/test_mtls.py.

#include <gtest/gtest.h>

#include <chrono>
#include <string>

#include "../tls/tls_test_util.h"
#include "proxy/head_writer.h"
#include "proxy/mesh_tls.h"
#include "proxy/metrics.h"
#include "proxy/tls_handshake.h"
#include "upstream/connection_pool.h"

namespace trellis::proxy {
namespace {

using namespace std::chrono_literals;
using tls::testing::Identity;

class MeshTlsTest : public ::testing::Test {
 protected:
  pki::CertificateAuthority ca = pki::CertificateAuthority::createRoot("mesh.test", 24h);
  Identity billing = tls::testing::issue(ca, "shop", "billing");
  Identity checkout = tls::testing::issue(ca, "shop", "checkout");
};

TEST_F(MeshTlsTest, BuildsServerAndPerProtocolClientContexts) {
  std::string error;
  auto mesh = MeshTls::build(billing.chainPem, billing.keyPem, ca.chainPem(), &error);
  ASSERT_TRUE(mesh) << error;
  EXPECT_EQ(mesh->identity, billing.id);
  EXPECT_EQ(mesh->server->side(), tls::Side::Server);
  EXPECT_EQ(mesh->server->alpn(), (std::vector<std::string>{"h2", "http/1.1", "trellis-tcp"}));
  EXPECT_EQ(mesh->client(config::UpstreamProtocol::Http1)->alpn(),
            std::vector<std::string>{"http/1.1"});
  EXPECT_EQ(mesh->client(config::UpstreamProtocol::Http2)->alpn(), std::vector<std::string>{"h2"});
  EXPECT_EQ(mesh->client(config::UpstreamProtocol::Tcp)->alpn(),
            std::vector<std::string>{"trellis-tcp"});
  for (auto protocol : {config::UpstreamProtocol::Http1, config::UpstreamProtocol::Http2,
                        config::UpstreamProtocol::Tcp}) {
    EXPECT_EQ(mesh->client(protocol)->side(), tls::Side::Client);
    EXPECT_EQ(mesh->client(protocol)->localIdentity(), billing.id);
  }
}

TEST_F(MeshTlsTest, RefusesUnusableInputWithAReason) {
  std::string error;
  EXPECT_FALSE(MeshTls::build("", billing.keyPem, ca.chainPem(), &error));
  EXPECT_EQ(error, "no certificate chain");
  EXPECT_FALSE(MeshTls::build(billing.chainPem, "", ca.chainPem(), &error));
  EXPECT_EQ(error, "no private key");
  EXPECT_FALSE(MeshTls::build(billing.chainPem, billing.keyPem, "", &error));
  EXPECT_EQ(error, "no trust bundle");
  EXPECT_FALSE(MeshTls::build(billing.chainPem, checkout.keyPem, ca.chainPem(), &error));
  EXPECT_NE(error.find("private key does not match"), std::string::npos) << error;
  EXPECT_FALSE(MeshTls::build("not pem", billing.keyPem, ca.chainPem(), &error));
  EXPECT_NE(error.find("certificate chain"), std::string::npos) << error;
  EXPECT_FALSE(MeshTls::build(billing.chainPem, billing.keyPem, "garbage", &error));
  EXPECT_NE(error.find("trust bundle"), std::string::npos) << error;
}

/// Runs one mutual TLS handshake between `serverId` (server context) and `clientId` (client
/// context trusting `clientBundle`, expecting `expected`); returns both sides' errors.
struct Outcome {
  std::string server;
  std::string client;
};

class HandshakeFailureTest : public MeshTlsTest {
 protected:
  Outcome handshake(const Identity& serverId, const std::string& serverBundle,
                    const Identity& clientId, const std::string& clientBundle,
                    std::vector<std::string> expected, std::vector<std::string> clientAlpn = {}) {
    tls::testing::Listener listener(loop, pool);
    listener.context =
        tls::testing::makeContext(tls::Side::Server, serverId, serverBundle, {"h2", "http/1.1"});
    listener.configure = [](tls::testing::Peer& p) { p.echo = true; };
    auto client = tls::testing::connectPeer(
        loop, pool, listener.port(),
        tls::testing::makeContext(tls::Side::Client, clientId, clientBundle, std::move(clientAlpn)),
        tls::testing::clientPolicy(std::move(expected)));
    EXPECT_TRUE(client);
    client->onEstablished = [](tls::testing::Peer& p) { p.conn->send("ping"); };
    tls::testing::runUntil(loop, [&] {
      const bool clientDone =
          client->failed || client->readError || client->eof || client->received == "ping";
      const bool serverDone =
          !listener.peers.empty() &&
          (listener.peers.front()->failed || !listener.peers.front()->conn->connecting());
      return clientDone && serverDone;
    });
    Outcome outcome;
    if (!listener.peers.empty()) {
      outcome.server = listener.peers.front()->conn->tlsError();
    }
    outcome.client = client->failed ? client->tlsError : std::string(client->conn->tlsError());
    return outcome;
  }

  EventLoop loop;
  BufferPool pool;
};

TEST_F(HandshakeFailureTest, WrongIdentityIsClassifiedOnTheClient) {
  Outcome outcome = handshake(billing, ca.chainPem(), checkout, ca.chainPem(),
                              {"spiffe://mesh.test/ns/shop/sa/other"});
  EXPECT_EQ(classifyTlsFailure(outcome.client), TlsFailure::WrongIdentity) << outcome.client;
}

TEST_F(HandshakeFailureTest, AnotherCaIsUntrustedOnBothSides) {
  pki::CertificateAuthority other = pki::CertificateAuthority::createRoot("mesh.test", 24h);
  Identity impostor = tls::testing::issue(other, "shop", "checkout");
  // The server does not trust the client's CA.
  Outcome outcome = handshake(billing, ca.chainPem(), impostor, ca.chainPem(), {billing.id});
  EXPECT_EQ(classifyTlsFailure(outcome.server), TlsFailure::UntrustedCertificate) << outcome.server;
  // The client does not trust the server's CA.
  outcome = handshake(billing, ca.chainPem(), checkout, other.chainPem(), {billing.id});
  EXPECT_EQ(classifyTlsFailure(outcome.client), TlsFailure::UntrustedCertificate) << outcome.client;
}

TEST_F(HandshakeFailureTest, NoCommonAlpnIsAProtocolFailure) {
  Outcome outcome =
      handshake(billing, ca.chainPem(), checkout, ca.chainPem(), {billing.id}, {"spdy/3"});
  EXPECT_EQ(classifyTlsFailure(outcome.client), TlsFailure::Protocol) << outcome.client;
}

TEST_F(HandshakeFailureTest, APooledTlsConnectionOutlivesItsSessionTicketButNotData) {
  tls::testing::Listener listener(loop, pool);
  listener.context = tls::testing::makeContext(tls::Side::Server, billing, ca.chainPem());
  upstream::ConnectionPools pools(loop);
  tls::ClientSessionCache cache;
  auto client = tls::testing::connectPeer(
      loop, pool, listener.port(),
      tls::testing::makeContext(tls::Side::Client, checkout, ca.chainPem()),
      tls::testing::clientPolicy({billing.id}, &cache, "c|127.0.0.1"));
  ASSERT_TRUE(client);
  // Parked as soon as the handshake is done: the server's NewSessionTicket comes after.
  client->onEstablished = [&](tls::testing::Peer& p) {
    pools.put("c|127.0.0.1", std::move(p.conn), 4, 60000);
  };
  ASSERT_TRUE(tls::testing::runUntil(loop, [&] { return cache.size() == 1; }));
  EXPECT_TRUE(pools.hasIdle("c|127.0.0.1"));  // the ticket did not end its reuse
  ASSERT_EQ(listener.peers.size(), 1u);
  // Application data (or a close) does.
  listener.peers.front()->conn->send("unsolicited");
  ASSERT_TRUE(tls::testing::runUntil(loop, [&] { return !pools.hasIdle("c|127.0.0.1"); }));
}

TEST(TlsFailureClassification, MessagesOfTheTlsLayer) {
  EXPECT_EQ(classifyTlsFailure("TLS handshake failed: no client certificate (the peer did not "
                               "present one)"),
            TlsFailure::NoPeerCertificate);
  EXPECT_EQ(classifyTlsFailure("TLS handshake failed: tlsv13 alert certificate required"),
            TlsFailure::NoPeerCertificate);
  EXPECT_EQ(classifyTlsFailure("TLS handshake failed: certificate verify failed: certificate has "
                               "expired (peer certificate spiffe://td/ns/a/sa/b)"),
            TlsFailure::ExpiredCertificate);
  EXPECT_EQ(classifyTlsFailure("TLS handshake failed: sslv3 alert certificate expired"),
            TlsFailure::ExpiredCertificate);
  EXPECT_EQ(classifyTlsFailure("TLS handshake failed: peer presented spiffe://td/ns/a/sa/x, "
                               "expected one of spiffe://td/ns/a/sa/y"),
            TlsFailure::WrongIdentity);
  EXPECT_EQ(classifyTlsFailure("TLS handshake failed: the peer closed the connection"),
            TlsFailure::ConnectionClosed);
  EXPECT_EQ(classifyTlsFailure("TLS handshake failed: Connection reset by peer"),
            TlsFailure::ConnectionClosed);
  EXPECT_EQ(classifyTlsFailure("TLS handshake failed: unsupported protocol"), TlsFailure::Protocol);
  EXPECT_EQ(classifyTlsFailure("TLS handshake failed: http request"), TlsFailure::Protocol);
}

TEST(ClientCertHeader, AddedFromTheConnectionAndNeverTakenFromTheClient) {
  std::string text =
      "GET / HTTP/1.1\r\nHost: h\r\nX-Forwarded-Client-Cert: By=forged;URI=spiffe://x/y\r\n"
      "Accept: */*\r\n\r\n";
  http::RequestHead head;
  http::ParseError error;
  ASSERT_EQ(http::parseRequestHead(text.data(), text.size(), http::Limits{}, head, error),
            http::ParseStatus::Complete);
  ForwardedRequest fwd{"/", "", "h", "10.0.0.1", "id", false, false};
  Buffer plain;
  writeUpstreamRequestHead(plain, head, nullptr, fwd);
  EXPECT_EQ(plain.view(),
            "GET / HTTP/1.1\r\nhost: h\r\naccept: */*\r\nx-forwarded-for: 10.0.0.1\r\n"
            "x-forwarded-proto: http\r\nx-request-id: id\r\n\r\n");
  fwd.clientCert = "By=spiffe://td/ns/shop/sa/billing;URI=spiffe://td/ns/shop/sa/checkout";
  Buffer mtls;
  writeUpstreamRequestHead(mtls, head, nullptr, fwd);
  EXPECT_EQ(mtls.view(),
            "GET / HTTP/1.1\r\nhost: h\r\naccept: */*\r\nx-forwarded-for: 10.0.0.1\r\n"
            "x-forwarded-proto: http\r\nx-request-id: id\r\nx-forwarded-client-cert: "
            "By=spiffe://td/ns/shop/sa/billing;URI=spiffe://td/ns/shop/sa/checkout\r\n\r\n");
  // HTTP/2 fields, from an HTTP/2 request.
  std::vector<http::HeaderField> fields{{"x-forwarded-client-cert", "By=x;URI=y"},
                                        {"accept", "*/*"}};
  FieldList out;
  buildUpstreamRequestFields(out, "GET", fields, nullptr, nullptr, fwd);
  int xfcc = 0;
  for (const auto& field : out.fields()) {
    if (field.name != "x-forwarded-client-cert") continue;
    ++xfcc;
    EXPECT_EQ(field.value, fwd.clientCert);
  }
  EXPECT_EQ(xfcc, 1);
}

TEST(TlsMetrics, HandshakesByResumptionFailuresByReasonAndPlaintext) {
  WorkerStats a;
  WorkerStats b;
  a.tls.downstreamHandshakes.inc(5);
  a.tls.downstreamResumed.inc(2);
  b.tls.downstreamHandshakes.inc(1);
  a.tls.upstreamHandshakes.inc(3);
  b.tls.upstreamResumed.inc(1);
  b.tls.upstreamHandshakes.inc(1);
  a.tls.downstreamFailures[static_cast<size_t>(TlsFailure::PlaintextRefused)].inc(4);
  b.tls.upstreamFailures[static_cast<size_t>(TlsFailure::WrongIdentity)].inc();
  a.tls.downstreamPlaintext.inc(7);
  const std::string text = renderPrometheus({&a, &b}, ProcessStats{});
  auto has = [&](const std::string& line) {
    EXPECT_NE(text.find("\n" + line + "\n"), std::string::npos) << line << "\n" << text;
  };
  has(R"(trellis_tls_handshakes_total{side="downstream",resumed="false"} 4)");
  has(R"(trellis_tls_handshakes_total{side="downstream",resumed="true"} 2)");
  has(R"(trellis_tls_handshakes_total{side="upstream",resumed="false"} 3)");
  has(R"(trellis_tls_handshakes_total{side="upstream",resumed="true"} 1)");
  has(R"(trellis_tls_handshake_failures_total{side="downstream",reason="plaintext_refused"} 4)");
  has(R"(trellis_tls_handshake_failures_total{side="upstream",reason="wrong_identity"} 1)");
  has("trellis_downstream_plaintext_connections_total 7");
  EXPECT_EQ(text.find("reason=\"timeout\""), std::string::npos);  // zero: not listed
}

}  // namespace
}  // namespace trellis::proxy
