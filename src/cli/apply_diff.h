#pragma once
// `trellisctl apply -f` and `trellisctl diff -f`.

#include <nlohmann/json.hpp>
#include <optional>
#include <string>
#include <vector>

#include "cli/api_client.h"
#include "cli/command.h"
#include "cli/resource_text.h"

namespace trellis::cli {

struct ApplyOptions {
  std::vector<std::string> paths;  // -f, repeatable; folders recurse, "-" is stdin
  bool dryRun = false;
};

/// Sends every file in one batch (all or nothing) and prints one line per resource:
/// "HTTPRoute shop/billing created|configured|unchanged". Returns the exit code.
int runApply(ApiClient& api, const Io& io, const ApplyOptions& options);

struct DiffOptions {
  std::vector<std::string> paths;
};

/// Prints a unified diff per resource between the mesh and the files. Exit code 0 without
/// differences, 1 with (as `kubectl diff`); errors are CliErrors with exit code 2.
int runDiff(ApiClient& api, const Io& io, const DiffOptions& options);

/// The diff of one resource: `live` is the API item (nullopt when it does not exist). Empty
/// when applying `local` would not change it.
std::string diffResource(const NamedDocument& local, const std::optional<nlohmann::json>& live);

/// kubectl's words for an apply outcome: created, configured (updated), unchanged.
std::string outcomeWord(const std::string& outcome);

}  // namespace trellis::cli
