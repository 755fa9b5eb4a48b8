#pragma once
// Whether a request may have an upstream connection now, within its cluster's maxConnections
// (upstream/cluster_connections.h). Requests that must wait go through a RetryStream, the one
// upstream stream that can hold a request back; the byte-level HTTP/1 path never waits.

#include "proxy/route_decision.h"
#include "upstream/cluster_connections.h"

namespace trellis::proxy {

/// Whether a request to `endpoint` would have to wait: others already wait on this worker, or
/// the cluster is at maxConnections and no connection can be reused (or, for HTTP/1, closed
/// idle to make room).
bool mustWaitForConnection(Worker& worker, upstream::ClusterRuntime& cluster, int endpoint);

/// HTTP/1 clusters at maxConnections: closes the longest-idle pooled connections of the cluster
/// on this worker until a new one may open. True when a new one may open.
bool makeRoomForConnection(Worker& worker, upstream::ClusterRuntime& cluster);

enum class Admission : uint8_t { Go, Wait, Overflow };
/// Admits an attempt to `endpoint`: Go (reuse or open a connection now), Wait (`waiter` is
/// queued, bounded by maxPendingRequests) or Overflow (queue full; counted). `woken`: the call
/// comes from the waiter's onConnectionFreed(), and keeps its place at the front.
Admission admitAttempt(Worker& worker, upstream::ClusterRuntime& cluster, int endpoint,
                       upstream::ConnectionWaiter& waiter, bool woken);

}  // namespace trellis::proxy
