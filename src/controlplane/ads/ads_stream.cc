#include "controlplane/ads/ads_stream.h"

#include "common/logging.h"
#include "controlplane/ads/node_config.h"
#include "controlplane/ads/server_state.h"

namespace trellis::controlplane {

void AdsStream::begin() {
  if (!state_.streamStarted(shared_from_this())) {
    shutdown(grpc::Status(grpc::StatusCode::UNAVAILABLE, "trellisd is stopping"));
    return;
  }
  StartRead(&request_);
}

void AdsStream::configChanged() {
  std::lock_guard lock(mu_);
  pushLocked();
}

void AdsStream::shutdown(grpc::Status status) {
  std::lock_guard lock(mu_);
  finishLocked(std::move(status));
}

void AdsStream::OnReadDone(bool ok) {
  if (!ok) {  // the client half-closed, or the call is gone
    std::lock_guard lock(mu_);
    finishLocked(grpc::Status::OK);
    return;
  }
  DiscoveryRequest request = std::move(request_);
  request_.Clear();
  if (!handle(request)) return;
  std::lock_guard lock(mu_);
  if (finishing_) return;
  pushLocked();
  StartRead(&request_);
}

bool AdsStream::handle(DiscoveryRequest& request) {
  if (!node_) {
    NodeInfo node = parseNode(request.node());
    if (node.id.empty()) {
      shutdown(grpc::Status(grpc::StatusCode::INVALID_ARGUMENT,
                            "the first DiscoveryRequest of a stream must carry node.id"));
      return false;
    }
    std::string refusal = refuseNode(node, peer_, state_.authPolicy());
    if (refusal.empty()) refusal = state_.nodeConnected(shared_from_this(), node, peer_);
    if (!refusal.empty()) {
      log::warn("xDS: refused: {}", refusal);
      state_.recordRefused();
      shutdown(grpc::Status(grpc::StatusCode::PERMISSION_DENIED, refusal));
      return false;
    }
    std::lock_guard lock(mu_);
    node_ = std::move(node);
  }
  const std::string& type = request.type_url();
  if (type.empty()) {
    shutdown(grpc::Status(grpc::StatusCode::INVALID_ARGUMENT,
                          "DiscoveryRequest without type_url (ADS needs it on every request)"));
    return false;
  }

  std::optional<std::vector<std::string>> requestedNames;
  {
    std::lock_guard lock(mu_);
    if (finishing_) return false;
    auto& subscription = subscriptions_[type];
    std::optional<std::string> error;
    if (request.has_error_detail()) error = request.error_detail().message();
    const std::vector<std::string> names(request.resource_names().begin(),
                                         request.resource_names().end());
    const auto result = subscription.onRequest(names, request.response_nonce(), error);
    using Kind = TypeSubscription::RequestKind;
    if (result.kind == Kind::kAck) {
      state_.recordAck(node_->id, type, result.version);
    } else if (result.kind == Kind::kNack) {
      if (state_.recordNack(node_->id, type, result.version, *error)) {
        log::warn("xDS: {} rejected {} version {}: {}", node_->id, type, result.version, *error);
      }
    }
    if (result.namesChanged) {
      requestedNames.emplace(subscription.names().begin(), subscription.names().end());
    }
  }
  // Before answering: trellisd may build the newly named resources right in the hook.
  if (requestedNames) state_.namesRequested(*node_, type, *requestedNames);
  return true;
}

void AdsStream::pushLocked() {
  if (finishing_ || !node_) return;
  const auto config = state_.configFor(node_->id);
  if (config == nullptr) return;
  std::vector<std::string> types;
  for (const auto& [type, subscription] : subscriptions_) types.push_back(type);
  for (const auto& type : inPushOrder(std::move(types))) {
    auto& subscription = subscriptions_[type];
    auto it = config->types.find(type);
    const TypeResources* available = it == config->types.end() ? nullptr : &it->second;
    auto selection = subscription.due(available);
    if (!selection) continue;
    DiscoveryResponse response;
    response.set_version_info(available->version);
    response.set_type_url(type);
    response.set_nonce(state_.nextNonce());
    for (const auto* resource : *selection) *response.add_resources() = resource->second;
    subscription.sent(available->version, *selection, response.nonce());
    state_.recordSent(node_->id, type, available->version);
    queue_.push_back(std::move(response));
  }
  startWriteLocked();
}

void AdsStream::startWriteLocked() {
  if (writeInFlight_ || finishing_ || queue_.empty()) return;
  writing_ = std::move(queue_.front());
  queue_.pop_front();
  writeInFlight_ = true;
  StartWrite(&writing_);
}

void AdsStream::OnWriteDone(bool ok) {
  std::lock_guard lock(mu_);
  writeInFlight_ = false;
  if (finishing_ && !finished_) {
    finished_ = true;
    Finish(finishStatus_);
  } else if (!ok) {
    finishLocked(grpc::Status(grpc::StatusCode::UNAVAILABLE, "the stream broke during a write"));
  } else {
    startWriteLocked();
  }
}

void AdsStream::OnCancel() {
  std::lock_guard lock(mu_);
  finishLocked(grpc::Status::CANCELLED);
}

void AdsStream::finishLocked(grpc::Status status) {
  if (finishing_) return;
  finishing_ = true;
  queue_.clear();
  if (writeInFlight_) {  // Finish once it completes (or fails)
    finishStatus_ = std::move(status);
    return;
  }
  finished_ = true;
  Finish(std::move(status));
}

void AdsStream::OnDone() {
  // The registry's reference may be the last one: `this` may die when `self` goes out of scope.
  const auto self = state_.streamEnded(this, node_ ? &*node_ : nullptr);
}

}  // namespace trellis::controlplane
