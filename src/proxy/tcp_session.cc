#include "proxy/tcp_session.h"

#include "proxy/route_decision.h"
#include "proxy/tls_handshake.h"
#include "upstream/lb/load_balancer.h"

namespace trellis::proxy {
TcpSession::TcpSession(Worker& worker, std::unique_ptr<Connection> down, const SocketAddress& peer,
                       size_t listenerIndex)
    : worker_(worker),
      config_(worker.config()),
      listener_(&config_->listeners[listenerIndex]),
      down_(std::move(down)),
      idleTimer_([this] {
        listener_->stats->tcpIdleTimeouts.inc();
        close();
      }),
      connectTimer_([this] {
        if (cluster_ != nullptr) cluster_->stats.connectTimeouts.inc();
        close();
      }),
      startMicros_(EventLoop::monotonicMicros()),
      peer_(peer) {
  down_->setOwner(this);
  listener_->stats->connectionsActive.add();
}

void TcpSession::begin() {
  if (!start()) close();
}

TcpSession::~TcpSession() {
  listener_->stats->connectionsActive.sub();
}

void TcpSession::onConfigApplied() {
  if (!down_) return;
  const ListenerRuntime* current = worker_.config()->listenerNamed(listener_->config->name);
  if (current == nullptr) return;  // a removed listener's relays finish on their own
  if (current->config->mtls == config::MtlsMode::Strict && !down_->tls()) {
    worker_.stats().tls.downstreamFailures[static_cast<size_t>(TlsFailure::PlaintextRefused)].inc();
    close();
    return;
  }
  if (!current->authz.policies.empty()) {
    authz::Request request;
    request.principal = down_->peerIdentity();
    request.port = current->config->port;
    if (!authorize(*current, request, peer_.ip())) close();
  }
}

bool TcpSession::start() {
  if (!listener_->authz.policies.empty()) {
    // Only the peer's identity and the port are known: see the TCP rules in authz::evaluate.
    authz::Request request;
    request.principal = down_->peerIdentity();
    request.port = listener_->config->port;
    if (!authorize(*listener_, request, peer_.ip())) return false;
  }
  cluster_ = listener_->tcpCluster;
  if (cluster_ == nullptr) return false;
  upstream::LbContext context;
  if (cluster_->config.hashKey.source == config::HashKey::Source::SourceIp) {
    context.hash = upstream::stableHash(peer_.ip());
  }
  endpoint_ = cluster_->pick(context, static_cast<int64_t>(worker_.loop().nowMs()));
  if (endpoint_ < 0) {
    cluster_->stats.noHealthyEndpoint.inc();
    return false;
  }
  // A TCP connection has nothing to wait with: at maxConnections it is closed at once.
  bool overflow = false;
  auto opened = cluster_->connect(endpoint_, overflow);
  if (opened.fd < 0) {
    endpoint_ = -1;  // not counted as active yet: close() has nothing to give back
    return false;
  }
  cluster_->endpoints[endpoint_].activeRequests++;
  cluster_->stats.activeConnections.add();
  up_ = std::make_unique<Connection>(worker_.loop(), worker_.buffers(), opened.fd, true);
  up_->holdSlot(std::move(opened.slot));
  // A mesh endpoint: the stream is relayed inside mutual TLS, ALPN trellis-tcp.
  if (!secureUpstream(worker_, *cluster_, endpoint_, *up_, config::UpstreamProtocol::Tcp)) {
    return false;
  }
  up_->setOwner(this);
  connectTimer_.arm(worker_.loop().timers(), cluster_->config.connectTimeout.count());
  idleTimer_.arm(worker_.loop().timers(), listener_->config->tcpIdleTimeout.count());
  return true;
}

void TcpSession::onConnectionEvent(Connection& connection, uint32_t events) {
  if (!down_ || !up_) return;
  // TLS: connecting() is already false when the handshake's end is reported.
  if (up_->connecting() || connectTimer_.armed()) {
    if (&connection == up_.get() && (events & (EPOLLOUT | EPOLLERR | EPOLLHUP))) {
      int error = 0;
      if (!up_->finishConnect(error)) {
        if (error == 0) return;
        if (!upstreamTlsFailed(worker_, *up_)) cluster_->stats.connectFailures.inc();
        close();
        return;
      }
      connectTimer_.cancel();
      countUpstreamHandshake(worker_, *up_);
    } else if (&connection == up_.get()) {
      return;
    }
  }
  // Client bytes may wait in down_'s buffer while connecting; move both directions now.
  if (!up_->connecting()) pump(*down_, *up_, downEof_);
  if (up_ && down_) pump(*up_, *down_, upEof_);
  if (up_ && down_ && downEof_ && upEof_ && down_->pendingBytes() == 0 &&
      up_->pendingBytes() == 0) {
    close();
  }
}

void TcpSession::pump(Connection& from, Connection& to, bool& fromEof) {
  const uint32_t limit = listener_->config->http.bufferBytes;
  if (!from.in().empty()) {
    // Bytes read before this session existed (protocol detection) go first.
    if (!to.send(from.in().view())) {
      close();
      return;
    }
    from.in().consume(from.in().size());
  }
  while (!fromEof && from.readReady() && to.pendingBytes() < limit) {
    auto result = from.read();
    if (result == Connection::ReadResult::Again) break;
    if (result == Connection::ReadResult::Error) {
      close();
      return;
    }
    if (!from.in().empty()) {
      idleTimer_.arm(worker_.loop().timers(), listener_->config->tcpIdleTimeout.count());
      if (!to.send(from.in().view())) {
        close();
        return;
      }
      from.in().consume(from.in().size());
    }
    if (result == Connection::ReadResult::Eof) {
      fromEof = true;
      to.shutdownWrite();  // half-close carried across
    }
  }
  if (from.in().empty()) from.releaseIdleBuffers();
}

void TcpSession::close() {
  if (!down_) return;
  idleTimer_.cancel();
  connectTimer_.cancel();
  if (cluster_ != nullptr && endpoint_ >= 0) {
    cluster_->endpoints[endpoint_].activeRequests--;
    cluster_->stats.activeConnections.sub();
    endpoint_ = -1;
  }
  if (listener_->tcpStats != nullptr) {
    listener_->tcpStats->byClass[0].inc();
    listener_->tcpStats->duration.observeMicros(EventLoop::monotonicMicros() - startMicros_);
    listener_->tcpStats->requestBytes.inc(down_->bytesRead());
    listener_->tcpStats->responseBytes.inc(down_->bytesWritten());
  }
  listener_->stats->bytesReceived.inc(down_->bytesRead());
  listener_->stats->bytesSent.inc(down_->bytesWritten());
  down_->setOwner(nullptr);
  worker_.loop().deferDestroy(std::move(down_));
  if (up_) {
    up_->setOwner(nullptr);
    worker_.loop().deferDestroy(std::move(up_));
  }
  worker_.release(this);
}

}  // namespace trellis::proxy
