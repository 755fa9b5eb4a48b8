#include "tls/pki/certificate_authority.h"

#include <gtest/gtest.h>
#include <stdlib.h>
#include <sys/wait.h>

#include <cstdio>
#include <filesystem>
#include <fstream>
#include <stdexcept>

#include "pki_test_util.h"

namespace trellis::pki {
namespace {

using namespace std::chrono_literals;
using testing::isCritical;
using testing::makeCaCert;
using testing::nowUnix;

SpiffeId id(const std::string& uri) {
  return *SpiffeId::parse(uri);
}

const SpiffeId kWeb = id("spiffe://example.org/ns/shop/sa/web");

// Signs a fresh key's CSR for `who`; the chain PEM or nullopt (and `error`).
std::optional<std::string> issue(const CertificateAuthority& ca, const SpiffeId& who,
                                 std::chrono::seconds ttl, std::string* error = nullptr) {
  KeyPtr key = generateKey();
  return ca.sign(makeCsr(*key, who), who, ttl, error);
}

CertPtr firstCert(const std::string& pem) {
  std::vector<CertPtr> certs = parseCertificates(pem);
  return certs.empty() ? nullptr : std::move(certs.front());
}

TEST(CertificateAuthorityTest, CreateRootIsASpiffeSigningCertificate) {
  CertificateAuthority ca = CertificateAuthority::createRoot("Example.org", 24h);
  EXPECT_EQ(ca.trustDomain(), "example.org");
  X509* root = const_cast<X509*>(&ca.certificate());
  CertInfo info = inspect(*root);
  EXPECT_TRUE(info.isCa);
  EXPECT_EQ(info.uriSans, std::vector<std::string>{"spiffe://example.org"});
  EXPECT_EQ(info.subject, "CN=trellis root example.org,O=trellis");
  EXPECT_NEAR(static_cast<double>(info.notAfter), static_cast<double>(nowUnix() + 24 * 3600), 5);
  EXPECT_EQ(X509_check_issued(root, root), X509_V_OK);  // self-signed
  EXPECT_TRUE(isCritical(*root, NID_basic_constraints));
  EXPECT_TRUE(isCritical(*root, NID_key_usage));
  EXPECT_EQ(X509_get_key_usage(root), static_cast<uint32_t>(KU_KEY_CERT_SIGN | KU_CRL_SIGN));
  EXPECT_NE(X509_get0_subject_key_id(root), nullptr);
  EXPECT_EQ(X509_verify(root, X509_get0_pubkey(root)), 1);
  // The key is the certificate's.
  KeyPtr key = parsePrivateKey(ca.keyPem());
  ASSERT_TRUE(key);
  EXPECT_EQ(EVP_PKEY_eq(key.get(), X509_get0_pubkey(root)), 1);
  // A long trust domain still fits the 64-byte commonName limit.
  std::string longTd(200, 'a');
  EXPECT_EQ(CertificateAuthority::createRoot(longTd, 1h).trustDomain(), longTd);
}

TEST(CertificateAuthorityTest, CreateRootRefusesAnInvalidTrustDomain) {
  EXPECT_THROW(CertificateAuthority::createRoot("bad domain", 1h), std::invalid_argument);
  EXPECT_THROW(CertificateAuthority::createRoot("", 1h), std::invalid_argument);
  EXPECT_THROW(CertificateAuthority::createRoot("example.org/path", 1h), std::invalid_argument);
}

TEST(CertificateAuthorityTest, SignedLeafIsAnX509Svid) {
  CertificateAuthority ca = CertificateAuthority::createRoot("example.org", 24h);
  std::string error;
  std::optional<std::string> chain = issue(ca, kWeb, 1h, &error);
  ASSERT_TRUE(chain) << error;
  std::vector<CertPtr> certs = parseCertificates(*chain);
  ASSERT_EQ(certs.size(), 2u);  // leaf, then the CA
  EXPECT_EQ(certificatePem(*certs[1]), ca.chainPem());
  X509* leaf = certs[0].get();
  CertInfo info = inspect(*leaf);
  EXPECT_EQ(info.uriSans, std::vector<std::string>{kWeb.uri()});
  EXPECT_FALSE(info.isCa);
  EXPECT_EQ(info.subject, "O=trellis");
  int64_t now = nowUnix();
  EXPECT_NEAR(static_cast<double>(info.notBefore), static_cast<double>(now - 60), 5);
  EXPECT_NEAR(static_cast<double>(info.notAfter), static_cast<double>(now + 3600), 5);
  EXPECT_LE(info.serialHex.size(), 32u);
  EXPECT_GE(info.serialHex.size(), 20u);  // random 128 bits: < 2^-40 chance of being shorter

  EXPECT_TRUE(isCritical(*leaf, NID_basic_constraints));
  EXPECT_TRUE(isCritical(*leaf, NID_key_usage));
  EXPECT_TRUE(isCritical(*leaf, NID_subject_alt_name));
  EXPECT_EQ(X509_get_key_usage(leaf),
            static_cast<uint32_t>(KU_DIGITAL_SIGNATURE | KU_KEY_ENCIPHERMENT));
  EXPECT_EQ(X509_get_extended_key_usage(leaf),
            static_cast<uint32_t>(XKU_SSL_SERVER | XKU_SSL_CLIENT));
  ASSERT_NE(X509_get0_subject_key_id(leaf), nullptr);
  ASSERT_NE(X509_get0_authority_key_id(leaf), nullptr);
  X509* root = const_cast<X509*>(&ca.certificate());
  EXPECT_EQ(ASN1_OCTET_STRING_cmp(X509_get0_authority_key_id(leaf), X509_get0_subject_key_id(root)),
            0);
  EXPECT_EQ(X509_check_issued(root, leaf), X509_V_OK);

  // Serials differ between two leaves.
  std::optional<std::string> second = issue(ca, kWeb, 1h);
  ASSERT_TRUE(second);
  EXPECT_NE(inspect(*firstCert(*second)).serialHex, info.serialHex);
}

TEST(CertificateAuthorityTest, VerifyChainAcceptsTheLeafForItsId) {
  CertificateAuthority ca = CertificateAuthority::createRoot("example.org", 24h);
  std::optional<std::string> chain = issue(ca, kWeb, 1h);
  ASSERT_TRUE(chain);
  std::string error;
  EXPECT_TRUE(verifyChain(*chain, ca.chainPem(), nowUnix(), kWeb, &error)) << error;
  EXPECT_TRUE(verifyChain(*chain, ca.chainPem(), nowUnix(), std::nullopt, &error)) << error;
  // The leaf alone is enough when the bundle holds the root.
  EXPECT_TRUE(
      verifyChain(certificatePem(*firstCert(*chain)), ca.chainPem(), nowUnix(), kWeb, &error))
      << error;
}

TEST(CertificateAuthorityTest, VerifyChainRefusesAnotherId) {
  CertificateAuthority ca = CertificateAuthority::createRoot("example.org", 24h);
  std::optional<std::string> chain = issue(ca, kWeb, 1h);
  ASSERT_TRUE(chain);
  std::string error;
  EXPECT_FALSE(verifyChain(*chain, ca.chainPem(), nowUnix(),
                           id("spiffe://example.org/ns/shop/sa/db"), &error));
  EXPECT_EQ(error,
            "identity mismatch: certificate is for 'spiffe://example.org/ns/shop/sa/web', "
            "expected 'spiffe://example.org/ns/shop/sa/db'");
}

TEST(CertificateAuthorityTest, VerifyChainRefusesAnExpiredOrNotYetValidLeaf) {
  CertificateAuthority ca = CertificateAuthority::createRoot("example.org", 24h);
  int64_t now = nowUnix();
  std::optional<std::string> chain = issue(ca, kWeb, 1h);
  ASSERT_TRUE(chain);
  int64_t notAfter = inspect(*firstCert(*chain)).notAfter;
  std::string error;
  EXPECT_NEAR(static_cast<double>(notAfter), static_cast<double>(now + 3600), 2);
  // OpenSSL counts the notAfter second itself as expired.
  EXPECT_TRUE(verifyChain(*chain, ca.chainPem(), notAfter - 1, kWeb, &error)) << error;
  EXPECT_FALSE(verifyChain(*chain, ca.chainPem(), notAfter + 1, kWeb, &error));
  EXPECT_NE(error.find("at depth 0 (O=trellis): certificate has expired"), std::string::npos)
      << error;
  EXPECT_FALSE(verifyChain(*chain, ca.chainPem(), now - 3600, kWeb, &error));
  EXPECT_NE(error.find("certificate is not yet valid"), std::string::npos) << error;
}

TEST(CertificateAuthorityTest, VerifyChainRefusesACertificateFromAnotherCa) {
  CertificateAuthority ca = CertificateAuthority::createRoot("example.org", 24h);
  CertificateAuthority other = CertificateAuthority::createRoot("example.org", 24h);
  std::optional<std::string> chain = issue(other, kWeb, 1h);
  ASSERT_TRUE(chain);
  std::string error;
  EXPECT_FALSE(verifyChain(*chain, ca.chainPem(), nowUnix(), kWeb, &error));
  // The chain carries the other root, which is not trusted here.
  EXPECT_EQ(error,
            "certificate verification failed at depth 1 (CN=trellis root example.org,O=trellis): "
            "self-signed certificate in certificate chain");
  EXPECT_FALSE(
      verifyChain(certificatePem(*firstCert(*chain)), ca.chainPem(), nowUnix(), kWeb, &error));
  EXPECT_EQ(error,
            "certificate verification failed at depth 0 (O=trellis): unable to get local issuer "
            "certificate");
  // With both roots trusted it passes.
  EXPECT_TRUE(verifyChain(*chain, ca.chainPem() + other.chainPem(), nowUnix(), kWeb, &error))
      << error;
}

TEST(CertificateAuthorityTest, VerifyChainRefusesACaAsLeafAndBadInput) {
  CertificateAuthority ca = CertificateAuthority::createRoot("example.org", 24h);
  std::string error;
  EXPECT_FALSE(verifyChain(ca.chainPem(), ca.chainPem(), nowUnix(), std::nullopt, &error));
  EXPECT_EQ(error, "leaf certificate is a CA (basicConstraints CA:TRUE)");
  EXPECT_FALSE(verifyChain("", ca.chainPem(), nowUnix(), std::nullopt, &error));
  EXPECT_EQ(error, "chain: no certificate in the PEM data");
  std::optional<std::string> chain = issue(ca, kWeb, 1h);
  ASSERT_TRUE(chain);
  EXPECT_FALSE(verifyChain(*chain, "", nowUnix(), std::nullopt, &error));
  EXPECT_EQ(error, "trust bundle: no certificate in the PEM data");
}

TEST(CertificateAuthorityTest, IntermediateCaSignsLeavesThatChainToTheRoot) {
  // sign() issues only leaves, so the intermediate is built with raw OpenSSL.
  CertificateAuthority root = CertificateAuthority::createRoot("example.org", 48h);
  KeyPtr rootKey = parsePrivateKey(root.keyPem());
  ASSERT_TRUE(rootKey);
  X509* rootCert = const_cast<X509*>(&root.certificate());
  int64_t now = nowUnix();
  testing::Issued inter =
      makeCaCert(rootCert, rootKey.get(), "spiffe://example.org", now - 60, now + 24 * 3600);
  ASSERT_TRUE(inter.cert);
  std::string interPem = certificatePem(*inter.cert);

  std::string error;
  std::optional<CertificateAuthority> ca =
      CertificateAuthority::load(interPem + root.chainPem(), privateKeyPem(*inter.key), &error);
  ASSERT_TRUE(ca) << error;
  EXPECT_EQ(ca->trustDomain(), "example.org");
  EXPECT_EQ(ca->chainPem(), interPem + root.chainPem());

  std::optional<std::string> chain = issue(*ca, kWeb, 1h, &error);
  ASSERT_TRUE(chain) << error;
  EXPECT_EQ(parseCertificates(*chain).size(), 3u);
  EXPECT_TRUE(verifyChain(*chain, root.chainPem(), nowUnix(), kWeb, &error)) << error;
  // Without the intermediate the leaf does not reach the root ...
  EXPECT_FALSE(
      verifyChain(certificatePem(*firstCert(*chain)), root.chainPem(), nowUnix(), kWeb, &error));
  EXPECT_NE(error.find("unable to get local issuer certificate"), std::string::npos) << error;
  // ... and a bundle holding only the intermediate is a trust anchor of its own.
  EXPECT_TRUE(verifyChain(*chain, interPem, nowUnix(), kWeb, &error)) << error;
  // The leaf's validity is capped by the intermediate's, not the root's.
  std::optional<std::string> longLived = issue(*ca, kWeb, 100h, &error);
  ASSERT_TRUE(longLived) << error;
  EXPECT_EQ(inspect(*firstCert(*longLived)).notAfter, inspect(*inter.cert).notAfter);
}

TEST(CertificateAuthorityTest, CaWithoutSpiffeIdSignsAnyTrustDomain) {
  CertificateAuthority root = CertificateAuthority::createRoot("example.org", 48h);
  KeyPtr rootKey = parsePrivateKey(root.keyPem());
  int64_t now = nowUnix();
  testing::Issued inter =
      makeCaCert(const_cast<X509*>(&root.certificate()), rootKey.get(), "", now - 60, now + 3600);
  ASSERT_TRUE(inter.cert);
  std::string error;
  std::optional<CertificateAuthority> ca =
      CertificateAuthority::load(certificatePem(*inter.cert), privateKeyPem(*inter.key), &error);
  ASSERT_TRUE(ca) << error;
  EXPECT_EQ(ca->trustDomain(), "");
  SpiffeId foreign = id("spiffe://other.org/ns/a/sa/b");
  std::optional<std::string> chain = issue(*ca, foreign, 1h, &error);
  ASSERT_TRUE(chain) << error;
  EXPECT_TRUE(verifyChain(*chain, root.chainPem(), nowUnix(), foreign, &error)) << error;
}

TEST(CertificateAuthorityTest, LoadRoundTrip) {
  CertificateAuthority created = CertificateAuthority::createRoot("example.org", 24h);
  std::string error;
  std::optional<CertificateAuthority> loaded =
      CertificateAuthority::load(created.chainPem(), created.keyPem(), &error);
  ASSERT_TRUE(loaded) << error;
  EXPECT_EQ(loaded->trustDomain(), "example.org");
  EXPECT_EQ(loaded->chainPem(), created.chainPem());
  std::optional<std::string> chain = issue(*loaded, kWeb, 1h);
  ASSERT_TRUE(chain);
  EXPECT_TRUE(verifyChain(*chain, created.chainPem(), nowUnix(), kWeb, &error)) << error;
}

TEST(CertificateAuthorityTest, LoadRefusesAMismatchedKey) {
  CertificateAuthority ca = CertificateAuthority::createRoot("example.org", 24h);
  CertificateAuthority other = CertificateAuthority::createRoot("example.org", 24h);
  std::string error;
  EXPECT_FALSE(CertificateAuthority::load(ca.chainPem(), other.keyPem(), &error));
  EXPECT_EQ(error, "the CA key does not match the CA certificate (the first of the chain)");
  EXPECT_FALSE(CertificateAuthority::load(ca.chainPem(), "garbage", &error));
  EXPECT_NE(error.find("not a readable PEM key"), std::string::npos) << error;
  EXPECT_FALSE(CertificateAuthority::load("", ca.keyPem(), &error));
  EXPECT_EQ(error, "CA certificate: no certificate in the PEM data");
}

TEST(CertificateAuthorityTest, LoadRefusesANonCaCertificate) {
  CertificateAuthority ca = CertificateAuthority::createRoot("example.org", 24h);
  KeyPtr key = generateKey();
  std::optional<std::string> chain = ca.sign(makeCsr(*key, kWeb), kWeb, 1h);
  ASSERT_TRUE(chain);
  std::string error;
  EXPECT_FALSE(
      CertificateAuthority::load(certificatePem(*firstCert(*chain)), privateKeyPem(*key), &error));
  EXPECT_EQ(error, "the CA certificate is not a CA (basicConstraints CA:TRUE is missing)");
}

TEST(CertificateAuthorityTest, LoadRefusesAnExpiredCaAndAMisorderedChain) {
  CertificateAuthority expired = CertificateAuthority::createRoot("example.org", -10s);
  std::string error;
  EXPECT_FALSE(CertificateAuthority::load(expired.chainPem(), expired.keyPem(), &error));
  EXPECT_EQ(error.rfind("the CA certificate expired at 20", 0), 0u) << error;

  CertificateAuthority root = CertificateAuthority::createRoot("example.org", 48h);
  KeyPtr rootKey = parsePrivateKey(root.keyPem());
  int64_t now = nowUnix();
  testing::Issued inter = makeCaCert(const_cast<X509*>(&root.certificate()), rootKey.get(),
                                     "spiffe://example.org", now - 60, now + 3600);
  ASSERT_TRUE(inter.cert);
  // The key matches the first certificate (the root), but the second one did not issue it: the
  // root issued the intermediate, not the reverse.
  EXPECT_FALSE(CertificateAuthority::load(root.chainPem() + certificatePem(*inter.cert),
                                          root.keyPem(), &error));
  EXPECT_EQ(error, "CA chain: certificate 2 did not issue certificate 1");
}

TEST(CertificateAuthorityTest, SignRefusesACsrForAnotherId) {
  CertificateAuthority ca = CertificateAuthority::createRoot("example.org", 24h);
  KeyPtr key = generateKey();
  std::string error;
  SpiffeId admin = id("spiffe://example.org/ns/shop/sa/admin");
  EXPECT_FALSE(ca.sign(makeCsr(*key, admin), kWeb, 1h, &error));
  EXPECT_EQ(error,
            "CSR asks for 'spiffe://example.org/ns/shop/sa/admin', not "
            "'spiffe://example.org/ns/shop/sa/web'");
}

TEST(CertificateAuthorityTest, SignRefusesBadCsrsAndIds) {
  CertificateAuthority ca = CertificateAuthority::createRoot("example.org", 24h);
  KeyPtr key = generateKey();
  std::string csr = makeCsr(*key, kWeb);
  std::string error;

  std::vector<unsigned char> der = testing::csrDer(csr);
  ASSERT_GT(der.size(), 100u);
  der[der.size() - 3] ^= 0x01;  // inside the signature
  EXPECT_FALSE(ca.sign(testing::csrPemFromDer(der), kWeb, 1h, &error));
  EXPECT_NE(error.find("CSR: "), std::string::npos) << error;

  EXPECT_FALSE(ca.sign("garbage", kWeb, 1h, &error));
  EXPECT_NE(error.find("CSR: not a readable PEM certificate request"), std::string::npos) << error;

  SpiffeId foreign = id("spiffe://other.org/ns/shop/sa/web");
  EXPECT_FALSE(ca.sign(makeCsr(*key, foreign), foreign, 1h, &error));
  EXPECT_EQ(error,
            "SPIFFE ID 'spiffe://other.org/ns/shop/sa/web' is outside the CA's trust domain "
            "'example.org'");

  SpiffeId bare = id("spiffe://example.org");
  EXPECT_FALSE(ca.sign(makeCsr(*key, bare), bare, 1h, &error));
  EXPECT_EQ(error, "SPIFFE ID 'spiffe://example.org' has no path; a workload identity needs one");

  SpiffeId invalid{"example.org", "/a/../b"};
  EXPECT_FALSE(ca.sign(makeCsr(*key, invalid), invalid, 1h, &error));
  EXPECT_EQ(error,
            "invalid SPIFFE ID 'spiffe://example.org/a/../b': path segment '..' is not "
            "allowed");

  SpiffeId upper{"Example.org", "/a"};
  EXPECT_FALSE(ca.sign(makeCsr(*key, upper), upper, 1h, &error));
  EXPECT_EQ(error, "SPIFFE ID 'spiffe://Example.org/a' is not in canonical (lower-case) form");

  EXPECT_FALSE(ca.sign(csr, kWeb, 0s, &error));
  EXPECT_EQ(error, "ttl must be positive");
  EXPECT_TRUE(ca.sign(csr, kWeb, 1s, &error)) << error;
}

TEST(CertificateAuthorityTest, TtlIsCappedAtTheCaExpiry) {
  CertificateAuthority ca = CertificateAuthority::createRoot("example.org", 1h);
  std::optional<std::string> chain = issue(ca, kWeb, 48h);
  ASSERT_TRUE(chain);
  int64_t caNotAfter = inspect(ca.certificate()).notAfter;
  EXPECT_EQ(inspect(*firstCert(*chain)).notAfter, caNotAfter);
  std::string error;
  EXPECT_TRUE(verifyChain(*chain, ca.chainPem(), caNotAfter - 1, kWeb, &error)) << error;
}

// Cross-check with the openssl command line: an independent verifier must agree.
TEST(CertificateAuthorityTest, OpensslCliAcceptsTheChain) {
  ASSERT_EQ(std::system("openssl version >/dev/null 2>&1"), 0)
      << "no openssl CLI (scripts/install-deps.sh installs it)";
  CertificateAuthority ca = CertificateAuthority::createRoot("example.org", 24h);
  std::optional<std::string> chain = issue(ca, kWeb, 1h);
  ASSERT_TRUE(chain);

  std::string dirTemplate = (std::filesystem::temp_directory_path() / "pki_test.XXXXXX").string();
  ASSERT_NE(mkdtemp(dirTemplate.data()), nullptr);
  std::filesystem::path dir = dirTemplate;
  std::ofstream(dir / "root.pem") << ca.chainPem();
  std::ofstream(dir / "leaf.pem") << certificatePem(*firstCert(*chain));
  auto run = [](const std::string& cmd, int* status) {
    std::string out;
    FILE* p = popen(cmd.c_str(), "r");
    if (!p) return out;
    char buf[512];
    while (size_t n = fread(buf, 1, sizeof buf, p)) out.append(buf, n);
    *status = pclose(p);
    return out;
  };
  int status = -1;
  std::string verify =
      run("cd '" + dir.string() + "' && openssl verify -CAfile root.pem leaf.pem 2>&1", &status);
  EXPECT_EQ(status, 0) << verify;
  EXPECT_EQ(verify, "leaf.pem: OK\n");
  // Against another root the CLI refuses it too.
  CertificateAuthority other = CertificateAuthority::createRoot("example.org", 24h);
  std::ofstream(dir / "other.pem") << other.chainPem();
  std::string refused =
      run("cd '" + dir.string() + "' && openssl verify -CAfile other.pem leaf.pem 2>&1", &status);
  EXPECT_NE(status, 0) << refused;
  std::string san =
      run("openssl x509 -noout -ext subjectAltName -in '" + (dir / "leaf.pem").string() + "' 2>&1",
          &status);
  EXPECT_EQ(status, 0) << san;
  EXPECT_NE(san.find("critical"), std::string::npos) << san;
  EXPECT_NE(san.find("URI:spiffe://example.org/ns/shop/sa/web"), std::string::npos) << san;
  std::filesystem::remove_all(dir);
}

}  // namespace
}  // namespace trellis::pki
