// Document-level loading: YAML parsing, apiVersion/kind dispatch, metadata, duplicate resources.

#include "config/loader.h"

#include <fmt/format.h>
#include <yaml-cpp/yaml.h>

#include <algorithm>
#include <cerrno>
#include <cstring>
#include <fstream>
#include <map>
#include <sstream>

#include "config/resources.h"
#include "config/syntax.h"
#include "config/yaml_reader.h"
#include "config/yaml_stream.h"

namespace trellis::config {
namespace {

constexpr std::string_view kGatewayApi = "gateway.networking.k8s.io/v1";
constexpr std::string_view kTrellisApi = "trellis.dev/v1alpha1";

enum class Kind {
  HttpRoute,
  GrpcRoute,
  Listener,
  Service,
  Workload,
  BackendPolicy,
  RoutePolicy,
  AuthorizationPolicy,
  PeerAuthentication
};

struct KindInfo {
  std::string_view apiVersion;
  std::string_view name;
  Kind kind;
};

constexpr KindInfo kKinds[] = {
    {kGatewayApi, "HTTPRoute", Kind::HttpRoute},
    {kGatewayApi, "GRPCRoute", Kind::GrpcRoute},
    {kTrellisApi, "Listener", Kind::Listener},
    {kTrellisApi, "Service", Kind::Service},
    {kTrellisApi, "Workload", Kind::Workload},
    {kTrellisApi, "BackendPolicy", Kind::BackendPolicy},
    {kTrellisApi, "RoutePolicy", Kind::RoutePolicy},
    {kTrellisApi, "AuthorizationPolicy", Kind::AuthorizationPolicy},
    {kTrellisApi, "PeerAuthentication", Kind::PeerAuthentication},
};

// Resolves apiVersion + kind, reporting unknown or mismatched ones.
std::optional<Kind> resolveKind(Scope& scope, const Value& apiVersionValue,
                                const std::string& apiVersion, const Value& kindValue,
                                const std::string& kind) {
  if (apiVersion != kGatewayApi && apiVersion != kTrellisApi) {
    scope.error(apiVersionValue,
                Scope::unknownValueMessage(apiVersion, {kGatewayApi, kTrellisApi}));
    return std::nullopt;
  }
  std::vector<std::string_view> expected;
  for (const KindInfo& info : kKinds) {
    if (info.apiVersion != apiVersion) continue;
    if (info.name == kind) return info.kind;
    expected.push_back(info.name);
  }
  for (const KindInfo& info : kKinds) {
    if (info.name == kind) {
      scope.error(kindValue, fmt::format("kind {} belongs to apiVersion {}, not {}", kind,
                                         info.apiVersion, apiVersion));
      return std::nullopt;
    }
  }
  scope.error(kindValue, fmt::format("unknown kind {} for apiVersion {} (expected {})", quote(kind),
                                     apiVersion, fmt::join(expected, " or ")));
  return std::nullopt;
}

// Kubernetes ObjectMeta. Server-populated fields (uid, resourceVersion, …) are accepted so that
// `kubectl get -o yaml` output loads; they are ignored.
std::optional<ResourceMeta> parseMetadata(Scope& scope, const Value& value, std::string_view kind,
                                          Kind kindId) {
  auto metadata = scope.object(
      value, {"name", "namespace", "creationTimestamp", "labels", "annotations", "uid",
              "resourceVersion", "generation", "managedFields", "finalizers", "ownerReferences",
              "generateName", "deletionTimestamp", "deletionGracePeriodSeconds", "selfLink"});
  if (!metadata) return std::nullopt;
  ResourceMeta meta;
  meta.kind = kind;
  Value nameValue = scope.require(*metadata, "name");
  Value nsValue = metadata->get("namespace");
  auto name = scope.string(nameValue, 253);
  auto ns = scope.string(nsValue, 63);
  if (ns) meta.ns = *ns;
  if (name) meta.name = *name;  // the scope's resource label already names it
  meta.at.resource = scope.resource();
  meta.nameAt = scope.at(nameValue);

  bool valid = name && ns.has_value() == nsValue.present;
  if (name) {
    // Services are DNS labels in Kubernetes; other kinds DNS subdomains.
    valid = scope.check(nameValue, kindId == Kind::Service ? syntax::checkDnsLabel(*name)
                                                           : syntax::checkDnsSubdomain(*name)) &&
            valid;
  }
  if (ns) valid = scope.check(nsValue, syntax::checkDnsLabel(*ns)) && valid;
  Value created = metadata->get("creationTimestamp");
  if (auto text = scope.string(created, 64)) {
    if (auto seconds = syntax::parseRfc3339(*text)) {
      meta.creationTimestamp = *seconds;
    } else {
      scope.error(created, fmt::format("invalid RFC 3339 timestamp {} (expected e.g. "
                                       "\"2024-05-01T10:00:00Z\")",
                                       quote(*text)));
      valid = false;
    }
  }
  for (std::string_view mapField : {"labels", "annotations"}) {
    Value field = metadata->get(mapField);
    if (field.present && !field.node.IsMap()) {
      scope.error(field, "expected a map of strings");
      valid = false;
    }
  }
  if (!valid) return std::nullopt;
  return meta;
}

// The scalar at `key` of a map node, without reporting anything (used before validation).
std::optional<std::string> peekScalar(const YAML::Node& map, std::string_view key) {
  if (!map.IsMap()) return std::nullopt;
  for (auto it = map.begin(); it != map.end(); ++it) {
    if (it->first.IsScalar() && it->first.Scalar() == key) {
      if (it->second.IsScalar()) return it->second.Scalar();
      return std::nullopt;
    }
  }
  return std::nullopt;
}

std::optional<YAML::Node> peekMap(const YAML::Node& map, std::string_view key) {
  if (!map.IsMap()) return std::nullopt;
  for (auto it = map.begin(); it != map.end(); ++it) {
    if (it->first.IsScalar() && it->first.Scalar() == key && it->second.IsMap()) return it->second;
  }
  return std::nullopt;
}

// "HTTPRoute default/shop" when the document says so, else "HTTPRoute in document 3", so that
// even the first problems found in a document name its resource.
std::string resourceLabel(const YAML::Node& document, size_t index) {
  // Only short, visible-ASCII values make it into the label; anything else is left out.
  auto printable = [](const std::optional<std::string>& text, size_t maxLength) {
    return text && !text->empty() && text->size() <= maxLength &&
           std::all_of(text->begin(), text->end(), [](char c) { return c > ' ' && c < 0x7f; });
  };
  auto kind = peekScalar(document, "kind");
  if (!printable(kind, 63)) return fmt::format("document {}", index + 1);
  auto metadata = peekMap(document, "metadata");
  auto name = metadata ? peekScalar(*metadata, "name") : std::nullopt;
  auto ns = metadata ? peekScalar(*metadata, "namespace") : std::nullopt;
  if (!ns) ns = "default";
  if (printable(name, 253) && printable(ns, 63)) {
    return fmt::format("{} {}/{}", *kind, *ns, *name);
  }
  return fmt::format("{} in document {}", *kind, index + 1);
}

class DocumentLoader {
 public:
  DocumentLoader(Diagnostics& diagnostics, Resources& resources)
      : diagnostics_(diagnostics), resources_(resources) {}

