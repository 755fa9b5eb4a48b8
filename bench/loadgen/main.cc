// trellis-loadgen: a single-threaded HTTP/1.1 keep-alive load generator for bench/run.py.
// Closed loop by default; with --rate, open loop with latency measured from each request's
// scheduled time. Prints a summary, or one JSON object with --json.

#include <signal.h>
#include <sys/prctl.h>

#include <cstdio>

#include <fmt/format.h>
#include <CLI/CLI.hpp>

#include "common/event_loop.h"
#include "common/socket.h"
#include "load_driver.h"

namespace {

using trellis::loadgen::LoadOptions;
using trellis::loadgen::LoadResult;

void printJson(const LoadOptions& options, const LoadResult& r) {
  const auto& l = r.latency;
  fmt::print(
      "{{\"mode\":\"{}\",\"target\":\"{}\",\"path\":\"{}\",\"connections\":{},\"rate\":{},"
      "\"requests\":{},\"errors\":{},\"non2xx\":{},\"failed_requests\":{},"
      "\"connection_errors\":{},\"timed_out\":{},\"warmup_requests\":{},\"elapsed_s\":{:.6f},"
      "\"rps\":{:.1f},\"max_queue\":{},\"max_scheduler_lag_us\":{:.1f},"
      "\"latency_us\":{{\"count\":{},\"mean\":{:.1f},\"p50\":{:.1f},\"p90\":{:.1f},"
      "\"p99\":{:.1f},\"p999\":{:.1f},\"max\":{:.1f}}}}}\n",
      options.rate > 0 ? "open" : "closed", options.target, options.path, options.connections,
      options.rate, r.requests, r.errors(), r.non2xx, r.failedRequests, r.connectionErrors,
      r.timedOut, r.warmupRequests, r.elapsedS, r.rps, r.maxQueue, r.maxSchedulerLagUs, l.count,
      l.mean, l.p50, l.p90, l.p99, l.p999, l.max);
}

void printText(const LoadOptions& options, const LoadResult& r) {
  const auto& l = r.latency;
  fmt::print("{} loop against {}{} over {} connections{}\n", options.rate > 0 ? "open" : "closed",
             options.target, options.path, options.connections,
             options.rate > 0 ? fmt::format(" at {:.0f} req/s", options.rate) : "");
  fmt::print(
      "  requests {}  errors {} (non-2xx {}, failed {}, timed out {}, connection errors {})\n",
      r.requests, r.errors(), r.non2xx, r.failedRequests, r.timedOut, r.connectionErrors);
  fmt::print("  {:.1f} req/s over {:.3f} s\n", r.rps, r.elapsedS);
  fmt::print("  latency us: p50 {:.1f}  p90 {:.1f}  p99 {:.1f}  p99.9 {:.1f}  max {:.1f}\n", l.p50,
             l.p90, l.p99, l.p999, l.max);
  if (options.rate > 0) {
    fmt::print("  max queue {}  max scheduler lag {:.1f} us\n", r.maxQueue, r.maxSchedulerLagUs);
  }
}

}  // namespace

int main(int argc, char** argv) {
  LoadOptions options;
  bool json = false;
  CLI::App app{"trellis-loadgen: HTTP/1.1 keep-alive load generator (closed or open loop)"};
  app.add_option("--target", options.target, "IP:PORT of the server")->required();
  app.add_option("--host", options.host, "Host header (default: the target)");
  app.add_option("--path", options.path, "Request target")->capture_default_str();
  app.add_option("--connections", options.connections, "Keep-alive connections")
      ->check(CLI::Range(1, 100000))
      ->capture_default_str();
  app.add_option("--duration", options.durationS, "Measured seconds (after warm-up)")
      ->capture_default_str();
  app.add_option("--warmup", options.warmupS, "Seconds of unmeasured load first")
      ->capture_default_str();
  app.add_option("--rate", options.rate,
                 "Requests/s, scheduled uniformly (open loop); 0 = closed loop")
      ->check(CLI::NonNegativeNumber)
      ->capture_default_str();
  app.add_option("--requests", options.requests,
                 "Stop after this many measured requests instead of --duration");
  app.add_option("--drain-timeout", options.drainTimeoutS,
                 "Seconds outstanding requests may take after the end")
      ->capture_default_str();
  app.add_option("--timeout", options.timeoutS, "Hard limit on the whole run in seconds (0 = none)")
      ->capture_default_str();
  app.add_flag("--json", json, "Print one JSON object");
  CLI11_PARSE(app, argc, argv);

  auto target = trellis::SocketAddress::parseHostPort(options.target);
  if (!target) {
    fmt::print(stderr, "trellis-loadgen: --target must be IP:PORT, got '{}'\n", options.target);
    return 2;
  }
  ::signal(SIGPIPE, SIG_IGN);
  // The default 50 us timer slack would delay every open-loop send by that much.
  ::prctl(PR_SET_TIMERSLACK, 1UL, 0UL, 0UL, 0UL);

  trellis::EventLoop loop;
  LoadResult result;
  {
    trellis::loadgen::LoadDriver driver(loop, *target, options);
    result = driver.run();
  }
  if (json) {
    printJson(options, result);
  } else {
    printText(options, result);
  }
  return result.requests > 0 ? 0 : 1;
}
