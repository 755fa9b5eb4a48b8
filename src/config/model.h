#pragma once
// The proxy's internal configuration model: what the data path consumes.
//
// User-facing YAML (Gateway API HTTPRoute + our own kinds) and, later, xDS are both translated
// into this one model, so there is a single path from configuration to behaviour. A `Snapshot`
// is immutable once built and shared between threads through `std::shared_ptr<const Snapshot>`.

#include <chrono>
#include <cstdint>
#include <map>
#include <memory>
#include <optional>
#include <string>
#include <vector>

namespace re2 {
class RE2;
}

namespace trellis::config {

using Duration = std::chrono::milliseconds;

// ---------------------------------------------------------------------------------------------
// Upstream clusters

/// One upstream address. `host` is a numeric IPv4/IPv6 literal (no DNS on the data path).
struct Endpoint {
  std::string host;
  uint16_t port = 0;
  uint32_t weight = 1;  // 0 means "never selected"
  /// Non-empty: the endpoint is a mesh proxy's inbound address. The proxy connects to it with
  /// mutual TLS and insists on this SPIFFE ID ("spiffe://<td>/ns/<ns>/sa/<sa>").
  std::string identity;
};

/// How the proxy talks to a cluster's endpoints (from the Service port's `appProtocol`).
enum class UpstreamProtocol : uint8_t { Http1, Http2, Tcp };

enum class LbPolicy : uint8_t { RoundRobin, LeastRequest, Random, RingHash, Maglev };

/// What consistent-hash policies (RingHash, Maglev) hash on.
struct HashKey {
  enum class Source : uint8_t { None, Header, Cookie, SourceIp };
  Source source = Source::None;
  std::string name;  // header name (lower case) or cookie name
};

// ---------------------------------------------------------------------------------------------
// Resilience policies (docs/resilience.md). Defaults follow Envoy's where a user of Istio would
// expect them; everything here is per proxy (shared by its workers).

/// A token bucket: `tokensPerFill` tokens every `fillInterval`, holding at most `maxTokens`.
/// Keyed buckets give each distinct key (header value, source address) its own bucket.
struct LocalRateLimit {
  uint32_t maxTokens = 0;  // burst; also the starting fill
  uint32_t tokensPerFill = 0;
  Duration fillInterval{1000};
  enum class Key : uint8_t { None, Header, SourceIp };
  Key key = Key::None;
  std::string header;  // Key::Header: lower-case header name; requests without it share a bucket
  bool operator==(const LocalRateLimit&) const = default;
};

/// Limits on what this proxy sends to one cluster at once; overflow fails fast with 503
/// (`x-trellis-reason: upstream_overflow`). Field names and defaults are Envoy's thresholds.
struct CircuitBreaker {
  uint32_t maxConnections = 1024;      // upstream connections; beyond it requests wait (pending)
  uint32_t maxPendingRequests = 1024;  // requests waiting for a connection
  uint32_t maxRequests = 1024;         // requests in flight
  uint32_t maxRetries = 1024;          // retries in flight (Envoy's default of 3 is a known trap)
  bool operator==(const CircuitBreaker&) const = default;
};

/// Retries may be at most `percent` % of the requests sent to the cluster in the last `window`,
/// and never fewer than `minRetriesPerSecond` × window (so that quiet services can retry at
/// all). On by default: retries cannot turn a partial outage into a full one.
struct RetryBudget {
  uint32_t percent = 20;
  uint32_t minRetriesPerSecond = 3;
  Duration window{10000};
  bool operator==(const RetryBudget&) const = default;
};

/// Passive health: endpoints that fail are ejected from load balancing for a while.
struct OutlierDetection {
  uint32_t consecutive5xx = 5;                  // 5xx responses and local-origin failures; 0 = off
  uint32_t consecutiveGatewayErrors = 0;        // 502/503/504 and local-origin failures; 0 = off
  uint32_t consecutiveLocalOriginFailures = 0;  // connect failures, resets, timeouts; 0 = off
  Duration interval{10000};                     // success-rate sweep and un-ejection period
  Duration baseEjectionTime{30000};             // × the number of times ejected
  Duration maxEjectionTime{300000};
  uint32_t maxEjectionPercent = 10;  // of the cluster's endpoints (at least one may be ejected)
  // Success-rate outliers: each sweep, endpoints with at least `successRateRequestVolume`
  // requests whose success rate is below mean − stdevFactor/1000 × stdev are ejected, when at
  // least `successRateMinimumHosts` endpoints qualify. successRateStdevFactor 0 = off.
  uint32_t successRateMinimumHosts = 5;
  uint32_t successRateRequestVolume = 100;
  uint32_t successRateStdevFactor = 0;
  bool operator==(const OutlierDetection&) const = default;
};

/// Active health checking, done by the proxy for each endpoint of the cluster.
struct HealthCheck {
  enum class Type : uint8_t { Http, Grpc, Tcp };
  Type type = Type::Http;
  std::string path = "/healthz";  // Http
  std::string host;               // Http: Host header; empty = the cluster's name
  std::vector<std::pair<uint16_t, uint16_t>> expectedStatuses{{200, 299}};  // Http: [from, to]
  std::string grpcService;  // Grpc: grpc.health.v1 service name ("" = the whole server)
  Duration interval{5000};
  Duration timeout{1000};
  uint32_t unhealthyThreshold = 3;  // consecutive failures before unhealthy
  uint32_t healthyThreshold = 2;    // consecutive successes before healthy again
  bool operator==(const HealthCheck&) const = default;
};

/// A service port: the unit routes send traffic to. Name: "<namespace>/<service>:<port>".
struct Cluster {
  std::string name;
  std::vector<Endpoint> endpoints;
  LbPolicy lbPolicy = LbPolicy::RoundRobin;
  HashKey hashKey;
  uint32_t ringHashMinSize = 1024;   // RingHash: minimum ring entries
  uint32_t maglevTableSize = 65537;  // Maglev: prime table size
  Duration connectTimeout{1000};
  Duration idleTimeout{60000};       // pooled keep-alive connection lifetime when idle
  uint32_t maxIdlePerEndpoint = 64;  // per worker
  UpstreamProtocol protocol = UpstreamProtocol::Http1;
  // HTTP/2 upstreams: how much the upstream may send before the proxy passed it on. Roomy,
  // since the client side of each exchange paces the stream anyway.
  uint32_t http2InitialStreamWindowSize = 256 * 1024;
  uint32_t http2ConnectionWindowSize = 4 * 1024 * 1024;
  // Resilience (BackendPolicy).
  CircuitBreaker circuitBreaker;
  RetryBudget retryBudget;
  std::optional<OutlierDetection> outlierDetection;
  std::optional<HealthCheck> healthCheck;
  uint32_t healthyPanicThreshold = 50;      // % healthy below which every endpoint takes traffic
  std::optional<LocalRateLimit> rateLimit;  // requests sent to the cluster through this proxy
};

// ---------------------------------------------------------------------------------------------
// HTTP routing (Gateway API v1 HTTPRoute semantics)

enum class PathMatchType : uint8_t { Exact, PathPrefix, RegularExpression };

struct PathMatch {
  PathMatchType type = PathMatchType::PathPrefix;
  std::string value = "/";
  std::shared_ptr<const re2::RE2> regex;  // set when type == RegularExpression
};

enum class StringMatchType : uint8_t { Exact, RegularExpression };

/// Header or query parameter match. Header names are stored lower case; query names verbatim.
struct ValueMatch {
  StringMatchType type = StringMatchType::Exact;
  std::string name;
  std::string value;
  std::shared_ptr<const re2::RE2> regex;  // set when type == RegularExpression
};

/// GRPCRoute precedence inputs: the Gateway API ranks gRPC matches by the characters of the
/// matching service, then of the method, which the path translation alone cannot express.
struct GrpcMethodRank {
  bool regex = false;  // RegularExpression matches rank after Exact ones (as paths do)
  uint32_t serviceChars = 0;
  uint32_t methodChars = 0;
};

struct RouteMatch {
  PathMatch path;
  std::vector<ValueMatch> headers;
  std::vector<ValueMatch> queryParams;
  std::optional<std::string> method;   // upper case, e.g. "GET"
  std::optional<GrpcMethodRank> grpc;  // set for matches translated from a GRPCRoute
};

struct HeaderModifier {
  std::vector<std::pair<std::string, std::string>> set;  // names lower case
  std::vector<std::pair<std::string, std::string>> add;
  std::vector<std::string> remove;
};

enum class PathRewriteType : uint8_t { None, ReplaceFullPath, ReplacePrefixMatch };

struct UrlRewrite {
  std::optional<std::string> hostname;
  PathRewriteType pathType = PathRewriteType::None;
  std::string path;  // replacement full path or prefix
};

struct RequestRedirect {
  std::optional<std::string> scheme;  // "http" | "https"
  std::optional<std::string> hostname;
  PathRewriteType pathType = PathRewriteType::None;
  std::string path;
  std::optional<uint16_t> port;
  uint16_t statusCode = 302;  // 301 | 302 (Gateway API core); 303/307/308 extended
};

struct RequestMirror {
  std::string cluster;  // mirrored requests go here; responses are discarded
};

struct WeightedBackend {
  std::string cluster;  // empty when the backendRef could not be resolved (→ 500 on selection)
  uint32_t weight = 1;
};

/// Retry conditions (bit set). Names are Envoy's `retry_on` tokens.
enum RetryOn : uint32_t {
  kRetryConnectFailure = 1u << 0,  // "connect-failure": refused, unreachable, connect timeout
  kRetryReset = 1u << 1,           // "reset": connection lost or stream reset, no response head
  kRetry5xx = 1u << 2,             // "5xx": any 5xx response, and connect failures and resets
  kRetryGatewayError = 1u << 3,    // "gateway-error": 502/503/504, connect failures and resets
  kRetryRetriable4xx = 1u << 4,    // "retriable-4xx": 409
  kRetryRefusedStream = 1u << 5,   // "refused-stream": HTTP/2 REFUSED_STREAM
  kRetryPerTryTimeout = 1u << 6,   // "per-try-timeout": an attempt ran out of its own timeout
};

struct RetryPolicy {
  uint32_t numRetries = 1;  // attempts after the first
  uint32_t retryOn = kRetryConnectFailure | kRetryRefusedStream;
  std::vector<uint16_t> retriableStatusCodes;  // "retriable-status-codes"
  uint32_t retriableGrpcStatuses = 0;          // bit (1 << code) per gRPC status, e.g. UNAVAILABLE
  Duration perTryTimeout{0};                   // 0 = none (the request timeout still applies)
  Duration backoffBase{25};                    // full-jitter exponential backoff
  Duration backoffMax{250};
  // Requests that may have reached the upstream (reset, 5xx, timeout) are retried only when
  // their method is idempotent (RFC 9110 §9.2.2) or they are gRPC calls, unless this is set.
  // Connect failures and refused streams never reached it and are always retriable.
  bool retryNonIdempotent = false;
  bool operator==(const RetryPolicy&) const = default;
};

/// Gateway API `timeouts` plus a stream idle timeout. 0 = none.
struct RouteTimeouts {
  Duration request{0};     // whole exchange, retries included: 504 upstream_request_timeout
  Duration perTry{0};      // each upstream attempt (Gateway API backendRequest)
  Duration streamIdle{0};  // no bytes either way for this long; 0 = the listener's
  bool operator==(const RouteTimeouts&) const = default;
};

/// Fault injection: delay and/or abort a share of the requests (per million), optionally only
/// those whose headers all match.
struct FaultInjection {
  Duration delay{0};
  uint32_t delayPerMillion = 0;
  uint16_t abortHttpStatus = 0;  // 0 = no HTTP abort
  int16_t abortGrpcStatus = -1;  // >= 0: gRPC requests get this grpc-status instead
  uint32_t abortPerMillion = 0;
  std::vector<ValueMatch> headers;  // all must match
};

/// One (HTTPRoute rule, match) pair. Rules are flattened per match so that precedence can be
/// decided per match, as the Gateway API specifies.
struct RouteRule {
  RouteMatch match;
  std::optional<HeaderModifier> requestHeaders;
  std::optional<HeaderModifier> responseHeaders;
  std::optional<UrlRewrite> rewrite;
  std::optional<RequestRedirect> redirect;
  std::vector<RequestMirror> mirrors;
  std::vector<WeightedBackend> backends;
  std::optional<uint64_t> maxRequestBodyBytes;  // overrides the listener's limit
  // Resilience (Gateway API timeouts/retry, RoutePolicy).
  RouteTimeouts timeouts;
  std::optional<RetryPolicy> retry;
  std::optional<FaultInjection> fault;
  std::optional<LocalRateLimit> rateLimit;
  std::string routeName;  // "<namespace>/<name>", for stats and logs
  // Tie-breakers of the Gateway API precedence rules.
  int64_t creationTimestamp = 0;  // seconds since epoch; 0 when absent (falls back to order)
  uint32_t routeOrder = 0;        // position of the HTTPRoute in the configuration
  uint32_t ruleIndex = 0;         // position of the rule within its HTTPRoute
  uint32_t matchIndex = 0;        // position of the match within its rule
};

/// All HTTPRoutes attached to one listener, grouped by hostname.
struct RouteTableConfig {
  struct HostRules {
    std::vector<std::string> hostnames;  // lower case; "*.example.com" wildcards; empty = any
    std::vector<RouteRule> rules;
  };
  std::vector<HostRules> routes;  // one entry per HTTPRoute, in configuration order
};

// ---------------------------------------------------------------------------------------------
// Listeners

/// Http: HTTP/1.x or h2c prior knowledge, told apart by the first bytes. Http2: h2c only.
/// Tcp: opaque. Auto: HTTP/1, h2c or opaque TCP, detected within `detectTimeout`.
enum class ListenerProtocol : uint8_t { Http, Http2, Tcp, Auto };

/// HTTP/2 settings and defences of a listener (see docs/http2.md).
struct Http2Limits {
  uint32_t maxConcurrentStreams = 100;
  uint32_t initialStreamWindowSize = 64 * 1024;
  uint32_t connectionWindowSize = 1024 * 1024;
  uint32_t maxFrameSize = 16 * 1024;
  uint32_t maxHeaderListSize = 60 * 1024;
  uint32_t maxResetsPerSecond = 200;   // rapid-reset defence
  Duration windowStallTimeout{30000};  // data pending, windows closed, no progress: GOAWAY
  bool operator==(const Http2Limits&) const = default;
};

struct HttpLimits {
  uint32_t maxRequestHeadersBytes = 60 * 1024;  // 431 beyond
  uint32_t maxHeaders = 100;                    // 431 beyond
  uint32_t maxUrlBytes = 8 * 1024;              // 414 beyond
  uint64_t maxRequestBodyBytes = 0;             // 413 beyond; 0 = unlimited
  uint32_t bufferBytes = 64 * 1024;             // per-stream, per-direction high watermark
  Duration headerTimeout{10000};                // whole request head must arrive in this time
  Duration idleTimeout{60000};                  // keep-alive connection with no request
  Duration drainTimeout{5000};                  // graceful shutdown deadline
  Duration streamIdleTimeout{300000};           // an exchange with no bytes either way
  Http2Limits http2;
};

/// Mutual TLS on an inbound listener (PeerAuthentication, Istio's modes; docs/zero-trust.md).
enum class MtlsMode : uint8_t {
  Disable,     // plaintext only
  Permissive,  // mutual TLS or plaintext, told apart by the first byte (migration)
  Strict,      // mutual TLS only: plaintext connections are refused
};

struct Listener {
  std::string name;  // "<namespace>/<name>"
  std::string address = "0.0.0.0";
  uint16_t port = 0;
  ListenerProtocol protocol = ListenerProtocol::Http;
  HttpLimits http;
  RouteTableConfig routes;           // Http only
  std::string tcpCluster;            // Tcp and Auto
  Duration tcpIdleTimeout{3600000};  // Tcp and Auto
  Duration detectTimeout{100};       // Auto: wait for the client's first bytes this long
  std::optional<LocalRateLimit> connectionRateLimit;  // Tcp and Auto: new connections
  /// The Service this listener serves, "<namespace>/<name>" (a sidecar's inbound listener):
  /// its AuthorizationPolicies (Snapshot::authorization) and PeerAuthentication apply. Empty:
  /// neither applies.
  std::string service;
  MtlsMode mtls = MtlsMode::Disable;
  Duration tlsHandshakeTimeout{10000};  // a TLS client that has not finished by then is closed

