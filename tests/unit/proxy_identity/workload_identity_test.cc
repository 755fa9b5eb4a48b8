// WorkloadIdentity against a fake trellisd: a scripted loopback server that signs CSRs with a
// real CA (src/tls/pki) and checks renewals the way trellisd does (the current chain, and the
// new CSR signed with its key).
#include "proxy/identity/workload_identity.h"

#include <gtest/gtest.h>
#include <openssl/evp.h>
#include <openssl/x509.h>

#include <chrono>
#include <condition_variable>
#include <mutex>
#include <nlohmann/json.hpp>
#include <thread>

#include "test_server.h"
#include "tls/pki/certificate_authority.h"

namespace trellis::proxy::identity {
namespace {

using testing::ReceivedRequest;
using testing::response;
using testing::ScriptedAnswer;
using testing::TestServer;
using Clock = std::chrono::steady_clock;
using std::chrono::milliseconds;
using json = nlohmann::json;

std::string decodeBase64(const std::string& text) {
  std::string out(text.size() / 4 * 3, '\0');
  const int n = EVP_DecodeBlock(reinterpret_cast<unsigned char*>(out.data()),
                                reinterpret_cast<const unsigned char*>(text.data()),
                                static_cast<int>(text.size()));
  size_t size = n < 0 ? 0 : static_cast<size_t>(n);
  if (!text.empty() && text.back() == '=') --size;
  if (text.size() >= 2 && text[text.size() - 2] == '=') --size;
  out.resize(size);
  return out;
}

/// What a fake trellisd does with each request, in order; the last one repeats.
enum class Step { Issue, Unavailable, RefuseToken, Silent };

/// trellisd's certificate endpoint, with a real CA.
class FakeCa {
 public:
  explicit FakeCa(std::vector<Step> steps, std::chrono::seconds ttl = std::chrono::seconds(3600))
      : ca_(pki::CertificateAuthority::createRoot("trellis.local", std::chrono::hours(1))),
        steps_(std::move(steps)),
        ttl_(ttl),
        server_([this](const ReceivedRequest& request) { return answer(request); }) {}

  SocketAddress address() const { return server_.address(); }
  std::vector<json> bodies() {
    std::vector<json> out;
    for (const ReceivedRequest& request : server_.requests()) {
      out.push_back(json::parse(request.body));
    }
    return out;
  }
  const std::string& bundle() const { return ca_.chainPem(); }
  /// Why a renewal was not accepted ("" when every one was).
  std::string renewalProblem() {
    std::lock_guard lock(mutex_);
    return renewalProblem_;
  }

 private:
  ScriptedAnswer answer(const ReceivedRequest& request) {
    const Step step = steps_[std::min(count_++, steps_.size() - 1)];
    if (step == Step::Unavailable) return {{response(503, R"({"error":"busy"})")}};
    if (step == Step::Silent) return {{}, {}, true};
    if (step == Step::RefuseToken) {
      return {{response(
          403,
          json{{"error", "join token 4f1c expired 3 s ago"}, {"reason", "token_expired"}}.dump())}};
    }
    const json body = json::parse(request.body);
    const std::string csr = body.at("csr");
    auto info = pki::parseCsr(csr);
    auto id = pki::SpiffeId::parse(info->uriSans.at(0));
    if (body.contains("certificateChain")) {
      std::string problem;
      const std::string chain = body.at("certificateChain");
      auto certs = pki::parseCertificates(chain);
      if (!pki::verifyChain(chain, ca_.chainPem(), std::time(nullptr), id, &problem) ||
          !pki::verifySignature(*certs.at(0), csr, decodeBase64(body.at("signature")))) {
        std::lock_guard lock(mutex_);
        renewalProblem_ = problem.empty() ? "bad signature" : problem;
        return {{response(403, R"({"error":"no","reason":"renewal_signature_invalid"})")}};
      }
    } else if (body.value("joinToken", "") != "trellis-join.good") {
      return {{response(403, R"({"error":"unknown","reason":"token_unknown"})")}};
    }
    auto chain = ca_.sign(csr, *id, ttl_);
    auto leaf = pki::parseCertificates(*chain);
    return {{response(200, json{{"identity", id->uri()},
                                {"certificateChain", *chain},
                                {"trustBundle", ca_.chainPem()},
                                {"expiresAt", pki::inspect(*leaf.at(0)).notAfter}}
                               .dump())}};
  }

