#pragma once
// A listener's routes grouped by host, as both the RouteTable and the xDS codec need them: one
// group per distinct normalized hostname (exact names, then "*.suffix" wildcards, then the
// catch-all "*" for routes without hostnames), each holding the rules of every route that names
// it, in Gateway API precedence order. The codec turns each group into an Envoy VirtualHost, so
// that Envoy's "most specific domain, then first matching route" makes the RouteTable's choice.

#include <cstdint>
#include <string>
#include <vector>

#include "config/model.h"

namespace trellis::routing {

struct HostGroup {
  enum class Kind : uint8_t { Exact, Wildcard, CatchAll };
  Kind kind = Kind::Exact;
  std::string domain;                           // "a.example.com", "*.example.com" or "*"
  std::vector<const config::RouteRule*> rules;  // into the RouteTableConfig, precedence order
};

/// The groups of `routes` (which must outlive the result).
std::vector<HostGroup> groupByHost(const config::RouteTableConfig& routes);

}  // namespace trellis::routing
