// xds_load: N simulated trellis-proxy sidecars on N ADS streams to one trellisd, driven by
// bench/xds_bench.py over stdin/stdout. It prints "READY <n> <ms>" once every sidecar has ACKed
// its initial configuration, then answers commands, one per line:
//   WAIT <cds|eds|lds|rds> <t0_ns> <timeout_ms>
//       once every sidecar has ACKed a version of that type different from the one it held at
//       t0 (CLOCK_MONOTONIC, as Python's time.monotonic_ns()), or at the timeout, prints
//       "CHANGE {json}" with each sidecar's ACK time after t0;
//   QUIT (or end of input): closes the streams and exits.
// A stream that ends on its own makes it print "FAILED <why>" and exit 1.

#include <fmt/format.h>
#include <fmt/ranges.h>

#include <CLI/CLI.hpp>
#include <iostream>
#include <memory>
#include <sstream>
#include <string>
#include <vector>

#include <grpcpp/grpcpp.h>

#include "push_log.h"
#include "sim_sidecar.h"
#include "xds/client/node.h"

namespace {

using trellis::bench::Convergence;
using trellis::bench::PushLog;
using trellis::bench::SimSidecar;
using trellis::bench::XdsType;
using AdsStub = envoy::service::discovery::v3::AggregatedDiscoveryService::Stub;

struct Options {
  std::string xds;
  int clients = 100;
  int streamsPerConnection = 1;
  std::string service = "checkout";
  std::string ns = "shop";
  std::string instancePrefix = "sim-";
  int firstPort = 20000;
  int readyTimeoutS = 300;
};

trellis::xds::client::NodeIdentity identityOf(const Options& options, int i) {
  // Three ports per sidecar, as a real instance has (inbound, application, outbound); only the
  // inbound one must be unique, since it becomes the instance's endpoint in the registry.
  const int port = options.firstPort + 3 * i;
  trellis::xds::client::NodeIdentity identity;
  identity.instance = options.instancePrefix + std::to_string(i);
  identity.id = identity.instance + "." + options.ns;
  identity.service = options.service;
  identity.ns = options.ns;
  identity.inboundAddress = fmt::format("127.0.0.1:{}", port);
  identity.appAddress = fmt::format("127.0.0.1:{}", port + 1);
  identity.outboundAddress = fmt::format("127.0.0.1:{}", port + 2);
  identity.labels = {{"version", "v1"}};
  return identity;
}

std::string optionalList(const std::vector<std::optional<int64_t>>& values) {
  std::string out = "[";
  for (size_t i = 0; i < values.size(); ++i) {
    if (i > 0) out += ',';
    out += values[i] ? std::to_string(*values[i]) : "null";
  }
  return out + "]";
}

std::string changeJson(const Convergence& c) {
  std::vector<std::string> versions;
  for (const auto& v : c.newVersions) versions.push_back("\"" + v + "\"");
  return fmt::format(
      "{{\"clients\":{},\"converged\":{},\"ack_ns\":{},\"received_ns\":{},\"new_versions\":[{}],"
      "\"responses\":{{\"cds\":{},\"eds\":{},\"lds\":{},\"rds\":{}}},\"failed\":[{}]}}",
      c.clients, c.converged, optionalList(c.ackNs), optionalList(c.receivedNs),
      fmt::join(versions, ","), c.responses[0], c.responses[1], c.responses[2], c.responses[3],
      fmt::join(c.failedClients, ","));
}

/// Answers WAIT lines until QUIT or end of input. Returns false if a stream failed.
bool commandLoop(PushLog& log) {
  std::string line;
  while (std::getline(std::cin, line)) {
    std::istringstream words(line);
    std::string command;
    words >> command;
    if (command == "QUIT") break;
    if (command == "WAIT") {
      std::string typeName;
      int64_t t0 = 0;
      int64_t timeoutMs = 0;
      words >> typeName >> t0 >> timeoutMs;
      const auto type = trellis::bench::typeFromShortName(typeName);
      if (!type || !words || timeoutMs <= 0) {
        fmt::print("ERROR expected WAIT <cds|eds|lds|rds> <t0_ns> <timeout_ms>, got: {}\n", line);
      } else {
        const Convergence c = log.waitChange(*type, t0, std::chrono::milliseconds(timeoutMs));
        fmt::print("CHANGE {}\n", changeJson(c));
      }
    } else if (!command.empty()) {
      fmt::print("ERROR unknown command: {}\n", line);
    }
    std::fflush(stdout);
    if (!log.failures().empty()) return false;
  }
  return log.failures().empty();
}

void printFailures(const PushLog& log) {
  const auto failures = log.failures();
  fmt::print("FAILED {} stream(s) ended; first: sidecar {}\n", failures.size(),
             failures.empty() ? "-" : failures.front());
  std::fflush(stdout);
}

}  // namespace

