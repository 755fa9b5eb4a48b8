#include "xds/client/ads_client.h"

#include <random>

#include "common/logging.h"
#include "xds/client/references.h"

namespace trellis::xds::client {
namespace {

using envoy::service::discovery::v3::DiscoveryRequest;
using envoy::service::discovery::v3::DiscoveryResponse;

constexpr const char* kAdsPath =
    "/envoy.service.discovery.v3.AggregatedDiscoveryService/StreamAggregatedResources";
constexpr int kInvalidArgument = 3;  // google.rpc.Code, as xDS NACKs carry it

}  // namespace

std::optional<SocketAddress> parseServerAddress(std::string_view hostPort, std::string& error) {
  std::string text(hostPort);
  auto colon = text.rfind(':');
  if (colon != std::string::npos && text.compare(0, colon, "localhost") == 0) {
    text = "127.0.0.1" + text.substr(colon);
  }
  auto address = SocketAddress::parseHostPort(text);
  if (!address || address->port() == 0) {
    error = "'" + std::string(hostPort) +
            "' is not HOST:PORT with an IPv4 address, a [IPv6] address or localhost";
    return std::nullopt;
  }
  return address;
}

AdsClient::AdsClient(EventLoop& loop, AdsClientOptions options, ApplyFn apply)
    : loop_(loop),
      options_(std::move(options)),
      apply_(std::move(apply)),
      node_(buildNode(options_.node)),
      backoff_(options_.initialBackoffMs, options_.maxBackoffMs, std::random_device{}()),
      reconnectTimer_([this] { connect(); }),
      warmingTimer_([this] { onWarmingTimeout(); }) {
  status_.server = options_.server;
  status_.since = std::chrono::system_clock::now();
  for (ResourceType type : kAllResourceTypes) typeStatus(type).typeUrl = typeUrl(type);
  if (options_.trustBundle) state(ResourceType::Secret).names = {std::string(kTrustBundleSecret)};
}

AdsClient::~AdsClient() {
  stop();
}

std::string AdsClient::start() {
  if (started_) return "the ADS client is already started";
  std::string error;
  auto address = parseServerAddress(options_.server, error);
  if (!address) return "xDS server " + error;
  address_ = *address;
  started_ = true;
  connect();
  return {};
}

void AdsClient::reconnectNow() {
  if (stopped_ || !reconnectTimer_.armed()) return;
  reconnectTimer_.cancel();
  backoff_.reset();
  connect();
}

void AdsClient::stop() {
  if (stopped_) return;
  stopped_ = true;
  reconnectTimer_.cancel();
  warmingTimer_.cancel();
  if (stream_ != nullptr) {
    stream_->cancel();
    retired_.push_back(std::move(stream_));
    loop_.callAtBatchEnd(this);
  }
  status_.connected = false;
  status_.since = std::chrono::system_clock::now();
}

AdsStatus AdsClient::status() const {
  AdsStatus status = status_;
  for (ResourceType type : kAllResourceTypes) {
    const TypeState& t = types_[static_cast<size_t>(type)];
    AdsTypeStatus& s = status.types[static_cast<size_t>(type)];
    s.ackedVersion = t.ackedVersion;
    s.subscribed.assign(t.names.begin(), t.names.end());
  }
  status.types[static_cast<size_t>(ResourceType::Cluster)].resources = accepted_.clusters.size();
  status.types[static_cast<size_t>(ResourceType::Endpoint)].resources = accepted_.endpoints.size();
  status.types[static_cast<size_t>(ResourceType::Listener)].resources = accepted_.listeners.size();
  status.types[static_cast<size_t>(ResourceType::Route)].resources = accepted_.routes.size();
  status.types[static_cast<size_t>(ResourceType::Secret)].resources = accepted_.secrets.size();
  return status;
}

void AdsClient::connect() {
  if (stopped_) return;
  GrpcStream::Options options;
  options.address = address_;
  options.authority = options_.server;
  options.path = kAdsPath;
  options.userAgent = kUserAgentName;
  options.maxMessageBytes = options_.maxMessageBytes;
  options.connectTimeoutMs = options_.connectTimeoutMs;
  if (options_.tls) {
    AdsClientOptions::Tls tls = options_.tls();
    options.tlsContext = std::move(tls.context);
    options.tlsPolicy = std::move(tls.policy);
  }
  GrpcStream::Handler& handler = *this;
  stream_ = std::make_unique<GrpcStream>(loop_, buffers_, http2Stats_, std::move(options), handler);
  nodeSent_ = false;
  for (TypeState& t : types_) {
    t.nonce.clear();
    t.requested = false;
  }
  if (std::string error = stream_->start(); !error.empty()) {
    streamEnded(error);
    return;
  }
  // Wildcard CDS and LDS; EDS and RDS for the names held, each with the version held, so that a
  // server may skip what did not change while the proxy was away.
  for (ResourceType type : kAllResourceTypes) {
    if (!isNamed(type) || !state(type).names.empty()) sendRequest(type);
  }
}

void AdsClient::onConnected() {
  status_.connected = true;
  status_.since = std::chrono::system_clock::now();
  log::info("xDS: connected to {}", options_.server);
}

void AdsClient::onClosed(const std::string& reason) {
  streamEnded(reason);
}

void AdsClient::abortStream(const std::string& reason) {
  if (stream_ != nullptr) stream_->cancel();
  streamEnded(reason);
}

void AdsClient::streamEnded(const std::string& reason) {
  if (stream_ != nullptr) {
    retired_.push_back(std::move(stream_));  // we may be inside its callbacks
    loop_.callAtBatchEnd(this);
  }
  bool wasConnected = status_.connected;
  status_.connected = false;
  status_.since = std::chrono::system_clock::now();
  status_.lastDisconnect = reason;
  if (stopped_) return;
  if (options_.onStreamEnded) options_.onStreamEnded(reason);
  uint64_t delay = backoff_.nextDelayMs();
  if (wasConnected) {
    log::warn("xDS: stream to {} ended ({}); reconnecting in {} ms", options_.server, reason,
              delay);
  } else {
    log::warn("xDS: {}; retrying in {} ms", reason, delay);
  }
  status_.reconnects++;
  reconnectTimer_.arm(loop_.timers(), delay);
}

void AdsClient::onBatchEnd() {
  retired_.clear();
}

void AdsClient::sendRequest(ResourceType type, const std::string* nackMessage) {
  if (stream_ == nullptr) return;
  TypeState& t = state(type);
  DiscoveryRequest request;
  request.set_version_info(t.ackedVersion);
  if (!nodeSent_) {
    *request.mutable_node() = node_;  // on the first request of each stream only
    nodeSent_ = true;
  }
  if (isNamed(type)) {
    for (const std::string& name : t.names) request.add_resource_names(name);
  }
  request.set_type_url(std::string(typeUrl(type)));
  request.set_response_nonce(t.nonce);
  if (nackMessage != nullptr) {
    request.mutable_error_detail()->set_code(kInvalidArgument);
    request.mutable_error_detail()->set_message(*nackMessage);
  }
  t.requested = true;
  stream_->send(request.SerializeAsString());
}

void AdsClient::onMessage(std::string_view message) {
  DiscoveryResponse response;
  if (!response.ParseFromArray(message.data(), static_cast<int>(message.size()))) {
    abortStream("unparsable DiscoveryResponse (" + std::to_string(message.size()) + " bytes)");
    return;
  }
  backoff_.reset();  // the server speaks ADS: the next failure starts over from the base delay
  status_.responses++;
  auto type = typeFromUrl(response.type_url());
  if (!type || !state(*type).requested) {
    // Answering would subscribe to it (a first request without names is a wildcard).
    status_.ignoredResponses++;
    log::warn("xDS: ignoring a response of type '{}', which was not requested",
              response.type_url());
    return;
  }
  handleResponse(response, *type);
}

void AdsClient::handleResponse(const DiscoveryResponse& response, ResourceType type) {
  TypeState& t = state(type);
  AdsTypeStatus& s = typeStatus(type);
  t.nonce = response.nonce();
  s.responses++;
  Resources candidate = accepted_;
  std::string error = mergeResponse(response, type, t.names, candidate);
  std::string waiting;
  if (error.empty()) {
    pruneUnreferenced(candidate);
    waiting = waitingFor(candidate, type);
    if (waiting.empty()) error = apply(candidate);
  }
  if (!error.empty()) {
    s.nacks++;
    status_.nacks++;
    s.lastNack = error;
    s.lastNackVersion = response.version_info();
    log::error("xDS: {} version {} rejected, keeping version '{}': {}", typeName(type),
               response.version_info(), t.ackedVersion, error);
    sendRequest(type, &error);
    return;
  }
  accepted_ = std::move(candidate);
  t.ackedVersion = response.version_info();
  t.received = true;
  s.acks++;
  status_.acks++;
  status_.warming = waiting;
  if (waiting.empty()) {
    warmingTimer_.cancel();
  } else {
    log::info("xDS: {} version {} accepted, waiting for {}", typeName(type),
              response.version_info(), waiting);
    if (!warmingTimer_.armed()) warmingTimer_.arm(loop_.timers(), options_.warmingTimeoutMs);
  }
  sendRequest(type);
  updateSubscriptions();
}

std::string AdsClient::waitingFor(const Resources& candidate, ResourceType arriving) const {
  for (ResourceType wildcard : {ResourceType::Cluster, ResourceType::Listener}) {
    if (arriving != wildcard && !types_[static_cast<size_t>(wildcard)].received) {
      return "the first " + std::string(typeName(wildcard)) + " response";
    }
  }
  return missingDependencies(candidate);
}

std::string AdsClient::apply(const Resources& resources) {
  if (status_.applied && sameResources(resources, applied_)) return {};
  std::string error = apply_(resources);
  if (!error.empty()) return error;
  applied_ = resources;
  status_.applied = true;
  status_.applies++;
  status_.lastApplyError.clear();
  return {};
}

void AdsClient::updateSubscriptions() {
  for (ResourceType type : {ResourceType::Endpoint, ResourceType::Route}) {
    TypeState& t = state(type);
    std::set<std::string> wanted = type == ResourceType::Endpoint
                                       ? edsServiceNames(accepted_.clusters)
                                       : routeConfigNames(accepted_.listeners);
    if (wanted == t.names) continue;
    t.names = std::move(wanted);
    // An empty first request would be a wildcard: only an existing subscription may shrink
    // to nothing.
    if (!t.names.empty() || t.requested) sendRequest(type);
  }
}

void AdsClient::onWarmingTimeout() {
  if (status_.warming.empty()) return;
  log::warn("xDS: still waiting for {} after {} ms; applying what is held", status_.warming,
            options_.warmingTimeoutMs);
  std::string error = apply(accepted_);
  if (!error.empty()) {
    status_.lastApplyError = error;
    log::error("xDS: the held configuration was rejected, keeping the previous one: {}", error);
  }
}

}  // namespace trellis::xds::client
