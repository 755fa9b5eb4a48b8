#pragma once
// A listener's routes grouped as routing::RouteTable groups them: one group per distinct
// normalized hostname (exact names, then "*.suffix" wildcards, then the catch-all "*" for routes
// without hostnames), each holding the rules of every route that names it, in precedence order.
// Each group becomes an Envoy VirtualHost, so that Envoy's "most specific domain, then first
// matching route" selection makes the same choice as the RouteTable.

#include <string>
#include <vector>

#include "config/model.h"

namespace trellis::xds::detail {

struct HostGroup {
  std::string domain;                           // "a.example.com", "*.example.com" or "*"
  std::vector<const config::RouteRule*> rules;  // into the RouteTableConfig, precedence order
};

/// The groups of `routes` (which must outlive the result).
std::vector<HostGroup> groupByHost(const config::RouteTableConfig& routes);

}  // namespace trellis::xds::detail
