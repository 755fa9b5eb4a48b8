#include "resilience/health_checker.h"

#include <algorithm>
#include <cerrno>
#include <cstring>
#include <span>
#include <utility>

#include "common/buffer.h"
#include "common/connection.h"
#include "common/logging.h"
#include "common/socket.h"
#include "http/grpc.h"
#include "http/grpc_health.h"
#include "http/http1_parser.h"
#include "http/http2/http2_connection.h"
#include "http/http2/pump.h"

namespace trellis::resilience {

/// What in-flight probe sessions use besides the loop. Shared with them because a session
/// handed to EventLoop::deferDestroy may be destroyed after the checker.
struct HealthChecker::Resources {
  BufferPool pool{8};  // a handful of probes in flight at a time
  http2::Http2Stats http2Stats;
};

struct HealthChecker::ClusterEntry {
  std::string name;
  config::HealthCheck check;
  std::string authority;     // Host header and :authority
  std::string httpRequest;   // the whole HTTP/1.1 probe request
  bool validRequest = true;  // path and host hold no bytes that would break the request
  std::shared_ptr<ClusterShared> shared;
  ProbeTls tls;                                          // for endpoints with an identity
  HealthCheckStats stats;                                // counters only
  std::map<std::string, std::unique_ptr<Probe>> probes;  // by endpoint address
};

namespace {

/// "shop/billing:80" (a cluster name) → "billing.shop", the Service's mesh name: a cluster
/// name's '/' is not valid in a Host header.
std::string defaultAuthority(const std::string& cluster) {
  const size_t slash = cluster.find('/');
  const size_t colon = cluster.rfind(':');
  if (slash == std::string::npos) return cluster.substr(0, colon);
  std::string service =
      cluster.substr(slash + 1, colon == std::string::npos ? colon : colon - slash - 1);
  return service + "." + cluster.substr(0, slash);
}

constexpr std::string_view kUserAgent = "trellis-health";
// A health answer is tiny; anything larger is not one.
constexpr size_t kMaxGrpcBody = size_t{64} * 1024;
constexpr size_t kSocketHighWater = size_t{64} * 1024;

std::string errnoText(int error) {
  return std::strerror(error != 0 ? error : ECONNREFUSED);
}

/// Request-line and header bytes must not be able to split or end the request.
bool safeInRequest(std::string_view text) {
  return std::none_of(text.begin(), text.end(), [](char c) {
    auto byte = static_cast<unsigned char>(c);
    return byte <= 0x20 || byte == 0x7f;
  });
}

std::string_view findField(std::span<const http::HeaderField> fields, std::string_view name) {
  for (const auto& field : fields) {
    if (field.name == name) return field.value;
  }
  return {};
}

/// One probe: a connection to one endpoint, reporting ok/failed once through `done` (never
/// after abandon()). Owned by the Probe; destroyed through EventLoop::deferDestroy, since the
/// loop may still hold events for its connection in the current batch.
class ProbeSession : public ConnectionOwner {
 public:
  using Done = std::function<void(bool ok, std::string detail)>;

  ProbeSession(EventLoop& loop, std::shared_ptr<HealthChecker::Resources> resources,
               const SocketAddress& address, Done done)
      : loop_(loop), resources_(std::move(resources)), address_(address), done_(std::move(done)) {}
  ~ProbeSession() override = default;
  ProbeSession(const ProbeSession&) = delete;
  ProbeSession& operator=(const ProbeSession&) = delete;

  /// Probes over mutual TLS, insisting on `identity` (a mesh endpoint); before start().
  void useTls(std::shared_ptr<const tls::TlsContext> context, std::string identity) {
    tls_ = std::move(context);
    identity_ = std::move(identity);
  }
  /// Starts connecting. May report a failure before returning.
  void start();
  /// No report follows.
  void abandon() {
    finished_ = true;
    done_ = nullptr;
  }

  void onConnectionEvent(Connection& connection, uint32_t events) override;