int main(int argc, char** argv) {
  Options options;
  CLI::App app{"xds_load: simulated trellis-proxy sidecars on ADS streams, for bench/xds_bench.py"};
  app.add_option("--xds", options.xds, "trellisd's xDS address IP:PORT")->required();
  app.add_option("--clients", options.clients, "Simulated sidecars (one ADS stream each)")
      ->check(CLI::Range(1, 20000));
  app.add_option("--streams-per-connection", options.streamsPerConnection,
                 "ADS streams sharing one HTTP/2 connection (1: one connection per sidecar, as "
                 "real sidecars have)")
      ->check(CLI::Range(1, 20000));
  app.add_option("--service", options.service, "SERVICE every sidecar fronts");
  app.add_option("--namespace", options.ns, "NAMESPACE of the sidecars");
  app.add_option("--instance-prefix", options.instancePrefix, "INSTANCE is this + index");
  app.add_option("--first-port", options.firstPort,
                 "Sidecar i announces ports first+3i (inbound), +1 (app), +2 (outbound)");
  app.add_option("--ready-timeout-s", options.readyTimeoutS,
                 "Give up if not every sidecar holds its configuration by then");
  CLI11_PARSE(app, argc, argv);
  if (options.firstPort < 1 || options.firstPort + 3 * options.clients > 65535) {
    std::cerr << "xds_load: --first-port + 3 * --clients must stay within 1..65535\n";
    return 2;
  }

  PushLog log(options.clients);
  std::vector<std::unique_ptr<AdsStub>> stubs;
  std::vector<std::unique_ptr<SimSidecar>> sidecars;
  const int64_t startNs = trellis::bench::monotonicNs();
  for (int i = 0; i < options.clients; ++i) {
    if (i % options.streamsPerConnection == 0) {
      grpc::ChannelArguments args;
      // Channels with equal arguments would share one connection (the global subchannel pool).
      args.SetInt(GRPC_ARG_USE_LOCAL_SUBCHANNEL_POOL, 1);
      args.SetInt("trellis.bench.channel", i);
      stubs.push_back(envoy::service::discovery::v3::AggregatedDiscoveryService::NewStub(
          grpc::CreateCustomChannel(options.xds, grpc::InsecureChannelCredentials(), args)));
    }
    sidecars.push_back(std::make_unique<SimSidecar>(
        i, trellis::xds::client::buildNode(identityOf(options, i)), log));
    sidecars.back()->start(*stubs.back());
  }

  bool ok = true;
  const int ready = log.waitReady(options.clients, std::chrono::seconds(options.readyTimeoutS));
  if (!log.failures().empty()) {
    printFailures(log);
    ok = false;
  } else if (ready < options.clients) {
    fmt::print("FAILED only {} of {} sidecars hold their configuration after {} s\n", ready,
               options.clients, options.readyTimeoutS);
    std::fflush(stdout);
    ok = false;
  } else {
    fmt::print("READY {} {:.1f}\n", ready, (trellis::bench::monotonicNs() - startNs) / 1e6);
    std::fflush(stdout);
    if (!commandLoop(log)) {
      printFailures(log);
      ok = false;
    }
  }
  for (auto& sidecar : sidecars) sidecar->close();
  for (auto& sidecar : sidecars) sidecar->waitDone();
  return ok ? 0 : 1;
}
