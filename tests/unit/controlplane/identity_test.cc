// Join tokens and certificate issuance, against a real store and real OpenSSL: tokens are bound
// to one identity and expire; certificates come only with a token or a proof of possession of
// the current certificate's key; CA files are created private and reloaded as they were.

#include <gtest/gtest.h>
#include <sys/stat.h>
#include <unistd.h>

#include <ctime>
#include <filesystem>
#include <fstream>

#include "controlplane/identity/certificate_service.h"
#include "controlplane/identity/join_tokens.h"

namespace trellis::controlplane {
namespace {

namespace fs = std::filesystem;
// Certificates are signed at the real time: the tests' clock starts there too.
const int64_t kNow = std::time(nullptr);

class IdentityTest : public ::testing::Test {
 protected:
  void SetUp() override {
    dir_ = fs::temp_directory_path() /
           ("trellis-identity-" + std::to_string(::getpid()) + "-" +
            ::testing::UnitTest::GetInstance()->current_test_info()->name());
    fs::remove_all(dir_);
    std::string error;
    store_ = Store::open(dir_.string(), error);
    ASSERT_NE(store_, nullptr) << error;
    tokens_ = std::make_unique<JoinTokens>(*store_);
  }
  void TearDown() override { fs::remove_all(dir_); }

  CaOptions caOptions() const {
    CaOptions options;
    options.dataDir = dir_.string();
    return options;
  }
  CertificateService service() {
    std::string error;
    auto ca = loadOrCreateCa(caOptions(), error);
    EXPECT_TRUE(ca) << error;
    return CertificateService(std::move(*ca), *tokens_, "trellis.local", std::chrono::hours(24));
  }
  std::string token(const std::string& ns, const std::string& sa, int64_t now = kNow) {
    std::string error;
    auto issued = tokens_->create(ns, sa, std::chrono::hours(1), now, error);
    EXPECT_TRUE(issued) << error;
    return issued ? issued->token : std::string();
  }
  static std::string csrFor(const pki::KeyPtr& key, std::string_view ns, std::string_view sa) {
    return pki::makeCsr(*key, *pki::SpiffeId::forWorkload("trellis.local", ns, sa));
  }

