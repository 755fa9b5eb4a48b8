#include "proxy/tls_handshake.h"

#include <atomic>

#include "common/logging.h"

namespace trellis::proxy {
namespace {

constexpr unsigned char kTlsHandshakeRecord = 0x16;

bool contains(std::string_view text, std::string_view part) {
  return text.find(part) != std::string_view::npos;
}

/// A server name for a cluster: SNI is a host name, which "ns/name:port" is not. Identity is
/// checked by SPIFFE ID; the name only tells the peer (and packet captures) what is called.
std::string sniFor(std::string_view cluster) {
  std::string sni;
  sni.reserve(cluster.size());
  for (char c : cluster) {
    const bool keep = (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9') ||
                      c == '-' || c == '.' || c == '_';
    sni.push_back(keep ? c : '.');
  }
  if (sni.empty()) sni = "mesh";
  return sni.substr(0, 255);
}

}  // namespace

TlsFailure classifyTlsFailure(std::string_view error) {
  // The order matters: "certificate verify failed: certificate has expired" is an expiry.
  if (contains(error, "peer presented") || contains(error, "URI SAN") ||
      contains(error, "not a SPIFFE ID") || contains(error, "a CA certificate")) {
    return TlsFailure::WrongIdentity;
  }
  if (contains(error, "no client certificate") || contains(error, "certificate required") ||
      contains(error, "did not return a certificate") || contains(error, "presented no")) {
    return TlsFailure::NoPeerCertificate;
  }
  if (contains(error, "expired") || contains(error, "not yet valid")) {
    return TlsFailure::ExpiredCertificate;
  }
  if (contains(error, "certificate verify failed") || contains(error, "unknown ca") ||
      contains(error, "bad certificate") || contains(error, "certificate unknown") ||
      contains(error, "unsupported certificate")) {
    return TlsFailure::UntrustedCertificate;
  }
  if (contains(error, "closed the connection") || contains(error, "reset by peer") ||
      contains(error, "Broken pipe") || contains(error, "unexpected eof")) {
    return TlsFailure::ConnectionClosed;
  }
  return TlsFailure::Protocol;
}

bool startUpstreamTls(Worker& worker, upstream::ClusterRuntime& cluster, int endpoint,
                      Connection& connection, config::UpstreamProtocol protocol) {
  const std::shared_ptr<const MeshTls>& mesh = worker.config()->active->meshTls;
  if (!mesh) {
    static std::atomic<bool> warned{false};
    if (!warned.exchange(true)) {
      log::warn(
          "cluster {}: endpoint {} needs mutual TLS but this proxy has no certificate "
          "(--ca-address or --tls-cert-file); such requests fail with upstream_tls_failure",
          cluster.config.name, cluster.endpointKeys[endpoint]);
    }
    return false;
  }
  tls::PeerPolicy policy;
  policy.side = tls::Side::Client;
  policy.expectedPeerIds.push_back(cluster.config.endpoints[endpoint].identity);
  policy.sni = sniFor(cluster.config.name);
  // "cluster|ip:port": a session is only offered to the upstream that issued it.
  policy.sessionCache = &worker.tlsSessions();
  policy.sessionKey = cluster.endpointKeys[endpoint];
  if (connection.startTls(mesh->client(protocol), std::move(policy))) return true;
  worker.stats()
      .tls.upstreamFailures[static_cast<size_t>(classifyTlsFailure(connection.tlsError()))]
      .inc();
  return false;
}

bool upstreamTlsFailed(Worker& worker, Connection& connection) {
  // A refused TCP connect under TLS has no TLS error: it is a connect failure.
  if (!connection.tls() || connection.tlsError().empty()) return false;
  const TlsFailure reason = classifyTlsFailure(connection.tlsError());
  worker.stats().tls.upstreamFailures[static_cast<size_t>(reason)].inc();
  log::debug("upstream TLS to fd {}: {}", connection.fd(), connection.tlsError());
  return true;
}

// ---------------------------------------------------------------------------------------------
// TlsAcceptor

TlsAcceptor::TlsAcceptor(Worker& worker, std::unique_ptr<Connection> down,
                         const SocketAddress& peer, size_t listenerIndex)
    : worker_(worker),
      config_(worker.config()),
      listener_(&config_->listeners[listenerIndex]),
      down_(std::move(down)),
      peer_(peer),
      timer_([this] { onTimer(); }),
      acceptedMs_(worker.loop().nowMs()) {
  down_->setOwner(this);
}

TlsAcceptor::~TlsAcceptor() = default;

void TlsAcceptor::begin() {
  const config::Listener& listener = *listener_->config;
  if (!config_->active->meshTls) {
    // Without a certificate a PERMISSIVE listener serves plaintext only (logged at apply); a
    // STRICT one was refused at apply, so this is a listener whose certificate never came.
    if (listener.mtls == config::MtlsMode::Permissive) {
      servePlaintext();
    } else {
      fail(TlsFailure::PlaintextRefused);
    }
    return;
  }
  // PERMISSIVE on a TCP or AUTO listener: a client that says nothing (a server-speaks-first
  // protocol) is relayed as plaintext after detectTimeout, as AUTO does.
  uint64_t waitMs = static_cast<uint64_t>(listener.tlsHandshakeTimeout.count());
  if (listener.mtls == config::MtlsMode::Permissive && listener.servesTcp()) {
    waitMs = std::min(waitMs, static_cast<uint64_t>(listener.detectTimeout.count()));
  }
  timer_.arm(worker_.loop().timers(), waitMs);
  if (down_->readReady()) onFirstBytes();
}

void TlsAcceptor::drain() {
  close();
}

void TlsAcceptor::onConnectionEvent(Connection& /*connection*/, uint32_t /*events*/) {
  if (!down_) return;
  if (!handshaking_) {
    onFirstBytes();
    return;
  }
  int error = 0;
  if (!down_->finishConnect(error)) {
    if (error != 0) fail(classifyTlsFailure(down_->tlsError()));
    return;
  }
  TlsStats& stats = worker_.stats().tls;
  stats.downstreamHandshakes.inc();
  if (down_->sessionReused()) stats.downstreamResumed.inc();
  handOff();
}

void TlsAcceptor::onFirstBytes() {
  while (down_ && down_->in().empty() && down_->readReady()) {
    // What is read here goes to the handshake (or the plaintext session) first.
    Connection::ReadResult result = down_->read();
    if (result == Connection::ReadResult::Again) return;
    if (result != Connection::ReadResult::Data && down_->in().empty()) {
      close();  // gone before saying anything: not a handshake
      return;
    }
  }
  if (!down_ || down_->in().empty()) return;
  if (static_cast<unsigned char>(down_->in().data()[0]) == kTlsHandshakeRecord) {
    startHandshake();
    return;
  }
  const ListenerRuntime* current = currentListener();
  if (current == nullptr) {
    close();
  } else if (current->config->mtls != config::MtlsMode::Strict) {
    servePlaintext();
  } else {
    fail(TlsFailure::PlaintextRefused);
  }
}

const ListenerRuntime* TlsAcceptor::currentListener() const {
  return worker_.config()->listenerNamed(listener_->config->name);
}

void TlsAcceptor::startHandshake() {
  handshaking_ = true;
  // The timeout runs from accept: the first byte's wait is part of it.
  const auto timeout = static_cast<uint64_t>(listener_->config->tlsHandshakeTimeout.count());
  const uint64_t spent = worker_.loop().nowMs() - acceptedMs_;
  timer_.arm(worker_.loop().timers(), timeout > spent ? timeout - spent : 0);
  tls::PeerPolicy policy;
  policy.side = tls::Side::Server;  // any identity the bundle vouches for: authorization decides
  if (!down_->startTls(config_->active->meshTls->server, std::move(policy))) {
    fail(classifyTlsFailure(down_->tlsError()));
    return;
  }
  if (!down_->connecting()) onConnectionEvent(*down_, EPOLLIN | EPOLLOUT);
}

void TlsAcceptor::onTimer() {
  if (!down_) return;
  const ListenerRuntime* current = currentListener();
  if (!handshaking_ && current != nullptr && current->config->mtls != config::MtlsMode::Strict) {
    servePlaintext();  // a silent client on a PERMISSIVE TCP/AUTO listener
    return;
  }
  fail(TlsFailure::Timeout);
}

void TlsAcceptor::fail(TlsFailure reason) {
  worker_.stats().tls.downstreamFailures[static_cast<size_t>(reason)].inc();
  if (reason == TlsFailure::PlaintextRefused || reason == TlsFailure::Timeout) {
    log::debug("listener {}: connection from {} closed: {}", listener_->config->name, peer_.ip(),
               tlsFailureName(reason));
  } else {
    log::debug("listener {}: TLS from {} refused: {}", listener_->config->name, peer_.ip(),
               down_->tlsError());
  }
  close();
}

void TlsAcceptor::servePlaintext() {
  worker_.stats().tls.downstreamPlaintext.inc();
  handOff();
}

void TlsAcceptor::handOff() {
  timer_.cancel();
  // A reload during the handshake: the listener is found again by name in the worker's
  // current snapshot, whose index the sessions take.
  const ListenerRuntime* listener = currentListener();
  if (listener == nullptr) {
    close();
    return;
  }
  if (!down_->tls() && listener->config->mtls == config::MtlsMode::Strict) {
    fail(TlsFailure::PlaintextRefused);  // the listener turned STRICT meanwhile
    return;
  }
  const auto index = static_cast<size_t>(listener - worker_.config()->listeners.data());
  const std::string_view alpn = down_->alpn();
  down_->setOwner(nullptr);
  std::unique_ptr<Session> next = makeSession(worker_, std::move(down_), peer_, index, alpn);
  worker_.release(this);
  worker_.adopt(std::move(next));
}

void TlsAcceptor::close() {
  if (!down_) return;
  timer_.cancel();
  down_->setOwner(nullptr);
  worker_.loop().deferDestroy(std::move(down_));
  worker_.release(this);
}

}  // namespace trellis::proxy
