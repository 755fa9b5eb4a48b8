#pragma once
// `trellisctl canary SERVICE --to TARGET --weight N | --promote | --abort`: shifts a share of a
// Service's mesh traffic to another Service by editing the weights of the HTTPRoutes and
// GRPCRoutes attached to it (creating an HTTPRoute named after the Service when there is none),
// applied in one batch with optimistic concurrency.

#include <optional>
#include <string>

#include "cli/api_client.h"
#include "cli/command.h"

namespace trellis::cli {

struct CanaryOptions {
  std::string service;
  std::string target;
  std::string ns = "default";
  std::optional<int> weight;
  bool promote = false;
  bool abort = false;
  std::optional<int> port;
  bool dryRun = false;
};

int runCanary(ApiClient& api, const Io& io, const CanaryOptions& options);

}  // namespace trellis::cli