 protected:
  /// The connection exists but is not established yet: queue what goes out first.
  virtual void onStart() {}
  virtual void onConnected() = 0;
  /// Readiness on the established connection.
  virtual void onIo(uint32_t events) = 0;
  void finish(bool ok, std::string detail) {
    if (finished_) return;
    finished_ = true;
    Done done = std::move(done_);
    done_ = nullptr;
    if (done) done(ok, std::move(detail));
  }
  bool finished() const { return finished_; }

  EventLoop& loop_;
  std::shared_ptr<HealthChecker::Resources> resources_;  // outlives connection_ (declared first)
  SocketAddress address_;
  std::unique_ptr<Connection> connection_;

 private:
  Done done_;
  bool finished_ = false;
  std::shared_ptr<const tls::TlsContext> tls_;
  std::string identity_;  // "" : plaintext
  bool connectPending_ = true;
};

void ProbeSession::start() {
  int fd = connectTo(address_);
  if (fd < 0) {
    finish(false, "connect: " + errnoText(errno));
    return;
  }
  connection_ = std::make_unique<Connection>(loop_, resources_->pool, fd, true);
  connection_->setOwner(this);
  if (!identity_.empty()) {
    if (tls_ == nullptr) {
      finish(false, "mutual TLS: this proxy has no workload certificate");
      return;
    }
    TlsPeerPolicy policy;
    policy.side = tls::Side::Client;
    policy.expectedPeerIds = {identity_};
    if (!connection_->startTls(tls_, std::move(policy))) {
      finish(false, "TLS: " + std::string(connection_->tlsError()));
      return;
    }
  }
  onStart();
}

void ProbeSession::onConnectionEvent(Connection& /*connection*/, uint32_t events) {
  if (finished_) return;
  // With TLS the handshake's end is reported after connecting() turned false: the flag says
  // whether onConnected() is still due.
  if (connectPending_) {
    int error = 0;
    if (!connection_->finishConnect(error)) {
      if (error == 0 && !(events & (EPOLLERR | EPOLLHUP))) return;  // still in progress
      if (connection_->tls() && !connection_->tlsError().empty()) {
        finish(false, "TLS: " + std::string(connection_->tlsError()));
        return;
      }
      finish(false, "connect: " + errnoText(error));
      return;
    }
    connectPending_ = false;
    onConnected();
    if (finished_) return;
  }
  onIo(events);
}

/// Tcp: healthy iff the connection is established.
class TcpSession final : public ProbeSession {
 public:
  using ProbeSession::ProbeSession;

 private:
  void onConnected() override { finish(true, {}); }
  void onIo(uint32_t /*events*/) override {}
};

/// Http: one GET with Connection: close; the verdict comes from the status line.
class HttpSession final : public ProbeSession {
 public:
  HttpSession(EventLoop& loop, std::shared_ptr<HealthChecker::Resources> resources,
              const SocketAddress& address, Done done, const HealthChecker::ClusterEntry& cluster)
      : ProbeSession(loop, std::move(resources), address, std::move(done)),
        request_(cluster.httpRequest),
        expected_(cluster.check.expectedStatuses) {}

 private:
  void onStart() override {
    // Buffered until the connect completes; finishConnect() flushes it.
    if (!connection_->send(request_)) finish(false, "write: " + errnoText(errno));
  }
  void onConnected() override {}
  void onIo(uint32_t events) override;
  void judge(int status);

