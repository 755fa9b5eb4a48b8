#include "proxy/connection_gate.h"

#include "proxy/http2_upstream_pool.h"

namespace trellis::proxy {
namespace {

bool isHttp2(const upstream::ClusterRuntime& cluster) {
  return cluster.config.protocol == config::UpstreamProtocol::Http2;
}

bool mayOpen(const upstream::ClusterRuntime& cluster) {
  return cluster.connections->mayOpen(cluster.config.circuitBreaker.maxConnections);
}

/// Whether the request can have a connection without waiting; `makeRoom` closes idle HTTP/1
/// connections when that is what it takes.
bool connectionAvailable(Worker& worker, upstream::ClusterRuntime& cluster, int endpoint,
                         bool makeRoom) {
  const std::string& key = cluster.endpointKeys[endpoint];
  if (isHttp2(cluster)) {
    Http2UpstreamPool& pool = worker.http2Pool();
    return pool.hasUsable(key) || mayOpen(cluster) || !pool.hasConnection(key);
  }
  if (worker.pools().hasIdle(key) || mayOpen(cluster)) return true;
  if (makeRoom) return makeRoomForConnection(worker, cluster);
  for (const std::string& other : cluster.endpointKeys) {
    if (worker.pools().hasIdle(other)) return true;
  }
  return false;
}

}  // namespace

bool mustWaitForConnection(Worker& worker, upstream::ClusterRuntime& cluster, int endpoint) {
  if (!cluster.connections) return false;
  if (cluster.connections->waiting() > 0) return true;  // behind those already waiting
  return !connectionAvailable(worker, cluster, endpoint, false);
}

bool makeRoomForConnection(Worker& worker, upstream::ClusterRuntime& cluster) {
  if (!cluster.connections) return true;
  // More than one may be needed: the one-per-worker rule or a lowered limit can leave the
  // cluster above its limit.
  while (!mayOpen(cluster)) {
    if (isHttp2(cluster) || !worker.pools().closeOldestIdle(cluster.endpointKeys)) return false;
  }
  return true;
}

Admission admitAttempt(Worker& worker, upstream::ClusterRuntime& cluster, int endpoint,
                       upstream::ConnectionWaiter& waiter, bool woken) {
  if (!cluster.connections) return Admission::Go;
  upstream::ClusterConnections& connections = *cluster.connections;
  if ((woken || connections.waiting() == 0) &&
      connectionAvailable(worker, cluster, endpoint, true)) {
    if (woken) connections.admitted();
    return Admission::Go;
  }
  if (woken) {
    connections.waitAgain(waiter);
    return Admission::Wait;
  }
  if (connections.wait(waiter, cluster.config.circuitBreaker.maxPendingRequests)) {
    return Admission::Wait;
  }
  cluster.stats.overflow.inc();
  return Admission::Overflow;
}

}  // namespace trellis::proxy
