#pragma once
// A non-blocking stream socket with an input buffer and a bounded-by-owner output buffer.
//
// Writes go straight to the kernel (writev) when nothing is pending, so the common case costs
// one syscall and no copy; only what the kernel does not take is buffered. Reads are edge
// triggered: `readReady()` stays true while the kernel may still hold data.

#include <sys/uio.h>

#include <cstdint>
#include <initializer_list>
#include <string_view>

#include "common/buffer.h"
#include "common/connection_slot.h"
#include "common/event_loop.h"

namespace trellis {

class Connection;

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

  /// For an outgoing connect: true once established; sets `error` (errno) if it failed.
  bool finishConnect(int& error);
  bool connecting() const { return connecting_; }

  /// Stops sending (FIN) once pending output is flushed.
  void shutdownWrite();
  /// Sends RST on close instead of FIN.
  void setResetOnClose() { resetOnClose_ = true; }
  /// Releases buffer blocks when both buffers are empty (idle connections hold no memory).
  void releaseIdleBuffers() {
    in_.shrinkIfEmpty();
    out_.shrinkIfEmpty();
  }

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
  ConnectionSlot slot_;  // given back after the destructor has closed the fd
};

}  // namespace trellis
