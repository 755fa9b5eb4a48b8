#pragma once
// One downstream HTTP/2 connection (h2c with prior knowledge, or ALPN h2 after mutual TLS, through
// the same constructor: the session only sees a Connection and bytes already read from it).
//
// The session owns the socket and the codec and multiplexes exchanges, one per stream
// (Http2Exchange). Frames queued by any number of streams during one event batch are written
// with one write at the batch's end. Drain and removal of the listener send GOAWAY; a peer
// that keeps its windows shut while data waits is closed after `windowStallTimeout`.

#include <memory>
#include <string>
#include <unordered_map>

#include "common/connection.h"
#include "http/http2/http2_connection.h"
#include "proxy/worker.h"

namespace trellis::proxy {

class Http2Exchange;

class Http2Session final : public Session,
                           public ConnectionOwner,
                           public http2::Http2Connection::Listener,
                           public BatchEndHandler {
 public:
  /// `down` may hold bytes already read (the preface, for a detected connection); `listener`
  /// belongs to `config`.
  Http2Session(Worker& worker, std::unique_ptr<Connection> down, std::string peerIp,
               std::shared_ptr<const WorkerConfig> config, const ListenerRuntime* listener);
  ~Http2Session() override;

  void begin() override;
  void drain() override;
  /// A reload that removed the listener or changed its HTTP/2 settings sends GOAWAY, so the
  /// client reconnects under the new settings; other changes apply to new streams as they come.
  void onConfigApplied() override;
  void onConnectionEvent(Connection& connection, uint32_t events) override;
  void onBatchEnd() override {
    if (drainRequested_) {
      drainRequested_ = false;
      drain();
    }
    flush();
  }

  // Codec events.
  void onHeaders(int32_t streamId, std::span<const http::HeaderField> fields,
                 bool endStream) override;
  void onData(int32_t streamId, std::string_view data, bool endStream) override;
  void onTrailers(int32_t streamId, std::span<const http::HeaderField> fields) override;
  void onStreamReset(int32_t streamId, uint32_t errorCode) override;
  void onGoaway(int32_t lastStreamId, uint32_t errorCode) override;
  void onStreamClosed(int32_t streamId) override;
  void onStreamWritable(int32_t streamId) override;

  // For the exchanges.
  Worker& worker() { return worker_; }
  http2::Http2Connection& codec() { return *codec_; }
  const std::string& peerIp() const { return peerIp_; }
  /// The client's SPIFFE ID under mutual TLS, else "".
  std::string_view peerIdentity() const { return down_ ? down_->peerIdentity() : ""; }
  /// x-forwarded-client-cert for the requests of a mutual TLS client, else "".
  const std::string& clientCert() const { return clientCert_; }
  void scheduleFlush() {
    if (down_) worker_.loop().callAtBatchEnd(this);
  }

 private:
  bool refreshConfig();
  void flush();
  void close();
  void armIdle();
  void checkStall();

  Worker& worker_;
  std::shared_ptr<const WorkerConfig> config_;
  const ListenerRuntime* listener_;
  std::string listenerName_;
  std::string peerIp_;
  std::string clientCert_;
  std::unique_ptr<Connection> down_;
  std::unique_ptr<http2::Http2Connection> codec_;
  Buffer scratch_;
  std::unordered_map<int32_t, std::unique_ptr<Http2Exchange>> exchanges_;
  Timer idleTimer_;
  Timer stallTimer_;
  Timer goawayTimer_;       // final GOAWAY, one round trip after the graceful one
  uint64_t stallMark_ = 0;  // bytes written at the last stall check
  bool draining_ = false;
  bool drainRequested_ = false;
  bool closed_ = false;
};

}  // namespace trellis::proxy
