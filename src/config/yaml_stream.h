#pragma once
// Splitting a YAML stream into documents, with syntax errors reported instead of thrown.

#include <yaml-cpp/yaml.h>

#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include "config/yaml_reader.h"

namespace trellis::config {

/// Upper bound on documents in one stream.
inline constexpr size_t kMaxDocuments = 100000;

/// The documents of `yaml`, or nullopt after reporting why it is not valid YAML.
std::optional<std::vector<YAML::Node>> parseYamlStream(std::string_view yaml,
                                                       Diagnostics& diagnostics);

/// One document as block-style YAML (no trailing newline), scalars that were quoted in the source
/// kept quoted (so that "123" or "true" stays a string when read back). Used for the canonical text
/// trellisd stores and for what trellisctl prints.
std::string emitYamlDocument(const YAML::Node& node);

}  // namespace trellis::config
