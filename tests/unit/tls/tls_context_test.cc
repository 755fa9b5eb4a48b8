// TlsContext: what it accepts and refuses, and that it pins TLS 1.3; ClientSessionCache: LRU
// bound, replacement, and dropping sessions that can no longer resume.

#include "tls/tls_context.h"

#include <gtest/gtest.h>
#include <openssl/ssl.h>

#include <ctime>

#include "tls_test_util.h"

namespace trellis::tls::testing {
namespace {

using namespace std::chrono_literals;

class TlsContextTest : public ::testing::Test {
 protected:
  TlsContext::Options options(Side side) {
    TlsContext::Options o;
    o.side = side;
    o.certChainPem = identity.chainPem;
    o.privateKeyPem = identity.keyPem;
    o.trustBundlePem = ca.chainPem();
    return o;
  }
  std::string refusal(const TlsContext::Options& o) {
    std::string error;
    EXPECT_FALSE(TlsContext::create(o, &error));
    return error;
  }

  pki::CertificateAuthority ca = pki::CertificateAuthority::createRoot("mesh.test", 24h);
  Identity identity = issue(ca, "shop", "checkout");
};

TEST_F(TlsContextTest, BuildsTls13OnlyContextsForBothSides) {
  for (Side side : {Side::Server, Side::Client}) {
    std::string error;
    auto context = TlsContext::create(options(side), &error);
    ASSERT_TRUE(context) << error;
    EXPECT_EQ(context->side(), side);
    EXPECT_EQ(SSL_CTX_get_min_proto_version(context->native()), TLS1_3_VERSION);
    EXPECT_EQ(SSL_CTX_get_max_proto_version(context->native()), TLS1_3_VERSION);
    EXPECT_EQ(context->localIdentity(), identity.id);
    EXPECT_TRUE(SSL_CTX_get_options(context->native()) & SSL_OP_NO_COMPRESSION);
    EXPECT_EQ(SSL_CTX_get_verify_mode(context->native()) & SSL_VERIFY_PEER, SSL_VERIFY_PEER);
  }
}

TEST_F(TlsContextTest, ServerRequiresACertificateAndItsKey) {
  auto o = options(Side::Server);
  o.certChainPem.clear();
  o.privateKeyPem.clear();
  EXPECT_EQ(refusal(o), "a server needs a certificate chain and its private key");
}

TEST_F(TlsContextTest, KeyMustMatchTheLeaf) {
  auto o = options(Side::Server);
  o.privateKeyPem = issue(ca, "shop", "other").keyPem;
  EXPECT_EQ(refusal(o), "the private key does not match the certificate (the first of the chain)");
}

TEST_F(TlsContextTest, ChainKeyAndBundleMustParse) {
  auto o = options(Side::Client);
  o.certChainPem = "not a certificate";
  EXPECT_EQ(refusal(o).rfind("certificate chain: ", 0), 0u);
  o = options(Side::Client);
  o.privateKeyPem = "-----BEGIN PRIVATE KEY-----\nAAAA\n-----END PRIVATE KEY-----\n";
  EXPECT_NE(refusal(o).find("private key"), std::string::npos);
  o = options(Side::Client);
  o.trustBundlePem = "garbage";
  EXPECT_EQ(refusal(o).rfind("trust bundle: ", 0), 0u);
}

TEST_F(TlsContextTest, AClientAlwaysVerifiesAndNeedsABundle) {
  auto o = options(Side::Client);
  o.requirePeerCertificate = false;
  EXPECT_EQ(refusal(o), "a client always verifies the server's certificate");
  o = options(Side::Client);
  o.trustBundlePem.clear();
  EXPECT_EQ(refusal(o), "a trust bundle is needed to verify the peer");
}

TEST_F(TlsContextTest, ServerWithoutMutualTlsMayGoWithoutABundle) {
  auto o = options(Side::Server);
  o.trustBundlePem.clear();
  EXPECT_EQ(refusal(o), "a trust bundle is needed to verify the peer");
  o.requirePeerCertificate = false;
  auto context = TlsContext::create(o, nullptr);
  ASSERT_TRUE(context);
  EXPECT_EQ(SSL_CTX_get_verify_mode(context->native()), SSL_VERIFY_NONE);
}

TEST_F(TlsContextTest, AlpnIdsMustFitTheirLengthByte) {
  auto o = options(Side::Client);
  o.alpn = {"h2", ""};
  EXPECT_EQ(refusal(o), "ALPN protocol '' must be 1 to 255 bytes");
  o.alpn = {std::string(256, 'x')};
  EXPECT_NE(refusal(o).find("must be 1 to 255 bytes"), std::string::npos);
}

// A session that OpenSSL considers resumable (it has an id) and valid for `timeout` seconds
// from `start`.
SSL_SESSION* makeSession(const std::string& id, long start, long timeout = 300) {
  SSL_SESSION* s = SSL_SESSION_new();
  SSL_SESSION_set1_id(s, reinterpret_cast<const unsigned char*>(id.data()),
                      static_cast<unsigned int>(id.size()));
  SSL_SESSION_set_time(s, start);
  SSL_SESSION_set_timeout(s, timeout);
  return s;
}

unsigned int idLength(SSL_SESSION* s) {
  unsigned int length = 0;
  SSL_SESSION_get_id(s, &length);
  return length;
}

TEST(ClientSessionCacheTest, KeepsCopiesAndEvictsTheLeastRecentlyUsed) {
  const long now = static_cast<long>(std::time(nullptr));
  ClientSessionCache cache(2);
  SSL_SESSION* a = makeSession("a", now);
  SSL_SESSION* b = makeSession("bb", now);
  SSL_SESSION* c = makeSession("ccc", now);
  cache.store("a", a);
  cache.store("b", b);
  ASSERT_NE(cache.find("a"), nullptr);  // a is now the most recent
  EXPECT_NE(cache.find("a"), a);        // a copy, not the caller's object
  cache.store("c", c);
  EXPECT_EQ(cache.size(), 2u);
  EXPECT_EQ(cache.find("b"), nullptr);
  ASSERT_NE(cache.find("a"), nullptr);
  ASSERT_NE(cache.find("c"), nullptr);
  EXPECT_EQ(idLength(cache.find("c")), 3u);

  // The newest session for a key replaces the older one.
  cache.store("a", c);
  EXPECT_EQ(cache.size(), 2u);
  EXPECT_EQ(idLength(cache.find("a")), 3u);
  cache.erase("a");
  EXPECT_EQ(cache.find("a"), nullptr);
  EXPECT_EQ(cache.size(), 1u);
  SSL_SESSION_free(a);
  SSL_SESSION_free(b);
  SSL_SESSION_free(c);
}

TEST(ClientSessionCacheTest, DropsExpiredAndUnresumableSessions) {
  const long now = static_cast<long>(std::time(nullptr));
  ClientSessionCache cache;
  SSL_SESSION* expired = makeSession("old", now - 100, 10);
  SSL_SESSION* spent = SSL_SESSION_new();  // no id and no ticket: nothing to resume with
  cache.store("expired", expired);
  cache.store("spent", spent);
  EXPECT_EQ(cache.size(), 2u);
  EXPECT_EQ(cache.find("expired"), nullptr);
  EXPECT_EQ(cache.find("spent"), nullptr);
  EXPECT_EQ(cache.size(), 0u);
  SSL_SESSION_free(expired);
  SSL_SESSION_free(spent);

  ClientSessionCache none(0);
  SSL_SESSION* s = makeSession("x", now);
  none.store("k", s);
  EXPECT_EQ(none.size(), 0u);
  SSL_SESSION_free(s);
}

}  // namespace
}  // namespace trellis::tls::testing
