#pragma once
// Test helpers for the ADS server: an xDS client over a real gRPC channel to 127.0.0.1 (one
// TCP connection each, as separate proxies have), and hooks that record what the server tells
// trellisd, with waits on those records instead of sleeps.

#include <condition_variable>
#include <functional>
#include <memory>
#include <mutex>
#include <optional>
#include <string>
#include <vector>

#include <grpcpp/grpcpp.h>

#include "controlplane/ads/ads_server.h"
#include "envoy/service/discovery/v3/ads.grpc.pb.h"

namespace trellis::controlplane::testing {

using envoy::service::discovery::v3::DiscoveryRequest;
using envoy::service::discovery::v3::DiscoveryResponse;

/// A type no config holds: requests for it serve as barriers (see AdsTestClient::sync).
inline constexpr const char* kSyncType = "type.googleapis.com/trellis.test.Sync";

class RecordingHooks : public AdsServer::Hooks {
 public:
  void nodeConnected(const NodeInfo& node) override;
  void nodeDisconnected(const NodeInfo& node) override;
  void namesRequested(const NodeInfo& node, const std::string& typeUrl,
                      const std::vector<std::string>& names) override;

  /// Runs inside namesRequested (after recording), e.g. to set the node's config there.
  std::function<void(const NodeInfo&, const std::string&, const std::vector<std::string>&)> onNames;

  /// Events so far: "connected <id>", "disconnected <id>", "names <id> <type> a,b".
  std::vector<std::string> events() const;
  /// Waits (up to 20 s) until `event` has been recorded `count` times; false on timeout.
  bool waitFor(const std::string& event, size_t count = 1) const;
  size_t countOf(const std::string& event) const;
  std::optional<NodeInfo> lastConnected() const;

 private:
  void record(std::string event);
  mutable std::mutex mu_;
  mutable std::condition_variable changed_;
  std::vector<std::string> events_;
  std::optional<NodeInfo> lastConnected_;
};

/// Trellis-proxy style node metadata for `id` ("<instance>.<ns>").
envoy::config::core::v3::Node proxyNode(const std::string& id);

class AdsTestClient {
 public:
  AdsTestClient(int port, envoy::config::core::v3::Node node);
  ~AdsTestClient();

  /// Sends a DiscoveryRequest (the node rides on the first one only, as clients do).
  bool request(const std::string& typeUrl, const std::vector<std::string>& names = {},
               const std::string& version = "", const std::string& nonce = "",
               const std::optional<std::string>& error = std::nullopt);
  /// ACKs (or NACKs with `error`) a response, keeping `names`.
  bool ack(const DiscoveryResponse& response, const std::vector<std::string>& names = {},
           const std::optional<std::string>& error = std::nullopt);
  /// The next response; nullopt if the stream ended (or the 30 s call deadline passed).
  std::optional<DiscoveryResponse> read();
  /// Returns once the server has handled every request sent so far: a named request for
  /// kSyncType reaches namesRequested, and a stream's requests are handled in order.
  bool sync(RecordingHooks& hooks);
  /// Half-closes and returns the call's status.
  grpc::Status close();
  /// The status after the server ended the stream (read() returned nullopt).
  grpc::Status finish();

 private:
  std::string nodeId_;
  envoy::config::core::v3::Node node_;
  bool nodeSent_ = false;
  std::shared_ptr<grpc::Channel> channel_;
  std::unique_ptr<envoy::service::discovery::v3::AggregatedDiscoveryService::Stub> stub_;
  grpc::ClientContext context_;
  std::unique_ptr<grpc::ClientReaderWriter<DiscoveryRequest, DiscoveryResponse>> stream_;
  bool closed_ = false;
};

}  // namespace trellis::controlplane::testing
