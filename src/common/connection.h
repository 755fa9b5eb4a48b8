#pragma once
// A non-blocking stream socket with an input buffer and a bounded-by-owner output buffer.
//
// Writes go straight to the kernel (writev) when nothing is pending, so the common case costs
// one syscall and no copy; only what the kernel does not take is buffered. Reads are edge
// triggered: `readReady()` stays true while the kernel may still hold data.
//
// startTls() puts TLS 1.3 (src/tls/) under the same interface: owners keep reading and sending
// plaintext, and the handshake looks like a connect that takes a little longer. The plain path
// pays one branch on a null pointer for it.

#include <sys/uio.h>

#include <cstdint>
#include <initializer_list>
#include <memory>
#include <string_view>

#include "common/buffer.h"
#include "common/connection_slot.h"
#include "common/event_loop.h"
#include "tls/tls_stream.h"

namespace trellis {

class Connection;

/// What a TLS connection's peer must be (side, expected SPIFFE IDs, SNI, session cache).
using TlsPeerPolicy = tls::PeerPolicy;

class ConnectionOwner {
 public:
  virtual ~ConnectionOwner() = default;
  /// Readiness changed on `connection` (readable, writable, error or hang-up).
  virtual void onConnectionEvent(Connection& connection, uint32_t events) = 0;
};

class Connection final : public EventHandler {
 public:
  /// Takes ownership of `fd` and registers it with `loop`. `connecting` marks an outgoing
  /// connect still in progress.
  Connection(EventLoop& loop, BufferPool& pool, int fd, bool connecting = false);
  ~Connection() override;
  Connection(const Connection&) = delete;
  Connection& operator=(const Connection&) = delete;

  void setOwner(ConnectionOwner* owner) { owner_ = owner; }
  void onEvents(uint32_t events) override;

  enum class ReadResult : uint8_t { Data, Again, Eof, Error };
  /// One read() into the input buffer (at most `maxBytes`, at least 1 KiB of room is made).
  ReadResult read(size_t maxBytes = BufferPool::kBlockSize);
  bool readReady() const { return readReady_; }

  /// Sends `a` then `b` in one writev; what the kernel does not take is buffered. False on a
  /// socket error.
  bool send(std::string_view a, std::string_view b = {}) { return send({a, b}); }
  /// The same for up to kMaxSendParts pieces (empty ones are skipped).
  static constexpr int kMaxSendParts = 4;
  bool send(std::initializer_list<std::string_view> parts);
  /// Writes buffered output. False on a socket error.
  bool flush();
  size_t pendingBytes() const { return out_.size(); }

  /// For an outgoing connect: true once established; sets `error` (errno) if it failed. With
  /// TLS: true once the handshake is done; false with error 0 while it runs, EPROTO if it
  /// failed (tlsError() says why).
  bool finishConnect(int& error);
  /// An outgoing connect, or a TLS handshake (either side), is in progress.
  bool connecting() const { return connecting_; }

  /// Starts TLS with `policy.side`'s role, before any byte is sent (bytes already read, e.g. a
  /// sniffed ClientHello, go to the handshake). Until the handshake is done connecting() is true
  /// and the owner gets no event; then it gets EPOLLIN|EPOLLOUT, or EPOLLERR if it failed. A
  /// client may call this while its TCP connect is still in progress. False when TLS cannot
  /// be set up or the connection already failed: finishConnect() then gives the errno (EPROTO,
  /// or the connect's), tlsError() the reason.
  bool startTls(std::shared_ptr<const tls::TlsContext> context, TlsPeerPolicy policy);
  bool tls() const { return tls_ != nullptr; }
  /// The peer certificate's SPIFFE ID once the handshake is done; "" without TLS or without a
  /// client certificate.
  std::string_view peerIdentity() const;
  /// The ALPN protocol agreed, "" if none.
  std::string_view alpn() const;
  bool sessionReused() const;
  /// Why the handshake or the TLS stream failed; "" otherwise.
  std::string_view tlsError() const;
  /// The TLS state, for diagnostics and tests; null without TLS.
  tls::TlsStream* tlsStream() { return tls_.get(); }

  /// Stops sending (FIN; with TLS close_notify, then FIN) once pending output is flushed.
  void shutdownWrite();
  /// Sends RST on close instead of FIN.
  void setResetOnClose() { resetOnClose_ = true; }
  /// Releases buffer blocks when both buffers are empty (idle connections hold no memory).
  void releaseIdleBuffers() {
    in_.shrinkIfEmpty();
    out_.shrinkIfEmpty();
  }
  /// With TLS, also frees OpenSSL's record buffers (~34 KiB) if empty. Not part of
  /// releaseIdleBuffers(), which runs after every burst: they would be malloc'ed again on the
  /// next read. For connections parked for a while (a pool, a keep-alive wait).
  void releaseTlsBuffers() {
    if (tls_ != nullptr && out_.empty()) tls_->releaseBuffers();
  }

  /// Input bytes; plaintext with TLS, as are bytesRead() and bytesWritten().
  Buffer& in() { return in_; }
  int fd() const { return fd_; }
  bool peerClosed() const { return peerClosed_; }
  uint64_t bytesRead() const { return bytesRead_; }
  uint64_t bytesWritten() const { return bytesWritten_; }
  EventLoop& loop() { return loop_; }

  /// Counts this connection in a limit until it is destroyed (upstream connections).
  void holdSlot(ConnectionSlot slot) { slot_ = std::move(slot); }
  /// Tells the limit the connection is idle in a pool, free for a waiting request.
  void announceIdle() { slot_.idle(); }
  /// Gives the slot back before the connection is destroyed (destruction is deferred).
  void releaseSlot() { slot_.reset(); }

 private:
  enum class TlsStep : uint8_t { InProgress, Done, Failed };
  /// The state of the TCP connect: 0 connected, -1 in progress, else its errno.
  int tcpConnectState() const;
  void onTlsEvents(uint32_t events);
  TlsStep advanceTls();
  ReadResult readTls(size_t maxBytes);
  bool sendTls(std::initializer_list<std::string_view> parts);
  bool flushTls();

  EventLoop& loop_;
  int fd_;
  ConnectionOwner* owner_ = nullptr;
  Buffer in_;
  Buffer out_;
  bool readReady_ = false;
  bool connecting_;
  bool peerClosed_ = false;
  bool hangupSeen_ = false;  // EPOLLRDHUP/HUP/ERR reported: a FIN or error awaits a read
  bool resetOnClose_ = false;
  bool shutdownPending_ = false;
  uint64_t bytesRead_ = 0;
  uint64_t bytesWritten_ = 0;
  std::unique_ptr<tls::TlsStream> tls_;  // null: plaintext
  int tlsErrno_ = 0;                     // the handshake failed: EPROTO, or the TCP connect's errno
  bool tcpConnecting_ = false;           // TLS client: the TCP connect is not done yet
  bool readWantsWrite_ = false;  // TLS: a read waits for room to send a post-handshake reply
  bool writeWantsRead_ = false;  // TLS: a write waits for the peer's bytes
  ConnectionSlot slot_;          // given back after the destructor has closed the fd
};

}  // namespace trellis
