// trellisd: the Trellis control plane. Holds the mesh's resources (SQLite under --data-dir),
// serves each proxy its configuration over xDS v3 (ADS), and answers the HTTP/JSON API that
// trellisctl uses.

#include <fcntl.h>
#include <sys/signalfd.h>
#include <sys/stat.h>
#include <unistd.h>

#include <CLI/CLI.hpp>
#include <csignal>
#include <filesystem>
#include <fstream>
#include <iostream>
#include <optional>

#include "common/logging.h"
#include "config/syntax.h"
#include "controlplane/identity/certificate_service.h"
#include "controlplane/identity/serving_certificate.h"
#include "controlplane/trellisd/api.h"
#include "controlplane/trellisd/control_plane.h"
#include "tls/pki/spiffe_id.h"

namespace {

using namespace trellis;

/// SIGTERM/SIGINT stop the loop; delivered through a signalfd, so handlers need no care.
class StopOnSignal final : public EventHandler {
 public:
  explicit StopOnSignal(EventLoop& loop) : loop_(loop) {
    sigset_t mask;
    sigemptyset(&mask);
    sigaddset(&mask, SIGTERM);
    sigaddset(&mask, SIGINT);
    fd_ = ::signalfd(-1, &mask, SFD_NONBLOCK | SFD_CLOEXEC);
    loop_.watchReadable(fd_, this);
  }
  ~StopOnSignal() override {
    loop_.unwatch(fd_);
    ::close(fd_);
  }
  void onEvents(uint32_t) override {
    signalfd_siginfo info;
    while (::read(fd_, &info, sizeof info) == sizeof info) {
      log::info("signal {}: stopping", info.ssi_signo);
      loop_.stop();
    }
  }

 private:
  EventLoop& loop_;
  int fd_;
};

/// The API token: read from `path`, or created there (mode 0600) on first start.
std::string loadOrCreateToken(const std::string& path, std::string& error) {
  std::string token;
  std::error_code ec;
  if (std::filesystem::exists(path, ec)) {
    std::ifstream in(path);
    if (in && std::getline(in, token) && !token.empty()) return token;
    error = fmt::format(
        "the API token file {} exists but is empty or unreadable: fix it, or "
        "remove it to have a new token created",
        path);
    return {};
  }
  unsigned char random[24];
  std::ifstream urandom("/dev/urandom", std::ios::binary);
  if (!urandom.read(reinterpret_cast<char*>(random), sizeof random)) {
    error = "cannot read /dev/urandom for the API token";
    return {};
  }
  static constexpr char kHex[] = "0123456789abcdef";
  for (unsigned char byte : random) {
    token += kHex[byte >> 4];
    token += kHex[byte & 15];
  }
  int fd = ::open(path.c_str(), O_WRONLY | O_CREAT | O_EXCL | O_CLOEXEC, 0600);
  if (fd < 0) {
    error = fmt::format("cannot create the API token file {}: {}", path, std::strerror(errno));
    return {};
  }
  std::string line = token + "\n";
  bool written = ::write(fd, line.data(), line.size()) == static_cast<ssize_t>(line.size());
  ::close(fd);
  if (!written) {
    error = fmt::format("cannot write {}", path);
    ::unlink(path.c_str());
    return {};
  }
  return token;
}

bool writePortFile(const std::string& path, int port) {
  if (path.empty()) return true;
  std::string temporary = path + ".tmp";
  {
    std::ofstream out(temporary);
    out << port << "\n";
    if (!out) return false;
  }
  return std::rename(temporary.c_str(), path.c_str()) == 0;  // readers never see half a number
}

}  // namespace

