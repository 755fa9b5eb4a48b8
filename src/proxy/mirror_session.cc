#include "proxy/mirror_session.h"

#include "proxy/tls_handshake.h"

namespace trellis::proxy {
namespace {
constexpr uint64_t kMirrorTimeoutMs = 10000;
}

MirrorSession::MirrorSession(Worker& worker, upstream::ClusterRuntime& cluster, int endpoint,
                             std::string request, std::string method)
    : worker_(worker),
      config_(worker.config()),
      cluster_(cluster),
      endpoint_(endpoint),
      request_(std::move(request)),
      method_(std::move(method)),
      timeout_([this] { finish(false); }) {
  cluster_.endpoints[endpoint_].activeRequests++;
  cluster_.stats.activeRequests.add();
}

MirrorSession::~MirrorSession() {
  cluster_.endpoints[endpoint_].activeRequests--;
  cluster_.stats.activeRequests.sub();
}

void MirrorSession::begin() {
  const std::string& key = cluster_.endpointKeys[endpoint_];
  connection_ = worker_.pools().take(key);
  if (connection_) {
    cluster_.stats.connectionsReused.inc();
  } else {
    bool overflow = false;  // a mirror never waits for a connection: it is skipped
    auto opened = cluster_.connect(endpoint_, overflow);
    if (opened.fd < 0) {
      finish(false);
      return;
    }
    connection_ = std::make_unique<Connection>(worker_.loop(), worker_.buffers(), opened.fd, true);
    connection_->holdSlot(std::move(opened.slot));
    connectPending_ = true;
    if (!secureUpstream(worker_, cluster_, endpoint_, *connection_,
                        config::UpstreamProtocol::Http1)) {
      finish(false);
      return;
    }
  }
  connection_->setOwner(this);
  timeout_.arm(worker_.loop().timers(), kMirrorTimeoutMs);
  if (!connection_->send(request_)) finish(false);
}

void MirrorSession::onConnectionEvent(Connection&, uint32_t events) {
  if (finished_) return;
  // TLS: connecting() is already false when the handshake's end is reported.
  if (connection_->connecting() || connectPending_) {
    int error = 0;
    if (!connection_->finishConnect(error)) {
      if (error != 0) {
        if (!upstreamTlsFailed(worker_, *connection_)) cluster_.stats.connectFailures.inc();
        finish(false);
      }
      return;
    }
    connectPending_ = false;
    countUpstreamHandshake(worker_, *connection_);
  }
  if (events & (EPOLLIN | EPOLLRDHUP | EPOLLHUP | EPOLLERR)) readResponse();
}

void MirrorSession::readResponse() {
  while (!finished_ && connection_->readReady()) {
    auto result = connection_->read();
    if (result == Connection::ReadResult::Again) return;
    if (result != Connection::ReadResult::Data) {
      finish(false);
      return;
    }
    Buffer& in = connection_->in();
    if (!headDone_) {
      http::ParseError error;
      auto status =
          http::parseResponseHead(in.data(), in.size(), http::Limits{}, method_, response_, error);
      if (status == http::ParseStatus::Incomplete) continue;
      if (status == http::ParseStatus::Error || response_.status < 200) {
        finish(false);  // interim responses or garbage: not worth handling for a shadow copy
        return;
      }
      headDone_ = true;
      remaining_ = response_.contentLength;
      in.consume(response_.headBytes);
    }
    switch (response_.framing) {
      case http::BodyFraming::None:
        finish(in.empty() && response_.keepAlive);
        return;
      case http::BodyFraming::ContentLength: {
        uint64_t take = std::min<uint64_t>(in.size(), remaining_);
        in.consume(static_cast<size_t>(take));
        remaining_ -= take;
        if (remaining_ == 0) finish(in.empty() && response_.keepAlive);
        break;
      }
      case http::BodyFraming::Chunked: {
        auto framed = chunks_.feed(in.data(), in.size());
        in.consume(framed.consumed);
        if (framed.error) finish(false);
        if (framed.done) finish(in.empty() && response_.keepAlive);
        break;
      }
      case http::BodyFraming::UntilClose:
        in.clear();
        break;
    }
  }
}

void MirrorSession::finish(bool reusable) {
  if (finished_) return;
  finished_ = true;
  timeout_.cancel();
  if (connection_) {
    connection_->setOwner(nullptr);
    if (reusable) {
      worker_.pools().put(cluster_.endpointKeys[endpoint_], std::move(connection_),
                          cluster_.config.maxIdlePerEndpoint, cluster_.config.idleTimeout.count());
    } else {
      worker_.loop().deferDestroy(std::move(connection_));
    }
  }
  worker_.release(this);
}

}  // namespace trellis::proxy
