#include "push_log.h"

#include <time.h>

#include <set>

namespace trellis::bench {

const char* shortName(XdsType type) {
  switch (type) {
    case XdsType::kCds:
      return "cds";
    case XdsType::kEds:
      return "eds";
    case XdsType::kLds:
      return "lds";
    case XdsType::kRds:
      return "rds";
  }
  return "?";
}

std::optional<XdsType> typeFromShortName(const std::string& name) {
  for (int i = 0; i < kXdsTypes; ++i) {
    if (name == shortName(static_cast<XdsType>(i))) return static_cast<XdsType>(i);
  }
  return std::nullopt;
}

int64_t monotonicNs() {
  timespec now{};
  clock_gettime(CLOCK_MONOTONIC, &now);
  return static_cast<int64_t>(now.tv_sec) * 1'000'000'000 + now.tv_nsec;
}

PushLog::PushLog(int clients) : events_(clients), isReady_(clients, false) {}

void PushLog::recordAck(int client, PushEvent event) {
  // No notification: waitChange polls, so that a thousand ACKs do not wake it a thousand times.
  std::lock_guard lock(mu_);
  events_[client].push_back(std::move(event));
}

void PushLog::recordReady(int client) {
  {
    std::lock_guard lock(mu_);
    if (isReady_[client]) return;
    isReady_[client] = true;
    ++ready_;
  }
  changed_.notify_all();
}

void PushLog::recordFailure(int client, const std::string& why) {
  {
    std::lock_guard lock(mu_);
    failures_.emplace_back(client, why);
  }
  changed_.notify_all();
}

int PushLog::waitReady(int count, std::chrono::milliseconds timeout) {
  std::unique_lock lock(mu_);
  changed_.wait_for(lock, timeout, [&] { return ready_ >= count || !failures_.empty(); });
  return ready_;
}

Convergence PushLog::waitChange(XdsType type, int64_t t0Ns, std::chrono::milliseconds timeout) {
  // The times reported are those recorded by the sidecars; polling only delays the report.
  constexpr auto kPoll = std::chrono::milliseconds(2);
  const auto deadline = std::chrono::steady_clock::now() + timeout;
  std::unique_lock lock(mu_);
  while (true) {
    Convergence now = convergenceLocked(type, t0Ns);
    if (now.converged == now.clients || !failures_.empty() ||
        std::chrono::steady_clock::now() >= deadline) {
      return now;
    }
    changed_.wait_for(lock, kPoll);
  }
}

std::vector<std::string> PushLog::failures() const {
  std::lock_guard lock(mu_);
  std::vector<std::string> out;
  for (const auto& [client, why] : failures_) out.push_back(std::to_string(client) + ": " + why);
  return out;
}

Convergence PushLog::convergenceLocked(XdsType type, int64_t t0Ns) const {
  Convergence out;
  out.clients = static_cast<int>(events_.size());
  out.ackNs.resize(events_.size());
  out.receivedNs.resize(events_.size());
  std::set<std::string> versions;
  for (size_t client = 0; client < events_.size(); ++client) {
    // The version held at t0: the last one of this type received before it.
    std::optional<std::string> held;
    for (const PushEvent& event : events_[client]) {
      if (event.receivedNs >= t0Ns) {
        ++out.responses[static_cast<int>(event.type)];
        continue;
      }
      if (event.type == type) held = event.version;
    }
    for (const PushEvent& event : events_[client]) {
      if (event.type != type || event.receivedNs < t0Ns || event.version == held) continue;
      out.ackNs[client] = event.ackedNs - t0Ns;
      out.receivedNs[client] = event.receivedNs - t0Ns;
      versions.insert(event.version);
      ++out.converged;
      break;
    }
  }
  out.newVersions.assign(versions.begin(), versions.end());
  for (const auto& [client, why] : failures_) out.failedClients.push_back(client);
  return out;
}

}  // namespace trellis::bench
