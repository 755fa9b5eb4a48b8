#pragma once
// JSON rendition of a Snapshot for the admin /config_dump endpoint.

#include <nlohmann/json.hpp>

#include "config/model.h"

namespace trellis::config {

/// {"version", "source", "listeners": [... with "routes"], "clusters": [... with "endpoints"]}.
/// Field names follow the YAML configuration; durations are Gateway API strings ("10s").
/// Header values may hold non-UTF-8 bytes (obs-text), so serialise with
/// `dump(-1, ' ', false, nlohmann::json::error_handler_t::replace)`: plain dump() would throw.
nlohmann::json toJson(const Snapshot& snapshot);

}  // namespace trellis::config
