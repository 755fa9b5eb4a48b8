#pragma once
// `trellisctl status` (each proxy: connected, the config versions it ACKed or NACKed and why) and
// `trellisctl proxy-config routes|clusters|endpoints|listeners PROXY_ID` (what one proxy was
// sent, summarised from its xDS resources in protobuf JSON).

#include <nlohmann/json.hpp>
#include <string>

#include "cli/api_client.h"
#include "cli/command.h"

namespace trellis::cli {

int runStatus(ApiClient& api, const Io& io);

/// The status table for a GET /api/v1/proxies answer.
std::string renderStatusTable(const nlohmann::json& proxies);

struct ProxyConfigOptions {
  std::string section;  // routes, clusters, endpoints or listeners
  std::string proxyId;
};

int runProxyConfig(ApiClient& api, const Io& io, const ProxyConfigOptions& options);

/// The summary table of one section of a GET /api/v1/proxies/{id}/config answer.
std::string renderRoutes(const nlohmann::json& config);
std::string renderClusters(const nlohmann::json& config);
std::string renderEndpoints(const nlohmann::json& config);
std::string renderListeners(const nlohmann::json& config);

}  // namespace trellis::cli
