#pragma once
// One simulated trellis-proxy on one ADS stream (gRPC callback API): it announces the node a
// real sidecar announces (xds::client::buildNode), subscribes as Envoy does (wildcard CDS and
// LDS, then EDS and RDS by the names those name), ACKs every response with its version and
// nonce, and records in the PushLog when each ACK was written. It applies nothing.

#include <condition_variable>
#include <deque>
#include <memory>
#include <mutex>
#include <optional>
#include <set>
#include <string>

#include <grpcpp/grpcpp.h>

#include "envoy/service/discovery/v3/ads.grpc.pb.h"
#include "push_log.h"

namespace trellis::bench {

class SimSidecar final
    : public grpc::ClientBidiReactor<envoy::service::discovery::v3::DiscoveryRequest,
                                     envoy::service::discovery::v3::DiscoveryResponse> {
 public:
  SimSidecar(int index, envoy::config::core::v3::Node node, PushLog& log)
      : index_(index), node_(std::move(node)), log_(log) {}

  /// Opens the stream on `stub` and sends the wildcard CDS and LDS requests.
  void start(envoy::service::discovery::v3::AggregatedDiscoveryService::Stub& stub);
  /// Cancels the stream (once the bench is done); waitDone() returns after.
  void close();
  void waitDone();

  void OnReadDone(bool ok) override;
  void OnWriteDone(bool ok) override;
  void OnDone(const grpc::Status& status) override;

 private:
  struct Outgoing {
    envoy::service::discovery::v3::DiscoveryRequest request;
    std::optional<PushEvent> ack;  // set for ACKs: what the PushLog records once written
  };
  struct TypeState {
    std::string version;  // last version ACKed (sent back on subscription changes)
    std::string nonce;    // last nonce received
    std::set<std::string> names;
    bool acked = false;
  };

  void handleLocked(const envoy::service::discovery::v3::DiscoveryResponse& response,
                    int64_t receivedNs);
  /// Updates the named subscription of `type` (EDS or RDS) and requests it if it changed.
  void subscribeLocked(XdsType type, std::set<std::string> names);
  void sendLocked(XdsType type, std::optional<PushEvent> ack);
  void startWriteLocked();
  bool readyLocked() const;

  const int index_;
  const envoy::config::core::v3::Node node_;
  PushLog& log_;
  grpc::ClientContext context_;
  envoy::service::discovery::v3::DiscoveryResponse response_;

  std::mutex mu_;
  std::condition_variable doneCv_;
  bool nodeSent_ = false;
  bool closing_ = false;
  bool done_ = false;
  bool writing_ = false;
  std::deque<Outgoing> queue_;  // front() is being written while writing_
  TypeState types_[kXdsTypes];
};

}  // namespace trellis::bench