  std::string request_;
  std::vector<std::pair<uint16_t, uint16_t>> expected_;
  http::ResponseHead head_;
};

void HttpSession::onIo(uint32_t events) {
  bool eof = false;
  // Past the head limit the parser reports an error, so reading further is never needed.
  const http::Limits limits;
  while (connection_->readReady() && connection_->in().size() <= limits.maxHeadBytes) {
    auto result = connection_->read();
    if (result == Connection::ReadResult::Eof) {
      eof = true;
      break;
    }
    if (result == Connection::ReadResult::Error) {
      finish(false, "read: " + errnoText(errno));
      return;
    }
    if (result == Connection::ReadResult::Again) break;
  }
  Buffer& in = connection_->in();
  while (!in.empty()) {
    http::ParseError error = http::ParseError::None;
    auto status = http::parseResponseHead(in.data(), in.size(), limits, "GET", head_, error);
    if (status == http::ParseStatus::Error) {
      finish(false, "bad response: " + std::string(http::parseErrorName(error)));
      return;
    }
    if (status == http::ParseStatus::Incomplete) break;
    if (head_.status >= 200) {
      judge(head_.status);
      return;
    }
    in.consume(head_.headBytes);  // 1xx: the final head follows
  }
  if (eof) {
    finish(false, "connection closed before a response");
  } else if (events & EPOLLERR) {
    finish(false, "socket error");
  }
}

void HttpSession::judge(int status) {
  for (const auto& [from, to] : expected_) {
    if (status >= from && status <= to) {
      finish(true, {});
      return;
    }
  }
  finish(false, "HTTP status " + std::to_string(status));
}

/// Grpc: /grpc.health.v1.Health/Check over h2c (prior knowledge); healthy iff grpc-status 0
/// and SERVING. Listener callbacks only note the verdict: nghttp2 must not be asked to send
/// from inside its receive callbacks, so the verdict is acted on once pumpIn returns.
class GrpcSession final : public ProbeSession, public http2::Http2Connection::Listener {
 public:
  GrpcSession(EventLoop& loop, const std::shared_ptr<HealthChecker::Resources>& resources,
              const SocketAddress& address, Done done, const HealthChecker::ClusterEntry& cluster)
      : ProbeSession(loop, resources, address, std::move(done)),
        authority_(cluster.authority),
        service_(cluster.check.grpcService),
        codec_(http2::Http2Connection::Role::kClient, http2::Http2Settings{}, *this,
               resources->http2Stats, &resources->pool),
        scratch_(&resources->pool) {}

  void onHeaders(int32_t streamId, std::span<const http::HeaderField> fields,
                 bool endStream) override;
  void onData(int32_t streamId, std::string_view data, bool endStream) override;
  void onTrailers(int32_t streamId, std::span<const http::HeaderField> fields) override;
  void onStreamReset(int32_t streamId, uint32_t errorCode) override;
  void onGoaway(int32_t lastStreamId, uint32_t errorCode) override;
  void onStreamClosed(int32_t streamId) override;

 private:
  void onStart() override;
  void onConnected() override { flush(); }
  void onIo(uint32_t events) override;
  void flush();
  void decide(bool ok, std::string detail) {
    if (decided_) return;
    decided_ = true;
    ok_ = ok;
    detail_ = std::move(detail);
  }
  void judgeTrailers(std::span<const http::HeaderField> fields);

