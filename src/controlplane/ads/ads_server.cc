#include "controlplane/ads/ads_server.h"

#include <chrono>

#include <grpcpp/grpcpp.h>
#include <grpcpp/security/tls_certificate_provider.h>
#include <grpcpp/security/tls_credentials_options.h>

#include "controlplane/ads/ads_stream.h"
#include "controlplane/ads/server_state.h"
#include "envoy/service/discovery/v3/ads.grpc.pb.h"

namespace trellis::controlplane {

using envoy::service::discovery::v3::DiscoveryRequest;
using envoy::service::discovery::v3::DiscoveryResponse;

namespace {

/// The stream's transport: a verified client certificate only on the mutual-TLS port.
StreamPeer peerOf(const grpc::CallbackServerContext& context) {
  StreamPeer peer;
  const std::shared_ptr<const grpc::AuthContext> auth = context.auth_context();
  if (auth == nullptr || !auth->IsPeerAuthenticated()) return peer;
  const auto security = auth->FindPropertyValues(GRPC_TRANSPORT_SECURITY_TYPE_PROPERTY_NAME);
  // "tls" from TlsServerCredentials (ours), "ssl" from SslServerCredentials.
  if (security.empty() || (security.front() != GRPC_TLS_TRANSPORT_SECURITY_TYPE &&
                           security.front() != GRPC_SSL_TRANSPORT_SECURITY_TYPE)) {
    return peer;
  }
  peer.mutualTls = true;
  const auto ids = auth->FindPropertyValues(GRPC_PEER_SPIFFE_ID_PROPERTY_NAME);
  if (ids.size() == 1) peer.spiffeId.assign(ids.front().data(), ids.front().size());
  return peer;
}

}  // namespace

class AdsService final
    : public envoy::service::discovery::v3::AggregatedDiscoveryService::CallbackService {
 public:
  explicit AdsService(AdsServerState& state) : state_(state) {}

  grpc::ServerBidiReactor<DiscoveryRequest, DiscoveryResponse>* StreamAggregatedResources(
      grpc::CallbackServerContext* context) override {
    auto stream = std::make_shared<AdsStream>(state_, peerOf(*context));
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

AdsServer::AdsServer(Hooks& hooks, NodeAuthPolicy authPolicy)
    : state_(std::make_unique<AdsServerState>(hooks, std::move(authPolicy))),
      service_(std::make_unique<AdsService>(*state_)) {}

AdsServer::~AdsServer() {
  stop();
}

std::string AdsServer::start(const std::string& address,
                             const std::optional<MutualTlsPort>& mutualTls) {
  if (server_ != nullptr) return "the ADS server is already started";
  if (stopped_) return "the ADS server was stopped; it does not start again";
  grpc::ServerBuilder builder;
  int port = 0;
  int tlsPort = 0;
  if (!address.empty()) builder.AddListeningPort(address, grpc::InsecureServerCredentials(), &port);
  if (mutualTls) {
    auto certificates = std::make_shared<grpc::experimental::FileWatcherCertificateProvider>(
        mutualTls->keyFile, mutualTls->chainFile, mutualTls->rootsFile, mutualTls->refreshSeconds);
    grpc::experimental::TlsServerCredentialsOptions options(certificates);
    options.watch_root_certs();
    options.watch_identity_key_cert_pairs();
    options.set_cert_request_type(GRPC_SSL_REQUEST_AND_REQUIRE_CLIENT_CERTIFICATE_AND_VERIFY);
    builder.AddListeningPort(mutualTls->address, grpc::experimental::TlsServerCredentials(options),
                             &tlsPort);
  }
  builder.RegisterService(service_.get());
  builder.AddChannelArgument(GRPC_ARG_KEEPALIVE_TIME_MS, kKeepaliveTimeMs);
  builder.AddChannelArgument(GRPC_ARG_KEEPALIVE_TIMEOUT_MS, kKeepaliveTimeoutMs);
  builder.AddChannelArgument(GRPC_ARG_HTTP2_MIN_RECV_PING_INTERVAL_WITHOUT_DATA_MS,
                             kMinClientPingIntervalMs);
  builder.AddChannelArgument(GRPC_ARG_KEEPALIVE_PERMIT_WITHOUT_CALLS, 1);
  // gRPC sets SO_REUSEPORT by default: a second trellisd would share the port instead of failing.
  builder.AddChannelArgument(GRPC_ARG_ALLOW_REUSEPORT, 0);
  auto server = builder.BuildAndStart();
  const bool plaintextFailed = !address.empty() && port == 0;
  const bool tlsFailed = mutualTls && tlsPort == 0;
  if (server == nullptr || plaintextFailed || tlsFailed) {
    const std::string& failed = tlsFailed && !plaintextFailed ? mutualTls->address : address;
    return "cannot serve ADS on " + failed +
           " (address in use, not an ip:port, or not a local address)";
  }
  server_ = std::move(server);
  port_ = port;
  mutualTlsPort_ = tlsPort;
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

void AdsServer::reserve(const std::string& nodeId, const std::string& identity) {
  state_->reserve(nodeId, identity);
}

AdsServer::Counters AdsServer::counters() const {
  return state_->counters();
}

}  // namespace trellis::controlplane
