#include "controlplane/registry/registry.h"

namespace trellis::controlplane {
namespace {

bool sameEndpoint(const Registration& a, const Registration& b) {
  return a.ns == b.ns && a.service == b.service && a.address == b.address && a.ports == b.ports &&
         a.labels == b.labels && a.identity == b.identity;
}

}  // namespace

void Registry::connected(const Registration& registration) {
  auto [it, inserted] = instances_.try_emplace(registration.proxyId, Instance{registration, {}});
  if (inserted) {
    ++version_;
    return;
  }
  Instance& instance = it->second;
  // A reconnect within the grace period changes nothing traffic can see, unless the instance
  // came back different (new address after a restart, other labels).
  if (!sameEndpoint(instance.registration, registration)) ++version_;
  instance.registration = registration;
  instance.expiresAt.reset();
}

void Registry::disconnected(const std::string& proxyId, Clock::time_point now) {
  auto it = instances_.find(proxyId);
  if (it == instances_.end() || it->second.expiresAt) return;
  it->second.expiresAt = now + grace_;
}

void Registry::restore(const Registration& registration, Clock::time_point now) {
  auto [it, inserted] =
      instances_.try_emplace(registration.proxyId, Instance{registration, now + grace_});
  if (inserted) ++version_;
}

size_t Registry::expire(Clock::time_point now) {
  size_t removed = 0;
  for (auto it = instances_.begin(); it != instances_.end();) {
    if (it->second.expiresAt && *it->second.expiresAt <= now) {
      it = instances_.erase(it);
      ++removed;
    } else {
      ++it;
    }
  }
  if (removed > 0) ++version_;
  return removed;
}

std::optional<Clock::time_point> Registry::nextExpiry() const {
  std::optional<Clock::time_point> next;
  for (const auto& [id, instance] : instances_) {
    if (instance.expiresAt && (!next || *instance.expiresAt < *next)) next = instance.expiresAt;
  }
  return next;
}

std::vector<RegisteredEndpoint> Registry::endpoints(const std::string& ns,
                                                    const std::string& service) const {
  std::vector<RegisteredEndpoint> out;
  for (const auto& [id, instance] : instances_) {
    const Registration& r = instance.registration;
    if (r.ns != ns || r.service != service) continue;
    out.push_back(
        {r.proxyId, r.address, r.ports, r.labels, r.identity, !instance.expiresAt.has_value()});
  }
  return out;
}

}  // namespace trellis::controlplane
