#include "proxy/http_session.h"

#include <algorithm>
#include <charconv>

#include <fmt/format.h>

#include "common/logging.h"
#include "http/protocol_detection.h"
#include "proxy/connection_gate.h"
#include "proxy/head_writer.h"
#include "proxy/http2_session.h"
#include "proxy/local_reply.h"
#include "proxy/mirror_session.h"
#include "proxy/retry_stream.h"
#include "proxy/route_decision.h"
#include "proxy/tls_handshake.h"
#include "routing/route_table.h"
#include "upstream/lb/load_balancer.h"

namespace trellis::proxy {
namespace {

http::Limits parserLimits(const config::HttpLimits& limits) {
  return http::Limits{limits.maxRequestHeadersBytes, limits.maxHeaders, limits.maxUrlBytes};
}

}  // namespace

HttpSession::HttpSession(Worker& worker, std::unique_ptr<Connection> down,
                         const SocketAddress& peer, size_t listenerIndex)
    : worker_(worker),
      config_(worker.config()),
      listener_(&config_->listeners[listenerIndex]),
      listenerName_(listener_->config->name),
      peerIp_(peer.ip()),
      down_(std::move(down)),
      timer_([this] { onTimer(); }),
      connectTimer_([this] {
        if (route_.cluster != nullptr) {
          route_.cluster->stats.connectTimeouts.inc();
          reportOutcome(worker_, *route_.cluster, route_.endpoint, 0);
        }
        releaseUpstream(false);
        localReply(503, LocalReason::UpstreamConnectTimeout, {}, !requestDone_);
        resumePipelined();
      }),
      streamIdle_([this] { onStreamIdle(); }) {
  down_->setOwner(this);
  if (down_->tls() && !down_->peerIdentity().empty()) {
    // Once per connection: every request it carries names the same two identities.
    clientCert_ = fmt::format("By={};URI={}", down_->tlsStream()->context()->localIdentity(),
                              down_->peerIdentity());
  }
  upstreamHead_.setPool(&worker.buffers());
  h2RequestPending_.setPool(&worker.buffers());
  downstreamHead_.setPool(&worker.buffers());
  listener_->stats->connectionsActive.add();
  armTimer(TimerPurpose::Idle, listener_->config->http.idleTimeout.count());
}

void HttpSession::begin() {
  // Bytes read by a protocol sniffer are already buffered; edge-triggered readiness will not
  // announce them again.
  if (!down_->in().empty()) processDownstream();
  if (down_ && down_->readReady()) readDownstream();
}

HttpSession::~HttpSession() {
  // Destroyed without close() at a drain deadline: an HTTP/2 upstream stream must still be
  // given back (its pool outlives the session).
  if (h2up_ != nullptr) h2up_->release();
  proxy::releaseEndpoint(route_);
  listener_->stats->connectionsActive.sub();
  if (down_) {
    listener_->stats->bytesReceived.inc(down_->bytesRead());
    listener_->stats->bytesSent.inc(down_->bytesWritten());
  }
}

void HttpSession::drain() {
  draining_ = true;
  if (state_ == State::ReadingHead && down_->in().empty()) closeWhenFlushed();
}

void HttpSession::closeWhenFlushed() {
  if (down_ && down_->pendingBytes() > 0) {
    closeAfterFlush();
  } else {
    close();
  }
}

void HttpSession::onConnectionEvent(Connection& connection, uint32_t events) {
  if (&connection == down_.get()) {
    onDownstreamEvent(events);
  } else if (up_ && &connection == up_.get()) {
    onUpstreamEvent(events);
  }
}

// ---------------------------------------------------------------------------------------------
// Downstream

void HttpSession::onDownstreamEvent(uint32_t events) {
  if (state_ == State::Closing) {
    // Lingering close: discard input until the client closes, so our reply is not lost to a RST.
    while (down_->readReady()) {
      auto r = down_->read();
      down_->in().clear();
      if (r == Connection::ReadResult::Error) {
        close();
        return;
      }
      if (r == Connection::ReadResult::Eof) downEof_ = true;
    }
    if ((downEof_ && down_->pendingBytes() == 0) || (events & EPOLLERR)) close();
    return;
  }
  if (events & EPOLLOUT) {
    // The client drained some of our output: resume reading the upstream if it was paused.
    if (up_ && !up_->connecting()) readUpstream();
    if (!down_) return;
    ackHttp2Response();
  }
  readDownstream();
}

void HttpSession::readDownstream() {
  const auto& limits = listener_->config->http;
  while (down_ && down_->readReady() && state_ != State::Closing) {
    // Backpressure: stop reading while the upstream has not taken what we already sent.
    if (state_ == State::Proxying || state_ == State::Tunnel) {
      if (up_ && up_->pendingBytes() >= limits.bufferBytes) return;
      if (h2up_ != nullptr && !h2RequestPending_.empty()) return;
      if (state_ == State::Proxying && requestDone_ &&
          down_->in().size() >= limits.maxRequestHeadersBytes) {
        return;  // pipelined requests wait; do not buffer beyond one head
      }
    }
    size_t room = state_ == State::ReadingHead ? limits.maxRequestHeadersBytes + 1024
                                               : static_cast<size_t>(limits.bufferBytes);
    size_t have = down_->in().size();
    if (have >= room) return;
    auto result = down_->read(std::min<size_t>(room - have, size_t{64} * 1024));
    if (result == Connection::ReadResult::Again) return;
    if (state_ == State::Proxying) noteActivity();
    if (result == Connection::ReadResult::Eof || result == Connection::ReadResult::Error) {
      downEof_ = true;
      if (state_ == State::Tunnel) {
        if (up_) up_->shutdownWrite();
        if (upEof_) closeWhenFlushed();
        return;
      }
      if (state_ == State::ReadingHead) {
        if (result == Connection::ReadResult::Error) {
          close();
          return;
        }
        if (down_->in().empty()) {
          closeWhenFlushed();
          return;
        }
      } else if (state_ == State::Proxying) {
        // The client went away before its answer: nothing can be delivered, so the upstream
        // work is cancelled (as Envoy and nginx do; HTTP/1 clients do not half-close).
        close();
        return;
      }
    }
    processDownstream();
    if (result != Connection::ReadResult::Data) return;
  }
}

void HttpSession::processDownstream() {
  while (down_ && state_ != State::Closing) {
    if (state_ == State::Tunnel) {
      tunnelForward(*down_, *up_);
      return;
    }
    if (state_ == State::Proxying) {
      if (h2up_ != nullptr) {
        pushHttp2RequestBody();
      } else {
        forwardRequestBody();
      }
      return;
    }
    // ReadingHead
    if (down_->in().empty()) {
      if (downEof_) closeWhenFlushed();
      return;
    }
    const http::Limits limits = parserLimits(listener_->config->http);
    Buffer& in = down_->in();
    if (firstRequest_ && in.data()[0] == 'P') {
      // Prior-knowledge HTTP/2 (RFC 9113 §3.3) starts with the preface instead of a request.
      std::string_view start(in.data(), std::min(in.size(), http::kHttp2Preface.size()));
      if (http::kHttp2Preface.starts_with(start)) {
        if (start.size() == http::kHttp2Preface.size()) {
          switchToHttp2();
          return;
        }
        if (!downEof_) return;  // wait for the rest of the preface
      }
    }
    // Re-parse only when the new bytes could complete the head: a client trickling one byte at
    // a time then costs O(n), not O(n^2).
    const bool mayBeComplete = http::headMayBeComplete(in.data(), in.size(), headScanned_, limits);
    headScanned_ = in.size();
    http::ParseError error = http::ParseError::None;
    auto status = mayBeComplete
                      ? http::parseRequestHead(in.data(), in.size(), limits, request_, error)
                      : http::ParseStatus::Incomplete;
    if (status == http::ParseStatus::Incomplete) {
      if (downEof_) {
        close();  // a partial head and no more bytes to come
        return;
      }
      // The whole head must arrive within headerTimeout of its first byte (slowloris).
      if (timerPurpose_ != TimerPurpose::Header) {
        armTimer(TimerPurpose::Header, listener_->config->http.headerTimeout.count());
      }
      return;
    }
    if (status == http::ParseStatus::Error) {
      listener_->stats->parseErrors[static_cast<size_t>(error) % 16].inc();
      localReply(http::statusFor(error), LocalReason::BadRequest, http::parseErrorName(error),
                 true);
      return;
    }
    if (!startRequest()) return;
  }
}

bool HttpSession::refreshConfig() {
  return refreshListener(worker_.config(), listenerName_, config_, listener_);
}

void HttpSession::switchToHttp2() {
  timer_.cancel();
  down_->setOwner(nullptr);
  auto session =
      std::make_unique<Http2Session>(worker_, std::move(down_), peerIp_, config_, listener_);
  worker_.release(this);  // deferred: this object outlives the call
  worker_.adopt(std::move(session));
}

bool HttpSession::startRequest() {
  firstRequest_ = false;
  if (!refreshConfig()) draining_ = true;
  exchangeConfig_ = config_;
  beginRequest();
  const auto& limits = listener_->config->http;

  clientIsHttp10_ = request_.versionMinor == 0;
  clientKeepAlive_ = request_.keepAlive && !draining_;
  method_.assign(request_.method);
  chooseRequestId(worker_, request_.find("x-request-id"), requestId_);
  requestFraming_ = request_.framing;
  requestRemaining_ = request_.contentLength;
  requestDone_ = requestFraming_ == http::BodyFraming::None;
  upgradeRequested_ = request_.connectionUpgrade && request_.find("upgrade") != nullptr;
  const bool hasBody = !requestDone_;

  routing::RequestView view{request_.method, request_.host, request_.path, request_.query,
                            request_.headers};
  route_ = decideRoute(worker_, *exchangeConfig_, *listener_, view, peerIp_, down_->peerIdentity(),
                       normalizedPath_);
  RouteDecision& route = route_;
  requestStats_ = route.stats;
  if (route_.rule != nullptr && !route_.rule->redirect) {
    requestBodyLimit_ = route_.rule->maxRequestBodyBytes.value_or(limits.maxRequestBodyBytes);
    if (requestBodyLimit_ != 0 && requestFraming_ == http::BodyFraming::ContentLength &&
        request_.contentLength > requestBodyLimit_) {
      proxy::releaseEndpoint(route);
      localReply(413, LocalReason::RequestBodyTooLarge, {}, true);
      return false;
    }
  }
  if (!route.forward()) {
    localReply(route.localStatus, route.reason, {}, hasBody, route.location, route.retryAfter);
    return state_ == State::ReadingHead;
  }
  const RuleRuntime* runtime = route.runtime;

  // The forwarded head, kept until a response starts so a stale pooled connection can be
  // replaced transparently.
  std::string rewrittenPath;
  auto [path, host] = rewriteTarget(*route_.rule, route_.path, request_.host, rewrittenPath);
  // Upgrades (WebSocket) keep the byte-level path: a 101 commits the connection, so there is
  // nothing to retry.
  if (route_.cluster->config.protocol == config::UpstreamProtocol::Http2 ||
      (needsRetryStream(worker_, route_) && !upgradeRequested_)) {
    return startStreamUpstream(*runtime, path, host);
  }
  ForwardedRequest forwarded{path,
                             request_.query,
                             host,
                             peerIp_,
                             requestId_,
                             upgradeRequested_,
                             requestFraming_ == http::BodyFraming::Chunked};
  forwarded.clientCert = clientCert_;
  upstreamHead_.clear();
  writeUpstreamRequestHead(upstreamHead_, request_,
                           route_.rule->requestHeaders ? &*route_.rule->requestHeaders : nullptr,
                           forwarded);
  if (!route_.rule->mirrors.empty()) startMirror(*runtime);
  down_->in().consume(request_.headBytes);  // request_ views are invalid from here on
  headScanned_ = 0;

  state_ = State::Proxying;
  timer_.cancel();
  armExchangeTimers();
  if (!connectUpstream()) return false;
  if (!up_->send(upstreamHead_.view())) {
    onUpstreamClosed(true);
    return false;
  }
  forwardRequestBody();
  return state_ == State::ReadingHead;
}

void HttpSession::startMirror(const RuleRuntime& runtime) {
  // The copy is built as the body streams through (a tee), bounded by the listener's buffer
  // size; larger bodies are not mirrored rather than buffered.
  if (requestFraming_ == http::BodyFraming::ContentLength &&
      request_.contentLength > listener_->config->http.bufferBytes) {
    listener_->stats->mirrorsSkipped.inc(runtime.mirrors.size());
    return;
  }
  mirrorRuntime_ = &runtime;
  mirrorCopy_.assign(upstreamHead_.view());
  if (requestDone_) launchMirrors();
}

void HttpSession::teeMirror(std::string_view bytes) {
  if (mirrorRuntime_ == nullptr) return;
  if (mirrorCopy_.size() + bytes.size() >
      upstreamHead_.size() + listener_->config->http.bufferBytes) {
    listener_->stats->mirrorsSkipped.inc(mirrorRuntime_->mirrors.size());
    mirrorRuntime_ = nullptr;
    mirrorCopy_.clear();
    return;
  }
  mirrorCopy_.append(bytes);
  if (requestDone_) launchMirrors();
}

void HttpSession::launchMirrors() {
  const RuleRuntime* runtime = mirrorRuntime_;
  mirrorRuntime_ = nullptr;
  for (size_t i = 0; i < runtime->mirrors.size(); ++i) {
    upstream::ClusterRuntime* cluster = runtime->mirrors[i];
    int endpoint =
        cluster != nullptr ? cluster->pick({}, static_cast<int64_t>(worker_.loop().nowMs())) : -1;
    if (endpoint < 0) {
      listener_->stats->mirrorsSkipped.inc();
      continue;
    }
    listener_->stats->mirrorsSent.inc();
    std::string copy = i + 1 == runtime->mirrors.size() ? std::move(mirrorCopy_) : mirrorCopy_;
    worker_.adopt(
        std::make_unique<MirrorSession>(worker_, *cluster, endpoint, std::move(copy), method_));
  }
  mirrorCopy_.clear();
}

// ---------------------------------------------------------------------------------------------
// Upstream

bool HttpSession::connectUpstream() {
  const std::string& key = route_.cluster->endpointKeys[route_.endpoint];
  up_ = worker_.pools().take(key);
  upstreamReused_ = up_ != nullptr;
  if (up_) {
    route_.cluster->stats.connectionsReused.inc();
    up_->setOwner(this);
    return true;
  }
  makeRoomForConnection(worker_, *route_.cluster);
  bool overflow = false;
  auto opened = route_.cluster->connect(route_.endpoint, overflow);
  if (overflow) {
    localReply(503, LocalReason::UpstreamOverflow, {}, !requestDone_);
    return false;
  }
  if (opened.fd < 0) {
    reportOutcome(worker_, *route_.cluster, route_.endpoint, 0);
    localReply(503, LocalReason::UpstreamConnectFailure, {}, !requestDone_);
    return false;
  }
  up_ = std::make_unique<Connection>(worker_.loop(), worker_.buffers(), opened.fd, true);
  up_->holdSlot(std::move(opened.slot));
  if (!secureUpstream(worker_, *route_.cluster, route_.endpoint, *up_,
                      config::UpstreamProtocol::Http1)) {
    reportOutcome(worker_, *route_.cluster, route_.endpoint, 0);
    localReply(503, LocalReason::UpstreamTlsFailure, {}, !requestDone_);
    return false;
  }
  up_->setOwner(this);
  connectTimer_.arm(worker_.loop().timers(), route_.cluster->config.connectTimeout.count());
  return true;
}

void HttpSession::onUpstreamEvent(uint32_t events) {
  // TLS: connecting() is already false when the handshake's end is reported.
  if (up_->connecting() || connectTimer_.armed()) {
    if (!(events & (EPOLLOUT | EPOLLERR | EPOLLHUP))) return;
    int error = 0;
    if (!up_->finishConnect(error)) {
      if (error == 0) return;  // still connecting
      connectTimer_.cancel();
      const bool tlsFailed = upstreamTlsFailed(worker_, *up_);
      if (!tlsFailed) route_.cluster->stats.connectFailures.inc();
      reportOutcome(worker_, *route_.cluster, route_.endpoint, 0);
      releaseUpstream(false);
      localReply(503,
                 tlsFailed ? LocalReason::UpstreamTlsFailure : LocalReason::UpstreamConnectFailure,
                 {}, !requestDone_);
      resumePipelined();
      return;
    }
    connectTimer_.cancel();
    countUpstreamHandshake(worker_, *up_);
  }
  if (events & EPOLLOUT) {
    // The upstream took buffered request bytes: resume the client side.
    if (state_ == State::Proxying && !requestDone_) forwardRequestBody();
    if (state_ == State::Tunnel && down_) tunnelForward(*down_, *up_);
    if (up_ && down_) readDownstream();
    if (!up_) return;
  }
  readUpstream();
}

void HttpSession::readUpstream() {
  while (up_ && up_->readReady()) {
    if (down_->pendingBytes() >= listener_->config->http.bufferBytes) return;  // slow client
    auto result = up_->read();
    if (result == Connection::ReadResult::Data) {
      noteActivity();
      processUpstream();
      continue;
    }
    if (result == Connection::ReadResult::Eof || result == Connection::ReadResult::Error) {
      onUpstreamClosed(result == Connection::ReadResult::Error);
    }
    return;
  }
}

void HttpSession::processUpstream() {
  if (state_ == State::Tunnel) {
    tunnelForward(*up_, *down_);
    return;
  }
  while (up_ && !responseHeadDone_) {
    http::ParseError error = http::ParseError::None;
    auto status = http::parseResponseHead(up_->in().data(), up_->in().size(), http::Limits{},
                                          method_, response_, error);
    if (status == http::ParseStatus::Incomplete) return;
    if (status == http::ParseStatus::Error) {
      route_.cluster->stats.badResponses.inc();
      reportOutcome(worker_, *route_.cluster, route_.endpoint, 0);
      releaseUpstream(false);
      if (responseStarted_) {
        close();
      } else {
        localReply(502, LocalReason::UpstreamBadResponse, {}, true);
      }
      return;
    }
    if (response_.status >= 100 && response_.status < 200 && response_.status != 101) {
      // Interim response (e.g. 100 Continue): relay it, then read the final one. HTTP/1.0
      // clients must not receive 1xx (RFC 9110 §15.2).
      if (!clientIsHttp10_) {
        downstreamHead_.clear();
        writeDownstreamResponseHead(downstreamHead_, response_, nullptr, ForwardedResponse{});
        down_->send(downstreamHead_.view());
        responseStarted_ = true;
      }
      up_->in().consume(response_.headBytes);
      continue;
    }
    responseHeadDone_ = true;
    responseStarted_ = true;
    responseStatus_ = response_.status;
    reportOutcome(worker_, *route_.cluster, route_.endpoint, response_.status);
    if (response_.status == 101) {
      if (!upgradeRequested_) {
        route_.cluster->stats.badResponses.inc();
        releaseUpstream(false);
        close();
        return;
      }
      downstreamHead_.clear();
      ForwardedResponse forwarded;
      forwarded.upgrade = true;
      writeDownstreamResponseHead(downstreamHead_, response_, nullptr, forwarded);
      up_->in().consume(response_.headBytes);
      down_->send(downstreamHead_.view());
      recordResponse(101);
      state_ = State::Tunnel;
      requestDone_ = true;
      armTimer(TimerPurpose::TunnelIdle, listener_->config->tcpIdleTimeout.count());
      tunnelForward(*up_, *down_);
      if (down_ && up_) tunnelForward(*down_, *up_);
      return;
    }
    responseFraming_ = response_.framing;
    responseRemaining_ = response_.contentLength;
    responseKeepAlive_ = response_.keepAlive;
    responseChunks_.reset();
    decodeResponseChunks_ = responseFraming_ == http::BodyFraming::Chunked && clientIsHttp10_;
    if (responseFraming_ == http::BodyFraming::UntilClose || decodeResponseChunks_ ||
        (!requestDone_ && requestFraming_ != http::BodyFraming::None)) {
      clientKeepAlive_ = false;
    }
    if (draining_) clientKeepAlive_ = false;
    ForwardedResponse forwarded;
    forwarded.chunked = responseFraming_ == http::BodyFraming::Chunked && !decodeResponseChunks_;
    forwarded.keepAlive = clientKeepAlive_;
    forwarded.clientIsHttp10 = clientIsHttp10_;
    downstreamHead_.clear();
    writeDownstreamResponseHead(
        downstreamHead_, response_,
        route_.rule->responseHeaders ? &*route_.rule->responseHeaders : nullptr, forwarded);
    up_->in().consume(response_.headBytes);
    forwardResponseBody(downstreamHead_.view());
    return;
  }
  if (up_ && responseHeadDone_) forwardResponseBody({});
}

bool HttpSession::forwardResponseBody(std::string_view head) {
  Buffer& in = up_->in();
  std::string_view body;
  bool done = false;
  size_t consumed = 0;
  switch (responseFraming_) {
    case http::BodyFraming::None:
      done = true;
      break;
    case http::BodyFraming::ContentLength: {
      consumed = static_cast<size_t>(std::min<uint64_t>(in.size(), responseRemaining_));
      body = std::string_view(in.data(), consumed);
      responseRemaining_ -= consumed;
      done = responseRemaining_ == 0;
      break;
    }
    case http::BodyFraming::Chunked: {
      if (decodeResponseChunks_) {
        if (!head.empty()) down_->send(head);
        head = {};
        auto result = responseChunks_.feed(in.data(), in.size(), [this](const char* p, size_t n) {
          down_->send(std::string_view(p, n));
        });
        if (result.error) {
          route_.cluster->stats.badResponses.inc();
          releaseUpstream(false);
          close();
          return false;
        }
        consumed = result.consumed;
        done = result.done;
      } else {
        auto result = responseChunks_.feed(in.data(), in.size());
        if (result.error) {
          route_.cluster->stats.badResponses.inc();
          releaseUpstream(false);
          close();
          return false;
        }
        consumed = result.consumed;
        body = std::string_view(in.data(), consumed);
        done = result.done;
      }
      break;
    }
    case http::BodyFraming::UntilClose:
      consumed = in.size();
      body = std::string_view(in.data(), consumed);
      break;
  }
  if (!head.empty() || !body.empty()) {
    if (!down_->send(head, body)) {
      releaseUpstream(false);
      close();
      return false;
    }
  }
  in.consume(consumed);
  if (done) finishExchange();
  return true;
}

void HttpSession::onUpstreamClosed(bool error) {
  upEof_ = true;
  if (state_ == State::Tunnel) {
    down_->shutdownWrite();
    if (error) {
      close();
    } else if (downEof_) {
      closeWhenFlushed();
    }
    return;
  }
  if (responseHeadDone_ && responseFraming_ == http::BodyFraming::UntilClose && !error) {
    finishExchange();
    return;
  }
  route_.cluster->stats.resets.inc();
  if (!responseStarted_) {
    // A pooled connection the upstream had already closed: replay once on a fresh connection
    // if nothing of the body has been sent (the upstream cannot have acted on the request).
    if (upstreamReused_ && !replayed_ && !requestBodyStarted_ && up_->in().empty()) {
      replayed_ = true;
      releaseUpstream(false);
      if (!connectUpstream()) return;
      if (!up_->send(upstreamHead_.view())) {
        onUpstreamClosed(true);
        return;
      }
      forwardRequestBody();
      return;
    }
    reportOutcome(worker_, *route_.cluster, route_.endpoint, 0);
    releaseUpstream(false);
    localReply(502, LocalReason::UpstreamReset, {}, !requestDone_);
    return;
  }
  // Mid-response: the client cannot be told anything but a closed connection.
  releaseUpstream(false);
  close();
}

bool HttpSession::forwardRequestBody() {
  if (requestDone_ || !up_) return true;
  Buffer& in = down_->in();
  if (in.empty()) return true;
  size_t consumed = 0;
  if (requestFraming_ == http::BodyFraming::ContentLength) {
    consumed = static_cast<size_t>(std::min<uint64_t>(in.size(), requestRemaining_));
    requestRemaining_ -= consumed;
    requestDone_ = requestRemaining_ == 0;
  } else {
    auto result = requestChunks_.feed(in.data(), in.size());
    if (result.error) {
      listener_->stats->parseErrors[static_cast<size_t>(http::ParseError::BadChunk)].inc();
      releaseUpstream(false);
      if (responseStarted_) {
        close();
      } else {
        localReply(400, LocalReason::BadRequest, "bad_chunk", true);
      }
      return false;
    }
    consumed = result.consumed;
    requestDone_ = result.done;
  }
  requestBodyBytes_ += consumed;
  if (requestBodyLimit_ != 0 && requestBodyBytes_ > requestBodyLimit_) {
    releaseUpstream(false);
    if (responseStarted_) {
      close();
    } else {
      localReply(413, LocalReason::RequestBodyTooLarge, {}, true);
    }
    return false;
  }
  if (consumed > 0) {
    requestBodyStarted_ = true;
    teeMirror(std::string_view(in.data(), consumed));
    if (!up_->send(std::string_view(in.data(), consumed))) {
      in.consume(consumed);
      onUpstreamClosed(true);
      return false;
    }
    in.consume(consumed);
  }
  return true;
}

void HttpSession::tunnelForward(Connection& from, Connection& to) {
  Buffer& in = from.in();
  if (in.empty()) return;
  armTimer(TimerPurpose::TunnelIdle, listener_->config->tcpIdleTimeout.count());
  if (!to.send(in.view())) {
    close();
    return;
  }
  in.consume(in.size());
}

// ---------------------------------------------------------------------------------------------
// Completion

void HttpSession::finishExchange() {
  recordResponse(responseStatus_);
  bool reusable = responseKeepAlive_ && requestDone_ && up_ && up_->in().empty() &&
                  responseFraming_ != http::BodyFraming::UntilClose;
  releaseUpstream(reusable);
  if (!requestDone_) clientKeepAlive_ = false;
  if (!clientKeepAlive_ || draining_) {
    closeAfterFlush();
    return;
  }
  resetExchange();
  state_ = State::ReadingHead;
  armTimer(TimerPurpose::Idle, listener_->config->http.idleTimeout.count());
  if (down_->in().empty()) {
    down_->releaseIdleBuffers();
    if (downEof_) closeWhenFlushed();
    return;
  }
  // Pipelined requests already buffered are answered next, in order.
  processDownstream();
  readDownstream();
}

void HttpSession::resumePipelined() {
  // A reply made from an upstream event: requests already buffered would otherwise wait for
  // the client's next bytes.
  if (down_ && state_ == State::ReadingHead && !down_->in().empty()) processDownstream();
}

void HttpSession::beginRequest() {
  if (inRequest_) return;
  inRequest_ = true;
  startMicros_ = EventLoop::monotonicMicros();
  listener_->stats->requestsActive.add();
}

void HttpSession::recordResponse(int status) {
  if (!inRequest_) return;
  inRequest_ = false;
  listener_->stats->requestsActive.sub();
  if (requestStats_ == nullptr) return;
  size_t cls = status >= 100 && status < 600 ? static_cast<size_t>(status / 100) : 0;
  requestStats_->byClass[cls].inc();
  requestStats_->duration.observeMicros(EventLoop::monotonicMicros() - startMicros_);
  requestStats_ = nullptr;
}

void HttpSession::releaseUpstream(bool reusable) {
  connectTimer_.cancel();
  if (h2up_ != nullptr) {
    UpstreamStream* stream = h2up_;
    h2up_ = nullptr;
    stream->release();
  }
  if (!up_) return;
  up_->setOwner(nullptr);
  if (reusable && route_.cluster != nullptr && route_.endpoint >= 0) {
    worker_.pools().put(route_.cluster->endpointKeys[route_.endpoint], std::move(up_),
                        route_.cluster->config.maxIdlePerEndpoint,
                        route_.cluster->config.idleTimeout.count());
  } else {
    up_->releaseSlot();  // now, not at the end of the batch: a replacement may need it
    worker_.loop().deferDestroy(std::move(up_));
  }
  up_.reset();
}

void HttpSession::resetExchange() {
  streamIdle_.cancel();
  proxy::releaseEndpoint(route_);
  // Head scratch buffers go back to the worker's pool: an idle keep-alive connection holds none.
  upstreamHead_.clear();
  upstreamHead_.shrinkIfEmpty();
  downstreamHead_.clear();
  downstreamHead_.shrinkIfEmpty();
  exchangeConfig_.reset();
  route_ = RouteDecision{};
  requestStats_ = nullptr;
  requestDone_ = false;
  requestBodyStarted_ = false;
  requestBodyBytes_ = 0;
  requestChunks_.reset();
  responseChunks_.reset();
  responseHeadDone_ = false;
  responseStarted_ = false;
  responseStatus_ = 0;
  upstreamReused_ = false;
  replayed_ = false;
  h2RequestPending_.clear();
  h2RequestPending_.shrinkIfEmpty();
  h2RequestEnded_ = false;
  h2BodySent_ = false;
  h2Retries_ = 0;
  viaRetryStream_ = false;
  h2ResponseChunked_ = false;
  h2HeadPending_ = false;
  h2ResponseUnacked_ = 0;
  upEof_ = false;
  upgradeRequested_ = false;
  requestId_.clear();
  mirrorRuntime_ = nullptr;
  mirrorCopy_.clear();
}

void HttpSession::localReply(int status, LocalReason reason, std::string_view reasonName,
                             bool closeAfter, std::string_view location, uint32_t retryAfter) {
  if (responseStarted_) {
    close();
    return;
  }
  listener_->stats->localReplies[static_cast<size_t>(reason)].inc();
  if (requestStats_ == nullptr) requestStats_ = listener_->unroutedStats;
  beginRequest();  // replies to unparsable requests count as requests too
  if (reasonName.empty()) reasonName = localReasonName(reason);
  bool keepAlive = !closeAfter && clientKeepAlive_ && !draining_ && state_ != State::Closing;
  downstreamHead_.clear();
  writeLocalReply(downstreamHead_, status, reasonName, requestId_, location, keepAlive, retryAfter);
  down_->send(downstreamHead_.view());
  recordResponse(status);
  releaseUpstream(false);
  if (!keepAlive) {
    closeAfterFlush();
    return;
  }
  // The request had no body (or it was consumed): the connection stays usable.
  if (state_ == State::ReadingHead) {
    down_->in().consume(request_.headBytes);
    headScanned_ = 0;
  }
  resetExchange();
  state_ = State::ReadingHead;
  armTimer(TimerPurpose::Idle, listener_->config->http.idleTimeout.count());
}

// ---------------------------------------------------------------------------------------------
// Lifecycle

void HttpSession::armTimer(TimerPurpose purpose, uint64_t ms) {
  timerPurpose_ = purpose;
  timer_.arm(worker_.loop().timers(), ms);
}

void HttpSession::onTimer() {
  switch (timerPurpose_) {
    case TimerPurpose::Idle:
      listener_->stats->idleTimeouts.inc();
      close();
      return;
    case TimerPurpose::Header:
      listener_->stats->headerTimeouts.inc();
      localReply(408, LocalReason::RequestHeaderTimeout, {}, true);
      return;
    case TimerPurpose::Linger:
      close();
      return;
    case TimerPurpose::TunnelIdle:
      listener_->stats->tcpIdleTimeouts.inc();
      close();
      return;
    case TimerPurpose::RequestTimeout:
      if (route_.cluster != nullptr) route_.cluster->stats.requestTimeouts.inc();
      releaseUpstream(false);
      localReply(504, LocalReason::UpstreamRequestTimeout, {}, !requestDone_);
      resumePipelined();
      return;
  }
}

void HttpSession::armExchangeTimers() {
  const auto timeout = route_.rule->timeouts.request.count();
  if (timeout > 0) armTimer(TimerPurpose::RequestTimeout, static_cast<uint64_t>(timeout));
  const auto idle = route_.rule->timeouts.streamIdle.count() > 0
                        ? route_.rule->timeouts.streamIdle.count()
                        : listener_->config->http.streamIdleTimeout.count();
  streamIdleMs_ = static_cast<uint64_t>(idle);
  if (streamIdleMs_ > 0) {
    noteActivity();
    streamIdle_.arm(worker_.loop().timers(), streamIdleMs_);
  }
}

void HttpSession::onStreamIdle() {
  if (state_ != State::Proxying) return;
  const uint64_t idle = worker_.loop().nowMs() - lastActivityMs_;
  if (idle < streamIdleMs_) {
    streamIdle_.arm(worker_.loop().timers(), streamIdleMs_ - idle);
    return;
  }
  releaseUpstream(false);
  localReply(504, LocalReason::StreamIdleTimeout, {}, !requestDone_);
  resumePipelined();
}

void HttpSession::closeAfterFlush() {
  releaseUpstream(false);
  // The exchange is over: its circuit-breaker and balancer counts must not wait for the linger.
  proxy::releaseEndpoint(route_);
  state_ = State::Closing;
  down_->shutdownWrite();
  // Give the client a moment to read our reply before its unread input would trigger a RST.
  armTimer(TimerPurpose::Linger, 2000);
  if (downEof_ && down_->pendingBytes() == 0) close();
}

void HttpSession::close() {
  if (!down_) return;
  timer_.cancel();
  connectTimer_.cancel();
  streamIdle_.cancel();
  if (inRequest_) {
    if (requestStats_ != nullptr) requestStats_->byClass[0].inc();
    requestStats_ = nullptr;
    inRequest_ = false;
    listener_->stats->requestsActive.sub();
  }
  releaseUpstream(false);
  proxy::releaseEndpoint(route_);
  listener_->stats->bytesReceived.inc(down_->bytesRead());
  listener_->stats->bytesSent.inc(down_->bytesWritten());
  down_->setOwner(nullptr);
  worker_.loop().deferDestroy(std::move(down_));
  down_.reset();
  worker_.release(this);
}

}  // namespace trellis::proxy
