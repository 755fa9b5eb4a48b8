#pragma once
// What the ADS server knows about each node it has seen, for `GET /api/v1/proxies`.

#include <chrono>
#include <map>
#include <string>

#include "controlplane/ads/node_info.h"

namespace trellis::controlplane {

/// One type's delivery state for one node. A NACK stays until a later response is ACKed.
struct TypeStatus {
  std::string sentVersion;
  std::string ackedVersion;
  std::string nackedVersion;
  std::string nackMessage;
};

struct ProxyStatus {
  NodeInfo node;         // as announced on its latest stream
  std::string identity;  // the SPIFFE ID that stream proved (mutual TLS); "" over plaintext
  bool connected = false;
  std::chrono::system_clock::time_point since;  // of the last connect or disconnect
  std::map<std::string, TypeStatus> types;      // by type URL
};

}  // namespace trellis::controlplane