  void load(const YAML::Node& document, size_t index) {
    Scope scope(diagnostics_, resourceLabel(document, index));
    Value root{document, document.Mark(), "", true};
    auto top = scope.object(root, {"apiVersion", "kind", "metadata", "spec", "status"});
    if (!top) return;
    Value apiVersionValue = scope.require(*top, "apiVersion");
    Value kindValue = scope.require(*top, "kind");
    auto apiVersion = scope.string(apiVersionValue, 253);
    auto kindName = scope.string(kindValue, 63);
    if (!apiVersion || !kindName) return;
    auto kind = resolveKind(scope, apiVersionValue, *apiVersion, kindValue, *kindName);
    if (!kind) return;

    Value metadataValue = scope.require(*top, "metadata");
    auto meta = parseMetadata(scope, metadataValue, *kindName, *kind);
    Value spec = scope.require(*top, "spec");
    bool keep = meta.has_value();
    if (meta) {
      meta->at = Location{document.Mark(), scope.resource(), ""};
      std::string key = fmt::format("{}/{}", *kindName, meta->qualifiedName());
      auto [it, inserted] = seen_.emplace(key, meta->at.mark);
      if (!inserted) {
        scope.error(meta->nameAt,
                    fmt::format("duplicate {} {} (first defined at line {})", *kindName,
                                meta->qualifiedName(), it->second.line + 1));
        keep = false;
      }
    }
    // Parse the spec even when metadata is broken, so that all of its problems are reported,
    // but keep such a resource out of reference resolution.
    Resources discarded;
    Resources& target = keep ? resources_ : discarded;
    ResourceMeta resourceMeta = meta.value_or(ResourceMeta{});
    switch (*kind) {
      case Kind::HttpRoute:
        parseHttpRoute(scope, std::move(resourceMeta), spec, target);
        break;
      case Kind::GrpcRoute:
        parseGrpcRoute(scope, std::move(resourceMeta), spec, target);
        break;
      case Kind::Listener:
        parseListener(scope, std::move(resourceMeta), spec, target);
        break;
      case Kind::Service:
        parseService(scope, std::move(resourceMeta), spec, target);
        break;
      case Kind::Workload:
        parseWorkload(scope, std::move(resourceMeta), spec, target);
        break;
      case Kind::BackendPolicy:
        parseBackendPolicy(scope, std::move(resourceMeta), spec, target);
        break;
      case Kind::RoutePolicy:
        parseRoutePolicy(scope, std::move(resourceMeta), spec, target);
        break;
      case Kind::AuthorizationPolicy:
        parseAuthorizationPolicy(scope, std::move(resourceMeta), spec, target);
        break;
      case Kind::PeerAuthentication:
        parsePeerAuthentication(scope, std::move(resourceMeta), spec, target);
        break;
    }
  }

