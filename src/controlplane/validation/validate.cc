#include "controlplane/validation/validate.h"

#include <fmt/format.h>

#include <map>
#include <set>

#include "config/resources.h"
#include "controlplane/mesh/mesh_state.h"
#include "xds/codec/codec.h"

namespace trellis::controlplane {
namespace {

std::string keyText(const ResourceKey& key) {
  return fmt::format("{} {}/{}", key.kind, key.ns, key.name);
}

std::string storedName(const ResourceKey& key) {
  return "stored " + keyText(key);
}

// Assembles the whole mesh the way proxies will (every Service's routes on one listener, as an
// outbound listener that calls everything would hold them) and runs the result through the xDS
// codec both ways: what passes here, every proxy accepts.
void checkMesh(const MeshStream& stream, ValidationResult& result) {
  config::Diagnostics diagnostics{"mesh"};
  config::Resources resources;
  config::parseDocuments(stream.text, diagnostics, resources);
  config::ListenerDef everything;
  everything.meta.kind = "Listener";
  everything.meta.ns = "mesh";
  everything.meta.name = "validation";
  everything.listener.name = "mesh/validation";
  everything.listener.address = "127.0.0.1";
  everything.listener.port = 15001;
  for (const config::ServiceDef& service : resources.services) {
    everything.meshServices.push_back(service.meta.qualifiedName());
  }
  resources.listeners.push_back(std::move(everything));
  auto snapshot = config::assembleSnapshot(resources, diagnostics);
  for (config::LoadError& error : diagnostics.takeErrors()) {
    stream.locate(error);
    result.errors.push_back(std::move(error));
  }
  for (config::LoadError& warning : diagnostics.takeWarnings()) {
    stream.locate(warning);
    result.warnings.push_back(std::move(warning));
  }
  if (!snapshot) return;
  xds::DecodeResult decoded = xds::decode(xds::encode(*snapshot));
  if (!decoded.snapshot) {
    result.errors.push_back(config::LoadError{
        "mesh", 0, 0, "", "", "a proxy would reject this configuration: " + decoded.error});
  }
}

}  // namespace

ValidationResult validateApply(const std::vector<StoredResource>& stored,
                               const std::vector<SourceFile>& files) {
  ValidationResult result;
  std::map<std::string, std::string> definedIn;  // resource → file
  for (const SourceFile& file : files) {
    SplitResult split = splitDocuments(file.content, file.name);
    for (auto& error : split.errors) result.errors.push_back(std::move(error));
    for (auto& document : split.documents) {
      auto [it, inserted] = definedIn.emplace(keyText(document.key), file.name);
      if (!inserted && it->second != file.name) {
        result.errors.push_back(config::LoadError{
            file.name, document.line, 1, keyText(document.key), "",
            fmt::format("{} is also defined in {}", keyText(document.key), it->second)});
        continue;
      }
      result.documents.push_back(std::move(document));
    }
  }
  if (!result.ok()) return result;

  MeshStream stream;
  for (const StoredResource& resource : stored) {
    if (definedIn.count(keyText(resource.key)) == 0) {
      stream.append(storedName(resource.key), resource.document);
    }
  }
  for (const SourceFile& file : files) stream.append(file.name, file.content);
  checkMesh(stream, result);
  return result;
}

ValidationResult validateRemoval(const std::vector<StoredResource>& stored,
                                 const ResourceKey& removed) {
  ValidationResult result;
  MeshStream stream;
  for (const StoredResource& resource : stored) {
    if (!(resource.key == removed)) stream.append(storedName(resource.key), resource.document);
  }
  checkMesh(stream, result);
  return result;
}

}  // namespace trellis::controlplane
