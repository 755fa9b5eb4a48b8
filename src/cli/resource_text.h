#pragma once
// Resource documents as trellisctl shows, compares and sends them.
//
// `metadata.resourceVersion` is how a document names the version it was read at: `get -o yaml`
// adds it, and an apply carrying it is refused with 409 if the resource changed since
// (optimistic concurrency, as in Kubernetes). trellisd does not store it as content, so
// comparisons leave it out.

#include <cstdint>
#include <nlohmann/json.hpp>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include "controlplane/store/store.h"

namespace trellis::cli {

using controlplane::ResourceKey;

/// "HTTPRoute shop/billing", as trellisd's messages name resources.
std::string describe(const ResourceKey& key);

/// The resourceVersion of an API item (a JSON number or string), 0 when absent.
int64_t itemVersion(const nlohmann::json& item);

/// The key of an API item ({"kind","namespace","name",...}).
ResourceKey itemKey(const nlohmann::json& item);

/// `document` with metadata.resourceVersion set to `version` (a string, as Kubernetes writes
/// it), or removed when `version` is nullopt. Throws CliError if it is not a YAML mapping.
std::string setResourceVersion(std::string_view document, std::optional<int64_t> version);

/// A document in trellisd's canonical text without metadata.resourceVersion: two documents with
/// the same content compare equal whatever their formatting.
std::string comparableText(std::string_view document, std::string_view sourceName);

struct NamedDocument {
  ResourceKey key;
  std::string text;  // canonical YAML of the document
  std::string source;
  int line = 0;
};

/// The documents of a YAML stream (keys and canonical text, as trellisd will store them), or a
/// CliError listing every problem as file:line:col: resource: field: message.
std::vector<NamedDocument> splitOrThrow(std::string_view yaml, std::string_view sourceName);

}  // namespace trellis::cli
