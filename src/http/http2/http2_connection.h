#pragma once
// Transport-agnostic HTTP/2 connection codec around one nghttp2 session. Bytes go in with
// receive() and come out with drainOutput(); no socket I/O happens here, so the proxy's session
// decides when to read, write and close (see docs/http2.md).

#include <cstddef>
#include <cstdint>
#include <memory>
#include <span>
#include <string>
#include <string_view>
#include <vector>

#include "common/buffer.h"
#include "http/http2/http2_types.h"

struct nghttp2_session;

namespace trellis::http2 {

class Http2Connection {
 public:
  enum class Role { kServer, kClient };

  /// Receives protocol events. Calls happen from inside receive() (and onStreamWritable from
  /// drainOutput()); the listener may call submit*/resetStream/consumed from them.
  class Listener {
   public:
    virtual ~Listener() = default;
    /// A request (server) or response (client) head, 1xx included. Names are lower case and
    /// pseudo-headers come first.
    virtual void onHeaders(int32_t streamId, std::span<const HeaderField> fields,
                           bool endStream) = 0;
    /// Body bytes; call consumed(streamId, n) once they have been passed on, to reopen the
    /// window. An empty chunk with endStream=true marks the end of the body.
    virtual void onData(int32_t streamId, std::string_view data, bool endStream) = 0;
    /// Trailers; they always end the stream.
    virtual void onTrailers(int32_t streamId, std::span<const HeaderField> fields) = 0;
    /// The stream ended abnormally: RST_STREAM from the peer, or reset by this side.
    virtual void onStreamReset(int32_t streamId, uint32_t errorCode) = 0;
    /// The peer sent GOAWAY: streams above lastStreamId were not processed.
    virtual void onGoaway(int32_t lastStreamId, uint32_t errorCode) = 0;
    /// The stream is gone from the session (after end in both directions or a reset).
    virtual void onStreamClosed(int32_t /*streamId*/) {}
    /// The stream's send queue, once full, has room again.
    virtual void onStreamWritable(int32_t /*streamId*/) {}
  };

  /// receive() result when the connection must be closed; see fatalErrorCode().
  static constexpr size_t kFatal = static_cast<size_t>(-1);

  /// `stats` and `pool` must outlive the connection; `pool` may be null.
  Http2Connection(Role role, const Http2Settings& settings, Listener& listener, Http2Stats& stats,
                  BufferPool* pool = nullptr);
  ~Http2Connection();
  Http2Connection(const Http2Connection&) = delete;
  Http2Connection& operator=(const Http2Connection&) = delete;

  /// Queues the client preface (client role) and the SETTINGS frame. Call once, first.
  bool start();

  /// Feeds bytes from the peer. Returns the bytes consumed (always all of them), or kFatal when
  /// the connection is broken: a GOAWAY with fatalErrorCode() is then queued; drain it, then
  /// close. Protocol errors that nghttp2 answers itself (e.g. stream ID reuse) queue their GOAWAY
  /// without kFatal; closing() turns true once it is drained.
  size_t receive(const char* data, size_t len);

  /// Appends pending frames to `out`, stopping once `out` holds at least `maxBytes` (the caller
  /// writes and calls again). Returns the bytes appended.
  size_t drainOutput(Buffer& out, size_t maxBytes = static_cast<size_t>(-1));
  bool wantWrite() const;
  /// True when the connection has nothing left to do (GOAWAY exchanged or fatal error sent and
  /// no active stream): the caller closes the transport once output is written.
  bool closing() const;
  /// The error code of the GOAWAY this side sent or is sending because of an error, else 0.
  uint32_t fatalErrorCode() const { return fatalCode_; }

  /// Client: opens a stream. `fields` must start with the pseudo-headers. Returns the stream id,
  /// or -1 (no stream id left, GOAWAY received, or bad fields).
  int32_t submitRequest(std::span<const HeaderField> fields, bool hasBody);
  /// Server: answers stream `streamId`. hasBody=false ends the stream with the HEADERS frame.
  bool submitResponse(int32_t streamId, std::span<const HeaderField> fields, bool hasBody);
  /// Queues body bytes for a stream opened with hasBody. Returns the bytes accepted (at most the
  /// free space of the per-stream queue); when short, wait for onStreamWritable. An endStream
  /// with everything accepted ends the stream (or sends queued trailers).
  size_t submitData(int32_t streamId, std::string_view data, bool endStream);
  /// Ends a body stream with trailers, after the queued data.
  bool submitTrailers(int32_t streamId, std::span<const HeaderField> fields);
  bool resetStream(int32_t streamId, uint32_t errorCode);
  /// graceful: GOAWAY(2^31-1) now; call goAway(code, false) later for the final one with the
  /// last processed stream id. Not graceful: final GOAWAY now.
  bool goAway(uint32_t errorCode, bool graceful);
  /// Reopens the receive windows (stream and connection) by `n` bytes delivered by onData.
  void consumed(int32_t streamId, size_t n);

  /// The peer's SETTINGS_MAX_CONCURRENT_STREAMS (2^32-1 until received).
  uint32_t remoteMaxConcurrentStreams() const;
  /// Streams open in the session (both directions not yet closed).
  size_t activeStreams() const;
  /// Streams this side may still open before the peer's limit (client role).
  bool canOpenStream() const;
  /// True when the stream has data queued but no send window (stream or connection).
  bool stalledOnWindow(int32_t streamId) const;
  /// Free space in the stream's send queue.
  size_t sendCapacity(int32_t streamId) const;

  struct Stream;  // per-stream state, defined in the .cc

 private:
  friend struct Callbacks;
  Stream* stream(int32_t streamId) const;
  Stream* acquireStream(int32_t streamId);
  Stream* takePending(int32_t streamId);
  void releaseStream(Stream* s);
  bool submitHeadersFrame(int32_t streamId, std::span<const HeaderField> fields, bool hasBody,
                          bool request, int32_t* outId);
  void failConnection(uint32_t code);
  void noteReset(uint64_t nowMs);

  Role role_;
  Http2Settings settings_;
  Listener& listener_;
  Http2Stats& stats_;
  BufferPool* pool_;
  nghttp2_session* session_ = nullptr;
  uint32_t fatalCode_ = 0;
  uint32_t pendingFatal_ = 0;  // set by a callback that aborts mem_recv
  bool failed_ = false;
  // Rapid-reset accounting.
  uint64_t resetWindowStartMs_ = 0;
  uint32_t resetsInWindow_ = 0;
  uint32_t resetsInBatch_ = 0;
  uint64_t nowMs_ = 0;
  // Reused across header blocks to avoid per-request allocation.
  std::vector<HeaderField> fieldScratch_;
  std::vector<int32_t> writable_;
  std::vector<std::unique_ptr<Stream>> streams_;  // owns every Stream, live or free
  std::vector<Stream*> freeStreams_;
  std::vector<Stream*> pendingStreams_;  // submitted requests whose HEADERS are not sent yet
  size_t liveStreams_ = 0;
  bool goawayReceived_ = false;
  // An error GOAWAY nghttp2 queues after an invalid-frame callback was already counted.
  bool connectionErrorCounted_ = false;
};

}  // namespace trellis::http2
