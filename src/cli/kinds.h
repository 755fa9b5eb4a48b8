#pragma once
// Resource kinds as the operator types them: case-insensitive, singular or plural, or a short
// alias (`hr`, `svc`, `wl`), as kubectl accepts them.

#include <optional>
#include <string>
#include <string_view>
#include <vector>

namespace trellis::cli {

struct KindInfo {
  std::string_view kind;    // as stored and as the API names it: "HTTPRoute"
  std::string_view plural;  // for messages: "httproutes"
  std::vector<std::string_view> aliases;
};

/// Every kind trellisd stores, in the order `get all` lists them.
const std::vector<KindInfo>& knownKinds();

/// The canonical kind for `typed`, or nullopt.
std::optional<std::string> resolveKind(std::string_view typed);

/// resolveKind, or a CliError listing the kinds (and the closest one, if any).
std::string requireKind(std::string_view typed);

/// The plural spelling of a canonical kind ("HTTPRoute" -> "httproutes").
std::string pluralOf(std::string_view kind);

}  // namespace trellis::cli
