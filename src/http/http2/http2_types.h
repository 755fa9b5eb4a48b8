#pragma once
// Plain data shared by the HTTP/2 codec and its users: header fields, settings, hostile-input
// counters. Kept apart from Http2Connection so that config and metrics code need not see
// nghttp2.

#include <array>
#include <cstddef>
#include <cstdint>
#include <string_view>

#include "common/stats.h"
#include "http/header_field.h"

namespace trellis::http2 {

/// One header field (shared with HTTP/1). Views stay valid only for the duration of the
/// listener call (received) or the submit call (sent; nghttp2 copies them).
using HeaderField = http::HeaderField;

/// HTTP/2 error codes (RFC 9113 §7), mirrored so that users need not include nghttp2.h.
enum ErrorCode : uint32_t {
  kNoError = 0x0,
  kProtocolError = 0x1,
  kInternalError = 0x2,
  kFlowControlError = 0x3,
  kSettingsTimeout = 0x4,
  kStreamClosed = 0x5,
  kFrameSizeError = 0x6,
  kRefusedStream = 0x7,
  kCancel = 0x8,
  kCompressionError = 0x9,
  kConnectError = 0xa,
  kEnhanceYourCalm = 0xb,
  kInadequateSecurity = 0xc,
  kHttp11Required = 0xd,
};

/// Local settings (sent in the first SETTINGS frame) and hostile-input limits.
struct Http2Settings {
  uint32_t maxConcurrentStreams = 100;
  uint32_t initialWindowSize = 64 * 1024;       // per stream, both directions
  uint32_t connectionWindowSize = 1024 * 1024;  // receive side
  uint32_t maxFrameSize = 16 * 1024;
  uint32_t maxHeaderListSize = 60 * 1024;  // enforced on receive (RFC 9113 §6.5.2 accounting)
  uint32_t headerTableSize = 4096;
  /// Bytes queued per stream by submitData before it refuses more (backpressure to the caller).
  size_t streamSendBufferBytes = size_t{64} * 1024;
  /// Rapid reset: more than `maxResetsPerWindow` peer RST_STREAMs within `resetWindowMs`, or more
  /// than 2 x maxConcurrentStreams within one receive() call, closes with ENHANCE_YOUR_CALM.
  uint32_t maxResetsPerWindow = 200;
  uint32_t resetWindowMs = 1000;
  /// CONTINUATION frames allowed after one HEADERS/PUSH_PROMISE (nghttp2 option).
  size_t maxContinuations = 8;
  /// Outbound SETTINGS/PING ACKs queued before the peer counts as flooding (nghttp2 option).
  size_t maxOutboundAck = 1000;
  /// Entries accepted in one SETTINGS frame (nghttp2 option).
  size_t maxSettingsEntries = 32;
  /// Decoded header bytes in one block, beyond which the block is an HPACK bomb: connection
  /// error ENHANCE_YOUR_CALM instead of a mere stream reset. Multiple of maxHeaderListSize.
  uint32_t hpackBombFactor = 4;
};

/// Counters for refused or hostile input. One instance per worker, shared by its connections.
struct Http2Stats {
  Counter invalidHeaders;      // RFC 9113 §8 violations: stream reset PROTOCOL_ERROR
  Counter connectionHeaders;   // connection-specific header or bad `te` (subset of above)
  Counter headerListTooLarge;  // header list over maxHeaderListSize: stream reset
  Counter hpackBombs;          // decoded block far over the limit: GOAWAY
  Counter rapidResets;         // rapid-reset limit tripped: GOAWAY ENHANCE_YOUR_CALM
  Counter peerResets;          // RST_STREAM frames received
  Counter continuationFloods;  // too many CONTINUATION frames: GOAWAY
  Counter controlFloods;       // SETTINGS/PING ACK flood or too many settings: closed
  Counter protocolErrors;      // other frame-level errors nghttp2 reported
  Counter badPreface;          // client connection preface missing or wrong
  Counter goawaySent;          // GOAWAY frames with an error code sent
  Counter goawayReceived;      // GOAWAY frames received
  // Frames by error code (index: ErrorCode, codes above kHttp11Required count at 0xe).
  static constexpr size_t kCodeSlots = 15;
  std::array<Counter, kCodeSlots> resetsSent;
  std::array<Counter, kCodeSlots> resetsReceived;
  std::array<Counter, kCodeSlots> goawaysSent;
  std::array<Counter, kCodeSlots> goawaysReceived;
  static size_t codeSlot(uint32_t code) { return code < kCodeSlots ? code : kCodeSlots - 1; }
};

/// "PROTOCOL_ERROR" etc.; "UNKNOWN" for codes outside RFC 9113's table.
std::string_view errorCodeName(uint32_t code);

}  // namespace trellis::http2
