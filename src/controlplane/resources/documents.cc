#include "controlplane/resources/documents.h"

#include <cerrno>
#include <cstdlib>
#include <set>
#include <tuple>

#include "config/syntax.h"
#include "config/yaml_stream.h"

namespace trellis::controlplane {
namespace {

std::string scalarAt(const YAML::Node& node, const char* key) {
  if (!node.IsMap()) return {};
  YAML::Node value = node[key];
  return value && value.IsScalar() ? value.Scalar() : std::string();
}

}  // namespace

SplitResult splitDocuments(std::string_view yaml, std::string_view sourceName) {
  SplitResult result;
  config::Diagnostics diagnostics{std::string(sourceName)};
  auto documents = config::parseYamlStream(yaml, diagnostics);
  std::set<std::tuple<std::string, std::string, std::string>> seen;
  if (documents) {
    for (const YAML::Node& doc : *documents) {
      if (doc.IsNull()) continue;  // an empty document between separators
      config::Location at{doc.Mark(), "", ""};
      if (!doc.IsMap()) {
        diagnostics.error(at, "a resource must be a mapping with apiVersion, kind and metadata");
        continue;
      }
      ResourceDocument out;
      out.key.kind = scalarAt(doc, "kind");
      YAML::Node metadata = doc["metadata"];
      out.key.name = scalarAt(metadata, "name");
      out.key.ns = scalarAt(metadata, "namespace");
      if (out.key.ns.empty()) out.key.ns = "default";
      at.resource = out.key.kind + " " + out.key.ns + "/" + out.key.name;
      if (out.key.kind.empty()) {
        at.field = "kind";
        diagnostics.error(at, "missing required field");
        continue;
      }
      if (out.key.name.empty()) {
        at.field = "metadata.name";
        diagnostics.error(at, "missing required field");
        continue;
      }
      // Names are DNS subdomains (Services: labels, which the loader checks); namespaces labels.
      if (std::string problem = config::syntax::checkDnsSubdomain(out.key.name); !problem.empty()) {
        at.field = "metadata.name";
        diagnostics.error(at, problem);
        continue;
      }
      if (std::string problem = config::syntax::checkDnsLabel(out.key.ns); !problem.empty()) {
        at.field = "metadata.namespace";
        diagnostics.error(at, problem);
        continue;
      }
      if (!seen.emplace(out.key.kind, out.key.ns, out.key.name).second) {
        diagnostics.error(at, "appears more than once in this input");
        continue;
      }
      YAML::Node canonical = YAML::Clone(doc);
      if (YAML::Node version = canonical["metadata"]["resourceVersion"]; version) {
        std::string text = version.IsScalar() ? version.Scalar() : std::string();
        char* end = nullptr;
        errno = 0;
        long long parsed = text.empty() ? -1 : std::strtoll(text.c_str(), &end, 10);
        if (parsed < 0 || errno != 0 || *end != '\0') {
          at.field = "metadata.resourceVersion";
          diagnostics.error(at, "expected the decimal version a read returned");
          continue;
        }
        out.resourceVersion = parsed;
        canonical["metadata"].remove("resourceVersion");
      }
      out.text = config::emitYamlDocument(canonical);
      out.line = doc.Mark().line + 1;
      result.documents.push_back(std::move(out));
    }
  }
  result.errors = diagnostics.takeErrors();
  if (!result.errors.empty()) result.documents.clear();  // all or nothing, like the store
  return result;
}

std::string withResourceVersion(const std::string& text, int64_t version) {
  try {
    YAML::Node document = YAML::Load(text);
    YAML::Node quoted(std::to_string(version));
    quoted.SetTag("!");  // a string, as Kubernetes spells resourceVersion
    document["metadata"]["resourceVersion"] = quoted;
    return config::emitYamlDocument(document);
  } catch (const YAML::Exception&) {
    return text;  // stored text is canonical YAML; this cannot happen short of disk corruption
  }
}

}  // namespace trellis::controlplane
