#pragma once
// trellis-echo's HTTP/2 side (h2c, prior knowledge): one accepted connection whose first bytes
// were the HTTP/2 preface. It owns the server-role Http2Connection codec, moves bytes between it
// and the socket, and runs one EchoHttp2Stream per request. The socket itself stays owned by the
// EchoConnection that detected the protocol; this class only reads and writes it.

#include <cstddef>
#include <cstdint>
#include <memory>
#include <string_view>
#include <vector>

#include "apps/echo/echo_http2_stream.h"
#include "apps/echo/echo_response.h"
#include "apps/echo/timer_queue.h"
#include "common/buffer.h"
#include "http/http2/http2_connection.h"

namespace trellis::echo {

/// Per worker, shared by its HTTP/2 connections.
struct EchoHttp2Shared {
  http2::Http2Settings settings;
  http2::Http2Stats stats;
  BufferPool pool;
};

class EchoHttp2Connection final : private http2::Http2Connection::Listener,
                                  private EchoHttp2Context {
 public:
  enum class Outcome : uint8_t {
    Open,   // waiting for socket or timer events
    Close,  // done (or the close knob): output is flushed, the owner closes with a FIN
    Abort,  // the socket failed: close at once
  };

  /// `timerTokens` is the owner's token counter, shared so that the tokens of this connection's
  /// timers never collide with the owner's own.
  EchoHttp2Connection(int fd, uint64_t connectionId, const EchoIdentity& identity,
                      TimerQueue& timers, uint64_t& timerTokens, EchoHttp2Shared& shared);
  ~EchoHttp2Connection() override;

  /// Starts the codec with the bytes read so far (the preface and whatever followed it);
  /// `readable`/`writable` carry the owner's edge-triggered readiness over.
  Outcome start(std::string_view received, bool readable, bool writable);
  Outcome onEvents(uint32_t events);
  Outcome onTimer(uint64_t token);

 private:
  enum class ReadResult : uint8_t { Data, Blocked, Eof, Error };

  Outcome drive();
  Outcome outcome();
  ReadResult readSome();
  bool flush();
  bool writeOut();
  void onPeerClosed();
  EchoHttp2Stream* find(int32_t streamId) const;

  // Http2Connection::Listener
  void onHeaders(int32_t streamId, std::span<const http2::HeaderField> fields,
                 bool endStream) override;
  void onData(int32_t streamId, std::string_view data, bool endStream) override;
  void onTrailers(int32_t streamId, std::span<const http2::HeaderField> fields) override;
  void onStreamReset(int32_t streamId, uint32_t errorCode) override;
  void onGoaway(int32_t lastStreamId, uint32_t errorCode) override;
  void onStreamClosed(int32_t streamId) override;
  void onStreamWritable(int32_t streamId) override;

  // EchoHttp2Context
  http2::Http2Connection& codec() override { return codec_; }
  const EchoIdentity& identity() const override { return identity_; }
  uint64_t scheduleTimer(std::chrono::milliseconds delay) override;
  void closeConnection(bool garbage) override;

  const int fd_;
  const uint64_t connectionId_;
  const EchoIdentity& identity_;
  TimerQueue& timers_;
  uint64_t& timerTokens_;

  bool readable_ = false;
  bool writable_ = true;
  bool peerHalfClosed_ = false;    // EPOLLRDHUP seen: a short read no longer proves drained
  bool peerClosed_ = false;        // read returned 0
  bool fatal_ = false;             // the codec failed: only its GOAWAY is left to write
  bool closeRequested_ = false;    // close/garbage knob: stop serving, flush, close
  bool lastDrainPending_ = false;  // the frames queued before the knob still go out
  bool garbage_ = false;           // garbage knob: invalid bytes follow them

  // Streams are recycled so that steady traffic reuses their buffers; at most
  // maxConcurrentStreams are live, so a linear search is cheap.
  std::vector<std::unique_ptr<EchoHttp2Stream>> allStreams_;
  std::vector<EchoHttp2Stream*> live_;
  std::vector<EchoHttp2Stream*> free_;
  // Declared after the streams, so destroyed before them.
  http2::Http2Connection codec_;
  Buffer out_;  // frames drained from the codec, not yet written
};

}  // namespace trellis::echo
