// trellis-proxy: the Trellis data plane.
#include <sys/resource.h>
#include <unistd.h>

#include <CLI/CLI.hpp>
#include <cctype>
#include <cerrno>
#include <cstring>
#include <fstream>
#include <iostream>
#include <optional>
#include <sstream>

#include "common/logging.h"
#include "common/socket.h"
#include "proxy/proxy_server.h"
#include "tls/pki/spiffe_id.h"
#include "xds/client/ads_client.h"
#include "xds/codec/codec.h"

namespace {

/// The command line's facts about the instance this proxy fronts (xDS mode).
struct XdsFlags {
  std::string service;
  std::string ns = "default";
  std::string instance;
  std::string nodeId;
  std::string inbound;
  std::string app;
  std::string outbound;
  std::vector<std::string> labels;

  bool anySet() const {
    return !service.empty() || ns != "default" || !instance.empty() || !nodeId.empty() ||
           !inbound.empty() || !app.empty() || !outbound.empty() || !labels.empty();
  }
};

/// The command line's facts about the workload identity (with --ca-address).
struct IdentityFlags {
  std::string caAddress;
  std::string joinToken;
  std::string joinTokenFile;
  std::string trustDomain = "trellis.local";
  std::string serviceAccount;

  bool anySet() const {
    return !caAddress.empty() || !joinToken.empty() || !joinTokenFile.empty() ||
           trustDomain != "trellis.local" || !serviceAccount.empty();
  }
};

/// Fills `out` from the flags; returns "" or the first error. The token is read once, here,
/// and appears in no message.
std::string buildWorkloadIdentity(const IdentityFlags& flags, const XdsFlags& xds,
                                  trellis::proxy::identity::IdentityOptions& out) {
  if (flags.caAddress.empty()) {
    return "--join-token, --join-token-file, --trust-domain and --service-account only apply "
           "with --ca-address";
  }
  auto address = trellis::SocketAddress::parseHostPort(flags.caAddress);
  if (!address) return "--ca-address '" + flags.caAddress + "': expected IP:PORT";
  out.caAddress = *address;
  if (!flags.joinToken.empty() && !flags.joinTokenFile.empty()) {
    return "--join-token and --join-token-file exclude each other";
  }
  if (!flags.joinTokenFile.empty()) {
    std::ifstream file(flags.joinTokenFile);
    if (!file) {
      return "--join-token-file " + flags.joinTokenFile + ": " + std::strerror(errno);
    }
    std::stringstream text;
    text << file.rdbuf();
    out.joinToken = text.str();
    while (!out.joinToken.empty() && std::isspace(static_cast<unsigned char>(out.joinToken.back())))
      out.joinToken.pop_back();
    if (out.joinToken.empty()) return "--join-token-file " + flags.joinTokenFile + " is empty";
  } else {
    out.joinToken = flags.joinToken;
  }
  if (out.joinToken.empty()) {
    return "--ca-address needs a join token for the first certificate: --join-token-file PATH "
           "(or --join-token TOKEN); see `trellisctl token create`";
  }
  if (xds.service.empty()) {
    return "--ca-address needs --xds and --service: the identity is the service's namespace and "
           "service account";
  }
  const std::string& serviceAccount =
      flags.serviceAccount.empty() ? xds.service : flags.serviceAccount;
  std::string problem;
  auto id =
      trellis::pki::SpiffeId::forWorkload(flags.trustDomain, xds.ns, serviceAccount, &problem);
  if (!id) return "the workload identity: " + problem;
  out.id = *id;
  return {};
}

/// --tls-cert-file, --tls-key-file, --trust-bundle-file: a file-based identity for mutual TLS.
struct TlsFileFlags {
  std::string certFile;
  std::string keyFile;
  std::string bundleFile;

