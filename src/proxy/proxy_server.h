#pragma once
// trellis-proxy's process: loads the configuration (a file, or the control plane over xDS),
// runs the workers, the admin listener, the xDS client and the signal handling on the main
// thread, swaps configurations atomically and drains on shutdown.

#include <atomic>
#include <chrono>
#include <memory>
#include <optional>
#include <string>
#include <vector>

#include "common/event_loop.h"
#include "proxy/active_config.h"
#include "proxy/admin_server.h"
#include "proxy/identity/workload_identity.h"
#include "proxy/metrics.h"
#include "proxy/worker.h"
#include "resilience/health_checker.h"
#include "xds/client/node.h"
#include "xds/codec/resources.h"

namespace trellis::xds::client {
class AdsClient;
}

namespace trellis::proxy {

struct ProxyOptions {
  std::string configPath;  // static mode
  /// xDS mode (exclusive with configPath): trellisd's ADS address, HOST:PORT, and the identity
  /// this proxy announces. The proxy starts without listeners and is ready once the first
  /// configuration from the control plane is applied.
  std::string xdsServer;
  xds::client::NodeIdentity node;
  unsigned concurrency = 0;  // 0 = number of cores
  std::string adminAddress = "127.0.0.1:9901";
  std::string adminPortFile;  // written with the bound admin port once ready
  uint64_t drainTimeoutMs = 5000;
  /// Workload identity from trellisd's CA (docs/identity.md): when set, the first certificate
  /// is obtained before anything is served, then renewed at half of each lifetime.
  std::optional<identity::IdentityOptions> identity;
  /// A file-based identity for mutual TLS instead (--tls-cert-file, --tls-key-file,
  /// --trust-bundle-file): the files' PEM contents, read once at start, and their paths.
  struct TlsFiles {
    std::string certFile;
    std::string keyFile;
    std::string bundleFile;
    std::string chainPem;
    std::string keyPem;
    std::string bundlePem;
  };
  std::optional<TlsFiles> tlsFiles;
};

class ProxyServer {
 public:
  explicit ProxyServer(ProxyOptions options);
  ~ProxyServer();
  /// Runs until SIGTERM/SIGINT and a drain; returns the process exit code.
  int run();
  /// Main loop: trusts `pem` (the control plane's SDS ROOTCA bundle) instead of the bundle
  /// that came with the certificate; "" goes back to that one. New connections use it at once,
  /// open ones keep their contexts. Returns "" or why the bundle is unusable (nothing changes).
  std::string setTrustBundleOverride(std::string pem);

 private:
  class Signals;
  /// Loads the configuration, starts the workers, the admin listener and the xDS client;
  /// returns 0 or the exit code of a failed start.
  int startServing();
  void onCredentials(const std::shared_ptr<const identity::Credentials>& credentials);
  /// The ADS stream ended for `reason`: when trellisd's certificate is not trusted (it moved
  /// to a new root this proxy has not heard of), renews early, which brings the new bundle; when
  /// the server does not speak TLS at all, names the likely mistake (the plaintext port) once.
  void onXdsStreamEnded(const std::string& reason);
  /// Builds the mutual TLS contexts from the current PEMs (and the bundle override) into
  /// `out`; null without a certificate. False and `error` when they are unusable.
  bool buildMeshTls(std::shared_ptr<const MeshTls>& out, std::string& error) const;
  /// Hands the workers a new ActiveConfig on the same snapshot with the current meshTls_.
  void pushMeshTls();
  /// The ActiveConfig for `snapshot`, with this proxy's TLS contexts.
  std::shared_ptr<const ActiveConfig> makeActive(std::shared_ptr<const config::Snapshot> snapshot);
  /// "" or why `snapshot` cannot be served: a STRICT listener without a certificate.
  std::string checkMtls(const config::Snapshot& snapshot);
  AdminResponse certs() const;
  /// Loads the file and swaps it in; returns an empty string or the errors.
  std::string reload();
  /// Decodes a complete xDS resource set and swaps it in; returns "" or the NACK message.
  std::string applyXds(const xds::Resources& resources);
  /// Makes `snapshot` the next configuration version on every worker.
  void activate(std::shared_ptr<config::Snapshot> snapshot);
  AdminResponse xdsStatus() const;
  bool xdsMode() const { return !options_.xdsServer.empty(); }
  AdminResponse handleAdmin(std::string_view method, std::string_view path);
  void shutdown();

  ProxyOptions options_;
  EventLoop loop_;
  resilience::HealthChecker health_{loop_};  // probes endpoints from the main thread
  AdminServer admin_;
  std::unique_ptr<Signals> signals_;
  std::vector<std::unique_ptr<WorkerStats>> stats_;
  std::vector<std::unique_ptr<Worker>> workers_;
  resilience::SharedState sharedState_;  // outlives every ActiveConfig that points into it
  std::shared_ptr<const ActiveConfig> active_;
  ProcessStats process_;
  std::atomic<int> workersListening_{0};
  bool draining_ = false;
  bool xdsApplied_ = false;  // a configuration from the control plane is in service
  bool serving_ = false;     // startServing() ran (with an identity: after the first certificate)
  int exitCode_ = 0;
  std::unique_ptr<identity::WorkloadIdentity> identity_;
  // Mutual TLS: the certificate's PEMs (static files, or the workload identity's latest), an
  // SDS trust bundle that replaces theirs, and the contexts built from them.
  std::string tlsChainPem_;
  std::string tlsKeyPem_;
  std::string tlsBundlePem_;
  std::string trustBundleOverride_;
  std::shared_ptr<const MeshTls> meshTls_;
  std::chrono::steady_clock::time_point lastTrustRenewal_{};  // by onXdsStreamEnded
  bool warnedXdsPort_ = false;        // --xds is not a TLS port: logged once
  bool warnedPlaintextOnly_ = false;  // PERMISSIVE without a certificate: logged once
  // Last: destroyed first, while everything its ApplyFn touches still exists.
  std::unique_ptr<xds::client::AdsClient> xds_;
};

}  // namespace trellis::proxy
