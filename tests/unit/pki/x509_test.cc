#include "tls/pki/x509.h"

#include <gtest/gtest.h>
#include <openssl/core_names.h>

#include <algorithm>

#include "pki_test_util.h"
#include "tls/pki/certificate_authority.h"

namespace trellis::pki {
namespace {

using namespace std::chrono_literals;
using testing::csrDer;
using testing::csrPemFromDer;

SpiffeId webId() {
  return *SpiffeId::parse("spiffe://example.org/ns/shop/sa/web");
}

TEST(KeyTest, GeneratesEcdsaP256) {
  KeyPtr key = generateKey();
  ASSERT_TRUE(key);
  EXPECT_TRUE(EVP_PKEY_is_a(key.get(), "EC"));
  char group[64] = {};
  size_t len = 0;
  ASSERT_EQ(EVP_PKEY_get_utf8_string_param(key.get(), OSSL_PKEY_PARAM_GROUP_NAME, group,
                                           sizeof group, &len),
            1);
  EXPECT_STREQ(group, "prime256v1");
  // Two keys are never the same.
  KeyPtr other = generateKey();
  ASSERT_TRUE(other);
  EXPECT_NE(EVP_PKEY_eq(key.get(), other.get()), 1);
}

TEST(KeyTest, PemRoundTrip) {
  KeyPtr key = generateKey();
  ASSERT_TRUE(key);
  std::string pem = privateKeyPem(*key);
  EXPECT_EQ(pem.rfind("-----BEGIN PRIVATE KEY-----\n", 0), 0u) << pem;  // PKCS#8
  std::string error;
  KeyPtr back = parsePrivateKey(pem, &error);
  ASSERT_TRUE(back) << error;
  EXPECT_EQ(EVP_PKEY_eq(key.get(), back.get()), 1);
  EXPECT_EQ(privateKeyPem(*back), pem);
}

TEST(KeyTest, GarbageKeyIsRefused) {
  std::string error;
  EXPECT_FALSE(parsePrivateKey("not a key", &error));
  EXPECT_NE(error.find("private key: not a readable PEM key"), std::string::npos) << error;
  std::string pem = privateKeyPem(*generateKey());
  pem[40] = pem[40] == 'A' ? 'B' : 'A';  // corrupt the base64 body
  pem.erase(60, 10);
  EXPECT_FALSE(parsePrivateKey(pem, &error));
}

TEST(CsrTest, RoundTrip) {
  KeyPtr key = generateKey();
  ASSERT_TRUE(key);
  std::string csr = makeCsr(*key, webId());
  EXPECT_EQ(csr.rfind("-----BEGIN CERTIFICATE REQUEST-----\n", 0), 0u) << csr;
  std::string error;
  std::optional<CsrInfo> info = parseCsr(csr, &error);
  ASSERT_TRUE(info) << error;
  EXPECT_EQ(info->uriSans, std::vector<std::string>{"spiffe://example.org/ns/shop/sa/web"});
  ASSERT_TRUE(info->publicKey);
  EXPECT_EQ(EVP_PKEY_eq(info->publicKey.get(), key.get()), 1);
}

TEST(CsrTest, TamperedCsrIsRefused) {
  KeyPtr key = generateKey();
  std::vector<unsigned char> der = csrDer(makeCsr(*key, webId()));
  ASSERT_FALSE(der.empty());
  // Change the requested identity inside the signed part: ".../sa/web" -> ".../sa/wex".
  const std::string needle = "sa/web";
  auto it = std::search(der.begin(), der.end(), needle.begin(), needle.end());
  ASSERT_NE(it, der.end());
  *(it + 5) = 'x';
  std::string tampered = csrPemFromDer(der);
  ASSERT_FALSE(tampered.empty());
  std::string error;
  EXPECT_FALSE(parseCsr(tampered, &error));
  EXPECT_NE(error.find("CSR: self-signature does not verify"), std::string::npos) << error;
  // Untouched, the same bytes are accepted.
  *(it + 5) = 'b';
  EXPECT_TRUE(parseCsr(csrPemFromDer(der), &error)) << error;
}

TEST(CsrTest, GarbageIsRefused) {
  std::string error;
  EXPECT_FALSE(
      parseCsr("-----BEGIN CERTIFICATE REQUEST-----\nAAAA\n-----END CERTIFICATE "
               "REQUEST-----\n",
               &error));
  EXPECT_NE(error.find("CSR: not a readable PEM certificate request"), std::string::npos) << error;
  EXPECT_FALSE(parseCsr("", &error));
}

TEST(CertificateTest, ParseBundleAndInspect) {
  CertificateAuthority a = CertificateAuthority::createRoot("a.example", 24h);
  CertificateAuthority b = CertificateAuthority::createRoot("b.example", 24h);
  std::string error;
  std::vector<CertPtr> certs =
      parseCertificates("junk before\n" + a.chainPem() + b.chainPem(), &error);
  ASSERT_EQ(certs.size(), 2u) << error;
  EXPECT_EQ(certificatePem(*certs[0]), a.chainPem());
  EXPECT_EQ(certificatePem(*certs[1]), b.chainPem());

  CertInfo info = inspect(*certs[0]);
  EXPECT_EQ(info.uriSans, std::vector<std::string>{"spiffe://a.example"});
  EXPECT_EQ(info.subject, "CN=trellis root a.example,O=trellis");
  EXPECT_TRUE(info.isCa);
  EXPECT_NEAR(static_cast<double>(info.notAfter - info.notBefore), 24 * 3600 + 60, 2);
  EXPECT_NEAR(static_cast<double>(info.notBefore), static_cast<double>(testing::nowUnix() - 60), 5);
  EXPECT_EQ(info.fingerprint.size(), 64u);
  EXPECT_EQ(info.fingerprint.find_first_not_of("0123456789abcdef"), std::string::npos);
  EXPECT_NE(info.fingerprint, inspect(*certs[1]).fingerprint);
  EXPECT_FALSE(info.serialHex.empty());
  EXPECT_LE(info.serialHex.size(), 32u);  // 128 bits
  EXPECT_NE(info.serialHex, inspect(*certs[1]).serialHex);
}

TEST(CertificateTest, MalformedOrEmptyBundleIsRefused) {
  CertificateAuthority a = CertificateAuthority::createRoot("a.example", 24h);
  std::string error;
  EXPECT_TRUE(parseCertificates("", &error).empty());
  EXPECT_EQ(error, "no certificate in the PEM data");
  EXPECT_TRUE(parseCertificates(std::string_view{}, &error).empty());
  EXPECT_EQ(error, "no certificate in the PEM data");
  std::string broken = a.chainPem();
  broken.erase(100, 40);  // cut bytes out of the base64 body
  EXPECT_TRUE(parseCertificates(a.chainPem() + broken, &error).empty());
  EXPECT_NE(error.find("certificate 2 of the PEM bundle is malformed"), std::string::npos) << error;
}

TEST(SignatureTest, RoundTripAndTamperingIsDetected) {
  CertificateAuthority ca = CertificateAuthority::createRoot("example.org", 24h);
  KeyPtr key = generateKey();
  std::optional<std::string> chain =
      ca.sign(makeCsr(*key, webId()), webId(), 1h, /*error=*/nullptr);
  ASSERT_TRUE(chain);
  std::vector<CertPtr> certs = parseCertificates(*chain);
  ASSERT_FALSE(certs.empty());
  const X509& leaf = *certs[0];

  const std::string data = "proof of possession: nonce 1234";
  std::string sig = sign(*key, data);
  ASSERT_FALSE(sig.empty());
  EXPECT_TRUE(verifySignature(leaf, data, sig));

  std::string flipped = sig;
  flipped[flipped.size() / 2] ^= 0x01;
  EXPECT_FALSE(verifySignature(leaf, data, flipped));
  std::string otherData = data;
  otherData.back() = '5';
  EXPECT_FALSE(verifySignature(leaf, otherData, sig));
  EXPECT_FALSE(verifySignature(leaf, data, ""));
  // The CA certificate's key did not make the signature.
  EXPECT_FALSE(verifySignature(ca.certificate(), data, sig));
  // A different key's signature over the same data does not verify against this leaf.
  EXPECT_FALSE(verifySignature(leaf, data, sign(*generateKey(), data)));
}

}  // namespace
}  // namespace trellis::pki
