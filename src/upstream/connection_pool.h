#pragma once
// Per-worker pools of idle keep-alive upstream connections, one pool per endpoint address.
//
// Pools belong to the worker, not to a configuration snapshot, so keep-alive connections survive
// reloads. An idle connection is watched: if the upstream closes it or sends anything, it is
// dropped; it is also closed after the cluster's idle timeout. A TLS connection may still
// receive post-handshake messages (session tickets) while idle, which do not end its reuse,
// and frees its record buffers once it has been idle for kTlsTrimMs.

#include <cstdint>
#include <memory>
#include <span>
#include <string>
#include <unordered_map>
#include <vector>

#include "common/connection.h"
#include "common/event_loop.h"

namespace trellis::upstream {

class ConnectionPools {
 public:
  /// A parked TLS connection idle this long frees its record buffers (~34 KiB): not at once,
  /// which would allocate them again for every request on a connection used back to back.
  static constexpr uint64_t kTlsTrimMs = 1000;

  explicit ConnectionPools(EventLoop& loop);
  ~ConnectionPools();

  /// An idle connection to `endpointKey`, or null.
  std::unique_ptr<Connection> take(const std::string& endpointKey);
  /// Parks `connection` for reuse; closes it when the pool is at `maxIdle`.
  void put(const std::string& endpointKey, std::unique_ptr<Connection> connection, uint32_t maxIdle,
           uint64_t idleTimeoutMs);
  size_t idleCount() const { return idleTotal_; }
  bool hasIdle(const std::string& endpointKey) const;
  /// Closes the longest-idle connection to any of `endpointKeys` (a cluster at its
  /// maxConnections makes room for a connection to another of its endpoints). False if none.
  bool closeOldestIdle(std::span<const std::string> endpointKeys);
  /// Closes every idle connection (shutdown).
  void clear();

 private:
  struct Idle;
  using IdleList = std::vector<std::unique_ptr<Idle>>;  // oldest first
  void drop(const std::string& endpointKey, Idle* idle);

  EventLoop& loop_;
  std::unordered_map<std::string, IdleList> pools_;
  std::vector<std::unique_ptr<Idle>> spare_;  // recycled records, reused by put()
  size_t idleTotal_ = 0;
};

}  // namespace trellis::upstream
