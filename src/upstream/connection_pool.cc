#include "upstream/connection_pool.h"

namespace trellis::upstream {

/// An idle connection and its watchdogs; any event or the timer drops it.
struct ConnectionPools::Idle final : ConnectionOwner {
  Idle(ConnectionPools& pools, std::string key, std::unique_ptr<Connection> c)
      : pools(pools),
        key(std::move(key)),
        connection(std::move(c)),
        timer([this] { this->pools.drop(this->key, this); }) {}
  void onConnectionEvent(Connection&, uint32_t events) override {
    // EPOLLOUT edges are harmless; anything readable (data, FIN, error) ends reuse.
    if (events & (EPOLLIN | EPOLLRDHUP | EPOLLHUP | EPOLLERR)) pools.drop(key, this);
  }
  ConnectionPools& pools;
  std::string key;
  std::unique_ptr<Connection> connection;
  Timer timer;
  IdleList::iterator position;
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
  std::unique_ptr<Connection> connection = std::move(idle->connection);
  connection->setOwner(nullptr);
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
  auto idle = std::make_unique<Idle>(*this, endpointKey, std::move(connection));
  idle->connection->setOwner(idle.get());
  idle->timer.arm(loop_.timers(), idleTimeoutMs);
  list.push_back(std::move(idle));
  list.back()->position = std::prev(list.end());
  ++idleTotal_;
}

void ConnectionPools::drop(const std::string& endpointKey, Idle* idle) {
  auto it = pools_.find(endpointKey);
  if (it == pools_.end()) return;
  std::unique_ptr<Idle> owned = std::move(*idle->position);
  it->second.erase(idle->position);
  --idleTotal_;
  owned->timer.cancel();
  owned->connection->setOwner(nullptr);
  loop_.deferDestroy(std::move(owned->connection));
  if (it->second.empty()) pools_.erase(it);
  // `owned` (the Idle) may be inside its own callback; defer its destruction too.
  loop_.deferDestroy(std::move(owned));
}

void ConnectionPools::clear() {
  for (auto& [key, list] : pools_) {
    for (auto& idle : list) idle->timer.cancel();
  }
  pools_.clear();
  idleTotal_ = 0;
}

}  // namespace trellis::upstream
