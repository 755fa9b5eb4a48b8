#pragma once
// Where a request goes: route match, weighted backend, load-balanced endpoint. Shared by the
// HTTP/1 and HTTP/2 sessions so that both protocols route identically; the session only
// carries out the decision (forward, or answer itself with the status and reason given).

#include <string>
#include <string_view>

#include "authz/authorization.h"
#include "proxy/proxy_stats.h"
#include "proxy/worker.h"
#include "resilience/fault.h"
#include "routing/route_table.h"

namespace trellis::proxy {

struct RouteDecision {
  const config::RouteRule* rule = nullptr;
  const RuleRuntime* runtime = nullptr;
  upstream::ClusterRuntime* cluster = nullptr;
  int endpoint = -1;         // >= 0: forward; the endpoint's active-request count was taken
  bool heldRequest = false;  // counted against the cluster's circuit breaker maxRequests
  RequestStats* stats = nullptr;
  config::Duration faultDelay{0};  // fault injection: wait this long before forwarding
  // When endpoint < 0: the reply the proxy makes itself.
  int localStatus = 0;
  LocalReason reason = LocalReason::RouteNotFound;
  std::string location;          // redirects
  uint32_t retryAfter = 0;       // 429: seconds for `retry-after`
  int16_t localGrpcStatus = -1;  // fault aborts of gRPC calls: the configured grpc-status
  /// The path that was authorized and routed, and is forwarded: the request's, or its normal
  /// form (http/path_normalize.h) on listeners with AuthorizationPolicies.
  std::string_view path;

  bool forward() const { return endpoint >= 0; }
};

/// Authorizes, then routes `request` on `listener`. `principal` is the client's SPIFFE ID
/// (Connection::peerIdentity(): "" without mutual TLS). A request the listener's
/// AuthorizationPolicies deny gets 403 rbac_denied. On a listener with policies the path is
/// normalized first, into `pathStorage` when it changes (kept by the caller until the request
/// is forwarded), and a path that cannot be normalized gets 400. On a STRICT listener a request
/// without a client identity (a plaintext connection accepted before the switch to STRICT) gets
/// 403 mtls_required. A forwarding decision must be paired with releaseEndpoint() when the
/// exchange ends.
RouteDecision decideRoute(Worker& worker, const WorkerConfig& config,
                          const ListenerRuntime& listener, const routing::RequestView& request,
                          std::string_view peerIp, std::string_view principal,
                          std::string& pathStorage);

/// Decides `request` with the AuthorizationPolicies of `listener`'s Service (always allowed
/// without any); counts and logs ("authz denied ..." / "authz audit ...", info level) denials
/// and AUDIT matches. Allocates nothing when the request is allowed and no AUDIT policy matches.
bool authorize(const ListenerRuntime& listener, const authz::Request& request,
               std::string_view peerIp);

/// Gives back the active-request counts a forwarding decision took.
void releaseEndpoint(RouteDecision& decision);

/// Picks another endpoint of the decision's cluster for a retry, preferring one that is not
/// `avoid` (Envoy's previous-hosts predicate); moves the active-request count. False when the
/// cluster has no usable endpoint.
bool repickEndpoint(Worker& worker, RouteDecision& decision, int avoid);

/// Reports how an attempt on `endpoint` ended to the cluster's outlier detection, if any.
/// `status` is the response status (0 when the attempt failed without one).
void reportOutcome(Worker& worker, upstream::ClusterRuntime& cluster, int endpoint, int status);

/// Request path and host after the rule's URLRewrite; `storage` keeps a rewritten path alive.
struct RewrittenTarget {
  std::string_view path;
  std::string_view host;
};
RewrittenTarget rewriteTarget(const config::RouteRule& rule, std::string_view path,
                              std::string_view host, std::string& storage);

/// A client-supplied request id is kept only if it is short and printable; else a new UUID.
void chooseRequestId(Worker& worker, const http::HeaderField* supplied, std::string& out);

}  // namespace trellis::proxy