  std::string authority_;
  std::string service_;
  http2::Http2Connection codec_;
  Buffer scratch_;
  std::string body_;
  int32_t streamId_ = -1;
  bool decided_ = false;
  bool ok_ = false;
  std::string detail_;
};

void GrpcSession::onStart() {
  if (!codec_.start()) {
    finish(false, "HTTP/2 session could not start");
    return;
  }
  const http::HeaderField head[] = {
      {":method", "POST"},
      {":scheme", "http"},
      {":path", http::grpc::kHealthCheckPath},
      {":authority", authority_},
      {"content-type", "application/grpc"},
      {"te", "trailers"},
      {"user-agent", kUserAgent},
  };
  streamId_ = codec_.submitRequest(head, true);
  if (streamId_ < 0) {
    finish(false, "HTTP/2 request could not be submitted");
    return;
  }
  const std::string request = http::grpc::encodeHealthCheckRequest(service_);
  if (codec_.submitData(streamId_, request, true) != request.size()) {
    finish(false, "HTTP/2 request body could not be queued");
  }
}

void GrpcSession::flush() {
  if (!http2::pumpOut(*connection_, codec_, scratch_, kSocketHighWater)) {
    finish(false, "write: " + errnoText(errno));
  }
}

void GrpcSession::onIo(uint32_t /*events*/) {
  const http2::PumpResult result = http2::pumpIn(*connection_, codec_);
  const int readError = errno;
  if (!decided_) {
    switch (result) {
      case http2::PumpResult::Ok:
        // A reset before the response head closes the stream without a listener call.
        if (codec_.activeStreams() == 0) decide(false, "stream closed before a response");
        break;
      case http2::PumpResult::ProtocolError:
        decide(false, "HTTP/2 protocol error (sent GOAWAY " +
                          std::string(http2::errorCodeName(codec_.fatalErrorCode())) + ")");
        break;
      case http2::PumpResult::Error:
        decide(false, "read: " + errnoText(readError));
        break;
      case http2::PumpResult::PeerClosed:
        decide(false, "connection closed before a response");
        break;
    }
  }
  if (decided_) {
    // Best effort: let the server know the connection is done with before it is closed.
    codec_.goAway(http2::kNoError, false);
    http2::pumpOut(*connection_, codec_, scratch_, kSocketHighWater);
    finish(ok_, std::move(detail_));
    return;
  }
  flush();
  if (!finished() && codec_.closing()) finish(false, "HTTP/2 connection closed");
}

void GrpcSession::onHeaders(int32_t streamId, std::span<const http::HeaderField> fields,
                            bool endStream) {
  if (streamId != streamId_ || decided_) return;
  std::string_view status =
      fields.empty() || fields[0].name != ":status" ? std::string_view() : fields[0].value;
  if (status.starts_with('1')) return;  // informational
  if (status != "200") {
    decide(false, "HTTP status " + std::string(status));
    return;
  }
  std::string_view contentType = findField(fields, "content-type");
  if (!http::grpc::isGrpcContentType(contentType)) {
    decide(false, "content-type '" + std::string(contentType) + "' is not gRPC");
    return;
  }
  if (endStream) judgeTrailers(fields);  // Trailers-Only
}

void GrpcSession::onData(int32_t streamId, std::string_view data, bool endStream) {
  if (streamId != streamId_) return;
  if (!data.empty()) codec_.consumed(streamId, data.size());
  if (decided_) return;
  if (body_.size() + data.size() > kMaxGrpcBody) {
    decide(false, "response larger than " + std::to_string(kMaxGrpcBody) + " bytes");
    return;
  }
  body_.append(data);
  if (endStream) decide(false, "stream ended without grpc-status");
}

void GrpcSession::onTrailers(int32_t streamId, std::span<const http::HeaderField> fields) {
  if (streamId == streamId_) judgeTrailers(fields);
}

void GrpcSession::judgeTrailers(std::span<const http::HeaderField> fields) {
  if (decided_) return;
  std::string_view code = findField(fields, "grpc-status");
  if (code.empty()) {
    decide(false, "no grpc-status");
    return;
  }
  auto status = http::grpc::parseStatus(code).value_or(http::grpc::Status::Unknown);
  if (status != http::grpc::Status::Ok) {
    std::string detail =
        "grpc-status " + std::string(code) + " " + std::string(http::grpc::statusName(status));
    std::string_view message = findField(fields, "grpc-message");
    if (!message.empty()) {
      detail += ": ";
      http::grpc::percentDecodeMessage(message, detail);
    }
    decide(false, std::move(detail));
    return;
  }
  auto serving = http::grpc::parseHealthCheckResponse(body_);
  if (!serving) {
    decide(false, "malformed HealthCheckResponse");
  } else if (*serving != http::grpc::ServingStatus::Serving) {
    static constexpr std::string_view kNames[] = {"UNKNOWN", "SERVING", "NOT_SERVING",
                                                  "SERVICE_UNKNOWN"};
    decide(false, "serving status " + std::string(kNames[static_cast<size_t>(*serving)]));
  } else {
    decide(true, {});
  }
}

void GrpcSession::onStreamReset(int32_t streamId, uint32_t errorCode) {
  if (streamId == streamId_) {
    decide(false, "stream reset: " + std::string(http2::errorCodeName(errorCode)));
  }
}

void GrpcSession::onGoaway(int32_t lastStreamId, uint32_t errorCode) {
  // A graceful GOAWAY that covers our stream still gets it answered.
  if (lastStreamId < streamId_) {
    decide(false, "GOAWAY " + std::string(http2::errorCodeName(errorCode)));
  }
}

void GrpcSession::onStreamClosed(int32_t streamId) {
  if (streamId == streamId_) decide(false, "stream closed before a response");
}

}  // namespace

// ---------------------------------------------------------------------------------------------

/// The probing of one endpoint: its schedule, the session in flight and the consecutive
/// counts. Destroyed through EventLoop::deferDestroy, as it may be removed from inside one of
/// its own timer callbacks (a probe listener calling update() or stop()); after cancel() it
/// touches nothing but itself.
class HealthChecker::Probe {
 public:
  Probe(HealthChecker& owner, ClusterEntry& cluster, std::string key, const SocketAddress& address,
        std::shared_ptr<EndpointHealth> health)
      : owner_(owner),
        cluster_(&cluster),
        key_(std::move(key)),
        address_(address),
        health_(std::move(health)),
        intervalTimer_([this] { start(); }),
        timeoutTimer_([this] { onTimeout(); }) {}

