#pragma once
// gRPC length-prefixed message framing (grpc/doc/PROTOCOL-HTTP2.md, "Length-Prefixed-Message"):
// one flag byte (compressed or not), a 4-byte big-endian length, then the message. HTTP/2 cuts
// the byte stream anywhere, so messages arrive split across DATA frames or several per frame.

#include <cstddef>
#include <cstdint>
#include <functional>
#include <string>
#include <string_view>

namespace trellis::xds::client {

/// Bytes of the prefix in front of every message.
inline constexpr size_t kGrpcPrefixBytes = 5;

/// Appends `message` with its prefix (uncompressed) to `out`.
void appendGrpcMessage(std::string& out, std::string_view message);

/// Reassembles messages from arbitrarily cut chunks. Memory is bounded by `maxMessageBytes`: a
/// prefix announcing more is refused before any of the message is buffered.
class GrpcMessageReader {
 public:
  explicit GrpcMessageReader(size_t maxMessageBytes) : maxMessageBytes_(maxMessageBytes) {}

  /// Receives each complete message; returns false to stop reading (the call was cancelled).
  using MessageFn = std::function<bool(std::string_view message)>;

  /// Feeds `data`, calling `onMessage` for every message it completes (a view into `data` when
  /// the message lies wholly inside it, else into the reader's buffer; valid during the call).
  /// Returns "" or why the stream is unusable (compressed message without a negotiated
  /// encoding, bad flag, message over the limit); a failed reader refuses further input.
  std::string feed(std::string_view data, const MessageFn& onMessage);

  /// True between messages (nothing partial buffered): where a stream may cleanly end.
  bool atBoundary() const { return prefixFill_ == 0 && !inMessage_; }
  size_t bufferedBytes() const { return prefixFill_ + message_.size(); }

 private:
  std::string checkPrefix();

  size_t maxMessageBytes_;
  unsigned char prefix_[kGrpcPrefixBytes] = {};
  size_t prefixFill_ = 0;
  bool inMessage_ = false;
  size_t expected_ = 0;
  std::string message_;
  std::string error_;
};

}  // namespace trellis::xds::client
