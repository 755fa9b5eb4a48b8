#include "controlplane/ads/ads_server.h"

#include <chrono>

#include <grpcpp/grpcpp.h>

#include "controlplane/ads/ads_stream.h"
#include "controlplane/ads/server_state.h"
#include "envoy/service/discovery/v3/ads.grpc.pb.h"

namespace trellis::controlplane {

using envoy::service::discovery::v3::DiscoveryRequest;
using envoy::service::discovery::v3::DiscoveryResponse;

class AdsService final
    : public envoy::service::discovery::v3::AggregatedDiscoveryService::CallbackService {
 public:
  explicit AdsService(AdsServerState& state) : state_(state) {}

  grpc::ServerBidiReactor<DiscoveryRequest, DiscoveryResponse>* StreamAggregatedResources(
      grpc::CallbackServerContext* /*context*/) override {
    auto stream = std::make_shared<AdsStream>(state_);
    stream->begin();  // the state's registry owns it until OnDone
    return stream.get();
  }

 private:
  AdsServerState& state_;
};

namespace {

// Dead peers (a proxy host gone without a FIN) are found by keepalive pings, not by waiting for
// a write to fail: their status turns "disconnected" and trellisd can start the grace period.
constexpr int kKeepaliveTimeMs = 30'000;
constexpr int kKeepaliveTimeoutMs = 10'000;
// Clients (gRPC xDS clients in particular) may ping every so often; do not GOAWAY them for it.
constexpr int kMinClientPingIntervalMs = 10'000;
// How long stop() lets streams finish writing before gRPC cancels them.
constexpr auto kStopGrace = std::chrono::seconds(2);

}  // namespace

AdsServer::AdsServer(Hooks& hooks)
    : state_(std::make_unique<AdsServerState>(hooks)),
      service_(std::make_unique<AdsService>(*state_)) {}

AdsServer::~AdsServer() {
  stop();
}

std::string AdsServer::start(const std::string& address) {
  if (server_ != nullptr) return "the ADS server is already started";
  if (stopped_) return "the ADS server was stopped; it does not start again";
  grpc::ServerBuilder builder;
  int port = 0;
  builder.AddListeningPort(address, grpc::InsecureServerCredentials(), &port);
  builder.RegisterService(service_.get());
  builder.AddChannelArgument(GRPC_ARG_KEEPALIVE_TIME_MS, kKeepaliveTimeMs);
  builder.AddChannelArgument(GRPC_ARG_KEEPALIVE_TIMEOUT_MS, kKeepaliveTimeoutMs);
  builder.AddChannelArgument(GRPC_ARG_HTTP2_MIN_RECV_PING_INTERVAL_WITHOUT_DATA_MS,
                             kMinClientPingIntervalMs);
  builder.AddChannelArgument(GRPC_ARG_KEEPALIVE_PERMIT_WITHOUT_CALLS, 1);
  // gRPC sets SO_REUSEPORT by default: a second trellisd would share the port instead of failing.
  builder.AddChannelArgument(GRPC_ARG_ALLOW_REUSEPORT, 0);
  auto server = builder.BuildAndStart();
  if (server == nullptr || port == 0) {
    return "cannot serve ADS on " + address +
           " (address in use, not an ip:port, or not a local address)";
  }
  server_ = std::move(server);
  port_ = port;
  return "";
}

void AdsServer::stop() {
  if (server_ == nullptr) return;
  stopped_ = true;
  for (const auto& stream : state_->beginStop()) {
    stream->shutdown(grpc::Status(grpc::StatusCode::UNAVAILABLE, "trellisd is stopping"));
  }
  server_->Shutdown(std::chrono::system_clock::now() + kStopGrace);
  state_->waitAllStreamsDone();
  server_.reset();
}

void AdsServer::setNodeConfig(const std::string& nodeId, std::shared_ptr<const NodeConfig> config) {
  state_->setNodeConfig(nodeId, std::move(config));
}

void AdsServer::removeNodeConfig(const std::string& nodeId) {
  state_->setNodeConfig(nodeId, nullptr);
}

std::vector<ProxyStatus> AdsServer::status() const {
  return state_->status();
}

void AdsServer::forget(const std::string& nodeId) {
  state_->forget(nodeId);
}

AdsServer::Counters AdsServer::counters() const {
  return state_->counters();
}

}  // namespace trellis::controlplane