int main(int argc, char** argv) try {
  CLI::App app{"trellisd: the Trellis control plane (store, registry, xDS server, API)"};
  std::string dataDir;
  std::string apiAddress = "127.0.0.1:7070";
  std::string xdsAddress = "127.0.0.1:15010";
  std::string xdsTlsAddress = "127.0.0.1:15012";
  bool requireXdsMtls = false;
  std::string apiPortFile;
  std::string xdsPortFile;
  std::string xdsTlsPortFile;
  std::string tokenFile;
  std::string logLevel = "info";
  uint64_t graceMs = 30000;
  uint64_t debounceMs = 10;
  controlplane::CaOptions caOptions;
  std::string certTtl = "24h";
  std::string rootOverlap = "48h";
  app.add_option("--data-dir", dataDir, "Where the store (store.db) and the API token live")
      ->required();
  app.add_option("--api-address", apiAddress, "HTTP/JSON API listener IP:PORT (loopback default)");
  app.add_option("--xds-address", xdsAddress,
                 "xDS (ADS over gRPC) plaintext listener IP:PORT (\"\": none)");
  app.add_option("--xds-tls-address", xdsTlsAddress,
                 "xDS over mutual TLS IP:PORT, for sidecars with a workload identity (\"\": none)");
  app.add_flag("--xds-require-mtls", requireXdsMtls,
               "Sidecars register only over mutual TLS; plaintext xDS serves proxyless clients");
  app.add_option("--api-port-file", apiPortFile, "Write the bound API port here once ready");
  app.add_option("--xds-port-file", xdsPortFile, "Write the bound xDS port here once ready");
  app.add_option("--xds-tls-port-file", xdsTlsPortFile,
                 "Write the bound xDS TLS port here (before --xds-port-file)");
  app.add_option("--token-file", tokenFile,
                 "API token for writes (default <data-dir>/api-token, created on first start)");
  app.add_option("--grace-period-ms", graceMs,
                 "How long a disconnected proxy's endpoints stay before they are removed");
  app.add_option("--debounce-ms", debounceMs, "Changes within this window are pushed together");
  app.add_option("--log-level", logLevel, "trace, debug, info, warn, error");
  app.add_option("--trust-domain", caOptions.trustDomain,
                 "SPIFFE trust domain of the mesh's identities (spiffe://<domain>/ns/N/sa/S)");
  app.add_option("--ca-cert", caOptions.caCertPath,
                 "Signing CA (PEM: the CA certificate, its intermediates, then the root); default: "
                 "a root trellisd creates under <data-dir>/ca on first start");
  app.add_option("--ca-key", caOptions.caKeyPath, "The --ca-cert key (PEM, mode 0600)");
  app.add_option("--cert-ttl", certTtl,
                 "Lifetime of workload certificates (proxies renew at half)");
  app.add_option("--root-overlap", rootOverlap,
                 "After the CA changes, how long the previous root stays in the trust bundle");
  CLI11_PARSE(app, argc, argv);
  spdlog::set_level(spdlog::level::from_str(logLevel));
  {
    // SPIFFE IDs carry the trust domain lower-cased: compare like with like.
    std::string why;
    auto domain = pki::SpiffeId::parse("spiffe://" + caOptions.trustDomain, &why);
    if (domain && !domain->path.empty()) {
      domain.reset();
      why = "a trust domain has no path";
    }
    if (!domain) {
      std::cerr << "trellisd: --trust-domain " << caOptions.trustDomain << ": " << why << "\n";
      return 2;
    }
    caOptions.trustDomain = domain->trustDomain;
  }

  std::error_code ec;
  std::filesystem::create_directories(dataDir, ec);
  if (ec) {
    std::cerr << "trellisd: cannot create --data-dir " << dataDir << ": " << ec.message() << "\n";
    return 1;
  }
  std::string error;
  auto store = controlplane::Store::open(dataDir, error);
  if (!store) {
    std::cerr << "trellisd: " << error << "\n";
    return 1;
  }
  if (tokenFile.empty()) tokenFile = dataDir + "/api-token";
  std::string token = loadOrCreateToken(tokenFile, error);
  if (token.empty()) {
    std::cerr << "trellisd: " << error << "\n";
    return 1;
  }
  const auto ttl = config::syntax::parseDuration(certTtl);
  const auto overlap = config::syntax::parseDuration(rootOverlap);
  if (!ttl || ttl->count() < 2000 || !overlap) {
    std::cerr << "trellisd: --cert-ttl and --root-overlap take durations (e.g. 24h; the TTL at "
                 "least 2s, short lifetimes being for tests)\n";
    return 2;
  }
  caOptions.dataDir = dataDir;
  caOptions.rootOverlap = std::chrono::duration_cast<std::chrono::seconds>(*overlap);
  auto loadedCa = controlplane::loadOrCreateCa(caOptions, error);
  if (!loadedCa) {
    std::cerr << "trellisd: " << error << "\n";
    return 1;
  }
  if (loadedCa->created) {
    log::info("trellisd: created the mesh's root CA for trust domain {} in {}/ca",
              caOptions.trustDomain, dataDir);
  }
  auto apiSocket = SocketAddress::parseHostPort(apiAddress);
  if (!apiSocket) {
    std::cerr << "trellisd: --api-address " << apiAddress << " is not IP:PORT\n";
    return 2;
  }

  // Signals go to the signalfd only: block them before gRPC starts its threads.
  sigset_t mask;
  sigemptyset(&mask);
  sigaddset(&mask, SIGTERM);
  sigaddset(&mask, SIGINT);
  pthread_sigmask(SIG_BLOCK, &mask, nullptr);
  std::signal(SIGPIPE, SIG_IGN);

  EventLoop loop;
  controlplane::ControlPlane::Options options;
  options.grace = std::chrono::milliseconds(graceMs);
  options.debounce = std::chrono::milliseconds(debounceMs);
  options.trustDomain = caOptions.trustDomain;
  options.trustBundlePem = loadedCa->bundlePem;
  options.requireMutualTlsForSidecars = requireXdsMtls;
  controlplane::ControlPlane controlPlane(loop, std::move(store), options);
  controlplane::JoinTokens joinTokens(controlPlane.store());
  controlplane::CertificateService certificates(
      std::move(*loadedCa), joinTokens, caOptions.trustDomain,
      std::chrono::duration_cast<std::chrono::seconds>(*ttl));
  controlplane::ServingCertificate servingCertificate(loop, certificates, dataDir + "/xds-tls",
                                                      pki::controlPlaneId(caOptions.trustDomain));
  std::optional<controlplane::AdsServer::MutualTlsPort> xdsTls;
  if (!xdsTlsAddress.empty()) {
    if (error = servingCertificate.start(); !error.empty()) {
      std::cerr << "trellisd: " << error << "\n";
      return 1;
    }
    xdsTls = controlplane::AdsServer::MutualTlsPort{
        xdsTlsAddress, servingCertificate.identityFile(), servingCertificate.identityFile(),
        servingCertificate.rootsFile()};
  }
  if (xdsAddress.empty() && !xdsTls) {
    std::cerr << "trellisd: --xds-address and --xds-tls-address are both empty: no xDS at all\n";
    return 2;
  }
  error = controlPlane.start(xdsAddress, xdsTls);
  if (!error.empty()) {
    std::cerr << "trellisd: " << error << "\n";
    return 1;
  }
  controlplane::Api api(controlPlane, token, certificates, joinTokens);
  http::ControlServer apiServer(
      loop, [&api](const http::ControlRequest& request) { return api.handle(request); },
      http::ControlServer::Options{
          size_t{16} << 20, 30000, 256,
          [&api](const http::ControlRequest& request) { return api.mayReadBody(request); }});
  error = apiServer.listen(*apiSocket);
  if (!error.empty()) {
    std::cerr << "trellisd: API listener " << apiAddress << ": " << error << "\n";
    return 1;
  }
  StopOnSignal signals(loop);
  if (!writePortFile(xdsTlsPortFile, controlPlane.xdsMutualTlsPort()) ||
      !writePortFile(xdsPortFile, controlPlane.xdsPort()) ||
      !writePortFile(apiPortFile, apiServer.port())) {
    std::cerr << "trellisd: cannot write the port files\n";
    return 1;
  }
  log::info(
      "trellisd: store revision {}; API http://{}:{}; xDS (ADS) port {}, mutual TLS port {}{}; "
      "data in {}",
      controlPlane.store().revision(), apiSocket->ip(), apiServer.port(), controlPlane.xdsPort(),
      controlPlane.xdsMutualTlsPort(), requireXdsMtls ? " (required of sidecars)" : "", dataDir);
  loop.run();
  apiServer.close();
  controlPlane.stop();
  return 0;
} catch (const std::exception& e) {
  std::cerr << "trellisd: " << e.what() << "\n";
  return 1;
}
