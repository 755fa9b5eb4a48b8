#include "cli/resource_text.h"

#include <yaml-cpp/yaml.h>

#include "cli/cli_error.h"
#include "cli/output.h"
#include "controlplane/resources/documents.h"

namespace trellis::cli {

std::string describe(const ResourceKey& key) {
  return key.kind + " " + key.ns + "/" + key.name;
}

int64_t itemVersion(const nlohmann::json& item) {
  if (!item.is_object() || !item.contains("resourceVersion")) return 0;
  const nlohmann::json& version = item["resourceVersion"];
  if (version.is_number_integer()) return version.get<int64_t>();
  if (version.is_string()) {
    try {
      return std::stoll(version.get<std::string>());
    } catch (const std::exception&) {
      return 0;
    }
  }
  return 0;
}

ResourceKey itemKey(const nlohmann::json& item) {
  auto text = [&](const char* key) {
    auto it = item.find(key);
    return it != item.end() ? scalarText(*it) : std::string();
  };
  return ResourceKey{text("kind"), text("namespace"), text("name")};
}

std::string setResourceVersion(std::string_view document, std::optional<int64_t> version) {
  YAML::Node node;
  try {
    node = YAML::Load(std::string(document));
  } catch (const YAML::Exception& e) {
    throw CliError("stored document is not valid YAML: " + e.msg);
  }
  if (!node.IsMap()) throw CliError("stored document is not a YAML mapping");
  YAML::Node metadata = node["metadata"];
  if (version) {
    if (!metadata.IsMap()) throw CliError("stored document has no metadata mapping");
    metadata["resourceVersion"] = std::to_string(*version);
    metadata["resourceVersion"].SetTag("!");  // a string, as Kubernetes writes it
  } else if (metadata.IsMap()) {
    metadata.remove("resourceVersion");
  }
  return emitYamlDocument(node);
}

std::string comparableText(std::string_view document, std::string_view sourceName) {
  std::string stripped = setResourceVersion(document, std::nullopt);
  auto split = controlplane::splitDocuments(stripped, sourceName);
  if (!split.errors.empty() || split.documents.size() != 1) return stripped;
  return split.documents.front().text + "\n";
}

std::vector<NamedDocument> splitOrThrow(std::string_view yaml, std::string_view sourceName) {
  auto split = controlplane::splitDocuments(yaml, sourceName);
  if (!split.errors.empty()) {
    std::string message;
    for (const auto& error : split.errors) {
      if (!message.empty()) message += "\n";
      message += error.toString();
    }
    throw CliError(message);
  }
  std::vector<NamedDocument> out;
  for (auto& document : split.documents) {
    out.push_back({document.key, std::move(document.text), std::string(sourceName), document.line});
  }
  return out;
}

}  // namespace trellis::cli
