#include "controlplane/ads/subscription.h"

namespace trellis::controlplane {

TypeSubscription::RequestResult TypeSubscription::onRequest(
    const std::vector<std::string>& resourceNames, const std::string& nonce,
    const std::optional<std::string>& errorMessage) {
  RequestResult result;

  const bool wasSeen = seen_, wasWildcard = wildcard_;
  const std::set<std::string> previous = std::move(names_);
  names_.clear();
  bool star = false;
  for (const auto& name : resourceNames) {
    if (name == "*") {
      star = true;
    } else {
      names_.insert(name);
    }
  }
  if (!resourceNames.empty()) namedEver_ = true;
  wildcard_ = star || (resourceNames.empty() && !namedEver_);
  seen_ = true;
  result.namesChanged = !wildcard_ && (!wasSeen || wasWildcard || previous != names_);

  if (!sentAny_) {
    result.kind = RequestKind::kInitial;
    outstanding_ = true;
  } else if (nonce != lastNonce_) {
    result.kind = RequestKind::kStale;
  } else {
    outstanding_ = true;
    if (lastAnswered_) {
      result.kind = RequestKind::kRepeat;
    } else {
      lastAnswered_ = true;
      result.version = lastVersion_;
      if (errorMessage) {
        result.kind = RequestKind::kNack;
        nacked_.insert(lastVersion_);
      } else {
        result.kind = RequestKind::kAck;
      }
    }
  }
  return result;
}

std::optional<TypeSubscription::Selection> TypeSubscription::due(
    const TypeResources* available) const {
  if (!outstanding_ || available == nullptr || nacked_.contains(available->version)) {
    return std::nullopt;
  }
  Selection selection;
  for (const auto& resource : available->resources) {
    if (wildcard_ || names_.contains(resource.first)) selection.push_back(&resource);
  }
  if (sentAny_ && available->version == lastVersion_ && selection.size() == lastNames_.size()) {
    bool same = true;
    for (size_t i = 0; i < selection.size() && same; ++i) {
      same = selection[i]->first == lastNames_[i];
    }
    if (same) return std::nullopt;  // the client holds exactly this already
  }
  return selection;
}

void TypeSubscription::sent(const std::string& version, const Selection& selection,
                            std::string nonce) {
  outstanding_ = false;
  sentAny_ = true;
  lastAnswered_ = false;
  lastNonce_ = std::move(nonce);
  lastVersion_ = version;
  lastNames_.clear();
  for (const auto* resource : selection) lastNames_.push_back(resource->first);
}

}  // namespace trellis::controlplane
