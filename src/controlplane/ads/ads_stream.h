#pragma once
// One ADS stream (internal to AdsServer): a gRPC callback reactor holding one subscription per
// type. Reads are handled one at a time by gRPC; writes are queued here so that one StartWrite
// is in flight at a time, whichever thread (a read reaction or a setNodeConfig caller) queued
// the response.

#include <deque>
#include <map>
#include <memory>
#include <mutex>
#include <optional>
#include <string>

#include <grpcpp/grpcpp.h>

#include "controlplane/ads/node_auth.h"
#include "controlplane/ads/node_info.h"
#include "controlplane/ads/subscription.h"
#include "envoy/service/discovery/v3/discovery.pb.h"

namespace trellis::controlplane {

class AdsServerState;

class AdsStream : public grpc::ServerBidiReactor<envoy::service::discovery::v3::DiscoveryRequest,
                                                 envoy::service::discovery::v3::DiscoveryResponse>,
                  public std::enable_shared_from_this<AdsStream> {
 public:
  AdsStream(AdsServerState& state, StreamPeer peer) : state_(state), peer_(std::move(peer)) {}

  /// Starts reading, or finishes at once if the server is stopping. Call once, from the
  /// method handler, after the stream is owned by a shared_ptr.
  void begin();
  /// The node's config changed: sends what is due.
  void configChanged();
  /// Ends the stream with `status` (after the write in flight, if any).
  void shutdown(grpc::Status status);

 private:
  using DiscoveryRequest = envoy::service::discovery::v3::DiscoveryRequest;
  using DiscoveryResponse = envoy::service::discovery::v3::DiscoveryResponse;

  void OnReadDone(bool ok) override;
  void OnWriteDone(bool ok) override;
  void OnCancel() override;
  void OnDone() override;

  /// Handles one request; false if the stream must end.
  bool handle(DiscoveryRequest& request);
  void pushLocked();
  void startWriteLocked();
  void finishLocked(grpc::Status status);

  AdsServerState& state_;
  const StreamPeer peer_;
  DiscoveryRequest request_;  // the read in flight
  // Set once by the first request, before the stream is registered for its node; constant after.
  std::optional<NodeInfo> node_;

  std::mutex mu_;
  std::map<std::string, TypeSubscription> subscriptions_;  // by type URL
  std::deque<DiscoveryResponse> queue_;
  DiscoveryResponse writing_;  // the write in flight
  bool writeInFlight_ = false;
  bool finishing_ = false;  // Finish called or pending: no more reads, writes or pushes
  bool finished_ = false;   // Finish called
  grpc::Status finishStatus_;
};

}  // namespace trellis::controlplane
