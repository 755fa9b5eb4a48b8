#pragma once
// The string consistent-hash balancers hash to place an endpoint: "host:port", with IPv6
// literals bracketed ("[::1]:80") as Envoy prints addresses.

#include <cstddef>
#include <string>

#include "config/model.h"

namespace trellis::upstream {

/// Key of endpoint `index`; an index without a configured endpoint (a caller error) is keyed
/// "#<index>" so that the balancer still works.
inline std::string endpointHashKey(const config::Cluster& cluster, size_t index) {
  if (index >= cluster.endpoints.size()) return "#" + std::to_string(index);
  const config::Endpoint& endpoint = cluster.endpoints[index];
  const bool ipv6 = endpoint.host.find(':') != std::string::npos;
  std::string key;
  key.reserve(endpoint.host.size() + 8);
  if (ipv6) key += '[';
  key += endpoint.host;
  if (ipv6) key += ']';
  key += ':';
  key += std::to_string(endpoint.port);
  return key;
}

}  // namespace trellis::upstream
