#pragma once
// Each node's configuration, built fast enough to push a change to 1,000 sidecars well inside a
// second. Sidecars of one Workload differ only in their addresses, so their part of the mesh is
// assembled and encoded once (a template, with placeholder addresses) and each node's copy only
// patches its listeners' and its application's addresses; clusters and routes are packed once
// and shared. Templates are dropped whenever the mesh or the registry changes.

#include <map>
#include <memory>
#include <string>
#include <vector>

#include "controlplane/ads/node_config.h"
#include "controlplane/ads/node_info.h"
#include "controlplane/mesh/mesh_state.h"
#include "controlplane/registry/registry.h"
#include "xds/codec/resources.h"

namespace trellis::controlplane {

class ConfigCache {
 public:
  struct Built {
    std::shared_ptr<const NodeConfig> config;  // null on error
    std::vector<std::string> notes;            // why a part is missing, for status
    std::string error;
  };

  /// The trust bundle every sidecar is sent (SDS secret "ROOTCA"); "" sends none.
  void setTrustBundle(const std::string& pem);

  /// The mesh or the registry changed: templates are rebuilt on next use.
  void invalidate() { templates_.clear(); }

  /// What `node` should hold. `listenerNames`: the LDS names a proxyless client asked for.
  Built build(const MeshState& mesh, const Registry& registry, const NodeInfo& node,
              const std::vector<std::string>& listenerNames);

  /// The xDS resources `node` is given (for the API's proxy-config; built on demand).
  xds::Resources resourcesFor(const MeshState& mesh, const Registry& registry, const NodeInfo& node,
                              const std::vector<std::string>& listenerNames, std::string& error);

 private:
  struct Template;
  /// Same, also telling why parts are missing (for status).
  xds::Resources resourcesFor(const MeshState& mesh, const Registry& registry, const NodeInfo& node,
                              const std::vector<std::string>& listenerNames, std::string& error,
                              std::vector<std::string>& notes);
  std::shared_ptr<const Template> sidecarTemplate(const MeshState& mesh, const Registry& registry,
                                                  const NodeInfo& node);

  std::map<std::string, std::shared_ptr<const Template>> templates_;
  TypeResources trustBundle_;  // packed once
};

/// Packs resources into what the ADS server serves (sorted by name, versioned).
std::shared_ptr<NodeConfig> toNodeConfig(const xds::Resources& resources);

}  // namespace trellis::controlplane
