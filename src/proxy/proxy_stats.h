#pragma once
// The proxy's stats, one shard per worker. Counters are single-writer (the worker); the admin
// thread sums shards on scrape. Labelled families are created on configuration changes only,
// under `mutex`, which the request path never takes.

#include <array>
#include <map>
#include <memory>
#include <mutex>
#include <string>
#include <string_view>
#include <tuple>
#include <utility>

#include "common/stats.h"
#include "http/grpc.h"
#include "http/http1_parser.h"
#include "http/http2/http2_types.h"
#include "upstream/cluster_runtime.h"

namespace trellis::proxy {

/// Why the proxy answered a request itself (also sent as `x-trellis-reason`).
enum class LocalReason : uint8_t {
  RouteNotFound,
  NoBackend,  // every backendRef has weight 0, or refers to a missing service
  NoHealthyEndpoint,
  UpstreamConnectFailure,
  UpstreamConnectTimeout,
  UpstreamReset,
  UpstreamBadResponse,
  RequestBodyTooLarge,
  RequestHeaderTimeout,
  Redirect,
  BadRequest,  // parse errors; the parser's own name is used as reason
  Draining,
  DeadlineExceeded,        // grpc-timeout expired before the response ended
  UpstreamRequestTimeout,  // the route's request timeout expired (504)
  UpstreamPerTryTimeout,   // the last attempt ran out of its per-try timeout (504)
  UpstreamOverflow,        // a circuit breaker limit was reached (503)
  RateLimited,             // a local rate limit (429)
  FaultAbort,              // fault injection aborted the request
  StreamIdleTimeout,       // no bytes either way for the stream idle timeout (504)
  RbacDenied,              // an AuthorizationPolicy denied the request (403)
  UpstreamTlsFailure,      // the mutual TLS handshake with the upstream proxy failed (503)
  MtlsRequired,            // plaintext on a listener that turned STRICT after accepting it (403)
  kCount
};
std::string_view localReasonName(LocalReason reason);

/// Requests by (listener, route, cluster): count by status class, duration, bytes.
struct RequestStats {
  std::array<Counter, 6> byClass;  // 1xx..5xx, [0] = no response (connection aborted)
  Histogram duration;
  Counter requestBytes;
  Counter responseBytes;
  std::array<Counter, http::grpc::kStatusCount> grpcByStatus;  // gRPC calls by final grpc-status
};

/// One direction's HTTP/2 stats (downstream = clients of this proxy, upstream = its backends).
struct Http2ProxyStats {
  http2::Http2Stats codec;  // defences and frames by error code, counted by the codec
  Gauge connectionsActive;
  Counter streamsTotal;
  Gauge streamsActive;
  Counter windowStalls;  // connections closed because the peer kept its windows shut
};

struct ListenerStats {
  Counter connectionsTotal;
  Gauge connectionsActive;
  Gauge requestsActive;
  Counter headerTimeouts;
  Counter idleTimeouts;
  Counter tcpIdleTimeouts;
  Counter bytesReceived;
  Counter bytesSent;
  Counter acceptPauses;            // accept() failed for lack of descriptors or memory
  Counter connectionsRateLimited;  // closed on accept: over the connection rate limit
  Counter mirrorsSent;
  Counter mirrorsSkipped;               // body not buffered, or no endpoint
  std::array<Counter, 16> parseErrors;  // by http::ParseError
  std::array<Counter, static_cast<size_t>(LocalReason::kCount)> localReplies;
};

/// Why a TLS handshake failed (label `reason` of trellis_tls_handshake_failures_total).
enum class TlsFailure : uint8_t {
  PlaintextRefused,      // STRICT listener: the client spoke plaintext
  Protocol,              // not TLS 1.3, no common ALPN, a malformed record
  NoPeerCertificate,     // the client sent no certificate
  UntrustedCertificate,  // not signed by the trust bundle
  ExpiredCertificate,    // expired or not yet valid
  WrongIdentity,         // a trusted certificate with another SPIFFE ID than expected
  Timeout,               // not finished within the listener's tlsHandshakeTimeout
  ConnectionClosed,      // the peer closed or reset during the handshake
  kCount
};
std::string_view tlsFailureName(TlsFailure failure);

/// Mutual TLS between proxies; downstream = this proxy as server, upstream = as client.
struct TlsStats {
  Counter downstreamHandshakes;  // completed
  Counter downstreamResumed;     // of which resumed a session
  Counter upstreamHandshakes;
  Counter upstreamResumed;
  std::array<Counter, static_cast<size_t>(TlsFailure::kCount)> downstreamFailures;
  std::array<Counter, static_cast<size_t>(TlsFailure::kCount)> upstreamFailures;
  /// PERMISSIVE listeners: plaintext connections accepted. Staying at 0 says STRICT is safe.
  Counter downstreamPlaintext;
};

/// AuthorizationPolicy decisions, by (listener, policy): the DENY policy that denied (or
/// kNoAllowMatched when ALLOW policies apply and none matched), and the AUDIT policies that
/// matched.
struct AuthzStats {
  Counter denied;
  Counter audited;
};
/// The `policy` label of denials that no single policy decided.
inline constexpr std::string_view kNoAllowMatched = "no_allow_policy_matched";

class WorkerStats {
 public:
  using RequestKey = std::tuple<std::string, std::string, std::string>;  // listener,route,cluster

  RequestStats& request(const RequestKey& key);
  ListenerStats& listener(const std::string& name);
  upstream::ClusterStats& cluster(const std::string& name);
  AuthzStats& authz(const std::string& listener, const std::string& policy);

  Http2ProxyStats http2Downstream;
  Http2ProxyStats http2Upstream;
  TlsStats tls;

  /// Visits every family under the lock (admin thread).
  template <typename F>
  void visit(F&& f) const {
    std::lock_guard lock(mutex_);
    f(requests_, listeners_, clusters_);
  }
  /// Visits the authorization family, by (listener, policy), under the lock (admin thread).
  template <typename F>
  void visitAuthz(F&& f) const {
    std::lock_guard lock(mutex_);
    f(authz_);
  }

 private:
  mutable std::mutex mutex_;
  std::map<RequestKey, std::unique_ptr<RequestStats>> requests_;
  std::map<std::string, std::unique_ptr<ListenerStats>> listeners_;
  std::map<std::string, std::unique_ptr<upstream::ClusterStats>> clusters_;
  std::map<std::pair<std::string, std::string>, std::unique_ptr<AuthzStats>> authz_;
};

}  // namespace trellis::proxy
