#include "upstream/connection_pool.h"

#include <algorithm>
#include <cstdint>

namespace trellis::upstream {

/// An idle connection and its watchdogs; any event or the timer drops it. Idle records are
/// recycled (see `spare_`), so parking and taking a connection allocates nothing in steady state.
struct ConnectionPools::Idle final : ConnectionOwner {
  explicit Idle(ConnectionPools& pools)
      : pools(pools),
        timer([this] { this->pools.drop(this->key, this); }),
        trim([this] { connection->releaseTlsBuffers(); }) {}
  void onConnectionEvent(Connection&, uint32_t events) override {
    // EPOLLOUT edges are harmless; anything readable (data, FIN, error) ends reuse.
    if (!(events & (EPOLLIN | EPOLLRDHUP | EPOLLHUP | EPOLLERR))) return;
    if (connection->tls() && !(events & (EPOLLRDHUP | EPOLLHUP | EPOLLERR)) && onlyTlsMessages()) {
      connection->releaseIdleBuffers();
      trim.arm(pools.loop_.timers(), kTlsTrimMs);  // reading took OpenSSL's buffers again
      return;
    }
    pools.drop(key, this);
  }
  /// TLS: reads what came; true when it was only post-handshake messages (a session ticket,
  /// a key update), which OpenSSL consumes without any application byte.
  bool onlyTlsMessages() {
    for (int i = 0; i < 8 && connection->readReady(); ++i) {
      Connection::ReadResult result = connection->read();
      if (result == Connection::ReadResult::Again) return connection->in().empty();
      if (result != Connection::ReadResult::Data || !connection->in().empty()) return false;
    }
    return !connection->readReady() && connection->in().empty();
  }
  ConnectionPools& pools;
  std::string key;
  std::unique_ptr<Connection> connection;
  Timer timer;
  Timer trim;
  uint64_t parkedAtMs = 0;
};

ConnectionPools::ConnectionPools(EventLoop& loop) : loop_(loop) {}

ConnectionPools::~ConnectionPools() {
  clear();
}

std::unique_ptr<Connection> ConnectionPools::take(const std::string& endpointKey) {
  auto it = pools_.find(endpointKey);
  if (it == pools_.end() || it->second.empty()) return nullptr;
  // Most recently used first: it is the least likely to have been closed by the upstream.
  std::unique_ptr<Idle> idle = std::move(it->second.back());
  it->second.pop_back();
  --idleTotal_;
  idle->timer.cancel();
  idle->trim.cancel();
  std::unique_ptr<Connection> connection = std::move(idle->connection);
  connection->setOwner(nullptr);
  spare_.push_back(std::move(idle));
  return connection;
}

void ConnectionPools::put(const std::string& endpointKey, std::unique_ptr<Connection> connection,
                          uint32_t maxIdle, uint64_t idleTimeoutMs) {
  IdleList& list = pools_[endpointKey];
  if (list.size() >= maxIdle) {
    loop_.deferDestroy(std::move(connection));
    return;
  }
  connection->releaseIdleBuffers();
  std::unique_ptr<Idle> idle;
  if (spare_.empty()) {
    idle = std::make_unique<Idle>(*this);
  } else {
    idle = std::move(spare_.back());
    spare_.pop_back();
  }
  idle->key = endpointKey;  // reuses the record's string capacity
  idle->connection = std::move(connection);
  idle->connection->setOwner(idle.get());
  idle->parkedAtMs = loop_.nowMs();
  idle->timer.arm(loop_.timers(), idleTimeoutMs);
  if (idle->connection->tls()) idle->trim.arm(loop_.timers(), kTlsTrimMs);
  Connection& parked = *idle->connection;
  list.push_back(std::move(idle));
  ++idleTotal_;
  parked.announceIdle();
}

bool ConnectionPools::hasIdle(const std::string& endpointKey) const {
  auto it = pools_.find(endpointKey);
  return it != pools_.end() && !it->second.empty();
}

bool ConnectionPools::closeOldestIdle(std::span<const std::string> endpointKeys) {
  IdleList* oldestList = nullptr;
  uint64_t oldestParkedAt = UINT64_MAX;
  for (const std::string& key : endpointKeys) {
    auto it = pools_.find(key);
    if (it == pools_.end() || it->second.empty()) continue;
    const uint64_t parkedAt = it->second.front()->parkedAtMs;  // lists are oldest first
    if (parkedAt < oldestParkedAt) {
      oldestParkedAt = parkedAt;
      oldestList = &it->second;
    }
  }
  if (oldestList == nullptr) return false;
  std::unique_ptr<Idle> idle = std::move(oldestList->front());
  oldestList->erase(oldestList->begin());
  --idleTotal_;
  idle->timer.cancel();
  idle->trim.cancel();
  idle->connection->setOwner(nullptr);
  // The slot is free at once for the caller's new connection; the connection itself goes at
  // the end of the batch, which may still hold an event for it.
  idle->connection->releaseSlot();
  loop_.deferDestroy(std::move(idle->connection));
  spare_.push_back(std::move(idle));
  return true;
}

void ConnectionPools::drop(const std::string& endpointKey, Idle* idle) {
  auto it = pools_.find(endpointKey);
  if (it == pools_.end()) return;
  IdleList& list = it->second;
  auto position = std::find_if(list.begin(), list.end(),
                               [idle](const std::unique_ptr<Idle>& p) { return p.get() == idle; });
  if (position == list.end()) return;
  std::unique_ptr<Idle> owned = std::move(*position);
  list.erase(position);  // at most maxIdle pointers; drops are rare (timeouts, upstream closes)
  --idleTotal_;
  owned->timer.cancel();
  owned->trim.cancel();
  owned->connection->setOwner(nullptr);
  loop_.deferDestroy(std::move(owned->connection));
  // `owned` may be running its own callback: recycling it (not destroying it) is safe.
  spare_.push_back(std::move(owned));
}

void ConnectionPools::clear() {
  for (auto& [key, list] : pools_) {
    for (auto& idle : list) {
      idle->timer.cancel();
      idle->trim.cancel();
    }
  }
  pools_.clear();
  spare_.clear();
  idleTotal_ = 0;
}

}  // namespace trellis::upstream
