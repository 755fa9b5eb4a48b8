#pragma once
// Active health checking (config::HealthCheck): the proxy probes every endpoint of the clusters
// that ask for it, from one event loop (the main loop, not a worker), and publishes verdicts in
// EndpointHealth::activeHealth. Workers pick them up through ClusterShared::healthVersion
// (upstream/cluster_runtime.cc), skipping kUnhealthy endpoints unless the cluster is in panic.
//
// Verdicts: an endpoint starts kUnknown, which counts as healthy, so that traffic flows before
// the first probe (Envoy instead holds new hosts back until their first pass). Its first probe
// decides at once (kHealthy or kUnhealthy); after that it takes `unhealthyThreshold`
// consecutive failures to become kUnhealthy and `healthyThreshold` consecutive successes to
// become kHealthy again. Each change bumps the cluster's healthVersion.
//
// Timing: the first probe of an endpoint runs after a random delay of up to 10% of the interval
// (endpoints are not probed in lockstep); each later probe runs `interval` after the previous
// one finished, so probes of one endpoint never overlap. A probe without a verdict within
// `timeout` counts as a failure (a timeout).

#include <cstdint>
#include <functional>
#include <map>
#include <memory>
#include <random>
#include <string>
#include <string_view>
#include <vector>

#include "common/event_loop.h"
#include "config/model.h"
#include "resilience/shared_state.h"
#include "tls/tls_context.h"

namespace trellis::resilience {

/// One cluster to check. `cluster` is read during update() only (what is needed is copied);
/// `state` is kept, which keeps the endpoints' EndpointHealth and the ClusterShared alive.
/// The client TLS contexts a probe of a mesh endpoint (one with an identity) uses, by what it
/// speaks (the ALPN offered differs); null: this proxy has no certificate.
struct ProbeTls {
  std::shared_ptr<const tls::TlsContext> http1;
  std::shared_ptr<const tls::TlsContext> http2;
  std::shared_ptr<const tls::TlsContext> tcp;
  const std::shared_ptr<const tls::TlsContext>& forCheck(config::HealthCheck::Type type) const {
    switch (type) {
      case config::HealthCheck::Type::Grpc:
        return http2;
      case config::HealthCheck::Type::Tcp:
        return tcp;
      case config::HealthCheck::Type::Http:
        break;
    }
    return http1;
  }
};

struct HealthTarget {
  const config::Cluster* cluster = nullptr;
  ClusterState state;  // endpoints parallel to cluster->endpoints
  /// Mesh endpoints are probed over mutual TLS, as traffic reaches them.
  ProbeTls tls;
};

/// Per-cluster probe counts. Every finished probe counts in exactly one of the first three.
struct HealthCheckStats {
  uint64_t probesOk = 0;
  uint64_t probesFailed = 0;        // refused, reset, unexpected status, NOT_SERVING, bad answer
  uint64_t probesTimedOut = 0;      // no verdict within HealthCheck::timeout
  uint32_t endpoints = 0;           // probed now
  uint32_t endpointsUnhealthy = 0;  // of those, kUnhealthy now
};

enum class ProbeOutcome : uint8_t { Ok, Failed, TimedOut };

/// What one probe found (for logs and tests). Views are valid during the call only.
struct ProbeReport {
  std::string_view cluster;
  std::string_view endpoint;  // "ip:port" / "[ip6]:port"
  ProbeOutcome outcome = ProbeOutcome::Ok;
  std::string_view detail;                                     // why it failed; empty when Ok
  EndpointHealth::Verdict verdict = EndpointHealth::kUnknown;  // after this probe
  bool verdictChanged = false;
};

/// Probes endpoints on one EventLoop. Every method must be called on that loop's thread (the
/// proxy posts update() there); nothing blocks. The loop must outlive the checker: probes being
/// torn down are handed to EventLoop::deferDestroy.
class HealthChecker {
 public:
  explicit HealthChecker(EventLoop& loop, uint64_t seed = std::random_device{}());
  ~HealthChecker();
  HealthChecker(const HealthChecker&) = delete;
  HealthChecker& operator=(const HealthChecker&) = delete;

  /// Checks exactly the clusters in `targets` that have a healthCheck. Endpoints (keyed by
  /// cluster name and address) that remain keep their counters and schedule; those that
  /// disappear stop being probed and get their verdict reset to kUnknown (so that a cluster
  /// whose health check was removed does not keep endpoints out forever). A changed
  /// HealthCheck applies from the next probe, which is brought forward to within 10% of the
  /// new interval.
  void update(const std::vector<HealthTarget>& targets);

  /// The targets of an ActiveConfig-like object: `active.snapshot->clusters` (name → Cluster)
  /// and `active.cluster(name)` (→ const ClusterState*). Clusters without healthCheck are left
  /// out.
  template <typename ActiveConfigLike>
  static std::vector<HealthTarget> targetsOf(const ActiveConfigLike& active) {
    std::vector<HealthTarget> targets;
    for (const auto& [name, cluster] : active.snapshot->clusters) {
      if (!cluster.healthCheck) continue;
      const ClusterState* state = active.cluster(name);
      if (state == nullptr) continue;
      HealthTarget target{&cluster, *state, {}};
      if constexpr (requires { active.meshTls; }) {
        if (active.meshTls != nullptr) {
          target.tls = {active.meshTls->clientHttp1, active.meshTls->clientHttp2,
                        active.meshTls->clientTcp};
        }
      }
      targets.push_back(std::move(target));
    }
    return targets;
  }

  /// Cancels every probe, as for shutdown. Verdicts stay as they are.
  void stop();

  /// Calls f(const std::string& cluster, const HealthCheckStats&) for every checked cluster.
  template <typename F>
  void visit(F&& f) const {
    for (const auto& [name, cluster] : clusters_) f(name, statsOf(*cluster));
  }

  /// Called after every probe (tests, debug logging). Verdict changes are logged regardless.
  void setProbeListener(std::function<void(const ProbeReport&)> listener) {
    listener_ = std::move(listener);
  }

  // Implementation details, defined in the .cc.
  struct ClusterEntry;
  class Probe;
  struct Resources;

 private:
  HealthCheckStats statsOf(const ClusterEntry& cluster) const;
  void removeProbe(std::unique_ptr<Probe> probe, bool resetVerdict);
  uint64_t firstDelayMs(const config::HealthCheck& check);

  EventLoop& loop_;
  std::shared_ptr<Resources> resources_;  // shared with probe sessions awaiting destruction
  std::mt19937_64 random_;
  std::map<std::string, std::unique_ptr<ClusterEntry>> clusters_;
  std::function<void(const ProbeReport&)> listener_;
};

}  // namespace trellis::resilience
