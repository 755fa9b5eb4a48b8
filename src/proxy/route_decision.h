#pragma once
// Where a request goes: route match, weighted backend, load-balanced endpoint. Shared by the
// HTTP/1 and HTTP/2 sessions so that both protocols route identically; the session only
// carries out the decision (forward, or answer itself with the status and reason given).

#include <string>
#include <string_view>

#include "proxy/proxy_stats.h"
#include "proxy/worker.h"
#include "routing/route_table.h"

namespace trellis::proxy {

struct RouteDecision {
  const config::RouteRule* rule = nullptr;
  const RuleRuntime* runtime = nullptr;
  upstream::ClusterRuntime* cluster = nullptr;
  int endpoint = -1;  // >= 0: forward; the endpoint's active-request count was taken
  RequestStats* stats = nullptr;
  // When endpoint < 0: the reply the proxy makes itself.
  int localStatus = 0;
  LocalReason reason = LocalReason::RouteNotFound;
  std::string location;  // redirects

  bool forward() const { return endpoint >= 0; }
};

/// Routes `request` on `listener`. `scheme` is the request's ("http"), for redirects. A
/// forwarding decision must be paired with releaseEndpoint() when the exchange ends.
RouteDecision decideRoute(Worker& worker, const WorkerConfig& config,
                          const ListenerRuntime& listener, const routing::RequestView& request,
                          std::string_view peerIp);

/// Gives back the active-request count a forwarding decision took.
void releaseEndpoint(RouteDecision& decision);

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