 private:
  Diagnostics& diagnostics_;
  Resources& resources_;
  std::map<std::string, YAML::Mark> seen_;
};

std::shared_ptr<Snapshot> loadDocuments(std::string_view yaml, Diagnostics& diagnostics) {
  Resources resources;
  parseDocuments(yaml, diagnostics, resources);
  return assembleSnapshot(resources, diagnostics);
}

}  // namespace

void parseDocuments(std::string_view yaml, Diagnostics& diagnostics, Resources& out) {
  if (yaml.size() > kMaxConfigBytes) {
    diagnostics.error({}, fmt::format("configuration is {} bytes; the limit is {}", yaml.size(),
                                      kMaxConfigBytes));
    return;
  }
  auto documents = parseYamlStream(yaml, diagnostics);
  if (!documents) return;
  DocumentLoader loader(diagnostics, out);
  for (size_t index = 0; index < documents->size(); ++index) {
    const YAML::Node& document = (*documents)[index];
    if (!document.IsDefined() || document.IsNull()) continue;  // empty document ("---\n---")
    loader.load(document, index);
  }
}

std::string LoadError::toString() const {
  std::string out = file;
  if (line > 0) out += fmt::format(":{}:{}", line, column);
  out += ": ";
  if (!resource.empty()) out += resource + ": ";
  if (!field.empty()) out += field + ": ";
  out += message;
  return out;
}

LoadResult loadString(std::string_view yaml, std::string_view sourceName) {
  Diagnostics diagnostics{std::string(sourceName)};
  LoadResult result;
  try {
    result.snapshot = loadDocuments(yaml, diagnostics);
  } catch (const YAML::Exception& e) {
    // Schema-driven reading should not throw; never let a surprise escape as a crash.
    diagnostics.error(Location{e.mark, "", ""}, fmt::format("unexpected YAML error: {}", e.msg));
  } catch (const std::exception& e) {
    diagnostics.error({}, fmt::format("internal error while loading: {}", e.what()));
  }
  result.errors = diagnostics.takeErrors();
  result.warnings = diagnostics.takeWarnings();
  if (!result.errors.empty()) result.snapshot.reset();
  return result;
}

LoadResult loadFile(const std::string& path) {
  std::ifstream file(path, std::ios::binary);
  if (!file) {
    LoadResult result;
    result.errors.push_back(
        LoadError{path, 0, 0, "", "", fmt::format("cannot open file: {}", std::strerror(errno))});
    return result;
  }
  std::string content;
  char buffer[65536];
  while (file.read(buffer, sizeof buffer) || file.gcount() > 0) {
    content.append(buffer, static_cast<size_t>(file.gcount()));
    if (content.size() > kMaxConfigBytes) break;  // loadString reports the size
  }
  if (file.bad()) {
    LoadResult result;
    result.errors.push_back(LoadError{path, 0, 0, "", "", "cannot read file"});
    return result;
  }
  return loadString(content, path);
}

}  // namespace trellis::config
