#include "sim_sidecar.h"

#include <vector>

#include "xds/client/references.h"
#include "xds/codec/resources.h"

namespace trellis::bench {
namespace {

using envoy::config::cluster::v3::Cluster;
using envoy::config::listener::v3::Listener;
using envoy::service::discovery::v3::DiscoveryResponse;

std::string_view typeUrl(XdsType type) {
  switch (type) {
    case XdsType::kCds:
      return xds::kClusterType;
    case XdsType::kEds:
      return xds::kEndpointType;
    case XdsType::kLds:
      return xds::kListenerType;
    case XdsType::kRds:
      return xds::kRouteType;
  }
  return {};
}

std::optional<XdsType> typeOfUrl(std::string_view url) {
  for (int i = 0; i < kXdsTypes; ++i) {
    if (url == typeUrl(static_cast<XdsType>(i))) return static_cast<XdsType>(i);
  }
  return std::nullopt;
}

template <typename Message>
std::vector<Message> unpackAll(const DiscoveryResponse& response) {
  std::vector<Message> out;
  for (const auto& any : response.resources()) {
    Message message;
    if (any.UnpackTo(&message)) out.push_back(std::move(message));
  }
  return out;
}

int slot(XdsType type) {
  return static_cast<int>(type);
}

}  // namespace

void SimSidecar::start(envoy::service::discovery::v3::AggregatedDiscoveryService::Stub& stub) {
  stub.async()->StreamAggregatedResources(&context_, this);
  {
    std::lock_guard lock(mu_);
    sendLocked(XdsType::kCds, std::nullopt);
    sendLocked(XdsType::kLds, std::nullopt);
  }
  StartRead(&response_);
  StartCall();
}

void SimSidecar::close() {
  {
    std::lock_guard lock(mu_);
    closing_ = true;
  }
  context_.TryCancel();
}

void SimSidecar::waitDone() {
  std::unique_lock lock(mu_);
  doneCv_.wait(lock, [&] { return done_; });
}

void SimSidecar::OnReadDone(bool ok) {
  if (!ok) return;  // the stream ended; OnDone follows
  const int64_t receivedNs = monotonicNs();
  {
    std::lock_guard lock(mu_);
    handleLocked(response_, receivedNs);
  }
  StartRead(&response_);
}

void SimSidecar::handleLocked(const DiscoveryResponse& response, int64_t receivedNs) {
  const auto type = typeOfUrl(response.type_url());
  if (!type) return;  // not asked for; a real proxy would ignore it too
  TypeState& state = types_[slot(*type)];
  state.version = response.version_info();
  state.nonce = response.nonce();
  sendLocked(*type, PushEvent{*type, response.version_info(), receivedNs, 0});
  // Envoy derives its named subscriptions from what the wildcard types name.
  if (*type == XdsType::kCds) {
    subscribeLocked(XdsType::kEds, xds::client::edsServiceNames(unpackAll<Cluster>(response)));
  } else if (*type == XdsType::kLds) {
    subscribeLocked(XdsType::kRds, xds::client::routeConfigNames(unpackAll<Listener>(response)));
  }
}

void SimSidecar::subscribeLocked(XdsType type, std::set<std::string> names) {
  TypeState& state = types_[slot(type)];
  if (names == state.names) return;
  state.names = std::move(names);
  sendLocked(type, std::nullopt);
}

void SimSidecar::sendLocked(XdsType type, std::optional<PushEvent> ack) {
  const TypeState& state = types_[slot(type)];
  Outgoing& out = queue_.emplace_back();
  auto& request = out.request;
  if (!nodeSent_) {
    *request.mutable_node() = node_;
    nodeSent_ = true;
  }
  request.set_type_url(std::string(typeUrl(type)));
  request.set_version_info(state.version);
  request.set_response_nonce(state.nonce);
  for (const auto& name : state.names) request.add_resource_names(name);
  out.ack = std::move(ack);
  startWriteLocked();
}

void SimSidecar::startWriteLocked() {
  if (writing_ || queue_.empty() || closing_) return;
  writing_ = true;
  StartWrite(&queue_.front().request);
}

void SimSidecar::OnWriteDone(bool ok) {
  std::lock_guard lock(mu_);
  writing_ = false;
  if (!ok) return;  // the stream broke; OnDone reports it
  std::optional<PushEvent> ack = std::move(queue_.front().ack);
  queue_.pop_front();
  if (ack) {
    ack->ackedNs = monotonicNs();
    types_[slot(ack->type)].acked = true;
    log_.recordAck(index_, std::move(*ack));
    if (readyLocked()) log_.recordReady(index_);
  }
  startWriteLocked();
}

bool SimSidecar::readyLocked() const {
  auto held = [&](XdsType type, bool named) {
    const TypeState& state = types_[slot(type)];
    return state.acked || (named && state.names.empty());
  };
  return held(XdsType::kCds, false) && held(XdsType::kLds, false) && held(XdsType::kEds, true) &&
         held(XdsType::kRds, true);
}

void SimSidecar::OnDone(const grpc::Status& status) {
  std::lock_guard lock(mu_);
  if (!closing_) {
    log_.recordFailure(index_, "stream ended: code " + std::to_string(status.error_code()) + ": " +
                                   status.error_message());
  }
  done_ = true;
  doneCv_.notify_all();
}

}  // namespace trellis::bench
