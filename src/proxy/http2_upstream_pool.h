#pragma once
// Per-worker HTTP/2 connections to upstream endpoints, shared by every exchange of the worker:
// one connection multiplexes many streams, and another opens only when the peer's
// SETTINGS_MAX_CONCURRENT_STREAMS is reached. Connections outlive configuration snapshots (like
// the HTTP/1 pools), close after the cluster's idle timeout without streams, and stop taking
// streams once the upstream sends GOAWAY.

#include <cstdint>
#include <memory>
#include <span>
#include <string>
#include <unordered_map>
#include <vector>

#include "common/buffer.h"
#include "common/event_loop.h"
#include "http/http2/http2_types.h"
#include "proxy/proxy_stats.h"
#include "proxy/upstream_stream.h"
#include "upstream/cluster_runtime.h"

namespace trellis::proxy {

class Worker;

class Http2UpstreamPool {
 public:
  /// `worker` owns the pool: its loop, buffers, TLS contexts and session cache are used.
  Http2UpstreamPool(Worker& worker, Http2ProxyStats& stats);
  ~Http2UpstreamPool();
  Http2UpstreamPool(const Http2UpstreamPool&) = delete;
  Http2UpstreamPool& operator=(const Http2UpstreamPool&) = delete;

  /// Opens a stream to `endpoint` of `cluster` with the request head `fields` (pseudo-headers
  /// first). Returns null when no connection could even be started (`failure` says why:
  /// ConnectFailure, Overflow or TlsFailure); later failures reach `handler`. An endpoint with no
  /// connection on this worker may open one over maxConnections (Envoy's rule: a multiplexed
  /// connection is never idle under load, so nothing else would make room).
  UpstreamStream* open(upstream::ClusterRuntime& cluster, int endpoint,
                       std::span<const http::HeaderField> fields, bool hasBody,
                       UpstreamStreamHandler& handler, UpstreamFailure& failure);
  /// Whether a stream to `endpointKey` can open on an existing connection.
  bool hasUsable(const std::string& endpointKey) const;
  /// Whether this worker has a connection (usable or not) to `endpointKey`.
  bool hasConnection(const std::string& endpointKey) const;
  /// Graceful shutdown: GOAWAY on every connection; idle ones close now.
  void drain();
  /// Closes everything at once (worker teardown).
  void clear();
  size_t connectionCount() const;

  class Conn;

 private:
  friend class Conn;
  void remove(Conn* conn);

  Worker& worker_;
  EventLoop& loop_;
  BufferPool& buffers_;
  Http2ProxyStats& stats_;
  http2::Http2Settings settings_;
  std::unordered_map<std::string, std::vector<std::unique_ptr<Conn>>> byEndpoint_;
  // Per endpoint: the last SETTINGS_MAX_CONCURRENT_STREAMS seen (RFC 9113 §6.5.2 suggests
  // at least 100, which is assumed until an endpoint says otherwise).
  static constexpr uint32_t kAssumedMaxStreams = 100;
  std::unordered_map<std::string, uint32_t> learnedMaxStreams_;
};

}  // namespace trellis::proxy
