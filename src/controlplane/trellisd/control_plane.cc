#include "controlplane/trellisd/control_plane.h"

#include <fmt/format.h>

#include <algorithm>
#include <future>
#include <nlohmann/json.hpp>
#include <set>

#include "common/logging.h"
#include "common/socket.h"
#include "controlplane/mesh/proxy_model.h"
#include "tls/pki/spiffe_id.h"
#include "xds/codec/codec.h"

namespace trellis::controlplane {
namespace {

// A proxy's identity is made here from its namespace and announced service account, in this
// trellisd's trust domain: a proxy cannot make callers expect an identity of another namespace.
// Its certificate (issued for the same namespace and account) is what callers then verify.
std::optional<Registration> registrationOf(const NodeInfo& node, const std::string& trustDomain) {
  if (!node.isTrellisProxy()) return std::nullopt;
  auto inbound = SocketAddress::parseHostPort(node.inboundAddress);
  if (!inbound) return std::nullopt;  // it serves nothing the mesh can reach
  Registration registration{node.id,     node.ns, node.service, inbound->ip(), {inbound->port()},
                            node.labels, {}};
  if (!node.serviceAccount.empty()) {
    std::string problem;
    auto id = pki::SpiffeId::forWorkload(trustDomain, node.ns, node.serviceAccount, &problem);
    if (id) {
      registration.identity = id->uri();
    } else {
      log::warn("node {}: SERVICE_ACCOUNT \"{}\" ignored: {}", node.id, node.serviceAccount,
                problem);
    }
  }
  return registration;
}

// A registration as the store keeps it across restarts.
std::string registrationText(const Registration& r) {
  return nlohmann::json{{"namespace", r.ns}, {"service", r.service}, {"address", r.address},
                        {"ports", r.ports},  {"labels", r.labels},   {"identity", r.identity}}
      .dump();
}

std::optional<Registration> registrationFrom(const std::string& proxyId, const std::string& text) {
  nlohmann::json json = nlohmann::json::parse(text, nullptr, false);
  if (!json.is_object()) return std::nullopt;
  try {
    return Registration{proxyId,
                        json.at("namespace").get<std::string>(),
                        json.at("service").get<std::string>(),
                        json.at("address").get<std::string>(),
                        json.at("ports").get<std::vector<uint16_t>>(),
                        json.at("labels").get<std::map<std::string, std::string>>(),
                        json.value("identity", std::string())};
  } catch (const nlohmann::json::exception&) {
    return std::nullopt;
  }
}

std::string keyText(const ResourceKey& key) {
  return fmt::format("{} {}/{}", key.kind, key.ns, key.name);
}

}  // namespace

ControlPlane::ControlPlane(EventLoop& loop, std::unique_ptr<Store> store, Options options)
    : loop_(loop),
      store_(std::move(store)),
      options_(std::move(options)),
      registry_(options_.grace),  // declared after options_
      ads_(*this, NodeAuthPolicy{options_.trustDomain, options_.requireMutualTlsForSidecars}),
      debounce_([this] { rebuildAll(); }),
      expiry_([this] {
        if (registry_.expire(Clock::now()) > 0) {
          forgetExpired();
          scheduleRebuild();
        }
        armExpiry();
      }) {
  cache_.setTrustBundle(options_.trustBundlePem);
}

ControlPlane::~ControlPlane() {
  stop();
}

std::string ControlPlane::start(const std::string& xdsAddress,
                                const std::optional<AdsServer::MutualTlsPort>& mutualTls) {
  std::string error;
  if (!reloadMesh(error)) return error;
  restoreRegistry();
  return ads_.start(xdsAddress, mutualTls);
}

void ControlPlane::restoreRegistry() {
  const Clock::time_point now = Clock::now();
  for (const auto& [id, text] : store_->instances()) {
    if (auto registration = registrationFrom(id, text)) {
      registry_.restore(*registration, now);
      ads_.reserve(registration->proxyId, registration->identity);
    } else {
      log::warn("registry: dropping the unreadable stored instance {}", id);
      store_->removeInstance(id);
    }
  }
  if (registry_.size() > 0) {
    log::info(
        "registry: {} instances known before the restart stay until their proxy is back "
        "or {} ms have passed",
        registry_.size(), options_.grace.count());
  }
  armExpiry();
}

void ControlPlane::forgetExpired() {
  for (const auto& [id, text] : store_->instances()) {
    if (registry_.contains(id)) continue;
    if (!store_->removeInstance(id))
      log::warn("registry: cannot remove instance {} from the store", id);
    // Gone for good: out of the status list too.
    if (auto node = nodes_.find(id); node != nodes_.end() && !node->second.connected) {
      nodes_.erase(node);
      ads_.removeNodeConfig(id);
      ads_.forget(id);
    } else if (node == nodes_.end()) {
      ads_.forget(id);  // restored, never back: its id is free again
    }
  }
}

void ControlPlane::stop() {
  stopping_.store(true);
  ads_.stop();
  debounce_.cancel();
  expiry_.cancel();
}

bool ControlPlane::reloadMesh(std::string& error) {
  std::vector<std::string> errors;
  auto mesh = parseMesh(store_->list(), store_->revision(), errors);
  if (!mesh) {
    error = "the stored mesh does not parse (was the store edited by hand?):\n";
    for (const std::string& line : errors) error += "  " + line + "\n";
    return false;
  }
  mesh_ = std::move(mesh);
  return true;
}

WriteReport ControlPlane::commit(const std::vector<Change>& changes,
                                 const ValidationResult& validation, bool dryRun) {
  WriteReport report;
  report.warnings = validation.warnings;
  ApplyResult result = store_->apply(changes, dryRun);
  report.revision = result.revision;
  if (!result.ok) {
    report.result = result.conflict ? WriteReport::Result::Conflict : WriteReport::Result::Invalid;
    report.message = result.error;
    if (!result.conflict) report.errors.push_back({"store", 0, 0, "", "", result.error});
    return report;
  }
  bool changed = false;
  for (size_t i = 0; i < changes.size(); ++i) {
    WriteReport::Item item{changes[i].key, "", 0};
    switch (result.outcomes[i]) {
      case ApplyResult::Outcome::Created:
        item.outcome = "created";
        changed = true;
        break;
      case ApplyResult::Outcome::Updated:
        item.outcome = "configured";
        changed = true;
        break;
      case ApplyResult::Outcome::Unchanged:
        item.outcome = "unchanged";
        break;
      case ApplyResult::Outcome::Deleted:
        item.outcome = "deleted";
        changed = true;
        break;
      case ApplyResult::Outcome::NotFound:
        item.outcome = "not found";
        break;
    }
    if (auto stored = store_->get(changes[i].key)) item.resourceVersion = stored->resourceVersion;
    if (dryRun) item.outcome += " (dry run)";
    report.items.push_back(std::move(item));
  }
  if (changed && !dryRun) {
    std::string error;
    if (!reloadMesh(error)) {
      // Validated before storing, so this means a bug; keep serving the previous mesh.
      log::error("after revision {}: {}", result.revision, error);
    }
    scheduleRebuild();
  }
  return report;
}

WriteReport ControlPlane::apply(const std::vector<SourceFile>& files, bool dryRun) {
  std::vector<StoredResource> stored = store_->list();
  ValidationResult validation = validateApply(stored, files);
  if (!validation.ok()) {
    WriteReport report;
    report.result = WriteReport::Result::Invalid;
    report.errors = std::move(validation.errors);
    report.warnings = std::move(validation.warnings);
    return report;
  }
  std::vector<Change> changes;
  for (const ResourceDocument& document : validation.documents) {
    changes.push_back(
        Change{Change::Op::Put, document.key, document.text, document.resourceVersion});
  }
  return commit(changes, validation, dryRun);
}

WriteReport ControlPlane::remove(const ResourceKey& key, std::optional<int64_t> expectedVersion) {
  if (!store_->get(key)) {
    WriteReport report;
    report.result = WriteReport::Result::NotFound;
    report.message = keyText(key) + " not found";
    return report;
  }
  ValidationResult validation = validateRemoval(store_->list(), key);
  if (!validation.ok()) {
    WriteReport report;
    report.result = WriteReport::Result::Invalid;
    report.errors = std::move(validation.errors);
    return report;
  }
  return commit({Change{Change::Op::Delete, key, "", expectedVersion}}, validation);
}

WriteReport ControlPlane::rollback(const ResourceKey& key, std::optional<int64_t> to) {
  WriteReport report;
  std::vector<HistoryEntry> history = store_->history(key);
  if (history.empty()) {
    report.result = WriteReport::Result::NotFound;
    report.message = keyText(key) + " has no history";
    return report;
  }
  // The state to restore: the last change at or before `to`, or the one before the latest.
  const HistoryEntry* target = nullptr;
  if (to) {
    for (const HistoryEntry& entry : history) {
      if (entry.revision <= *to) target = &entry;
    }
    if (target == nullptr) {
      report.result = WriteReport::Result::NotFound;
      report.message = fmt::format("{} did not exist at revision {} (its first revision is {})",
                                   keyText(key), *to, history.front().revision);
      return report;
    }
  } else if (history.size() >= 2) {
    target = &history[history.size() - 2];
  }
  auto current = store_->get(key);
  std::optional<int64_t> expected = current ? current->resourceVersion : 0;
  if (target == nullptr || target->deleted) {
    // Before its first change (or at a deletion) the resource did not exist.
    if (!current) {
      report.result = WriteReport::Result::NotFound;
      report.message = keyText(key) + " is already absent at that revision";
      return report;
    }
    ValidationResult validation = validateRemoval(store_->list(), key);
    if (!validation.ok()) {
      report.result = WriteReport::Result::Invalid;
      report.errors = std::move(validation.errors);
      return report;
    }
    return commit({Change{Change::Op::Delete, key, "", expected}}, validation);
  }
  SourceFile file{fmt::format("{} at revision {}", keyText(key), target->revision),
                  target->document};
  ValidationResult validation = validateApply(store_->list(), {file});
  if (!validation.ok()) {
    report.result = WriteReport::Result::Invalid;
    report.errors = std::move(validation.errors);
    return report;
  }
  return commit({Change{Change::Op::Put, key, target->document, expected}}, validation);
}

// ---------------------------------------------------------------------------------------------
// Nodes

void ControlPlane::nodeConnected(const NodeInfo& node) {
  loop_.post([this, node] {
    NodeView& entry = nodes_[node.id];
    entry.info = node;
    entry.connected = true;
    if (auto registration = registrationOf(node, options_.trustDomain)) {
      const uint64_t before = registry_.version();
      registry_.connected(*registration);
      if (registry_.version() != before) {
        scheduleRebuild();  // others may call it
        if (!store_->putInstance(registration->proxyId, registrationText(*registration))) {
          log::warn(
              "registry: cannot store instance {}: a restart would forget it until it "
              "reconnects",
              registration->proxyId);
        }
      }
    }
    rebuild(entry);  // at once: a connecting proxy should not wait for the debounce
  });
}

void ControlPlane::nodeDisconnected(const NodeInfo& node) {
  loop_.post([this, node] {
    auto it = nodes_.find(node.id);
    if (it != nodes_.end()) it->second.connected = false;
    if (node.isTrellisProxy()) {
      registry_.disconnected(node.id, Clock::now());
      armExpiry();
    }
  });
}

void ControlPlane::namesRequested(const NodeInfo& node, const std::string& typeUrl,
                                  const std::vector<std::string>& names) {
  if (typeUrl != xds::kListenerType || node.isTrellisProxy()) return;
  // Built before returning: the server answers the subscription right after this hook, and a
  // proxyless client takes a missing listener as "does not exist" and fails its calls.
  auto done = std::make_shared<std::promise<void>>();
  std::future<void> built = done->get_future();
  loop_.post([this, node, names, done] {
    NodeView& entry = nodes_[node.id];
    entry.info = node;
    // Clients sharing one bootstrap node id each ask for their own names: keep them all (each
    // stream is sent only the names it asked for).
    for (const std::string& name : names) {
      if (std::find(entry.listenerNames.begin(), entry.listenerNames.end(), name) ==
          entry.listenerNames.end()) {
        entry.listenerNames.push_back(name);
      }
    }
    rebuild(entry);
    done->set_value();
  });
  // Never wait on a loop that is stopping (stop() waits for this hook to return).
  while (built.wait_for(std::chrono::milliseconds(50)) != std::future_status::ready) {
    if (stopping_.load()) return;
  }
}

void ControlPlane::armExpiry() {
  auto next = registry_.nextExpiry();
  if (!next) {
    expiry_.cancel();
    return;
  }
  auto wait = std::chrono::duration_cast<std::chrono::milliseconds>(*next - Clock::now());
  expiry_.arm(loop_.timers(), static_cast<uint64_t>(std::max<int64_t>(wait.count(), 0)) + 1);
}

void ControlPlane::scheduleRebuild() {
  if (!debounce_.armed()) debounce_.arm(loop_.timers(), options_.debounce.count());
}

void ControlPlane::rebuildAll() {
  for (auto& [id, node] : nodes_) rebuild(node);
}

void ControlPlane::refreshCache() {
  // Held, not just compared by address: a freed state's address can come back for a new one.
  if (cachedMesh_ != mesh_ || cachedRegistryVersion_ != registry_.version()) {
    cache_.invalidate();
    cachedMesh_ = mesh_;
    cachedRegistryVersion_ = registry_.version();
  }
}

void ControlPlane::rebuild(NodeView& view) {
  if (!mesh_) return;
  ++rebuilds_;
  refreshCache();
  ConfigCache::Built built = cache_.build(*mesh_, registry_, view.info, view.listenerNames);
  view.notes = std::move(built.notes);
  if (auto registration = registrationOf(view.info, options_.trustDomain)) {
    for (const config::ServiceDef& service : mesh_->resources.services) {
      if (service.meta.ns != registration->ns || service.meta.name != registration->service) {
        continue;
      }
      std::string problem = admissionProblem(mesh_->resources, service, registration->identity);
      if (!problem.empty()) view.notes.push_back("not an endpoint of its Service: " + problem);
      if (problem != view.admissionProblem && !problem.empty()) {
        log::warn("node {}: not an endpoint of its Service: {}", view.info.id, problem);
      }
      view.admissionProblem = std::move(problem);
    }
  }
  view.error = std::move(built.error);
  if (!built.config) {
    log::error("node {}: configuration not built: {}", view.info.id, view.error);
    return;  // it keeps what it has
  }
  ads_.setNodeConfig(view.info.id, std::move(built.config));
}

std::optional<xds::Resources> ControlPlane::resourcesOf(const std::string& id, std::string& error) {
  auto it = nodes_.find(id);
  if (it == nodes_.end() || !mesh_) return std::nullopt;
  refreshCache();
  return cache_.resourcesFor(*mesh_, registry_, it->second.info, it->second.listenerNames, error);
}

}  // namespace trellis::controlplane
