#pragma once
// trellisd's core: the store, the parsed mesh, the registry and the ADS server, tied together on
// one event loop. Applies are validated against the whole mesh before they are stored; every
// change (to resources or to the registry) is debounced, then each node's configuration is
// rebuilt and handed to the ADS server, which pushes only the types whose version changed.
//
// Threads: everything here runs on the loop's thread, except the AdsServer::Hooks, which gRPC
// calls on its threads and which only post work to the loop.

#include <atomic>
#include <chrono>
#include <map>
#include <memory>
#include <optional>
#include <string>
#include <vector>

#include "common/event_loop.h"
#include "common/timer_wheel.h"
#include "controlplane/ads/ads_server.h"
#include "controlplane/mesh/mesh_state.h"
#include "controlplane/registry/registry.h"
#include "controlplane/store/store.h"
#include "controlplane/trellisd/config_cache.h"
#include "controlplane/validation/validate.h"
#include "xds/codec/resources.h"

namespace trellis::controlplane {

/// What a write to the mesh came to.
struct WriteReport {
  enum class Result : uint8_t { Ok, Invalid, Conflict, NotFound };
  Result result = Result::Ok;
  struct Item {
    ResourceKey key;
    std::string outcome;  // created | configured | unchanged | deleted
    int64_t resourceVersion = 0;
  };
  std::vector<Item> items;
  std::vector<config::LoadError> errors;
  std::vector<config::LoadError> warnings;
  std::string message;  // for Conflict and NotFound
  int64_t revision = 0;
};

/// One node as trellisd sees it.
struct NodeView {
  NodeInfo info;
  bool connected = false;
  std::vector<std::string> notes;          // why part of its configuration is missing
  std::string error;                       // its configuration could not be built
  xds::Resources resources;                // what it was last given
  std::vector<std::string> listenerNames;  // proxyless: the LDS names it asked for
  std::string admissionProblem;            // why it is no endpoint of its Service (logged once)
};

class ControlPlane final : public AdsServer::Hooks {
 public:
  struct Options {
    std::chrono::milliseconds grace{30000};     // a disconnected instance stays this long
    std::chrono::milliseconds debounce{10};     // changes within this window go out together
    std::string trustDomain = "trellis.local";  // for the identities of registered proxies
    std::string trustBundlePem;  // sent to every sidecar as SDS secret "ROOTCA"; "": none
    /// Sidecars register only over the mutual-TLS xDS port (NodeAuthPolicy).
    bool requireMutualTlsForSidecars = false;
  };

  ControlPlane(EventLoop& loop, std::unique_ptr<Store> store, Options options);
  ~ControlPlane() override;

  /// Loads the stored mesh and starts serving xDS, in plaintext on `xdsAddress` ("": not) and
  /// on the mutual-TLS port if given. Returns an error text or "".
  std::string start(const std::string& xdsAddress,
                    const std::optional<AdsServer::MutualTlsPort>& mutualTls = std::nullopt);
  void stop();
  int xdsPort() const { return ads_.port(); }
  int xdsMutualTlsPort() const { return ads_.mutualTlsPort(); }

  WriteReport apply(const std::vector<SourceFile>& files, bool dryRun);
  WriteReport remove(const ResourceKey& key, std::optional<int64_t> expectedVersion);
  /// Restores `key` as it was at revision `to` (default: before its last change).
  WriteReport rollback(const ResourceKey& key, std::optional<int64_t> to);

  Store& store() { return *store_; }
  const std::map<std::string, NodeView>& nodes() const { return nodes_; }
  std::vector<ProxyStatus> adsStatus() const { return ads_.status(); }
  AdsServer::Counters adsCounters() const { return ads_.counters(); }
  size_t registrySize() const { return registry_.size(); }
  uint64_t rebuilds() const { return rebuilds_; }
  /// What node `id` is given (built on demand); nullopt for an unknown node.
  std::optional<xds::Resources> resourcesOf(const std::string& id, std::string& error);

  // AdsServer::Hooks (gRPC threads).
  void nodeConnected(const NodeInfo& node) override;
  void nodeDisconnected(const NodeInfo& node) override;
  void namesRequested(const NodeInfo& node, const std::string& typeUrl,
                      const std::vector<std::string>& names) override;

 private:
  WriteReport commit(const std::vector<Change>& changes, const ValidationResult& validation,
                     bool dryRun = false);
  bool reloadMesh(std::string& error);
  /// Instances stored before a restart come back in their grace period.
  void restoreRegistry();
  /// Drops the stored instances the registry let go.
  void forgetExpired();
  void scheduleRebuild();
  void rebuildAll();
  void rebuild(NodeView& node);
  void armExpiry();
  void refreshCache();

  EventLoop& loop_;
  std::unique_ptr<Store> store_;
  Options options_;
  Registry registry_;
  AdsServer ads_;
  std::shared_ptr<const MeshState> mesh_;
  std::map<std::string, NodeView> nodes_;  // by node id
  ConfigCache cache_;
  std::shared_ptr<const MeshState> cachedMesh_;  // what cache_ was built from
  uint64_t cachedRegistryVersion_ = 0;
  Timer debounce_;
  Timer expiry_;
  uint64_t rebuilds_ = 0;
  std::atomic<bool> stopping_{false};
};

}  // namespace trellis::controlplane
