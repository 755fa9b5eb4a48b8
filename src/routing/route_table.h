#pragma once
// Request routing: Gateway API v1 HTTPRoute matching and precedence.
//
// A RouteTable is compiled once per configuration snapshot from the routes attached to a
// listener and is immutable afterwards, so workers share it without locks. `match` is the one
// place where a request is routed; it does not allocate.

#include <cstdint>
#include <memory>
#include <span>
#include <string>
#include <string_view>
#include <vector>

#include "config/model.h"
#include "http/http1_parser.h"

namespace trellis::routing {

/// What routing looks at. Header names are lower case (as the HTTP/1 parser produces them).
struct RequestView {
  std::string_view method;
  std::string_view host;   // Host / :authority, port allowed (it is ignored), any case
  std::string_view path;   // without query
  std::string_view query;  // without '?'
  std::span<const http::HeaderField> headers;
};

class RouteTable {
 public:
  /// Compiles `config` (which must outlive the table: rules are referenced, not copied).
  explicit RouteTable(const config::RouteTableConfig& config);

  /// The rule that wins under the Gateway API precedence rules, or nullptr (→ 404).
  const config::RouteRule* match(const RequestView& request) const;

 private:
  struct HostEntry;
  struct HostIndex;
  // Exact hosts, then wildcard suffixes (".example.com"), then the catch-all entry for routes
  // without hostnames, if any.
  std::vector<HostEntry> hosts_;
  std::unique_ptr<HostIndex> index_;  // hash lookup of exact hosts and wildcard suffixes
  bool hasCatchAll_ = false;
  const HostEntry* findHost(std::string_view host) const;

 public:
  ~RouteTable();
  RouteTable(RouteTable&&) noexcept;
  RouteTable& operator=(RouteTable&&) noexcept;
};

/// Index into `backends` chosen by weight using `random` (any uniformly distributed value), or
/// -1 when every weight is 0 or the list is empty. An unresolved backend (empty cluster) can be
/// chosen: the caller answers 500 for it, as the Gateway API requires.
int pickWeightedBackend(std::span<const config::WeightedBackend> backends, uint64_t random);

/// Path after a URLRewrite / RequestRedirect path modifier. For ReplacePrefixMatch the matched
/// prefix of `match` is replaced segment-wise ("/foo" → "/bar": "/foo/x" → "/bar/x",
/// "/" replacement never yields "//").
std::string rewritePath(config::PathRewriteType type, std::string_view replacement,
                        const config::PathMatch& match, std::string_view path);

/// Value of the Location header for a RequestRedirect. `scheme` and `host` (port allowed) are the
/// request's. Without a redirect port: a changed scheme implies its well-known port; otherwise
/// the port of `host` stands in for the listener port. A scheme's default port is omitted.
std::string redirectLocation(const config::RequestRedirect& redirect,
                             const config::PathMatch& match, std::string_view scheme,
                             std::string_view host, std::string_view path, std::string_view query);

}  // namespace trellis::routing
