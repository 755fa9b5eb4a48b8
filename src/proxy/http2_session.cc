#include "proxy/http2_session.h"

#include <fmt/format.h>

#include "common/logging.h"
#include "http/http2/pump.h"
#include "proxy/http2_exchange.h"

namespace trellis::proxy {
namespace {

constexpr size_t kSocketHighWater = size_t{256} * 1024;

http2::Http2Settings codecSettings(const config::Http2Limits& limits) {
  http2::Http2Settings s;
  s.maxConcurrentStreams = limits.maxConcurrentStreams;
  s.initialWindowSize = limits.initialStreamWindowSize;
  s.connectionWindowSize = limits.connectionWindowSize;
  s.maxFrameSize = limits.maxFrameSize;
  s.maxHeaderListSize = limits.maxHeaderListSize;
  s.maxResetsPerWindow = limits.maxResetsPerSecond;
  s.resetWindowMs = 1000;
  // A stream's queue holds one window's worth: enough to keep the client's window full.
  s.streamSendBufferBytes = std::max<size_t>(limits.initialStreamWindowSize, size_t{16} * 1024);
  return s;
}

}  // namespace

Http2Session::Http2Session(Worker& worker, std::unique_ptr<Connection> down, std::string peerIp,
                           std::shared_ptr<const WorkerConfig> config,
                           const ListenerRuntime* listener)
    : worker_(worker),
      config_(std::move(config)),
      listener_(listener),
      listenerName_(listener_->config->name),
      peerIp_(std::move(peerIp)),
      down_(std::move(down)),
      scratch_(&worker.buffers()),
      idleTimer_([this] {
        listener_->stats->idleTimeouts.inc();
        drain();
      }),
      stallTimer_([this] { checkStall(); }),
      goawayTimer_([this] {
        codec_->goAway(http2::kNoError, false);
        flush();
      }) {
  down_->setOwner(this);
  if (down_->tls() && !down_->peerIdentity().empty()) {
    clientCert_ = fmt::format("By={};URI={}", down_->tlsStream()->context()->localIdentity(),
                              down_->peerIdentity());
  }
  codec_ = std::make_unique<http2::Http2Connection>(
      http2::Http2Connection::Role::kServer, codecSettings(listener_->config->http.http2), *this,
      worker.stats().http2Downstream.codec, &worker.buffers());
  worker_.stats().http2Downstream.connectionsActive.add();
  listener_->stats->connectionsActive.add();
}

Http2Session::~Http2Session() {
  exchanges_.clear();
  worker_.stats().http2Downstream.connectionsActive.sub();
  listener_->stats->connectionsActive.sub();
}

void Http2Session::begin() {
  codec_->start();
  armIdle();
  onConnectionEvent(*down_, EPOLLIN);
}

void Http2Session::drain() {
  if (draining_ || closed_) return;
  draining_ = true;
  if (exchanges_.empty()) {
    codec_->goAway(http2::kNoError, false);
    flush();
    if (!closed_ && codec_->closing()) close();
    return;
  }
  // RFC 9113 §6.8: announce first, then name the last stream once in-flight requests arrived.
  codec_->goAway(http2::kNoError, true);
  goawayTimer_.arm(worker_.loop().timers(), 1000);
  scheduleFlush();
}

void Http2Session::onConfigApplied() {
  if (closed_ || draining_) return;
  const config::Http2Limits before = listener_->config->http.http2;  // refresh may drop it
  const config::ListenerProtocol protocol = listener_->config->protocol;
  if (!refreshConfig()) {
    drain();
    return;
  }
  const bool same =
      before == listener_->config->http.http2 && protocol == listener_->config->protocol;
  if (!same) drain();
}

bool Http2Session::refreshConfig() {
  return refreshListener(worker_.config(), listenerName_, config_, listener_);
}

void Http2Session::onConnectionEvent(Connection& /*connection*/, uint32_t events) {
  if (closed_) return;
  if (events & (EPOLLIN | EPOLLRDHUP | EPOLLHUP | EPOLLERR)) {
    http2::PumpResult result = http2::pumpIn(*down_, *codec_);
    if (closed_) return;
    if (result == http2::PumpResult::Error || result == http2::PumpResult::PeerClosed) {
      close();
      return;
    }
    if (result == http2::PumpResult::ProtocolError) {
      // The GOAWAY with the error code is queued: try to deliver it, then close.
      flush();
      close();
      return;
    }
  }
  flush();
}

void Http2Session::flush() {
  if (closed_) return;
  if (!http2::pumpOut(*down_, *codec_, scratch_, kSocketHighWater)) {
    close();
    return;
  }
  if (closed_) return;
  if (codec_->closing() && down_->pendingBytes() == 0) {
    close();
    return;
  }
  if (!exchanges_.empty() && !stallTimer_.armed()) {
    stallMark_ = down_->bytesWritten();
    stallTimer_.arm(
        worker_.loop().timers(),
        static_cast<uint64_t>(listener_->config->http.http2.windowStallTimeout.count()));
  }
}

void Http2Session::checkStall() {
  if (closed_ || exchanges_.empty()) return;
  bool waiting = down_->pendingBytes() > 0;
  for (const auto& [id, exchange] : exchanges_) {
    waiting = waiting || exchange->responseBlocked() || codec_->stalledOnWindow(id);
  }
  if (waiting && down_->bytesWritten() == stallMark_) {
    // Data waits, the peer took nothing for a whole period: its windows (or its socket) stay
    // shut. Holding the streams' buffers forever is what it would like us to do.
    worker_.stats().http2Downstream.windowStalls.inc();
    codec_->goAway(http2::kEnhanceYourCalm, false);
    flush();
    close();
    return;
  }
  stallMark_ = down_->bytesWritten();
  stallTimer_.arm(worker_.loop().timers(),
                  static_cast<uint64_t>(listener_->config->http.http2.windowStallTimeout.count()));
}

void Http2Session::armIdle() {
  idleTimer_.arm(worker_.loop().timers(),
                 static_cast<uint64_t>(listener_->config->http.idleTimeout.count()));
}

void Http2Session::close() {
  if (closed_) return;
  closed_ = true;
  idleTimer_.cancel();
  stallTimer_.cancel();
  goawayTimer_.cancel();
  worker_.loop().cancelBatchEnd(this);
  exchanges_.clear();  // releases upstream streams; counts unfinished requests as aborted
  listener_->stats->bytesReceived.inc(down_->bytesRead());
  listener_->stats->bytesSent.inc(down_->bytesWritten());
  down_->setOwner(nullptr);
  worker_.loop().deferDestroy(std::move(down_));
  worker_.release(this);
}

// ---------------------------------------------------------------------------------------------
// Codec events

void Http2Session::onHeaders(int32_t streamId, std::span<const http::HeaderField> fields,
                             bool endStream) {
  if (!refreshConfig() && !draining_) {
    // Inside the codec's receive: GOAWAY is sent from the batch end, not from here.
    drainRequested_ = true;
    scheduleFlush();
  }
  idleTimer_.cancel();
  auto exchange = std::make_unique<Http2Exchange>(*this, streamId, config_, *listener_);
  Http2Exchange& ref = *exchange;
  exchanges_.emplace(streamId, std::move(exchange));
  ref.onRequestHeaders(fields, endStream);
  scheduleFlush();
}

void Http2Session::onData(int32_t streamId, std::string_view data, bool endStream) {
  auto it = exchanges_.find(streamId);
  if (it == exchanges_.end()) {
    if (!data.empty()) codec_->consumed(streamId, data.size());
    return;
  }
  it->second->onRequestData(data, endStream);
}

void Http2Session::onTrailers(int32_t streamId, std::span<const http::HeaderField> fields) {
  auto it = exchanges_.find(streamId);
  if (it != exchanges_.end()) it->second->onRequestTrailers(fields);
}

void Http2Session::onStreamReset(int32_t streamId, uint32_t /*errorCode*/) {
  auto it = exchanges_.find(streamId);
  if (it != exchanges_.end()) it->second->onDownstreamReset();
}

void Http2Session::onGoaway(int32_t /*lastStreamId*/, uint32_t /*errorCode*/) {
  // The client will open no more streams; finish the ones in flight, then close.
  draining_ = true;
}

void Http2Session::onStreamClosed(int32_t streamId) {
  auto it = exchanges_.find(streamId);
  if (it == exchanges_.end()) return;
  exchanges_.erase(it);
  if (exchanges_.empty()) {
    stallTimer_.cancel();
    if (draining_) {
      if (goawayTimer_.armed()) {
        goawayTimer_.cancel();
        codec_->goAway(http2::kNoError, false);
      }
      scheduleFlush();
    } else {
      armIdle();
    }
  }
}

void Http2Session::onStreamWritable(int32_t streamId) {
  auto it = exchanges_.find(streamId);
  if (it != exchanges_.end()) it->second->onDownstreamWritable();
}

}  // namespace trellis::proxy