  fs::path dir_;
  std::unique_ptr<Store> store_;
  std::unique_ptr<JoinTokens> tokens_;
};

TEST_F(IdentityTest, TokensAreBoundToOneIdentityAndExpire) {
  const std::string t = token("shop", "checkout");
  EXPECT_EQ(tokens_->check(t, "shop", "checkout", kNow), JoinTokens::Refusal::None);
  EXPECT_EQ(tokens_->check(t, "shop", "checkout", kNow + 3599), JoinTokens::Refusal::None);
  EXPECT_EQ(tokens_->check(t, "shop", "checkout", kNow + 3600), JoinTokens::Refusal::Expired);
  EXPECT_EQ(tokens_->check(t, "shop", "billing", kNow), JoinTokens::Refusal::WrongIdentity);
  EXPECT_EQ(tokens_->check(t, "other", "checkout", kNow), JoinTokens::Refusal::WrongIdentity);
  std::string forged = t;
  forged.back() = forged.back() == '0' ? '1' : '0';
  EXPECT_EQ(tokens_->check(forged, "shop", "checkout", kNow), JoinTokens::Refusal::Unknown);
  EXPECT_EQ(tokens_->check("trellis-join.x.y", "shop", "checkout", kNow),
            JoinTokens::Refusal::Malformed);
  EXPECT_EQ(tokens_->check("", "shop", "checkout", kNow), JoinTokens::Refusal::Malformed);
}

TEST_F(IdentityTest, TheSecretIsNotStored) {
  const std::string t = token("shop", "checkout");
  const std::string secret = t.substr(t.rfind('.') + 1);
  auto record = store_->joinToken(t.substr(13, 16));
  ASSERT_TRUE(record);
  EXPECT_NE(record->secretSha256, secret);
  EXPECT_EQ(record->secretSha256.size(), 64u);
}

TEST_F(IdentityTest, CaFilesAreCreatedPrivateAndReloadedUnchanged) {
  std::string error;
  auto first = loadOrCreateCa(caOptions(), error);
  ASSERT_TRUE(first) << error;
  EXPECT_TRUE(first->created);
  struct stat info {};
  ASSERT_EQ(::stat((dir_ / "ca" / "root-key.pem").c_str(), &info), 0);
  EXPECT_EQ(info.st_mode & 0777, 0600u);
  auto second = loadOrCreateCa(caOptions(), error);
  ASSERT_TRUE(second) << error;
  EXPECT_FALSE(second->created);
  EXPECT_EQ(second->bundlePem, first->bundlePem);
  ::chmod((dir_ / "ca" / "root-key.pem").c_str(), 0640);
  EXPECT_FALSE(loadOrCreateCa(caOptions(), error));
  EXPECT_NE(error.find("readable by others"), std::string::npos) << error;
}

TEST_F(IdentityTest, ATokenGetsACertificateThatVerifies) {
  CertificateService certificates = service();
  pki::KeyPtr key = pki::generateKey();
  CertificateResponse issued = certificates.issue(
      {csrFor(key, "shop", "checkout"), token("shop", "checkout"), {}, {}}, kNow);
  ASSERT_EQ(issued.status, 200) << issued.error;
  EXPECT_EQ(issued.identity, "spiffe://trellis.local/ns/shop/sa/checkout");
  std::string error;
  EXPECT_TRUE(pki::verifyChain(issued.chainPem, issued.bundlePem, kNow + 60,
                               pki::SpiffeId::parse(issued.identity), &error))
      << error;
  EXPECT_EQ(certificates.outcomes().at("issued"), 1u);
}

TEST_F(IdentityTest, RenewalNeedsTheCurrentCertificatesKey) {
  CertificateService certificates = service();
  pki::KeyPtr key = pki::generateKey();
  CertificateResponse first = certificates.issue(
      {csrFor(key, "shop", "checkout"), token("shop", "checkout"), {}, {}}, kNow);
  ASSERT_EQ(first.status, 200) << first.error;
  pki::KeyPtr next = pki::generateKey();
  const std::string csr = csrFor(next, "shop", "checkout");
  auto base64 = [](const std::string& bytes) {
    std::string out(4 * ((bytes.size() + 2) / 3) + 1, '\0');
    int n = EVP_EncodeBlock(reinterpret_cast<unsigned char*>(out.data()),
                            reinterpret_cast<const unsigned char*>(bytes.data()),
                            static_cast<int>(bytes.size()));
    out.resize(static_cast<size_t>(n));
    return out;
  };
  CertificateResponse renewed =
      certificates.issue({csr, {}, first.chainPem, base64(pki::sign(*key, csr))}, kNow + 3600);
  EXPECT_EQ(renewed.status, 200) << renewed.error;
  CertificateResponse stolen =
      certificates.issue({csr, {}, first.chainPem, base64(pki::sign(*next, csr))}, kNow + 3600);
  EXPECT_EQ(stolen.status, 403);
  EXPECT_EQ(stolen.reason, "renewal_signature_invalid");
  CertificateResponse late = certificates.issue(
      {csr, {}, first.chainPem, base64(pki::sign(*key, csr))}, kNow + 2 * 24 * 3600);
  EXPECT_EQ(late.reason, "renewal_certificate_invalid");  // the current certificate expired
}

TEST_F(IdentityTest, RequestsWithoutTheRightCredentialAreRefusedByReason) {
  CertificateService certificates = service();
  pki::KeyPtr key = pki::generateKey();
  const std::string csr = csrFor(key, "shop", "checkout");
  EXPECT_EQ(certificates.issue({csr, {}, {}, {}}, kNow).reason, "no_credential");
  EXPECT_EQ(certificates.issue({csr, token("shop", "billing"), {}, {}}, kNow).reason,
            "token_wrong_identity");
  EXPECT_EQ(certificates.issue({csr, token("shop", "checkout"), {}, {}}, kNow + 7200).reason,
            "token_expired");
  EXPECT_EQ(certificates.issue({"not a csr", token("shop", "checkout"), {}, {}}, kNow).reason,
            "bad_csr");
  const std::string foreign =
      pki::makeCsr(*key, *pki::SpiffeId::forWorkload("other.domain", "shop", "checkout"));
  EXPECT_EQ(certificates.issue({foreign, token("shop", "checkout"), {}, {}}, kNow).reason,
            "wrong_trust_domain");
  const std::string notWorkload =
      pki::makeCsr(*key, *pki::SpiffeId::parse("spiffe://trellis.local/x"));
  EXPECT_EQ(certificates.issue({notWorkload, token("shop", "checkout"), {}, {}}, kNow).reason,
            "not_a_workload");
  EXPECT_EQ(certificates.outcomes().count("issued"), 0u);
  EXPECT_EQ(certificates.outcomes().at("token_expired"), 1u);
}

}  // namespace
}  // namespace trellis::controlplane
