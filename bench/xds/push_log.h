#pragma once
// What every simulated sidecar of xds_load received and ACKed, with CLOCK_MONOTONIC times (the
// clock Python's time.monotonic_ns() reads), so that the driver can give a t0 taken just before
// it POSTs an apply and ask how long each sidecar took to ACK the change.
//
// Thread-safe: sidecars record from gRPC callback threads; the command loop waits and reads.

#include <chrono>
#include <condition_variable>
#include <cstdint>
#include <mutex>
#include <optional>
#include <string>
#include <vector>

namespace trellis::bench {

/// The four resource types a sidecar holds, in the order trellisd pushes them.
enum class XdsType : uint8_t { kCds, kEds, kLds, kRds };
inline constexpr int kXdsTypes = 4;
const char* shortName(XdsType type);
/// kRds for "rds" etc.; nullopt for anything else.
std::optional<XdsType> typeFromShortName(const std::string& name);

/// CLOCK_MONOTONIC in nanoseconds.
int64_t monotonicNs();

/// One response as the sidecar handled it.
struct PushEvent {
  XdsType type = XdsType::kCds;
  std::string version;
  int64_t receivedNs = 0;  // OnReadDone
  int64_t ackedNs = 0;     // the ACK's write completed (OnWriteDone)
};

/// Per sidecar, how long after t0 it ACKed the first `type` version different from the one it
/// held at t0 (nullopt: not yet).
struct Convergence {
  int clients = 0;
  int converged = 0;
  std::vector<std::optional<int64_t>> ackNs;       // relative to t0, per sidecar
  std::vector<std::optional<int64_t>> receivedNs;  // relative to t0, per sidecar
  std::vector<std::string> newVersions;            // distinct new versions seen, sorted
  int responses[kXdsTypes] = {};                   // every response received since t0, by type
  std::vector<int> failedClients;                  // streams that ended before close
};

class PushLog {
 public:
  explicit PushLog(int clients);

  /// A sidecar ACKed a response (the ACK's write completed).
  void recordAck(int client, PushEvent event);
  /// A sidecar holds its initial configuration (every subscribed type ACKed once).
  void recordReady(int client);
  /// A sidecar's stream ended while it was supposed to be open.
  void recordFailure(int client, const std::string& why);

  /// Waits until `count` sidecars are ready or one failed, at most `timeout`. Returns the number
  /// ready.
  int waitReady(int count, std::chrono::milliseconds timeout);
  /// Waits until every sidecar has ACKed a `type` version (received at or after t0) different
  /// from the one it held at t0, or until `timeout`, and reports the times.
  Convergence waitChange(XdsType type, int64_t t0Ns, std::chrono::milliseconds timeout);

  std::vector<std::string> failures() const;

 private:
  Convergence convergenceLocked(XdsType type, int64_t t0Ns) const;

  mutable std::mutex mu_;
  std::condition_variable changed_;
  std::vector<std::vector<PushEvent>> events_;  // per sidecar, in ACK order
  int ready_ = 0;
  std::vector<bool> isReady_;
  std::vector<std::pair<int, std::string>> failures_;
};

}  // namespace trellis::bench