  bool anySet() const { return !certFile.empty() || !keyFile.empty() || !bundleFile.empty(); }
};

/// Reads the three files into `out`; returns "" or the first error, naming the flag and file.
std::string readTlsFiles(const TlsFileFlags& flags, bool caAddress,
                         trellis::proxy::ProxyOptions::TlsFiles& out) {
  const std::pair<const char*, const std::string*> all[] = {
      {"--tls-cert-file", &flags.certFile},
      {"--tls-key-file", &flags.keyFile},
      {"--trust-bundle-file", &flags.bundleFile}};
  for (const auto& [flag, path] : all) {
    if (path->empty()) {
      return std::string("--tls-cert-file, --tls-key-file and --trust-bundle-file go together: ") +
             flag + " is missing";
    }
  }
  if (caAddress) {
    return "--tls-cert-file and --ca-address exclude each other: the certificate comes either "
           "from files or from trellisd";
  }
  std::string* contents[] = {&out.chainPem, &out.keyPem, &out.bundlePem};
  for (size_t i = 0; i < 3; ++i) {
    const auto& [flag, path] = all[i];
    std::ifstream file(*path);
    if (!file) return std::string(flag) + " " + *path + ": " + std::strerror(errno);
    std::stringstream text;
    text << file.rdbuf();
    *contents[i] = text.str();
    if (contents[i]->empty()) return std::string(flag) + " " + *path + " is empty";
  }
  out.certFile = flags.certFile;
  out.keyFile = flags.keyFile;
  out.bundleFile = flags.bundleFile;
  return {};
}

std::string defaultInstance() {
  char host[256] = {};
  if (::gethostname(host, sizeof host - 1) != 0 || host[0] == '\0')
    return "proxy-" + std::to_string(::getpid());
  return std::string(host) + "-" + std::to_string(::getpid());
}

/// Fills `node` from the flags; returns "" or the first error.
std::string buildIdentity(const XdsFlags& flags, trellis::xds::client::NodeIdentity& node) {
  if (flags.service.empty()) return "--xds needs --service NAME: the service this proxy fronts";
  if (flags.ns.empty()) return "--namespace must not be empty";
  for (const auto& [flag, value] :
       {std::pair{"--inbound", &flags.inbound}, std::pair{"--app", &flags.app},
        std::pair{"--outbound", &flags.outbound}}) {
    if (!value->empty() && !trellis::SocketAddress::parseHostPort(*value)) {
      return std::string(flag) + " '" + *value + "': expected IP:PORT";
    }
  }
  node.service = flags.service;
  node.ns = flags.ns;
  node.instance = flags.instance.empty() ? defaultInstance() : flags.instance;
  node.id = flags.nodeId.empty() ? node.instance + "." + node.ns : flags.nodeId;
  if (!node.id.ends_with("." + node.ns) || node.id.size() == node.ns.size() + 1) {
    // trellisd binds a sidecar's id to its namespace (docs/zero-trust.md).
    return "--node-id '" + node.id + "' must end in '." + node.ns + "' (<instance>.<namespace>)";
  }
  node.inboundAddress = flags.inbound;
  node.appAddress = flags.app;
  node.outboundAddress = flags.outbound;
  for (const std::string& label : flags.labels) {
    auto eq = label.find('=');
    if (eq == std::string::npos || eq == 0) return "--label '" + label + "': expected key=value";
    node.labels[label.substr(0, eq)] = label.substr(eq + 1);
  }
  return {};
}

}  // namespace

