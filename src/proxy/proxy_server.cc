#include "proxy/proxy_server.h"

#include <signal.h>
#include <sys/signalfd.h>
#include <unistd.h>

#include <ctime>
#include <fstream>
#include <iostream>
#include <mutex>
#include <nlohmann/json.hpp>
#include <thread>
#include <utility>

#include "common/logging.h"
#include "config/dump.h"
#include "config/loader.h"
#include "proxy/tls_handshake.h"
#include "tls/pki/spiffe_id.h"
#include "xds/client/ads_client.h"
#include "xds/codec/codec.h"

namespace trellis::proxy {

/// SIGHUP reloads, SIGTERM/SIGINT drain and exit; delivered through a signalfd on the main loop.
class ProxyServer::Signals final : public EventHandler {
 public:
  explicit Signals(ProxyServer& server) : server_(server) {
    sigset_t mask;
    sigemptyset(&mask);
    sigaddset(&mask, SIGHUP);
    sigaddset(&mask, SIGTERM);
    sigaddset(&mask, SIGINT);
    fd_ = ::signalfd(-1, &mask, SFD_NONBLOCK | SFD_CLOEXEC);
    server_.loop_.watchReadable(fd_, this);
  }
  ~Signals() override {
    server_.loop_.unwatch(fd_);
    ::close(fd_);
  }
  void onEvents(uint32_t) override {
    signalfd_siginfo info;
    while (::read(fd_, &info, sizeof info) == sizeof info) {
      if (info.ssi_signo == SIGHUP) {
        if (server_.xdsMode()) {
          log::info("SIGHUP ignored: the configuration comes from {}", server_.options_.xdsServer);
          continue;
        }
        log::info("SIGHUP: reloading {}", server_.options_.configPath);
        server_.reload();
      } else {
        log::info("signal {}: draining", info.ssi_signo);
        server_.shutdown();
      }
    }
  }

