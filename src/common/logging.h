#pragma once
// Logging goes through spdlog; the data path logs only rare events (errors, reloads), never per
// request at default level.

#include <spdlog/spdlog.h>

namespace trellis::log {
using spdlog::debug;
using spdlog::error;
using spdlog::info;
using spdlog::warn;
}  // namespace trellis::log
