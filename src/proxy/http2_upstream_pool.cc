#include "proxy/http2_upstream_pool.h"

#include <algorithm>

#include "common/connection.h"
#include "common/socket.h"
#include "http/http2/http2_connection.h"
#include "http/http2/pump.h"
#include "proxy/tls_handshake.h"
#include "proxy/worker.h"
#include "upstream/connection_pool.h"

namespace trellis::proxy {
namespace {

constexpr size_t kSocketHighWater = size_t{256} * 1024;

http2::Http2Settings settingsFor(http2::Http2Settings settings, const config::Cluster& cluster) {
  settings.initialWindowSize = cluster.http2InitialStreamWindowSize;
  settings.connectionWindowSize = cluster.http2ConnectionWindowSize;
  return settings;
}

int statusOf(std::span<const http::HeaderField> fields) {
  if (fields.empty() || fields[0].name != ":status") return 0;
  int status = 0;
  for (char c : fields[0].value) status = status * 10 + (c - '0');
  return status;
}

}  // namespace

class Http2UpstreamPool::Conn final : public ConnectionOwner,
                                      public http2::Http2Connection::Listener,
                                      public BatchEndHandler {
 public:
  /// One request's stream; freed once both the handler released it and the codec closed it.
  /// `conn` stays valid until the connection itself goes, so that bytes delivered before the
  /// stream closed can still be acknowledged: the connection window depends on it.
  struct Stream final : UpstreamStream {
    Conn* conn = nullptr;
    int32_t id = -1;
    UpstreamStreamHandler* handler = nullptr;
    size_t outstanding = 0;  // response bytes delivered and not yet consumed
    bool released = false;
    bool finished = false;
    bool requestEnded = false;   // END_STREAM queued on our side
    bool responseEnded = false;  // END_STREAM received

    size_t sendData(std::string_view data, bool endStream) override {
      if (finished || conn == nullptr) return 0;
      size_t accepted = conn->codec_.submitData(id, data, endStream);
      if (endStream && accepted == data.size()) requestEnded = true;
      conn->scheduleFlush();
      return accepted;
    }
    void sendTrailers(std::span<const http::HeaderField> fields) override {
      if (finished || conn == nullptr) return;
      conn->codec_.submitTrailers(id, fields);
      requestEnded = true;
      conn->scheduleFlush();
    }
    void consumed(size_t n) override {
      n = std::min(n, outstanding);
      outstanding -= n;
      if (conn == nullptr || n == 0) return;
      conn->codec_.consumed(id, n);  // a closed stream's bytes still count for the connection
      conn->scheduleFlush();
    }
    void release() override {
      released = true;
      handler = nullptr;
      if (outstanding > 0) consumed(outstanding);
      if (conn == nullptr) {
        delete this;  // the connection is gone
        return;
      }
      if (finished) {
        conn->forgetFinished(this);
        delete this;
        return;
      }
      // A completed exchange closes by itself once the queued END_STREAM is out; an abandoned
      // one, or one whose end waits behind a window the upstream keeps shut, is cancelled.
      if (requestEnded && responseEnded && !conn->codec_.stalledOnWindow(id)) return;
      conn->codec_.resetStream(id, http2::kCancel);
      conn->scheduleFlush();
    }
  };

  Conn(Http2UpstreamPool& pool, std::string key, upstream::ClusterRuntime& cluster,
       upstream::ClusterRuntime::NewConnection opened, uint32_t& learnedMax)
      : pool_(pool),
        learnedMax_(learnedMax),
        key_(std::move(key)),
        clusterStats_(cluster.stats),
        idleTimeoutMs_(static_cast<uint64_t>(cluster.config.idleTimeout.count())),
        socket_(pool.loop_, pool.buffers_, opened.fd, true),
        codec_(http2::Http2Connection::Role::kClient, settingsFor(pool.settings_, cluster.config),
               *this, pool.stats_.codec, &pool.buffers_),
        scratch_(&pool.buffers_),
        connectTimer_([this] {
          clusterStats_.connectTimeouts.inc();
          fail(UpstreamFailure::ConnectTimeout);
        }),
        idleTimer_([this] { close(); }),
        trimTimer_([this] {
          if (streams_.empty()) socket_.releaseTlsBuffers();
        }) {
    socket_.setOwner(this);
    socket_.holdSlot(std::move(opened.slot));
    codec_.start();
    connectTimer_.arm(pool.loop_.timers(),
                      static_cast<uint64_t>(cluster.config.connectTimeout.count()));
    pool_.stats_.connectionsActive.add();
  }

  ~Conn() override {
    // Streams still held by handlers outlive the connection; they only wait for release().
    for (auto& [id, stream] : streams_) {
      pool_.stats_.streamsActive.sub();
      stream->finished = true;
      stream->conn = nullptr;
      if (stream->released) delete stream;
    }
    for (Stream* stream : finishedHeld_) stream->conn = nullptr;
    pool_.stats_.connectionsActive.sub();
  }

  void forgetFinished(Stream* stream) {
    auto it = std::find(finishedHeld_.begin(), finishedHeld_.end(), stream);
    if (it != finishedHeld_.end()) {
      *it = finishedHeld_.back();
      finishedHeld_.pop_back();
    }
  }

  /// May take another stream. Before this connection's SETTINGS arrive, the limit the endpoint
  /// announced on earlier connections applies, so that a burst is not piled onto a new
  /// connection only to be refused.
  bool usable() const {
    return !dead_ && !goaway_ && codec_.canOpenStream() && codec_.activeStreams() < learnedMax_;
  }
  const std::string& key() const { return key_; }
  Connection& socket() { return socket_; }

  UpstreamStream* open(std::span<const http::HeaderField> fields, bool hasBody,
                       UpstreamStreamHandler& handler) {
    int32_t id = codec_.submitRequest(fields, hasBody);
    if (id < 0) return nullptr;
    auto* stream = new Stream;
    stream->conn = this;
    stream->id = id;
    stream->handler = &handler;
    stream->requestEnded = !hasBody;
    streams_.emplace(id, stream);
    idleTimer_.cancel();
    pool_.stats_.streamsTotal.inc();
    pool_.stats_.streamsActive.add();
    scheduleFlush();
    return stream;
  }

  /// No new streams; closes once the current ones end.
  void goAway() {
    goaway_ = true;
    if (streams_.empty()) {
      close();
      return;
    }
    codec_.goAway(http2::kNoError, false);
    scheduleFlush();
  }

  void onBatchEnd() override { flush(); }

  void onConnectionEvent(Connection& /*connection*/, uint32_t events) override {
    if (dead_) return;
    // TLS: connecting() is already false when the handshake's end is reported.
    if (socket_.connecting() || connectTimer_.armed()) {
      int error = 0;
      if (!socket_.finishConnect(error)) {
        if (error == 0 && !(events & (EPOLLERR | EPOLLHUP))) return;
        connectTimer_.cancel();
        if (upstreamTlsFailed(pool_.worker_, socket_)) {
          fail(UpstreamFailure::TlsFailure);
          return;
        }
        clusterStats_.connectFailures.inc();
        fail(UpstreamFailure::ConnectFailure);
        return;
      }
      connectTimer_.cancel();
      countUpstreamHandshake(pool_.worker_, socket_);
    }
    http2::PumpResult result = http2::pumpIn(socket_, codec_);
    if (dead_) return;
    if (result != http2::PumpResult::Ok) {
      if (result == http2::PumpResult::ProtocolError) {
        http2::pumpOut(socket_, codec_, scratch_, kSocketHighWater);  // the GOAWAY, if it fits
      }
      clusterStats_.resets.inc();
      fail(result == http2::PumpResult::ProtocolError ? UpstreamFailure::BadResponse
                                                      : UpstreamFailure::Reset);
      return;
    }
    flush();
  }

  // Codec events --------------------------------------------------------------------------

  void onHeaders(int32_t id, std::span<const http::HeaderField> fields, bool endStream) override {
    Stream* s = find(id);
    if (s == nullptr || s->handler == nullptr) return;
    size_t pseudo = 0;
    while (pseudo < fields.size() && fields[pseudo].name.starts_with(':')) ++pseudo;
    if (endStream) s->responseEnded = true;
    learnedMax_ = codec_.remoteMaxConcurrentStreams();  // a response: its SETTINGS are known
    s->handler->onUpstreamHeaders(statusOf(fields), fields.subspan(pseudo), endStream);
  }
  void onData(int32_t id, std::string_view data, bool endStream) override {
    Stream* s = find(id);
    if (s == nullptr || s->handler == nullptr) {
      if (!data.empty()) codec_.consumed(id, data.size());
      return;
    }
    if (endStream) s->responseEnded = true;
    s->outstanding += data.size();
    s->handler->onUpstreamData(data, endStream);
  }
  void onTrailers(int32_t id, std::span<const http::HeaderField> fields) override {
    Stream* s = find(id);
    if (s == nullptr) return;
    s->responseEnded = true;
    if (s->handler != nullptr) s->handler->onUpstreamTrailers(fields);
  }
  void onStreamReset(int32_t id, uint32_t code) override {
    if (code == http2::kRefusedStream) learnedMax_ = codec_.remoteMaxConcurrentStreams();
    Stream* s = find(id);
    if (s == nullptr || s->handler == nullptr) return;
    UpstreamStreamHandler* handler = s->handler;
    s->handler = nullptr;  // no more events after a failure
    handler->onUpstreamFailure(
        code == http2::kRefusedStream ? UpstreamFailure::Refused : UpstreamFailure::Reset, code);
  }
  void onGoaway(int32_t /*lastStreamId*/, uint32_t /*code*/) override {
    // Streams above lastStreamId come back as REFUSED_STREAM resets from the codec.
    goaway_ = true;
  }
  void onStreamClosed(int32_t id) override {
    auto it = streams_.find(id);
    if (it == streams_.end()) return;
    Stream* s = it->second;
    streams_.erase(it);
    pool_.stats_.streamsActive.sub();
    s->finished = true;
    if (usable()) socket_.announceIdle();  // room for a request waiting on maxConnections
    if (s->released) {
      delete s;
    } else {
      finishedHeld_.push_back(s);
      if (s->handler != nullptr && !s->responseEnded) {
        // Closed without a response end and without an error code (RST_STREAM NO_ERROR).
        UpstreamStreamHandler* handler = s->handler;
        s->handler = nullptr;
        handler->onUpstreamFailure(UpstreamFailure::Reset, http2::kNoError);
      }
    }
    if (streams_.empty() && !dead_) {
      if (goaway_) {
        close();
      } else {
        idleTimer_.arm(pool_.loop_.timers(), idleTimeoutMs_);
        // Not at once: a connection between two requests would allocate them again.
        if (socket_.tls()) {
          trimTimer_.arm(pool_.loop_.timers(), upstream::ConnectionPools::kTlsTrimMs);
        }
      }
    }
  }
  void onStreamWritable(int32_t id) override {
    Stream* s = find(id);
    if (s != nullptr && s->handler != nullptr) s->handler->onUpstreamWritable();
  }

 private:
  Stream* find(int32_t id) const {
    auto it = streams_.find(id);
    return it == streams_.end() ? nullptr : it->second;
  }

  void scheduleFlush() {
    if (!dead_) pool_.loop_.callAtBatchEnd(this);
  }

  void flush() {
    if (dead_ || socket_.connecting()) return;
    if (!http2::pumpOut(socket_, codec_, scratch_, kSocketHighWater)) {
      clusterStats_.resets.inc();
      fail(UpstreamFailure::Reset);
      return;
    }
    if (codec_.closing() && socket_.pendingBytes() == 0) {
      // An error GOAWAY of ours means the upstream broke the protocol.
      fail(codec_.fatalErrorCode() != 0 ? UpstreamFailure::BadResponse : UpstreamFailure::Reset);
    }
  }

  /// Every stream still known fails; the connection goes away.
  void fail(UpstreamFailure failure) {
    if (dead_) return;
    dead_ = true;
    std::vector<Stream*> live;
    for (auto& [id, stream] : streams_) live.push_back(stream);
    for (Stream* stream : live) {
      if (stream->handler == nullptr || stream->responseEnded) continue;  // answered already
      UpstreamStreamHandler* handler = stream->handler;
      stream->handler = nullptr;
      handler->onUpstreamFailure(failure, 0);
    }
    pool_.remove(this);
  }

  /// Done with the connection: any stream still waiting for its answer hears it failed.
  void close() { fail(UpstreamFailure::Reset); }

  Http2UpstreamPool& pool_;
  uint32_t& learnedMax_;  // the endpoint's SETTINGS_MAX_CONCURRENT_STREAMS, shared per endpoint
  std::string key_;
  upstream::ClusterStats& clusterStats_;
  uint64_t idleTimeoutMs_;
  Connection socket_;
  http2::Http2Connection codec_;
  Buffer scratch_;
  Timer connectTimer_;
  Timer idleTimer_;
  Timer trimTimer_;  // TLS: frees the record buffers of a connection idle for a while
  std::unordered_map<int32_t, Stream*> streams_;
  std::vector<Stream*> finishedHeld_;  // closed by the codec, not yet released by their handler
  bool goaway_ = false;
  bool dead_ = false;
};

Http2UpstreamPool::Http2UpstreamPool(Worker& worker, Http2ProxyStats& stats)
    : worker_(worker), loop_(worker.loop()), buffers_(worker.buffers()), stats_(stats) {
  // Windows come from each cluster's connectionPool.http2; responses may carry large heads.
  settings_.maxConcurrentStreams = 1000;
  settings_.maxHeaderListSize = 256 * 1024;
}

Http2UpstreamPool::~Http2UpstreamPool() {
  clear();
}

UpstreamStream* Http2UpstreamPool::open(upstream::ClusterRuntime& cluster, int endpoint,
                                        std::span<const http::HeaderField> fields, bool hasBody,
                                        UpstreamStreamHandler& handler, UpstreamFailure& failure) {
  const std::string& key = cluster.endpointKeys[endpoint];
  auto& conns = byEndpoint_[key];
  for (auto& conn : conns) {
    if (!conn->usable()) continue;
    cluster.stats.connectionsReused.inc();
    return conn->open(fields, hasBody, handler);
  }
  bool overflow = false;
  auto opened = cluster.connect(endpoint, overflow, /*exempt=*/conns.empty());
  if (opened.fd < 0) {
    failure = overflow ? UpstreamFailure::Overflow : UpstreamFailure::ConnectFailure;
    return nullptr;
  }
  auto learned = learnedMaxStreams_.try_emplace(key, kAssumedMaxStreams).first;
  auto conn = std::make_unique<Conn>(*this, key, cluster, std::move(opened), learned->second);
  if (!secureUpstream(worker_, cluster, endpoint, conn->socket(),
                      config::UpstreamProtocol::Http2)) {
    if (conns.empty()) byEndpoint_.erase(key);
    loop_.deferDestroy(std::move(conn));
    failure = UpstreamFailure::TlsFailure;
    return nullptr;
  }
  conns.push_back(std::move(conn));
  return conns.back()->open(fields, hasBody, handler);
}

bool Http2UpstreamPool::hasUsable(const std::string& endpointKey) const {
  auto it = byEndpoint_.find(endpointKey);
  if (it == byEndpoint_.end()) return false;
  return std::any_of(it->second.begin(), it->second.end(),
                     [](const std::unique_ptr<Conn>& conn) { return conn->usable(); });
}

bool Http2UpstreamPool::hasConnection(const std::string& endpointKey) const {
  auto it = byEndpoint_.find(endpointKey);
  return it != byEndpoint_.end() && !it->second.empty();
}

void Http2UpstreamPool::remove(Conn* conn) {
  auto it = byEndpoint_.find(conn->key());
  if (it == byEndpoint_.end()) return;
  auto& conns = it->second;
  auto pos = std::find_if(conns.begin(), conns.end(),
                          [conn](const std::unique_ptr<Conn>& c) { return c.get() == conn; });
  if (pos == conns.end()) return;
  // Deferred: remove() runs inside the connection's own callbacks.
  loop_.deferDestroy(std::move(*pos));
  conns.erase(pos);
  if (conns.empty()) byEndpoint_.erase(it);
}

void Http2UpstreamPool::drain() {
  std::vector<Conn*> all;
  for (auto& [key, conns] : byEndpoint_) {
    for (auto& conn : conns) all.push_back(conn.get());
  }
  for (Conn* conn : all) conn->goAway();
}

void Http2UpstreamPool::clear() {
  byEndpoint_.clear();
}

size_t Http2UpstreamPool::connectionCount() const {
  size_t n = 0;
  for (const auto& [key, conns] : byEndpoint_) n += conns.size();
  return n;
}

}  // namespace trellis::proxy