  bool servesHttp() const { return protocol != ListenerProtocol::Tcp; }
  bool servesTcp() const {
    return protocol == ListenerProtocol::Tcp || protocol == ListenerProtocol::Auto;
  }
};

// ---------------------------------------------------------------------------------------------
// Authorization (trellis.dev AuthorizationPolicy: Istio's semantics, evaluated by src/authz)

/// The values one field of a policy accepts, split by Istio's match forms so that matching
/// needs no parsing or allocation: "value" (exact), "prefix*", "*suffix" and "*" (any non-empty
/// value). Empty (no form at all) means the field is not constrained.
struct AuthzValues {
  std::vector<std::string> exact;
  std::vector<std::string> prefixes;  // without the '*'
  std::vector<std::string> suffixes;  // without the '*'
  bool present = false;               // "*"
  bool empty() const { return exact.empty() && prefixes.empty() && suffixes.empty() && !present; }
};

/// A `from[].source`: its fields are ANDed, the values of one field ORed.
struct AuthzSource {
  AuthzValues principals;  // full SPIFFE IDs: "spiffe://<trust domain>/ns/<ns>/sa/<sa>"
  AuthzValues notPrincipals;
  AuthzValues namespaces;  // from the principal's /ns/<ns>/sa/<sa> path
  AuthzValues notNamespaces;
};

/// A `to[].operation`. Methods and paths are HTTP only.
struct AuthzOperation {
  AuthzValues methods;
  AuthzValues notMethods;
  AuthzValues paths;  // matched without the query string
  AuthzValues notPaths;
  std::vector<uint16_t> ports;  // the destination (inbound listener) port
  std::vector<uint16_t> notPorts;
};

/// A `when[]` condition: the value of `key` must match `values` (when set) and not `notValues`.
struct AuthzCondition {
  enum class Key : uint8_t { RequestHeader, SourcePrincipal, SourceNamespace, DestinationPort };
  Key key = Key::RequestHeader;
  std::string header;  // RequestHeader: lower case
  AuthzValues values;  // DestinationPort uses ports / notPorts instead
  AuthzValues notValues;
  std::vector<uint16_t> ports;
  std::vector<uint16_t> notPorts;
};

/// One rule: at least one source, at least one operation and every condition must match; an
/// absent (empty) list matches anything.
struct AuthzRule {
  std::vector<AuthzSource> from;
  std::vector<AuthzOperation> to;
  std::vector<AuthzCondition> when;
  bool usesHttp = false;  // methods, paths or request.headers anywhere: see the TCP rules
};

enum class AuthzAction : uint8_t { Allow, Deny, Audit };

/// One AuthorizationPolicy as it applies to one Service.
struct AuthorizationPolicy {
  std::string name;           // metadata.name
  std::string ns;             // metadata.namespace
  std::string qualifiedName;  // "<namespace>/<name>": what decisions report
  AuthzAction action = AuthzAction::Allow;
  std::vector<AuthzRule> rules;  // none: matches nothing (an ALLOW policy then denies all)
};

/// A complete, immutable proxy configuration.
struct Snapshot {
  uint64_t version = 0;
  std::string source;  // file path or xDS version, for logs and dumps
  std::vector<Listener> listeners;
  std::map<std::string, Cluster> clusters;  // by Cluster::name
  /// The AuthorizationPolicies of each Service, by "<namespace>/<service>" (the Service, not
  /// the cluster: a policy covers every port), in configuration order. A Service without an
  /// entry has no policy: everything is allowed.
  std::map<std::string, std::vector<AuthorizationPolicy>> authorization;
};

}  // namespace trellis::config
