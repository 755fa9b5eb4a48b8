#pragma once
// The ADS server's shared state (internal to AdsServer): node configs, node status, open
// streams, counters, and the one place hooks are called from.
//
// Locks: `hooksMu_` serializes hook calls and is taken before `mu_`; a stream takes its own
// lock before `mu_` and never holds it while calling into the hooks path. So the order is
// hooksMu_ → stream → mu_, with no cycle.

#include <condition_variable>
#include <map>
#include <memory>
#include <mutex>
#include <set>
#include <string>
#include <vector>

#include "controlplane/ads/ads_server.h"
#include "controlplane/ads/node_auth.h"

namespace trellis::controlplane {

class AdsStream;

class AdsServerState {
 public:
  AdsServerState(AdsServer::Hooks& hooks, NodeAuthPolicy authPolicy)
      : hooks_(hooks), authPolicy_(std::move(authPolicy)) {}

  /// What nodes must prove; constant.
  const NodeAuthPolicy& authPolicy() const { return authPolicy_; }

  // From streams.
  /// Registers a new stream; false once stopping (the stream must then finish at once).
  bool streamStarted(std::shared_ptr<AdsStream> stream);
  /// The stream identified its node: it now receives that node's pushes. Returns "" or, if
  /// the node may not take its id (refuseTakeover), why; then nothing is registered.
  std::string nodeConnected(const std::shared_ptr<AdsStream>& stream, const NodeInfo& node,
                            const StreamPeer& peer);
  void namesRequested(const NodeInfo& node, const std::string& typeUrl,
                      const std::vector<std::string>& names);
  /// The stream is done (OnDone). Returns the registry's reference, which keeps the stream
  /// alive until the caller lets go of it.
  std::shared_ptr<AdsStream> streamEnded(AdsStream* stream, const NodeInfo* node);
  std::shared_ptr<const NodeConfig> configFor(const std::string& nodeId) const;
  std::string nextNonce();
  void recordSent(const std::string& nodeId, const std::string& typeUrl,
                  const std::string& version);
  void recordAck(const std::string& nodeId, const std::string& typeUrl, const std::string& version);
  /// Returns true the first time this node NACKs this version with this message (log it).
  bool recordNack(const std::string& nodeId, const std::string& typeUrl, const std::string& version,
                  const std::string& message);

  /// A node refused, by refuseNode() or nodeConnected() (logged by the caller).
  void recordRefused();

  // From AdsServer.
  void setNodeConfig(const std::string& nodeId, std::shared_ptr<const NodeConfig> config);
  std::vector<ProxyStatus> status() const;
  void forget(const std::string& nodeId);
  /// A node trellisd knew before it restarted holds its id until forgotten.
  void reserve(const std::string& nodeId, const std::string& identity);
  AdsServer::Counters counters() const;
  /// Refuses new streams from now on; returns the open ones.
  std::vector<std::shared_ptr<AdsStream>> beginStop();
  void waitAllStreamsDone();

 private:
  struct NodeEntry {
    ProxyStatus status;
    std::vector<std::shared_ptr<AdsStream>> streams;
  };

  AdsServer::Hooks& hooks_;
  const NodeAuthPolicy authPolicy_;
  std::mutex hooksMu_;
  mutable std::mutex mu_;
  std::condition_variable allDone_;
  bool stopping_ = false;
  uint64_t nonce_ = 0;
  std::map<AdsStream*, std::shared_ptr<AdsStream>> streams_;
  std::map<std::string, NodeEntry> nodes_;
  std::map<std::string, std::string> reserved_;  // node id → identity, by reserve()
  std::map<std::string, std::shared_ptr<const NodeConfig>> configs_;
  AdsServer::Counters counters_;
};

}  // namespace trellis::controlplane
