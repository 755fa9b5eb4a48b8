#pragma once
// What `trellisctl apply -f` sends, cut into stored resources: each YAML document of a stream
// becomes (kind, namespace, name) and a canonical text. Canonical (re-emitted by yaml-cpp) so
// that re-applying a file with other whitespace or comments is recognised as unchanged by the
// store. Only identity is checked here; the content is validated by the proxy's own loader
// over the whole mesh.

#include <string>
#include <string_view>
#include <vector>

#include "config/loader.h"
#include "controlplane/store/store.h"

namespace trellis::controlplane {

struct ResourceDocument {
  ResourceKey key;
  std::string text;  // canonical YAML of the document
  int line = 0;      // 1-based line of the document in its source, for messages
};

struct SplitResult {
  std::vector<ResourceDocument> documents;
  std::vector<config::LoadError> errors;  // file:line, resource and field, as the loader reports
};

/// Splits `yaml` (named `sourceName` in errors). The namespace defaults to "default"; a
/// resource named twice in one stream is an error.
SplitResult splitDocuments(std::string_view yaml, std::string_view sourceName);

}  // namespace trellis::controlplane
