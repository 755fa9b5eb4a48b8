#include "proxy/active_config.h"

namespace trellis::proxy {

ActiveConfig::ActiveConfig(std::shared_ptr<const config::Snapshot> s) : snapshot(std::move(s)) {
  routeTables.reserve(snapshot->listeners.size());
  for (const auto& listener : snapshot->listeners) routeTables.emplace_back(listener.routes);
}

}  // namespace trellis::proxy
