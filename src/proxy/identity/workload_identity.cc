#include "proxy/identity/workload_identity.h"

#include <fmt/format.h>
#include <openssl/evp.h>
#include <openssl/x509.h>
#include <sys/eventfd.h>
#include <unistd.h>

#include <chrono>
#include <ctime>
#include <nlohmann/json.hpp>
#include <random>

#include "common/logging.h"
#include "xds/client/backoff.h"

namespace trellis::proxy::identity {
namespace {

int64_t nowMs() {
  return std::chrono::duration_cast<std::chrono::milliseconds>(
             std::chrono::system_clock::now().time_since_epoch())
      .count();
}

std::string isoTime(int64_t unixSeconds) {
  const auto seconds = static_cast<std::time_t>(unixSeconds);
  std::tm utc{};
  gmtime_r(&seconds, &utc);
  char text[32];
  std::strftime(text, sizeof text, "%Y-%m-%dT%H:%M:%SZ", &utc);
  return text;
}

std::string base64(std::string_view data) {
  std::string out(4 * ((data.size() + 2) / 3) + 1, '\0');
  const int n = EVP_EncodeBlock(reinterpret_cast<unsigned char*>(out.data()),
                                reinterpret_cast<const unsigned char*>(data.data()),
                                static_cast<int>(data.size()));
  out.resize(n < 0 ? 0 : static_cast<size_t>(n));
  return out;
}

std::string stringField(const nlohmann::json& body, const char* name) {
  if (!body.is_object()) return {};
  auto it = body.find(name);
  return it != body.end() && it->is_string() ? it->get<std::string>() : std::string();
}

/// When to renew: half-way between receipt and expiry. Receipt, not notBefore: trellisd
/// backdates notBefore a minute for clock skew, which would make short certificates look
/// half-spent on arrival.
uint64_t renewalDelayMs(const Credentials& credentials) {
  const int64_t halfway =
      credentials.receivedAtMs + (credentials.notAfter * 1000 - credentials.receivedAtMs) / 2;
  const int64_t delay = halfway - nowMs();
  return delay > 0 ? static_cast<uint64_t>(delay) : 0;
}

std::string seconds(uint64_t ms) {
  return ms < 1000 ? fmt::format("{} ms", ms)
                   : fmt::format("{:.1f} s", static_cast<double>(ms) / 1000.0);
}

}  // namespace

struct WorkloadIdentity::Outcome {
  enum class Kind { Issued, Refused, Failed };
  Kind kind = Kind::Failed;
  std::shared_ptr<Credentials> credentials;
  pki::KeyPtr key;
  std::string reason;   // trellisd's reason code, when it refused
  std::string message;  // for the log
};

WorkloadIdentity::WorkloadIdentity(EventLoop& loop, IdentityOptions options, Callbacks callbacks)
    : loop_(loop),
      options_(std::move(options)),
      callbacks_(std::move(callbacks)),
      cancelFd_(::eventfd(0, EFD_NONBLOCK | EFD_CLOEXEC)) {}

WorkloadIdentity::~WorkloadIdentity() {
  stop();
  if (cancelFd_ >= 0) ::close(cancelFd_);
}

void WorkloadIdentity::start() {
  thread_ = std::thread([this] { run(); });
}

void WorkloadIdentity::stop() {
  {
    std::lock_guard lock(mutex_);
    stopping_ = true;
  }
  wake_.notify_all();
  uint64_t one = 1;
  [[maybe_unused]] auto written = ::write(cancelFd_, &one, sizeof one);
  if (thread_.joinable()) thread_.join();
}

bool WorkloadIdentity::sleepFor(uint64_t ms) {
  std::unique_lock lock(mutex_);
  wake_.wait_for(lock, std::chrono::milliseconds(ms),
                 [this] { return stopping_ || renewRequested_; });
  renewRequested_ = false;
  return !stopping_;
}

void WorkloadIdentity::renewNow() {
  {
    std::lock_guard lock(mutex_);
    renewRequested_ = true;
  }
  wake_.notify_all();
}

void WorkloadIdentity::publish(std::shared_ptr<const Credentials> credentials) {
  current_.store(credentials);
  if (callbacks_.onCredentials) {
    loop_.post([callback = callbacks_.onCredentials, credentials = std::move(credentials)] {
      callback(credentials);
    });
  }
}

WorkloadIdentity::Outcome WorkloadIdentity::requestCertificate(const Credentials* current,
                                                               const EVP_PKEY* currentKey) {
  {
    // An early renewal asked for before now is this request; one asked for while it is in
    // flight (its answer may predate what prompted it) comes after it.
    std::lock_guard lock(mutex_);
    renewRequested_ = false;
  }
  Outcome outcome;
  // A new key for every certificate: a stolen key is worth one certificate lifetime at most.
  pki::KeyPtr key = pki::generateKey();
  if (key == nullptr) {
    outcome.message = "could not generate a P-256 key";
    return outcome;
  }
  const std::string csr = pki::makeCsr(*key, options_.id);
  nlohmann::json body = {{"csr", csr}};
  const int64_t now = nowMs() / 1000;
  if (current != nullptr && currentKey != nullptr && now < current->notAfter) {
    // Proof of possession: the new CSR signed with the key of the certificate being renewed.
    body["certificateChain"] = current->chainPem;
    body["signature"] = base64(pki::sign(*currentKey, csr));
  } else {
    body["joinToken"] = options_.joinToken;
  }

  HttpClient::Options http;
  http.connectTimeout = options_.connectTimeout;
  http.readTimeout = options_.readTimeout;
  http.cancelFd = cancelFd_;
  attempts_.fetch_add(1);
  const HttpResult result = HttpClient(options_.caAddress, http)
                                .request("POST", "/api/v1/identity/certificates", body.dump());
  if (!result.response) {
    outcome.message = result.error;
    return outcome;
  }
  const HttpResponse& response = *result.response;
  const nlohmann::json answer = nlohmann::json::parse(response.body, nullptr, false);
  if (response.status != 200) {
    outcome.reason = stringField(answer, "reason");
    if (outcome.reason.empty()) outcome.reason = fmt::format("http_{}", response.status);
    std::string error = stringField(answer, "error");
    if (error.empty()) error = response.body.substr(0, 200);
    // Client errors are final (the token or the request is wrong and stays wrong); server
    // errors, 408 and 429 may pass.
    const bool final = response.status >= 400 && response.status < 500 && response.status != 408 &&
                       response.status != 429;
    outcome.message = fmt::format("trellisd {} the certificate for {} ({}, HTTP {}): {}",
                                  final ? "refused" : "could not issue", options_.id.uri(),
                                  outcome.reason, response.status, error);
    if (final) outcome.kind = Outcome::Kind::Refused;
    return outcome;
  }

  // Trust, but check: the certificate must be for this key and this identity, and verify
  // against the bundle it came with.
  const std::string chainPem = stringField(answer, "certificateChain");
  const std::string bundlePem = stringField(answer, "trustBundle");
  std::string problem;
  std::vector<pki::CertPtr> chain = pki::parseCertificates(chainPem, &problem);
  if (chain.empty()) {
    outcome.message = "trellisd's answer holds no certificate chain: " + problem;
    return outcome;
  }
  if (X509_check_private_key(chain.front().get(), key.get()) != 1) {
    outcome.message = "trellisd's certificate is not for the key of this request";
    return outcome;
  }
  if (!pki::verifyChain(chainPem, bundlePem, now, options_.id, &problem)) {
    outcome.message = "trellisd's certificate does not verify against its trust bundle: " + problem;
    return outcome;
  }
  auto credentials = std::make_shared<Credentials>();
  const pki::CertInfo leaf = pki::inspect(*chain.front());
  credentials->identity = options_.id.uri();
  credentials->keyPem = pki::privateKeyPem(*key);
  credentials->chainPem = chainPem;
  credentials->bundlePem = bundlePem;
  credentials->serialHex = leaf.serialHex;
  credentials->notBefore = leaf.notBefore;
  credentials->notAfter = leaf.notAfter;
  credentials->receivedAtMs = nowMs();
  for (const pki::CertPtr& root : pki::parseCertificates(bundlePem)) {
    const pki::CertInfo info = pki::inspect(*root);
    credentials->roots.push_back({info.subject, info.fingerprint, info.notAfter});
  }
  outcome.kind = Outcome::Kind::Issued;
  outcome.credentials = std::move(credentials);
  outcome.key = std::move(key);
  return outcome;
}

void WorkloadIdentity::run() {
  const std::string id = options_.id.uri();
  const std::string ca = options_.caAddress.toString();
  xds::client::Backoff backoff(options_.backoffBaseMs, options_.backoffMaxMs,
                               std::random_device{}());
  auto stopping = [this] {
    std::lock_guard lock(mutex_);
    return stopping_;
  };

  // The first certificate, with the join token. Nothing is served until it is here.
  pki::KeyPtr key;  // the current certificate's key; never leaves this process
  for (uint64_t attempt = 1;; ++attempt) {
    Outcome outcome = requestCertificate(nullptr, nullptr);
    if (stopping()) return;
    if (outcome.kind == Outcome::Kind::Issued) {
      key = std::move(outcome.key);
      log::info(
          "workload identity {}: certificate {} from trellisd at {}, valid until {}; "
          "renewal in {}",
          id, outcome.credentials->serialHex, ca, isoTime(outcome.credentials->notAfter),
          seconds(renewalDelayMs(*outcome.credentials)));
      publish(std::move(outcome.credentials));
      break;
    }
    if (outcome.kind == Outcome::Kind::Refused) {
      log::error("workload identity {}: {}", id, outcome.message);
      if (callbacks_.onRefused) {
        loop_.post([callback = callbacks_.onRefused, reason = outcome.reason,
                    message = outcome.message] { callback(reason, message); });
      }
      return;
    }
    const uint64_t delay = backoff.nextDelayMs();
    log::warn(
        "workload identity {}: attempt {} to get a certificate from trellisd at {} failed: "
        "{}; retrying in {}",
        id, attempt, ca, outcome.message, seconds(delay));
    if (!sleepFor(delay)) return;
  }

  // Renewals, each at half of the certificate's remaining lifetime, each with a new key.
  backoff.reset();
  for (;;) {
    const std::shared_ptr<const Credentials> held = current();
    if (!sleepFor(renewalDelayMs(*held))) return;
    for (uint64_t attempt = 1;; ++attempt) {
      Outcome outcome = requestCertificate(held.get(), key.get());
      if (stopping()) return;
      if (outcome.kind == Outcome::Kind::Issued) {
        key = std::move(outcome.key);
        renewalsSucceeded_.fetch_add(1);
        log::info(
            "workload identity {}: renewed, certificate {} valid until {}; next renewal in {}", id,
            outcome.credentials->serialHex, isoTime(outcome.credentials->notAfter),
            seconds(renewalDelayMs(*outcome.credentials)));
        publish(std::move(outcome.credentials));
        backoff.reset();
        break;
      }
      renewalsFailed_.fetch_add(1);
      const uint64_t delay = backoff.nextDelayMs();
      const int64_t left = held->notAfter - nowMs() / 1000;
      log::warn("workload identity {}: renewal attempt {} failed: {}; retrying in {} ({})", id,
                attempt, outcome.message, seconds(delay),
                left > 0 ? fmt::format("the certificate expires in {} s", left)
                         : std::string("the certificate has expired: the next attempt uses the "
                                       "join token"));
      if (!sleepFor(delay)) return;
    }
  }
}

}  // namespace trellis::proxy::identity
