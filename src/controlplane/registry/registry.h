#pragma once
// The service registry's live half: workload instances announced by the proxies that connect to
// trellisd (service, address, ports, labels). An instance whose proxy disconnects stays for a
// grace period, so a trellisd restart or a brief network blip does not empty a service; if the
// proxy is not back by then, its endpoints leave the registry and traffic stops going to them.
//
// Pure logic with the clock passed in, so that liveness is testable without sleeping; the ADS
// server calls it from its thread and turns `version()` changes into EDS pushes.

#include <chrono>
#include <cstdint>
#include <map>
#include <optional>
#include <string>
#include <vector>

namespace trellis::controlplane {

using Clock = std::chrono::steady_clock;

struct Registration {
  std::string proxyId;  // stable per workload instance (node id)
  std::string ns;
  std::string service;
  std::string address;  // IP literal
  std::vector<uint16_t> ports;
  std::map<std::string, std::string> labels;
  /// The SPIFFE ID its proxy's certificate carries; "" for a proxy without one (plaintext).
  std::string identity;
};

struct RegisteredEndpoint {
  std::string proxyId;
  std::string address;
  std::vector<uint16_t> ports;
  std::map<std::string, std::string> labels;
  std::string identity;   // "" : plaintext
  bool connected = true;  // false while in its grace period
};

class Registry {
 public:
  explicit Registry(std::chrono::milliseconds grace) : grace_(grace) {}

  /// A proxy (re)connected: its instance is (again) an endpoint of its service.
  void connected(const Registration& registration);
  /// Its stream ended: the endpoint stays until `now + grace` unless it reconnects.
  void disconnected(const std::string& proxyId, Clock::time_point now);
  /// An instance known before trellisd restarted: an endpoint again, in its grace period from
  /// `now`, so that proxies reconnecting before it do not see its service emptied.
  void restore(const Registration& registration, Clock::time_point now);
  bool contains(const std::string& proxyId) const { return instances_.count(proxyId) > 0; }
  /// Removes endpoints whose grace ran out; returns how many left.
  size_t expire(Clock::time_point now);
  /// When the next grace period ends, if any is running (for the caller's timer).
  std::optional<Clock::time_point> nextExpiry() const;

  /// Endpoints of one service, ordered by proxy id (stable output for stable EDS versions).
  std::vector<RegisteredEndpoint> endpoints(const std::string& ns,
                                            const std::string& service) const;
  /// Rises whenever any service's endpoint set changes.
  uint64_t version() const { return version_; }
  size_t size() const { return instances_.size(); }

 private:
  struct Instance {
    Registration registration;
    std::optional<Clock::time_point> expiresAt;  // set while disconnected
  };
  std::chrono::milliseconds grace_;
  std::map<std::string, Instance> instances_;  // by proxy id
  uint64_t version_ = 0;
};

}  // namespace trellis::controlplane