 private:
  ProxyServer& server_;
  int fd_;
};

ProxyServer::ProxyServer(ProxyOptions options)
    : options_(std::move(options)),
      admin_(loop_, [this](std::string_view method, std::string_view path) {
        return handleAdmin(method, path);
      }) {
  if (options_.identity) {
    identity::WorkloadIdentity::Callbacks callbacks;
    callbacks.onCredentials =
        [this](const std::shared_ptr<const identity::Credentials>& credentials) {
          onCredentials(credentials);
        };
    callbacks.onRefused = [this](const std::string&, const std::string& message) {
      // A refusal does not pass by itself (the token must be fixed), and serving without an
      // identity would fail every peer that insists on mutual TLS: stop, naming the reason.
      std::cerr << "trellis-proxy: " << message << "\n";
      exitCode_ = 1;
      shutdown();
    };
    identity_ = std::make_unique<identity::WorkloadIdentity>(loop_, *options_.identity,
                                                             std::move(callbacks));
  }
}

ProxyServer::~ProxyServer() {
  for (auto& worker : workers_) worker->stop();
  workers_.clear();
}

int ProxyServer::run() {
  // Block the signals in every thread (workers inherit the mask); only the signalfd sees them.
  sigset_t mask;
  sigemptyset(&mask);
  sigaddset(&mask, SIGHUP);
  sigaddset(&mask, SIGTERM);
  sigaddset(&mask, SIGINT);
  pthread_sigmask(SIG_BLOCK, &mask, nullptr);
  ::signal(SIGPIPE, SIG_IGN);
  signals_ = std::make_unique<Signals>(*this);

  if (options_.tlsFiles) {
    const ProxyOptions::TlsFiles& files = *options_.tlsFiles;
    tlsChainPem_ = files.chainPem;
    tlsKeyPem_ = files.keyPem;
    tlsBundlePem_ = files.bundlePem;
    std::string error;
    if (!buildMeshTls(meshTls_, error)) {
      std::cerr << "trellis-proxy: mutual TLS from --tls-cert-file " << files.certFile
                << ", --tls-key-file " << files.keyFile << ", --trust-bundle-file "
                << files.bundleFile << ": " << error << "\n";
      return 2;
    }
    log::info("mutual TLS as {} (certificate {})", meshTls_->identity, files.certFile);
  }
  if (identity_ != nullptr) {
    // Nothing is served before the first certificate: onCredentials() starts serving. The
    // loop runs meanwhile, so that SIGTERM still stops a proxy waiting for trellisd.
    log::info("workload identity {}: asking trellisd at {} for a certificate before serving",
              identity_->id().uri(), options_.identity->caAddress.toString());
    identity_->start();
  } else if (int code = startServing(); code != 0) {
    return code;
  }
  loop_.run();
  if (identity_ != nullptr) identity_->stop();
  for (auto& worker : workers_) worker->join();
  log::info("trellis-proxy stopped");
  return exitCode_;
}

void ProxyServer::onCredentials(const std::shared_ptr<const identity::Credentials>& credentials) {
  log::debug("workload identity {}: certificate {} in use until {}", credentials->identity,
             credentials->serialHex, credentials->notAfter);
  tlsChainPem_ = credentials->chainPem;
  tlsKeyPem_ = credentials->keyPem;
  tlsBundlePem_ = credentials->bundlePem;
  // The CA's bundle is as new as the certificate: an older one from SDS no longer overrides it.
  trustBundleOverride_.clear();
  std::shared_ptr<const MeshTls> mesh;
  std::string error;
  if (buildMeshTls(mesh, error)) {
    meshTls_ = std::move(mesh);
  } else {
    // The identity agent checked the chain against its bundle; this is a context-level refusal
    // (e.g. an unusable override bundle). The previous contexts stay in use.
    log::error("workload identity {}: certificate {} not usable for mutual TLS: {}",
               credentials->identity, credentials->serialHex, error);
  }
  if (draining_) return;
  if (serving_) {
    // A renewal: new connections present the new certificate, open ones keep theirs.
    pushMeshTls();
    // An ADS stream that failed for want of these credentials (a new root) need not wait out
    // its backoff.
    if (xds_ != nullptr) xds_->reconnectNow();
    return;
  }
  if (int code = startServing(); code != 0) {
    exitCode_ = code;
    for (auto& worker : workers_) worker->stop();
    loop_.stop();
  }
}

void ProxyServer::onXdsStreamEnded(const std::string& reason) {
  // At most one early renewal a minute: a trellisd this proxy can never trust must not make it
  // churn certificates at the reconnect rate.
  constexpr auto kMinInterval = std::chrono::minutes(1);
  if (reason.rfind("TLS handshake", 0) != 0) return;
  const auto failure = classifyTlsFailure(reason);
  if (failure == TlsFailure::Protocol) {  // e.g. "wrong version number": not a TLS server
    if (!warnedXdsPort_) {
      warnedXdsPort_ = true;
      log::warn(
          "xDS: {} does not answer TLS: with a workload identity this proxy speaks mutual "
          "TLS to trellisd, so --xds must be trellisd's xDS TLS port (--xds-tls-address, "
          "15012 by default)",
          options_.xdsServer);
    }
    return;
  }
  if (identity_ == nullptr ||
      (failure != TlsFailure::UntrustedCertificate && failure != TlsFailure::ExpiredCertificate)) {
    return;
  }
  const auto now = std::chrono::steady_clock::now();
  if (lastTrustRenewal_ != std::chrono::steady_clock::time_point{} &&
      now - lastTrustRenewal_ < kMinInterval) {
    return;
  }
  lastTrustRenewal_ = now;
  log::warn(
      "xDS: trellisd's certificate is not trusted ({}): renewing now for the current trust "
      "bundle",
      reason);
  identity_->renewNow();
}

int ProxyServer::startServing() {
  serving_ = true;
  if (xdsMode()) {
    // No listeners until the control plane's first configuration is applied (/ready says 503).
    auto empty = std::make_shared<config::Snapshot>();
    empty->source = "xds " + options_.xdsServer;
    active_ = makeActive(std::move(empty));
  } else {
    auto loaded = xds::loadFileViaXds(options_.configPath);
    for (const auto& warning : loaded.warnings) log::warn("{}", warning.toString());
    if (!loaded.ok()) {
      for (const auto& error : loaded.errors) log::error("{}", error.toString());
      return 1;
    }
    auto snapshot = std::make_shared<config::Snapshot>(*loaded.snapshot);
    snapshot->version = 1;
    if (std::string error = checkMtls(*snapshot); !error.empty()) {
      log::error("{}", error);
      return 1;
    }
    active_ = makeActive(std::move(snapshot));
    process_.configVersion = 1;
  }

  health_.update(resilience::HealthChecker::targetsOf(*active_));

  unsigned n = options_.concurrency != 0 ? options_.concurrency
                                         : std::max(1u, std::thread::hardware_concurrency());
  process_.workers = n;
  std::mutex errorMutex;
  std::string startError;
  for (unsigned i = 0; i < n; ++i) {
    stats_.push_back(std::make_unique<WorkerStats>());
    workers_.push_back(std::make_unique<Worker>(static_cast<int>(i), *stats_.back()));
  }
  for (auto& worker : workers_) {
    worker->start(active_, [this, &errorMutex, &startError](const std::string& error) {
      if (!error.empty()) {
        std::lock_guard lock(errorMutex);
        startError += error;
      }
      workersListening_.fetch_add(1);
      loop_.post([] {});  // wake the main loop to re-check readiness
    });
  }
  // Wait for every worker to bind (readiness is only reported after this).
  while (workersListening_.load() < static_cast<int>(n)) std::this_thread::yield();
  {
    std::lock_guard lock(errorMutex);
    if (!startError.empty()) {
      log::error("{}", startError);
      for (auto& worker : workers_) worker->stop();
      return 1;
    }
  }

  auto adminAddress = SocketAddress::parseHostPort(options_.adminAddress);
  if (!adminAddress) {
    log::error("--admin-address {}: expected IP:PORT", options_.adminAddress);
    return 1;
  }
  if (std::string error = admin_.listen(*adminAddress); !error.empty()) {
    log::error("admin listener: {}", error);
    return 1;
  }
  if (!options_.adminPortFile.empty()) {
    std::string tmp = options_.adminPortFile + ".tmp";
    std::ofstream(tmp) << admin_.port() << "\n";
    ::rename(tmp.c_str(), options_.adminPortFile.c_str());
  }
  if (xdsMode()) {
    xds::client::AdsClientOptions xdsOptions;
    xdsOptions.server = options_.xdsServer;
    xdsOptions.node = options_.node;
    // The identity this proxy can prove: from trellisd's CA, or from --tls-cert-file.
    std::optional<pki::SpiffeId> identity;
    if (options_.identity) {
      identity = options_.identity->id;
    } else if (meshTls_ != nullptr) {
      identity = pki::SpiffeId::parse(meshTls_->identity);
    }
    if (identity && identity->workloadNamespace() != options_.node.ns) {
      log::error(
          "the certificate's identity {} is not of namespace {} (--namespace): trellisd "
          "would refuse its registration",
          identity->uri(), options_.node.ns);
      for (auto& worker : workers_) worker->stop();
      return 1;
    }
    if (identity) {
      // Callers learn from trellisd that this instance speaks mutual TLS, and as whom; the
      // trust bundle comes by SDS.
      xdsOptions.node.serviceAccount = identity->serviceAccount();
      xdsOptions.trustBundle = true;
      // That claim is proved by mutual TLS to trellisd, with the current certificate.
      xdsOptions.tls = [this, server = pki::controlPlaneId(identity->trustDomain)] {
        xds::client::AdsClientOptions::Tls tls;
        if (meshTls_ == nullptr) return tls;
        tls.context = meshTls_->clientHttp2;
        tls.policy.side = tls::Side::Client;
        tls.policy.expectedPeerIds.push_back(server);
        return tls;
      };
      xdsOptions.onStreamEnded = [this](const std::string& reason) { onXdsStreamEnded(reason); };
    }
    xds_ = std::make_unique<xds::client::AdsClient>(
        loop_, std::move(xdsOptions),
        [this](const xds::Resources& resources) { return applyXds(resources); });
    if (std::string error = xds_->start(); !error.empty()) {
      log::error("{}", error);
      for (auto& worker : workers_) worker->stop();
      return 1;
    }
    log::info("trellis-proxy started: {} workers, admin on {}:{}, configuration from xDS {} as {}",
              n, adminAddress->ip(), admin_.port(), options_.xdsServer, options_.node.id);
  } else {
    log::info("trellis-proxy ready: {} workers, {} listeners, admin on {}:{}", n,
              active_->snapshot->listeners.size(), adminAddress->ip(), admin_.port());
  }
  return 0;
}

std::string ProxyServer::reload() {
  auto loaded = xds::loadFileViaXds(options_.configPath);
  if (!loaded.ok()) {
    std::string errors;
    for (const auto& error : loaded.errors) errors += error.toString() + "\n";
    log::error("reload rejected, keeping version {}:\n{}", process_.configVersion, errors);
    process_.reloadsFailed++;
    process_.lastReloadOk = false;
    return errors;
  }
  for (const auto& warning : loaded.warnings) log::warn("{}", warning.toString());
  if (std::string error = checkMtls(*loaded.snapshot); !error.empty()) {
    log::error("reload rejected, keeping version {}: {}", process_.configVersion, error);
    process_.reloadsFailed++;
    process_.lastReloadOk = false;
    return error + "\n";
  }
  activate(std::make_shared<config::Snapshot>(*loaded.snapshot));
  return {};
}

std::string ProxyServer::applyXds(const xds::Resources& resources) {
  xds::DecodeResult decoded = xds::decode(resources);
  if (decoded.snapshot == nullptr) {
    process_.reloadsFailed++;
    process_.lastReloadOk = false;
    return decoded.error.empty() ? "the configuration could not be decoded" : decoded.error;
  }
  // The trust bundle (SDS "ROOTCA") replaces the one that came with the certificate, so a root
  // rotation reaches this proxy with no new certificate.
  for (const auto& secret : resources.secrets) {
    std::string error;
    auto bundle = xds::decodeTrustBundle(secret, error);
    if (!bundle) {
      error = !error.empty() ? error : "the trust bundle could not be decoded";
    } else if (*bundle != trustBundleOverride_) {
      error = setTrustBundleOverride(*bundle);
    }
    if (!error.empty()) {
      process_.reloadsFailed++;
      process_.lastReloadOk = false;
      return error;
    }
  }
  if (std::string error = checkMtls(*decoded.snapshot); !error.empty()) {
    process_.reloadsFailed++;
    process_.lastReloadOk = false;
    return error;
  }
  decoded.snapshot->source = "xds " + options_.xdsServer;
  activate(std::move(decoded.snapshot));
  xdsApplied_ = true;
  return {};
}

void ProxyServer::activate(std::shared_ptr<config::Snapshot> snapshot) {
  // The same atomic swap for a file reload and an xDS update: requests in flight finish on the
  // snapshot they started with, connections are kept.
  snapshot->version = ++process_.configVersion;
  active_ = makeActive(std::move(snapshot));
  for (auto& worker : workers_) worker->applyConfig(active_);
  health_.update(resilience::HealthChecker::targetsOf(*active_));
  process_.reloadsSucceeded++;
  process_.lastReloadOk = true;
  log::info("configuration version {} applied ({} listeners, {} clusters)", process_.configVersion,
            active_->snapshot->listeners.size(), active_->snapshot->clusters.size());
}

std::shared_ptr<const ActiveConfig> ProxyServer::makeActive(
    std::shared_ptr<const config::Snapshot> snapshot) {
  auto active = std::make_shared<ActiveConfig>(std::move(snapshot), &sharedState_);
  active->meshTls = meshTls_;
  return active;
}

bool ProxyServer::buildMeshTls(std::shared_ptr<const MeshTls>& out, std::string& error) const {
  if (tlsChainPem_.empty()) {
    out = nullptr;
    return true;
  }
  const std::string& bundle = trustBundleOverride_.empty() ? tlsBundlePem_ : trustBundleOverride_;
  out = MeshTls::build(tlsChainPem_, tlsKeyPem_, bundle, &error);
  return out != nullptr;
}

void ProxyServer::pushMeshTls() {
  if (active_ == nullptr || workers_.empty() || active_->meshTls == meshTls_) return;
  // The same snapshot (no new configuration version): only the contexts change.
  active_ = makeActive(active_->snapshot);
  for (auto& worker : workers_) worker->applyConfig(active_);
  health_.update(resilience::HealthChecker::targetsOf(*active_));  // probes of mesh endpoints
  log::info("mutual TLS: new connections present {}", meshTls_->identity);
}

std::string ProxyServer::setTrustBundleOverride(std::string pem) {
  std::string previous = std::exchange(trustBundleOverride_, std::move(pem));
  std::shared_ptr<const MeshTls> mesh;
  std::string error;
  if (!buildMeshTls(mesh, error)) {
    trustBundleOverride_ = std::move(previous);
    return "trust bundle: " + error;
  }
  // Without a certificate yet the bundle waits for it; a proxy without any identity keeps it.
  if (mesh == nullptr) return {};
  meshTls_ = std::move(mesh);
  if (serving_ && !draining_) pushMeshTls();
  return {};
}

std::string ProxyServer::checkMtls(const config::Snapshot& snapshot) {
  if (meshTls_ != nullptr) return {};
  for (const config::Listener& listener : snapshot.listeners) {
    if (listener.mtls == config::MtlsMode::Strict) {
      return "listener " + listener.name +
             " is STRICT (mutual TLS only) but this proxy has no certificate: start it with "
             "--ca-address or --tls-cert-file, --tls-key-file and --trust-bundle-file";
    }
    if (listener.mtls == config::MtlsMode::Permissive && !warnedPlaintextOnly_) {
      warnedPlaintextOnly_ = true;
      log::warn(
          "listener {} is PERMISSIVE but this proxy has no certificate: it serves "
          "plaintext only",
          listener.name);
    }
  }
  return {};
}

void ProxyServer::shutdown() {
  if (draining_) return;
  draining_ = true;
  if (xds_ != nullptr) xds_->stop();  // trellisd sees the stream end: the instance leaves
  health_.stop();
  admin_.close();
  for (auto& worker : workers_) worker->drain(options_.drainTimeoutMs);
  loop_.stop();
}

AdminResponse ProxyServer::handleAdmin(std::string_view method, std::string_view path) {
  AdminResponse response;
  if (path == "/healthz") {
    response.body = "ok\n";
  } else if (path == "/ready") {
    bool ready = !draining_ && active_ != nullptr && (!xdsMode() || xdsApplied_);
    response.status = ready ? 200 : 503;
    response.body = ready ? "ready\n" : "not ready\n";
  } else if (path == "/stats/prometheus" || path == "/metrics") {
    std::vector<const WorkerStats*> shards;
    for (const auto& s : stats_) shards.push_back(s.get());
    response.contentType = "text/plain; version=0.0.4; charset=utf-8";
    process_.healthChecks.clear();
    health_.visit([this](const std::string& cluster, const resilience::HealthCheckStats& stats) {
      process_.healthChecks[cluster] = stats;
    });
    if (identity_ != nullptr) {
      const identity::WorkloadIdentity::Counters counters = identity_->counters();
      const std::shared_ptr<const identity::Credentials> credentials = identity_->current();
      process_.identity = true;
      process_.certificateExpiry = credentials != nullptr ? credentials->notAfter : 0;
      process_.renewalsSucceeded = counters.renewalsSucceeded;
      process_.renewalsFailed = counters.renewalsFailed;
    }
    response.body = renderPrometheus(shards, process_);
  } else if (path == "/config_dump") {
    nlohmann::json dump = config::toJson(*active_->snapshot);
    dump["version"] = process_.configVersion;
    dump["source"] = xdsMode() ? "xds " + options_.xdsServer : options_.configPath;
    response.contentType = "application/json";
    response.body = dump.dump(2, ' ', false, nlohmann::json::error_handler_t::replace) + "\n";
  } else if (path == "/clusters") {
    nlohmann::json clusters = nlohmann::json::array();
    for (const auto& [name, cluster] : active_->snapshot->clusters) {
      nlohmann::json endpoints = nlohmann::json::array();
      const resilience::ClusterState* state = active_->cluster(name);
      const auto nowMs = static_cast<int64_t>(EventLoop::monotonicMs());
      for (size_t i = 0; i < cluster.endpoints.size(); ++i) {
        const auto& endpoint = cluster.endpoints[i];
        nlohmann::json entry = {
            {"address", endpoint.host}, {"port", endpoint.port}, {"weight", endpoint.weight}};
        if (state != nullptr && i < state->endpoints.size()) {
          const resilience::EndpointHealth& health = *state->endpoints[i];
          entry["ejected"] = health.ejected(nowMs);
          const int8_t verdict = health.activeHealth.load(std::memory_order_relaxed);
          entry["health_check"] = verdict == resilience::EndpointHealth::kHealthy     ? "healthy"
                                  : verdict == resilience::EndpointHealth::kUnhealthy ? "unhealthy"
                                                                                      : "unknown";
        }
        endpoints.push_back(std::move(entry));
      }
      uint64_t opened = 0, reused = 0, failures = 0, resets = 0;
      int64_t active = 0;
      for (const auto& shard : stats_) {
        const auto& s = shard->cluster(name);
        opened += s.connectionsOpened.value();
        reused += s.connectionsReused.value();
        failures += s.connectFailures.value() + s.connectTimeouts.value();
        resets += s.resets.value();
        active += s.activeRequests.value();
      }
      clusters.push_back({{"name", name},
                          {"endpoints", endpoints},
                          {"stats",
                           {{"connections_opened", opened},
                            {"connections_reused", reused},
                            {"connect_failures", failures},
                            {"resets", resets},
                            {"requests_active", active}}}});
    }
    response.contentType = "application/json";
    response.body = nlohmann::json{{"clusters", clusters}}.dump(2) + "\n";
  } else if (path == "/xds") {
    response = xdsStatus();
  } else if (path == "/certs") {
    response = certs();
  } else if (path == "/reload") {
    if (xdsMode()) {
      response.status = 409;
      response.body = "the configuration comes from the control plane (--xds " +
                      options_.xdsServer + "); there is no file to reload\n";
    } else if (method != "POST") {
      response.status = 405;
      response.body = "use POST\n";
    } else {
      std::string errors = reload();
      response.status = errors.empty() ? 200 : 400;
      response.body = errors.empty()
                          ? "reloaded: version " + std::to_string(process_.configVersion) + "\n"
                          : errors;
    }
  } else {
    response.status = 404;
    response.body =
        "endpoints: /ready /healthz /stats/prometheus /config_dump /clusters /xds /certs POST "
        "/reload\n";
  }
  return response;
}

// xDS admin section ------------------------------------------------------------------------

namespace {

std::string isoTime(std::chrono::system_clock::time_point at) {
  std::time_t seconds = std::chrono::system_clock::to_time_t(at);
  std::tm utc{};
  gmtime_r(&seconds, &utc);
  char text[32];
  std::strftime(text, sizeof text, "%Y-%m-%dT%H:%M:%SZ", &utc);
  return text;
}

std::string isoTime(int64_t unixSeconds) {
  return isoTime(std::chrono::system_clock::from_time_t(static_cast<std::time_t>(unixSeconds)));
}

}  // namespace

AdminResponse ProxyServer::certs() const {
  // As Envoy's /certs: what this proxy presents and trusts (the chain is public: peers see it
  // in every handshake). Never the key.
  AdminResponse response;
  if (identity_ == nullptr) {
    response.status = 404;
    response.body = "no workload identity: start the proxy with --ca-address (docs/identity.md)\n";
    return response;
  }
  const identity::WorkloadIdentity::Counters counters = identity_->counters();
  const std::shared_ptr<const identity::Credentials> credentials = identity_->current();
  nlohmann::json body = {{"identity", identity_->id().uri()},
                         {"ca_address", options_.identity->caAddress.toString()},
                         {"certificate", nullptr},
                         {"trust_bundle", nlohmann::json::array()},
                         {"renewals", counters.renewalsSucceeded},
                         {"renewal_failures", counters.renewalsFailed},
                         {"requests", counters.attempts}};
  if (credentials != nullptr) {
    const int64_t now = std::time(nullptr);
    const int64_t left = std::max<int64_t>(0, credentials->notAfter - now);
    const int64_t renewAtMs =
        credentials->receivedAtMs + (credentials->notAfter * 1000 - credentials->receivedAtMs) / 2;
    body["certificate"] = {{"identity", credentials->identity},
                           {"serial_number", credentials->serialHex},
                           {"valid_from", isoTime(credentials->notBefore)},
                           {"expiration_time", isoTime(credentials->notAfter)},
                           {"not_before", credentials->notBefore},
                           {"not_after", credentials->notAfter},
                           {"seconds_until_expiration", left},
                           {"days_until_expiration", left / 86400},
                           {"renewal_due", isoTime(renewAtMs / 1000)},
                           {"chain_pem", credentials->chainPem}};
    for (const identity::Credentials::Root& root : credentials->roots) {
      body["trust_bundle"].push_back({{"subject", root.subject},
                                      {"sha256_fingerprint", root.fingerprint},
                                      {"expiration_time", isoTime(root.notAfter)}});
    }
  }
  response.contentType = "application/json";
  response.body = body.dump(2, ' ', false, nlohmann::json::error_handler_t::replace) + "\n";
  return response;
}

AdminResponse ProxyServer::xdsStatus() const {
  AdminResponse response;
  if (xds_ == nullptr) {
    response.status = 404;
    response.body = "not in xDS mode: the configuration comes from " + options_.configPath + "\n";
    return response;
  }
  xds::client::AdsStatus status = xds_->status();
  nlohmann::json types = nlohmann::json::object();
  for (const auto& type : status.types) {
    nlohmann::json entry = {{"acked_version", type.ackedVersion},
                            {"resources", type.resources},
                            {"responses", type.responses},
                            {"acks", type.acks},
                            {"nacks", type.nacks},
                            {"last_nack", nullptr}};
    if (!type.lastNack.empty()) {
      entry["last_nack"] = {{"version", type.lastNackVersion}, {"message", type.lastNack}};
    }
    if (auto kind = xds::client::typeFromUrl(type.typeUrl); kind && xds::client::isNamed(*kind)) {
      entry["subscribed"] = type.subscribed;
    }
    types[std::string(type.typeUrl)] = std::move(entry);
  }
  nlohmann::json body = {
      {"server", status.server},
      {"node",
       {{"id", options_.node.id},
        {"service", options_.node.service},
        {"namespace", options_.node.ns},
        {"instance", options_.node.instance}}},
      {"connected", status.connected},
      {"since", isoTime(status.since)},
      {"last_disconnect", status.lastDisconnect},
      {"applied", status.applied},
      {"config_version", process_.configVersion},
      {"warming", status.warming},
      {"last_apply_error", status.lastApplyError},
      {"counters",
       {{"responses", status.responses},
        {"acks", status.acks},
        {"nacks", status.nacks},
        {"reconnects", status.reconnects},
        {"applies", status.applies},
        {"ignored_responses", status.ignoredResponses}}},
      {"types", types},
  };
  response.contentType = "application/json";
  response.body = body.dump(2, ' ', false, nlohmann::json::error_handler_t::replace) + "\n";
  return response;
}

}  // namespace trellis::proxy
