#include "controlplane/ads/server_state.h"

#include <algorithm>
#include <optional>

#include "controlplane/ads/ads_stream.h"

namespace trellis::controlplane {

bool AdsServerState::streamStarted(std::shared_ptr<AdsStream> stream) {
  std::lock_guard lock(mu_);
  AdsStream* key = stream.get();
  streams_.emplace(key, std::move(stream));
  ++counters_.streamsActive;
  ++counters_.streamsTotal;
  return !stopping_;
}

std::string AdsServerState::nodeConnected(const std::shared_ptr<AdsStream>& stream,
                                          const NodeInfo& node, const StreamPeer& peer) {
  std::lock_guard hooksLock(hooksMu_);
  {
    std::lock_guard lock(mu_);
    std::optional<NodeHolder> holder;
    if (auto it = nodes_.find(node.id); it != nodes_.end()) {
      holder = NodeHolder{it->second.status.node.isTrellisProxy(), it->second.status.identity,
                          it->second.status.connected};
    } else if (auto reserved = reserved_.find(node.id); reserved != reserved_.end()) {
      holder = NodeHolder{true, reserved->second, false};
    }
    if (std::string refusal = refuseTakeover(node, peer, holder ? &*holder : nullptr);
        !refusal.empty()) {
      return refusal;
    }
    reserved_.erase(node.id);
    auto& entry = nodes_[node.id];
    entry.status.node = node;
    entry.status.identity = provenIdentity(peer);
    if (!entry.status.connected) entry.status.since = std::chrono::system_clock::now();
    entry.status.connected = true;
    entry.streams.push_back(stream);
  }
  hooks_.nodeConnected(node);
  return "";
}

void AdsServerState::namesRequested(const NodeInfo& node, const std::string& typeUrl,
                                    const std::vector<std::string>& names) {
  std::lock_guard hooksLock(hooksMu_);
  hooks_.namesRequested(node, typeUrl, names);
}

std::shared_ptr<AdsStream> AdsServerState::streamEnded(AdsStream* stream, const NodeInfo* node) {
  {
    std::lock_guard hooksLock(hooksMu_);
    bool lastOfNode = false;
    NodeInfo announced;
    {
      std::lock_guard lock(mu_);
      --counters_.streamsActive;
      auto it = node == nullptr ? nodes_.end() : nodes_.find(node->id);
      if (it != nodes_.end()) {
        auto& streams = it->second.streams;
        std::erase_if(streams, [&](const auto& s) { return s.get() == stream; });
        if (streams.empty()) {
          lastOfNode = true;
          it->second.status.connected = false;
          it->second.status.since = std::chrono::system_clock::now();
          announced = it->second.status.node;
        }
      }
    }
    if (lastOfNode) hooks_.nodeDisconnected(announced);
  }
  // Only now may stop() return: the hook call above has finished.
  std::lock_guard lock(mu_);
  std::shared_ptr<AdsStream> owned;
  auto it = streams_.find(stream);
  if (it != streams_.end()) {
    owned = std::move(it->second);
    streams_.erase(it);
  }
  if (streams_.empty()) allDone_.notify_all();
  return owned;
}

std::shared_ptr<const NodeConfig> AdsServerState::configFor(const std::string& nodeId) const {
  std::lock_guard lock(mu_);
  auto it = configs_.find(nodeId);
  return it == configs_.end() ? nullptr : it->second;
}

std::string AdsServerState::nextNonce() {
  std::lock_guard lock(mu_);
  return std::to_string(++nonce_);
}

void AdsServerState::recordSent(const std::string& nodeId, const std::string& typeUrl,
                                const std::string& version) {
  std::lock_guard lock(mu_);
  ++counters_.responses;
  auto it = nodes_.find(nodeId);
  if (it != nodes_.end()) it->second.status.types[typeUrl].sentVersion = version;
}

void AdsServerState::recordRefused() {
  std::lock_guard lock(mu_);
  ++counters_.nodesRefused;
}

void AdsServerState::recordAck(const std::string& nodeId, const std::string& typeUrl,
                               const std::string& version) {
  std::lock_guard lock(mu_);
  ++counters_.acks;
  auto it = nodes_.find(nodeId);
  if (it == nodes_.end()) return;
  auto& type = it->second.status.types[typeUrl];
  type.ackedVersion = version;
  type.nackedVersion.clear();
  type.nackMessage.clear();
}

bool AdsServerState::recordNack(const std::string& nodeId, const std::string& typeUrl,
                                const std::string& version, const std::string& message) {
  std::lock_guard lock(mu_);
  ++counters_.nacks;
  auto it = nodes_.find(nodeId);
  if (it == nodes_.end()) return true;
  auto& type = it->second.status.types[typeUrl];
  const bool first = type.nackedVersion != version || type.nackMessage != message;
  type.nackedVersion = version;
  type.nackMessage = message;
  return first;
}

void AdsServerState::setNodeConfig(const std::string& nodeId,
                                   std::shared_ptr<const NodeConfig> config) {
  std::vector<std::shared_ptr<AdsStream>> streams;
  {
    std::lock_guard lock(mu_);
    if (config == nullptr) {
      configs_.erase(nodeId);
      return;
    }
    configs_[nodeId] = std::move(config);
    auto it = nodes_.find(nodeId);
    if (it != nodes_.end()) streams = it->second.streams;
  }
  // Each stream reads the latest config itself, so concurrent setters cannot leave a stream
  // holding an older one.
  for (const auto& stream : streams) stream->configChanged();
}

std::vector<ProxyStatus> AdsServerState::status() const {
  std::lock_guard lock(mu_);
  std::vector<ProxyStatus> out;
  out.reserve(nodes_.size());
  for (const auto& [id, entry] : nodes_) out.push_back(entry.status);
  return out;
}

void AdsServerState::reserve(const std::string& nodeId, const std::string& identity) {
  std::lock_guard lock(mu_);
  if (nodes_.count(nodeId) == 0) reserved_[nodeId] = identity;
}

void AdsServerState::forget(const std::string& nodeId) {
  std::lock_guard lock(mu_);
  reserved_.erase(nodeId);
  auto it = nodes_.find(nodeId);
  if (it != nodes_.end() && it->second.streams.empty()) nodes_.erase(it);
}

AdsServer::Counters AdsServerState::counters() const {
  std::lock_guard lock(mu_);
  return counters_;
}

std::vector<std::shared_ptr<AdsStream>> AdsServerState::beginStop() {
  std::lock_guard lock(mu_);
  stopping_ = true;
  std::vector<std::shared_ptr<AdsStream>> open;
  for (const auto& [key, stream] : streams_) open.push_back(stream);
  return open;
}

void AdsServerState::waitAllStreamsDone() {
  std::unique_lock lock(mu_);
  allDone_.wait(lock, [&] { return streams_.empty(); });
}

}  // namespace trellis::controlplane
