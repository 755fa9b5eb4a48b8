#pragma once
// `trellisctl history KIND NAME` (the revisions of one resource) and `trellisctl rollback KIND
// NAME [--to REVISION]` (re-apply an earlier revision's content, validated like any apply).

#include <cstdint>
#include <nlohmann/json.hpp>
#include <optional>
#include <string>

#include "cli/api_client.h"
#include "cli/command.h"

namespace trellis::cli {

struct HistoryOptions {
  std::string kind;
  std::string name;
  std::string ns = "default";
  std::optional<int64_t> revision;  // print this revision's document instead of the table
};

int runHistory(ApiClient& api, const Io& io, const HistoryOptions& options);

/// The history table (REVISION, CHANGE, LINES) for a history answer's items, oldest first.
std::string renderHistoryTable(const nlohmann::json& items);

struct RollbackOptions {
  std::string kind;
  std::string name;
  std::string ns = "default";
  std::optional<int64_t> to;  // default: the revision before the current one
};

int runRollback(ApiClient& api, const Io& io, const RollbackOptions& options);

}  // namespace trellis::cli
