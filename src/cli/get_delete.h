#pragma once
// `trellisctl get` and `trellisctl delete`.

#include <nlohmann/json.hpp>
#include <string>
#include <vector>

#include "cli/api_client.h"
#include "cli/command.h"

namespace trellis::cli {

inline constexpr const char* kDefaultNamespace = "default";

struct GetOptions {
  std::string kind;  // as typed: "hr", "httproutes", "HTTPRoute/billing", "all"
  std::string name;  // empty: list
  std::string ns = kDefaultNamespace;
  bool allNamespaces = false;
};

int runGet(ApiClient& api, const Io& io, const GetOptions& options);

/// The table `get` prints for a list answer's items; `kind` empty when they mix kinds.
std::string renderResourceTable(const nlohmann::json& items, const std::string& kind);

/// The items as a YAML stream that `apply -f` accepts back, each with metadata.resourceVersion.
std::string renderResourceYaml(const nlohmann::json& items);

struct DeleteOptions {
  std::string kind;
  std::string name;
  std::string ns = kDefaultNamespace;
  std::vector<std::string> paths;  // -f: delete what the files name
  bool ignoreNotFound = false;
};

int runDelete(ApiClient& api, const Io& io, const DeleteOptions& options);

/// "hr/billing" → {"HTTPRoute", "billing"}; "hr" → {"HTTPRoute", ""}. `name` is used when the
/// first argument has no "/". Throws CliError for an unknown kind or a name given twice.
std::pair<std::string, std::string> kindAndName(const std::string& typed, const std::string& name);

}  // namespace trellis::cli
