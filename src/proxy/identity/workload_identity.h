#pragma once
// The proxy's workload identity: its own P-256 key (made here, never sent anywhere), a
// certificate for spiffe://<trust-domain>/ns/<namespace>/sa/<service-account> from trellisd's
// CA (docs/identity.md), and renewal at half of each certificate's lifetime with a new key.
//
// All network I/O happens on the identity's own thread (blocking calls are fine there: it is not
// the request path). New credentials are swapped in atomically, readable from any thread, and
// handed to the main loop through EventLoop::post.

#include <atomic>
#include <condition_variable>
#include <cstdint>
#include <functional>
#include <memory>
#include <mutex>
#include <string>
#include <thread>
#include <vector>

#include "common/event_loop.h"
#include "proxy/identity/http_client.h"
#include "tls/pki/spiffe_id.h"
#include "tls/pki/x509.h"

namespace trellis::proxy::identity {

/// One issued identity: what a TLS context needs, and what /certs shows.
struct Credentials {
  struct Root {
    std::string subject;
    std::string fingerprint;  // SHA-256 of the DER, hex
    int64_t notAfter = 0;
  };

  std::string identity;   // the SPIFFE ID
  std::string keyPem;     // PKCS#8; stays in this process
  std::string chainPem;   // leaf first
  std::string bundlePem;  // the roots to trust
  std::string serialHex;
  int64_t notBefore = 0;  // Unix seconds
  int64_t notAfter = 0;
  int64_t receivedAtMs = 0;  // Unix milliseconds: the lifetime renewal halves starts here
  std::vector<Root> roots;
};

struct IdentityOptions {
  SocketAddress caAddress;  // trellisd's API
  std::string joinToken;    // for the first certificate (and again if one expired unrenewed)
  pki::SpiffeId id;
  uint64_t backoffBaseMs = 1000;
  uint64_t backoffMaxMs = 60000;
  std::chrono::milliseconds connectTimeout{3000};
  std::chrono::milliseconds readTimeout{10000};
};

class WorkloadIdentity {
 public:
  struct Callbacks {
    /// On the main loop: new credentials (the first certificate, then each renewal).
    std::function<void(std::shared_ptr<const Credentials>)> onCredentials;
    /// On the main loop: trellisd refused the first certificate (`reason` is its reason code,
    /// `message` a sentence naming it); the identity thread has ended.
    std::function<void(const std::string& reason, const std::string& message)> onRefused;
  };

  struct Counters {
    uint64_t attempts = 0;  // requests made to trellisd, first certificate included
    uint64_t renewalsSucceeded = 0;
    uint64_t renewalsFailed = 0;
  };

  WorkloadIdentity(EventLoop& loop, IdentityOptions options, Callbacks callbacks);
  ~WorkloadIdentity();
  WorkloadIdentity(const WorkloadIdentity&) = delete;
  WorkloadIdentity& operator=(const WorkloadIdentity&) = delete;

  /// Starts the thread: the first certificate (retried with backoff while trellisd cannot be
  /// reached), then renewals.
  void start();
  /// Stops the thread promptly, a request in flight included. Idempotent.
  void stop();
  /// Renews now rather than at half-life (once a first certificate is held): the credentials
  /// held are no longer trusted, e.g. trellisd moved to a new root. Any thread.
  void renewNow();

  /// The credentials in use, or null before the first certificate. Any thread.
  std::shared_ptr<const Credentials> current() const { return current_.load(); }
  Counters counters() const {
    return {attempts_.load(), renewalsSucceeded_.load(), renewalsFailed_.load()};
  }
  const pki::SpiffeId& id() const { return options_.id; }

 private:
  struct Outcome;
  void run();
  /// One certificate request with a new key: a renewal signed with `currentKey` when `current`
  /// is set and unexpired, else with the join token.
  Outcome requestCertificate(const Credentials* current, const EVP_PKEY* currentKey);
  /// Waits `ms`, or until stop() or renewNow(); false when stopping.
  bool sleepFor(uint64_t ms);
  void publish(std::shared_ptr<const Credentials> credentials);

  EventLoop& loop_;
  IdentityOptions options_;
  Callbacks callbacks_;
  int cancelFd_;  // eventfd: readable once stopping, so a blocking request ends at once
  std::mutex mutex_;
  std::condition_variable wake_;
  bool stopping_ = false;        // guarded by mutex_
  bool renewRequested_ = false;  // guarded by mutex_
  std::thread thread_;
  std::atomic<std::shared_ptr<const Credentials>> current_;
  std::atomic<uint64_t> attempts_{0};
  std::atomic<uint64_t> renewalsSucceeded_{0};
  std::atomic<uint64_t> renewalsFailed_{0};
};

}  // namespace trellis::proxy::identity
