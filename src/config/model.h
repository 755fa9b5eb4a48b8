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
  std::string routeName;                        // "<namespace>/<name>", for stats and logs
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
  Http2Limits http2;
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

  bool servesHttp() const { return protocol != ListenerProtocol::Tcp; }
  bool servesTcp() const {
    return protocol == ListenerProtocol::Tcp || protocol == ListenerProtocol::Auto;
  }
};

/// A complete, immutable proxy configuration.
struct Snapshot {
  uint64_t version = 0;
  std::string source;  // file path or xDS version, for logs and dumps
  std::vector<Listener> listeners;
  std::map<std::string, Cluster> clusters;  // by Cluster::name
};

}  // namespace trellis::config
