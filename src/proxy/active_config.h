#pragma once
// A configuration snapshot plus everything compiled from it that workers share read-only (route
// tables). Built on the main thread, handed to workers as shared_ptr<const ActiveConfig>; a
// request keeps the one it started with, so a reload never changes a request mid-flight.

#include <memory>
#include <vector>

#include "config/model.h"
#include "routing/route_table.h"

namespace trellis::proxy {

struct ActiveConfig {
  explicit ActiveConfig(std::shared_ptr<const config::Snapshot> snapshot);

  std::shared_ptr<const config::Snapshot> snapshot;
  std::vector<routing::RouteTable> routeTables;  // parallel to snapshot->listeners
};

}  // namespace trellis::proxy
