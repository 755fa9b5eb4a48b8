// trellis-proxy: the Trellis data plane.
#include <sys/resource.h>

#include <CLI/CLI.hpp>
#include <iostream>

#include "common/logging.h"
#include "config/loader.h"
#include "proxy/proxy_server.h"

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
  CLI11_PARSE(app, argc, argv);
  spdlog::set_level(spdlog::level::from_str(logLevel));

  if (!validatePath.empty()) {
    auto result = trellis::config::loadFile(validatePath);
    for (const auto& warning : result.warnings)
      std::cerr << "warning: " << warning.toString() << "\n";
    for (const auto& error : result.errors) std::cerr << error.toString() << "\n";
    if (!result.ok()) return 1;
    std::cout << validatePath << ": valid (" << result.snapshot->listeners.size() << " listeners, "
              << result.snapshot->clusters.size() << " clusters)\n";
    return 0;
  }
  if (options.configPath.empty()) {
    std::cerr << "trellis-proxy: --config FILE is required (or --validate FILE)\n";
    return 2;
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