int main(int argc, char** argv) try {
  CLI::App app{"trellis-proxy: the Trellis sidecar and edge proxy"};
  trellis::proxy::ProxyOptions options;
  std::string validatePath;
  std::string logLevel = "info";
  app.add_option("-c,--config", options.configPath,
                 "YAML configuration file (Listener, Service, "
                 "HTTPRoute resources)");
  app.add_option("--validate", validatePath,
                 "Check a configuration file and exit (0 = valid, 1 = errors)");
  app.add_option("--concurrency", options.concurrency, "Worker threads (default: one per core)");
  app.add_option("--admin-address", options.adminAddress,
                 "Admin listener IP:PORT (default 127.0.0.1:9901; loopback unless set)");
  app.add_option("--admin-port-file", options.adminPortFile,
                 "Write the bound admin port here once ready (useful with port 0)");
  app.add_option("--drain-timeout-ms", options.drainTimeoutMs,
                 "On SIGTERM, how long in-flight requests may take to finish");
  app.add_option("--log-level", logLevel, "trace, debug, info, warn, error");
  XdsFlags xds;
  app.add_option("--xds", options.xdsServer,
                 "Take the configuration from the control plane (trellisd's ADS, HOST:PORT) "
                 "instead of --config");
  app.add_option("--service", xds.service, "xDS: the service this proxy fronts (required)");
  app.add_option("--namespace", xds.ns, "xDS: the service's namespace (default: default)");
  app.add_option("--instance", xds.instance, "xDS: this instance's name (default: hostname-pid)");
  app.add_option("--node-id", xds.nodeId, "xDS: node id (default: <instance>.<namespace>)");
  app.add_option("--inbound", xds.inbound, "xDS: IP:PORT where the mesh reaches this instance");
  app.add_option("--app", xds.app, "xDS: IP:PORT of the application behind this proxy");
  app.add_option("--outbound", xds.outbound, "xDS: IP:PORT where the application calls the mesh");
  app.add_option("--label", xds.labels, "xDS: instance label key=value (repeatable)");
  IdentityFlags identity;
  app.add_option("--ca-address", identity.caAddress,
                 "Get this proxy's workload certificate from trellisd's API (IP:PORT) before "
                 "serving, and renew it");
  app.add_option("--join-token", identity.joinToken,
                 "Join token for the first certificate (prefer --join-token-file)");
  app.add_option("--join-token-file", identity.joinTokenFile,
                 "File holding the join token (read once at start)");
  app.add_option("--trust-domain", identity.trustDomain,
                 "Trust domain of the SPIFFE ID (default trellis.local)");
  app.add_option("--service-account", identity.serviceAccount,
                 "Service account of the SPIFFE ID (default: the --service name)");
  TlsFileFlags tlsFiles;
  app.add_option("--tls-cert-file", tlsFiles.certFile,
                 "Mutual TLS from files: this proxy's certificate chain (PEM, leaf first, with "
                 "a SPIFFE ID); with --tls-key-file and --trust-bundle-file");
  app.add_option("--tls-key-file", tlsFiles.keyFile,
                 "Mutual TLS from files: the certificate's private key (PEM)");
  app.add_option("--trust-bundle-file", tlsFiles.bundleFile,
                 "Mutual TLS from files: the CA certificates that peers' certificates must "
                 "chain to (PEM)");
  CLI11_PARSE(app, argc, argv);
  spdlog::set_level(spdlog::level::from_str(logLevel));

  if (!validatePath.empty()) {
    auto result = trellis::xds::loadFileViaXds(validatePath);
    for (const auto& warning : result.warnings)
      std::cerr << "warning: " << warning.toString() << "\n";
    for (const auto& error : result.errors) std::cerr << error.toString() << "\n";
    if (!result.ok()) return 1;
    std::cout << validatePath << ": valid (" << result.snapshot->listeners.size() << " listeners, "
              << result.snapshot->clusters.size() << " clusters)\n";
    return 0;
  }
  if (!options.configPath.empty() && !options.xdsServer.empty()) {
    std::cerr << "trellis-proxy: --config and --xds are mutually exclusive: the configuration "
                 "comes either from a file or from the control plane\n";
    return 2;
  }
  if (options.configPath.empty() && options.xdsServer.empty()) {
    std::cerr
        << "trellis-proxy: --config FILE or --xds HOST:PORT is required (or --validate FILE)\n";
    return 2;
  }
  if (options.xdsServer.empty()) {
    if (xds.anySet()) {
      std::cerr << "trellis-proxy: --service, --namespace, --instance, --node-id, --inbound, "
                   "--app, --outbound and --label only apply with --xds\n";
      return 2;
    }
  } else {
    std::string error;
    if (!trellis::xds::client::parseServerAddress(options.xdsServer, error)) {
      std::cerr << "trellis-proxy: --xds " << error << "\n";
      return 2;
    }
    if (error = buildIdentity(xds, options.node); !error.empty()) {
      std::cerr << "trellis-proxy: " << error << "\n";
      return 2;
    }
  }
  if (identity.anySet()) {
    trellis::proxy::identity::IdentityOptions identityOptions;
    if (std::string error = buildWorkloadIdentity(identity, xds, identityOptions); !error.empty()) {
      std::cerr << "trellis-proxy: " << error << "\n";
      return 2;
    }
    options.identity = std::move(identityOptions);
  }
  if (tlsFiles.anySet()) {
    trellis::proxy::ProxyOptions::TlsFiles files;
    if (std::string error = readTlsFiles(tlsFiles, !identity.caAddress.empty(), files);
        !error.empty()) {
      std::cerr << "trellis-proxy: " << error << "\n";
      return 2;
    }
    options.tlsFiles = std::move(files);
  }
  // A proxy holds two descriptors per proxied connection: use all the process may have.
  rlimit files;
  if (getrlimit(RLIMIT_NOFILE, &files) == 0 && files.rlim_cur < files.rlim_max) {
    files.rlim_cur = files.rlim_max;
    setrlimit(RLIMIT_NOFILE, &files);
  }
  trellis::proxy::ProxyServer server(std::move(options));
  return server.run();
} catch (const std::exception& e) {
  // Only start-up (option parsing, logger set-up) can throw; the data path does not.
  std::cerr << "trellis-proxy: " << e.what() << "\n";
  return 1;
}
