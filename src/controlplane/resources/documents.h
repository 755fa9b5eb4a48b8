#pragma once
// What `trellisctl apply -f` sends, cut into stored resources: each YAML document of a stream
// becomes (kind, namespace, name) and a canonical text. Canonical (re-emitted by yaml-cpp) so
// that re-applying a file with other whitespace or comments is recognised as unchanged by the
// store. Only identity is checked here; the content is validated by the proxy's own loader
// over the whole mesh.

#include <cstdint>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include "config/loader.h"
#include "controlplane/store/store.h"

namespace trellis::controlplane {

struct ResourceDocument {
  ResourceKey key;
  std::string text;  // canonical YAML of the document, without metadata.resourceVersion
  int line = 0;      // 1-based line of the document in its source, for messages
  /// metadata.resourceVersion when the document carries one (as `get -o yaml` prints it): the
  /// version the writer last saw, checked by the store (optimistic concurrency).
  std::optional<int64_t> resourceVersion;
};

/// `text` (one canonical document) with metadata.resourceVersion set to `version`, as reads
/// return it.
std::string withResourceVersion(const std::string& text, int64_t version);

struct SplitResult {
  std::vector<ResourceDocument> documents;
  std::vector<config::LoadError> errors;  // file:line, resource and field, as the loader reports
};

/// Splits `yaml` (named `sourceName` in errors). The namespace defaults to "default"; a
/// resource named twice in one stream is an error.
SplitResult splitDocuments(std::string_view yaml, std::string_view sourceName);

}  // namespace trellis::controlplane