  pki::CertificateAuthority ca_;
  std::vector<Step> steps_;
  std::chrono::seconds ttl_;
  size_t count_ = 0;  // the server's thread only
  std::mutex mutex_;
  std::string renewalProblem_;
  TestServer server_;  // last: its thread calls answer()
};

/// A WorkloadIdentity with its main loop on a thread; callbacks are recorded.
class IdentityHarness {
 public:
  explicit IdentityHarness(const FakeCa& ca, std::string token = "trellis-join.good") {
    IdentityOptions options;
    options.caAddress = ca.address();
    options.joinToken = std::move(token);
    options.id = *pki::SpiffeId::forWorkload("trellis.local", "shop", "checkout");
    options.backoffBaseMs = 20;
    options.backoffMaxMs = 100;
    options.readTimeout = milliseconds(10000);
    WorkloadIdentity::Callbacks callbacks;
    callbacks.onCredentials = [this](std::shared_ptr<const Credentials> credentials) {
      std::lock_guard lock(mutex_);
      published_.push_back(std::move(credentials));
      changed_.notify_all();
    };
    callbacks.onRefused = [this](const std::string& reason, const std::string& message) {
      std::lock_guard lock(mutex_);
      refusal_ = reason + "|" + message;
      changed_.notify_all();
    };
    identity_ = std::make_unique<WorkloadIdentity>(loop_, options, std::move(callbacks));
    loopThread_ = std::thread([this] { loop_.run(); });
  }
  ~IdentityHarness() {
    identity_->stop();
    loop_.stop();
    loopThread_.join();
  }

  WorkloadIdentity& identity() { return *identity_; }

  /// Waits until `count` credentials were published; returns them.
  std::vector<std::shared_ptr<const Credentials>> waitPublished(size_t count,
                                                                milliseconds timeout) {
    std::unique_lock lock(mutex_);
    changed_.wait_for(lock, timeout, [&] { return published_.size() >= count; });
    return published_;
  }
  std::string waitRefusal(milliseconds timeout) {
    std::unique_lock lock(mutex_);
    changed_.wait_for(lock, timeout, [&] { return !refusal_.empty(); });
    return refusal_;
  }