  void schedule(uint64_t delayMs) { intervalTimer_.arm(owner_.loop_.timers(), delayMs); }
  void setHealth(std::shared_ptr<EndpointHealth> health) { health_ = std::move(health); }
  void setIdentity(std::string identity) { identity_ = std::move(identity); }
  bool inFlight() const { return session_ != nullptr; }
  EndpointHealth& health() const { return *health_; }
  ClusterEntry& cluster() const { return *cluster_; }

  void cancel() {
    intervalTimer_.cancel();
    timeoutTimer_.cancel();
    if (session_ != nullptr) {
      session_->abandon();
      owner_.loop_.deferDestroy(std::move(session_));
    }
  }

 private:
  void start();
  void onTimeout();
  void record(ProbeOutcome outcome, std::string_view detail);

  HealthChecker& owner_;
  ClusterEntry* cluster_;
  std::string key_;
  SocketAddress address_;
  std::shared_ptr<EndpointHealth> health_;
  std::string identity_;  // a mesh endpoint's SPIFFE ID: probed over mutual TLS
  Timer intervalTimer_;
  Timer timeoutTimer_;
  std::unique_ptr<ProbeSession> session_;
  uint32_t successes_ = 0;  // consecutive
  uint32_t failures_ = 0;   // consecutive
};

void HealthChecker::Probe::start() {
  const ClusterEntry& cluster = *cluster_;
  auto done = [this](bool ok, const std::string& detail) {
    timeoutTimer_.cancel();
    owner_.loop_.deferDestroy(std::move(session_));
    record(ok ? ProbeOutcome::Ok : ProbeOutcome::Failed, detail);
  };
  std::unique_ptr<ProbeSession> session;
  switch (cluster.check.type) {
    case config::HealthCheck::Type::Http:
      if (!cluster.validRequest) {
        record(ProbeOutcome::Failed, "the health check's path or host is not valid in a request");
        return;
      }
      session = std::make_unique<HttpSession>(owner_.loop_, owner_.resources_, address_,
                                              std::move(done), cluster);
      break;
    case config::HealthCheck::Type::Grpc:
      session = std::make_unique<GrpcSession>(owner_.loop_, owner_.resources_, address_,
                                              std::move(done), cluster);
      break;
    case config::HealthCheck::Type::Tcp:
      session =
          std::make_unique<TcpSession>(owner_.loop_, owner_.resources_, address_, std::move(done));
      break;
  }
  if (!identity_.empty()) session->useTls(cluster.tls.forCheck(cluster.check.type), identity_);
  ProbeSession* raw = session.get();
  session_ = std::move(session);
  timeoutTimer_.arm(owner_.loop_.timers(),
                    static_cast<uint64_t>(std::max<int64_t>(1, cluster.check.timeout.count())));
  raw->start();  // may report (and so move session_ away) before returning
}

void HealthChecker::Probe::onTimeout() {
  if (session_ == nullptr) return;
  session_->abandon();
  owner_.loop_.deferDestroy(std::move(session_));
  record(ProbeOutcome::TimedOut,
         "no answer within " + std::to_string(cluster_->check.timeout.count()) + " ms");
}

void HealthChecker::Probe::record(ProbeOutcome outcome, std::string_view detail) {
  ClusterEntry& cluster = *cluster_;
  const config::HealthCheck& check = cluster.check;
  switch (outcome) {
    case ProbeOutcome::Ok:
      ++cluster.stats.probesOk;
      break;
    case ProbeOutcome::Failed:
      ++cluster.stats.probesFailed;
      break;
    case ProbeOutcome::TimedOut:
      ++cluster.stats.probesTimedOut;
      break;
  }
  const auto verdict =
      static_cast<EndpointHealth::Verdict>(health_->activeHealth.load(std::memory_order_relaxed));
  auto next = verdict;
  if (outcome == ProbeOutcome::Ok) {
    failures_ = 0;
    ++successes_;
    if (verdict == EndpointHealth::kUnknown ||
        (verdict == EndpointHealth::kUnhealthy &&
         successes_ >= std::max<uint32_t>(1, check.healthyThreshold))) {
      next = EndpointHealth::kHealthy;
    }
  } else {
    successes_ = 0;
    ++failures_;
    if (verdict == EndpointHealth::kUnknown ||
        (verdict == EndpointHealth::kHealthy &&
         failures_ >= std::max<uint32_t>(1, check.unhealthyThreshold))) {
      next = EndpointHealth::kUnhealthy;
    }
  }
  const bool changed = next != verdict;
  if (changed) {
    health_->activeHealth.store(next, std::memory_order_relaxed);
    // Release: a worker that sees the new version also sees the verdict.
    cluster.shared->healthVersion.fetch_add(1, std::memory_order_release);
    if (verdict == EndpointHealth::kUnknown && next == EndpointHealth::kHealthy) {
      log::debug("health check: cluster {} endpoint {} is healthy", cluster.name, key_);
    } else if (next == EndpointHealth::kUnhealthy) {
      log::warn("health check: cluster {} endpoint {} is unhealthy ({})", cluster.name, key_,
                detail);
    } else {
      log::info("health check: cluster {} endpoint {} is healthy again", cluster.name, key_);
    }
  }
  schedule(static_cast<uint64_t>(std::max<int64_t>(1, check.interval.count())));
  if (owner_.listener_) {
    owner_.listener_(ProbeReport{cluster.name, key_, outcome,
                                 outcome == ProbeOutcome::Ok ? std::string_view() : detail, next,
                                 changed});
  }
}

// ---------------------------------------------------------------------------------------------

HealthChecker::HealthChecker(EventLoop& loop, uint64_t seed)
    : loop_(loop), resources_(std::make_shared<Resources>()), random_(seed) {}

HealthChecker::~HealthChecker() {
  stop();
}

uint64_t HealthChecker::firstDelayMs(const config::HealthCheck& check) {
  const auto jitter = static_cast<uint64_t>(std::max<int64_t>(0, check.interval.count()) / 10);
  return std::uniform_int_distribution<uint64_t>(0, jitter)(random_);
}

void HealthChecker::removeProbe(std::unique_ptr<Probe> probe, bool resetVerdict) {
  probe->cancel();
  if (resetVerdict &&
      probe->health().activeHealth.exchange(EndpointHealth::kUnknown, std::memory_order_relaxed) !=
          EndpointHealth::kUnknown) {
    probe->cluster().shared->healthVersion.fetch_add(1, std::memory_order_release);
  }
  loop_.deferDestroy(std::move(probe));
}

void HealthChecker::update(const std::vector<HealthTarget>& targets) {
  std::map<std::string, std::unique_ptr<ClusterEntry>> next;
  for (const HealthTarget& target : targets) {
    const config::Cluster* config = target.cluster;
    if (config == nullptr || !config->healthCheck || target.state.shared == nullptr ||
        next.count(config->name) != 0) {
      continue;
    }
    std::unique_ptr<ClusterEntry> entry;
    bool checkChanged = true;
    if (auto old = clusters_.find(config->name); old != clusters_.end()) {
      entry = std::move(old->second);
      clusters_.erase(old);
      checkChanged = !(entry->check == *config->healthCheck);
    } else {
      entry = std::make_unique<ClusterEntry>();
      entry->name = config->name;
    }
    entry->check = *config->healthCheck;
    entry->authority =
        entry->check.host.empty() ? defaultAuthority(config->name) : entry->check.host;
    entry->validRequest = !entry->check.path.empty() && entry->check.path[0] == '/' &&
                          safeInRequest(entry->check.path) && safeInRequest(entry->authority);
    entry->httpRequest = "GET " + entry->check.path + " HTTP/1.1\r\nHost: " + entry->authority +
                         "\r\nUser-Agent: " + std::string(kUserAgent) +
                         "\r\nConnection: close\r\n\r\n";
    entry->shared = target.state.shared;
    entry->tls = target.tls;

    auto oldProbes = std::move(entry->probes);
    entry->probes.clear();
    for (size_t i = 0; i < config->endpoints.size(); ++i) {
      const config::Endpoint& endpoint = config->endpoints[i];
      auto address = SocketAddress::parse(endpoint.host, endpoint.port);
      if (!address || i >= target.state.endpointState.size() ||
          target.state.endpointState[i] == nullptr) {
        continue;  // the loader rejects such endpoints; nothing to probe or to hold
      }
      std::string key = address->toString();
      if (entry->probes.count(key) != 0) continue;  // listed twice: one EndpointHealth
      std::unique_ptr<Probe> probe;
      if (auto old = oldProbes.find(key); old != oldProbes.end()) {
        probe = std::move(old->second);
        oldProbes.erase(old);
        probe->setHealth(target.state.endpointState[i]);
        probe->setIdentity(endpoint.identity);
        if (checkChanged && !probe->inFlight()) probe->schedule(firstDelayMs(entry->check));
      } else {
        probe =
            std::make_unique<Probe>(*this, *entry, key, *address, target.state.endpointState[i]);
        probe->setIdentity(endpoint.identity);
        probe->schedule(firstDelayMs(entry->check));
      }
      entry->probes.emplace(std::move(key), std::move(probe));
    }
    for (auto& [key, probe] : oldProbes) removeProbe(std::move(probe), true);
    next.emplace(config->name, std::move(entry));
  }
  for (auto& [name, entry] : clusters_) {
    for (auto& [key, probe] : entry->probes) removeProbe(std::move(probe), true);
  }
  clusters_ = std::move(next);
}

void HealthChecker::stop() {
  for (auto& [name, entry] : clusters_) {
    for (auto& [key, probe] : entry->probes) removeProbe(std::move(probe), false);
  }
  clusters_.clear();
}

HealthCheckStats HealthChecker::statsOf(const ClusterEntry& cluster) const {
  HealthCheckStats stats = cluster.stats;
  stats.endpoints = static_cast<uint32_t>(cluster.probes.size());
  stats.endpointsUnhealthy = static_cast<uint32_t>(
      std::count_if(cluster.probes.begin(), cluster.probes.end(), [](const auto& entry) {
        return entry.second->health().activeHealth.load(std::memory_order_relaxed) ==
               EndpointHealth::kUnhealthy;
      }));
  return stats;
}

}  // namespace trellis::resilience
