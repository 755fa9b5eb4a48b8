#pragma once
// Renders the workers' stat shards as one Prometheus text exposition (format 0.0.4), summing
// shards so each series appears once.

#include <string>
#include <vector>

#include <map>

#include "proxy/proxy_stats.h"
#include "resilience/health_checker.h"

namespace trellis::proxy {

struct ProcessStats {
  uint64_t configVersion = 0;
  uint64_t reloadsSucceeded = 0;
  uint64_t reloadsFailed = 0;
  bool lastReloadOk = true;
  size_t workers = 0;
  std::map<std::string, resilience::HealthCheckStats> healthChecks;  // by cluster
  // Workload identity (with --ca-address only).
  bool identity = false;
  int64_t certificateExpiry = 0;  // Unix seconds of the current certificate's notAfter; 0: none
  uint64_t renewalsSucceeded = 0;
  uint64_t renewalsFailed = 0;
};

std::string renderPrometheus(const std::vector<const WorkerStats*>& shards,
                             const ProcessStats& process);

}  // namespace trellis::proxy