 private:
  EventLoop loop_;
  std::unique_ptr<WorkloadIdentity> identity_;
  std::thread loopThread_;
  std::mutex mutex_;
  std::condition_variable changed_;
  std::vector<std::shared_ptr<const Credentials>> published_;
  std::string refusal_;
};

bool keyMatches(const Credentials& credentials) {
  auto key = pki::parsePrivateKey(credentials.keyPem);
  auto chain = pki::parseCertificates(credentials.chainPem);
  return key != nullptr && !chain.empty() && X509_check_private_key(chain[0].get(), key.get()) == 1;
}

TEST(WorkloadIdentityTest, GetsTheFirstCertificateWithTheJoinToken) {
  FakeCa ca({Step::Issue});
  IdentityHarness harness(ca);
  EXPECT_EQ(harness.identity().current(), nullptr);
  harness.identity().start();
  auto published = harness.waitPublished(1, milliseconds(5000));
  ASSERT_EQ(published.size(), 1u);
  const Credentials& credentials = *published[0];
  EXPECT_EQ(harness.identity().current(), published[0]);
  EXPECT_EQ(credentials.identity, "spiffe://trellis.local/ns/shop/sa/checkout");
  EXPECT_TRUE(keyMatches(credentials));
  EXPECT_NE(credentials.keyPem.find("PRIVATE KEY"), std::string::npos);
  EXPECT_EQ(credentials.bundlePem, ca.bundle());
  ASSERT_EQ(credentials.roots.size(), 1u);
  EXPECT_EQ(credentials.roots[0].fingerprint.size(), 64u);
  EXPECT_GT(credentials.notAfter, credentials.notBefore);
  EXPECT_FALSE(credentials.serialHex.empty());

  // What was sent: the CSR and the token, never a key.
  auto bodies = ca.bodies();
  ASSERT_EQ(bodies.size(), 1u);
  EXPECT_EQ(bodies[0]["joinToken"], "trellis-join.good");
  EXPECT_FALSE(bodies[0].contains("certificateChain"));
  EXPECT_EQ(bodies[0].dump().find("PRIVATE KEY"), std::string::npos);
  auto csr = pki::parseCsr(bodies[0]["csr"].get<std::string>());
  ASSERT_TRUE(csr);
  EXPECT_EQ(csr->uriSans, std::vector<std::string>{credentials.identity});
  EXPECT_EQ(harness.identity().counters().attempts, 1u);
  EXPECT_EQ(harness.identity().counters().renewalsSucceeded, 0u);
}

TEST(WorkloadIdentityTest, ARefusedFirstCertificateEndsWithTrellisdsReason) {
  FakeCa ca({Step::RefuseToken});
  IdentityHarness harness(ca);
  harness.identity().start();
  const std::string refusal = harness.waitRefusal(milliseconds(5000));
  EXPECT_EQ(refusal.substr(0, refusal.find('|')), "token_expired");
  EXPECT_NE(refusal.find("join token 4f1c expired 3 s ago"), std::string::npos) << refusal;
  EXPECT_NE(refusal.find("HTTP 403"), std::string::npos) << refusal;
  EXPECT_EQ(harness.identity().current(), nullptr);
  // Not retried: the thread ended after the one refusal.
  std::this_thread::sleep_for(milliseconds(200));
  EXPECT_EQ(ca.bodies().size(), 1u);
}

TEST(WorkloadIdentityTest, RetriesWhileTrellisdIsUnavailable) {
  FakeCa ca({Step::Unavailable, Step::Unavailable, Step::Issue});
  IdentityHarness harness(ca);
  harness.identity().start();
  auto published = harness.waitPublished(1, milliseconds(5000));
  ASSERT_EQ(published.size(), 1u);
  EXPECT_EQ(harness.identity().counters().attempts, 3u);
  EXPECT_TRUE(keyMatches(*published[0]));
}

TEST(WorkloadIdentityTest, RenewsAtHalfLifeWithANewKeyAndProofOfPossession) {
  FakeCa ca({Step::Issue}, std::chrono::seconds(2));
  IdentityHarness harness(ca);
  harness.identity().start();
  auto published = harness.waitPublished(3, milliseconds(8000));
  ASSERT_GE(published.size(), 3u) << ca.renewalProblem();
  EXPECT_EQ(ca.renewalProblem(), "");
  EXPECT_GE(harness.identity().counters().renewalsSucceeded, 2u);
  EXPECT_EQ(harness.identity().counters().renewalsFailed, 0u);
  auto bodies = ca.bodies();
  for (size_t i = 1; i < 3; ++i) {
    const Credentials& before = *published[i - 1];
    const Credentials& after = *published[i];
    EXPECT_TRUE(keyMatches(after));
    EXPECT_NE(after.keyPem, before.keyPem);
    EXPECT_NE(after.serialHex, before.serialHex);
    EXPECT_GE(after.notAfter, before.notAfter);
    // The renewal presented the chain in use and no join token.
    EXPECT_EQ(bodies[i]["certificateChain"], before.chainPem);
    EXPECT_FALSE(bodies[i].contains("joinToken"));
    EXPECT_EQ(bodies[i].dump().find("PRIVATE KEY"), std::string::npos);
  }
  // Half-life: a 2 s certificate is renewed about a second after it arrived, not at once.
  const int64_t gapMs = published[1]->receivedAtMs - published[0]->receivedAtMs;
  EXPECT_GE(gapMs, 300);
  EXPECT_LE(gapMs, 1900);
}

TEST(WorkloadIdentityTest, FailedRenewalsAreCountedAndRetried) {
  FakeCa ca({Step::Issue, Step::Unavailable, Step::Unavailable, Step::Issue},
            std::chrono::seconds(3));
  IdentityHarness harness(ca);
  harness.identity().start();
  auto published = harness.waitPublished(2, milliseconds(8000));
  ASSERT_EQ(published.size(), 2u);
  EXPECT_EQ(harness.identity().counters().renewalsFailed, 2u);
  EXPECT_EQ(harness.identity().counters().renewalsSucceeded, 1u);
  EXPECT_TRUE(keyMatches(*published[1]));
}

TEST(WorkloadIdentityTest, StopIsPromptWhileWaitingToRenew) {
  FakeCa ca({Step::Issue});  // an hour: the next renewal is half an hour away
  IdentityHarness harness(ca);
  harness.identity().start();
  ASSERT_EQ(harness.waitPublished(1, milliseconds(5000)).size(), 1u);
  const auto start = Clock::now();
  harness.identity().stop();
  EXPECT_LT(Clock::now() - start, milliseconds(500));
}

TEST(WorkloadIdentityTest, StopIsPromptDuringARequest) {
  FakeCa ca({Step::Silent});  // trellisd accepts and never answers (read timeout: 10 s)
  IdentityHarness harness(ca);
  harness.identity().start();
  std::this_thread::sleep_for(milliseconds(100));
  const auto start = Clock::now();
  harness.identity().stop();
  EXPECT_LT(Clock::now() - start, milliseconds(500));
  EXPECT_EQ(harness.identity().current(), nullptr);
}

}  // namespace
}  // namespace trellis::proxy::identity
