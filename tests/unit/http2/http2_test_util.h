#pragma once
// Test helpers for the HTTP/2 codec: a recording listener, a client/server pair connected
// through memory, and a raw frame builder for hostile input.

#include <cstdint>
#include <string>
#include <utility>
#include <vector>

#include "common/buffer.h"
#include "http/http2/http2_connection.h"

namespace trellis::http2::test {

using Fields = std::vector<std::pair<std::string, std::string>>;

struct Event {
  enum Kind { kHeaders, kData, kTrailers, kReset, kGoaway, kClosed } kind;
  int32_t streamId;
  Fields fields;
  std::string data;
  bool endStream = false;
  uint32_t code = 0;
};

class RecordingListener : public Http2Connection::Listener {
 public:
  void onHeaders(int32_t id, std::span<const HeaderField> f, bool end) override {
    events.push_back({Event::kHeaders, id, copy(f), {}, end, 0});
  }
  void onData(int32_t id, std::string_view d, bool end) override {
    bytes += d.size();
    events.push_back({Event::kData, id, {}, std::string(d), end, 0});
    if (autoConsume && conn != nullptr) conn->consumed(id, d.size());
  }
  void onTrailers(int32_t id, std::span<const HeaderField> f) override {
    events.push_back({Event::kTrailers, id, copy(f), {}, true, 0});
  }
  void onStreamReset(int32_t id, uint32_t code) override {
    events.push_back({Event::kReset, id, {}, {}, false, code});
  }
  void onGoaway(int32_t last, uint32_t code) override {
    events.push_back({Event::kGoaway, last, {}, {}, false, code});
  }
  void onStreamWritable(int32_t /*id*/) override { ++writable; }
  void onStreamClosed(int32_t id) override {
    events.push_back({Event::kClosed, id, {}, {}, false, 0});
  }

  std::vector<Event> of(Event::Kind k) const {
    std::vector<Event> out;
    for (const Event& e : events) {
      if (e.kind == k) out.push_back(e);
    }
    return out;
  }
  std::string body(int32_t id) const {
    std::string out;
    for (const Event& e : events) {
      if (e.kind == Event::kData && e.streamId == id) out += e.data;
    }
    return out;
  }

  static Fields copy(std::span<const HeaderField> f) {
    Fields out;
    for (const HeaderField& h : f) out.emplace_back(std::string(h.name), std::string(h.value));
    return out;
  }

  std::vector<Event> events;
  size_t bytes = 0;
  size_t writable = 0;
  bool autoConsume = true;
  Http2Connection* conn = nullptr;
};

inline std::vector<HeaderField> toFields(const Fields& f) {
  std::vector<HeaderField> out;
  for (const auto& [n, v] : f) out.push_back({n, v});
  return out;
}

/// A client and a server connection wired back to back.
struct Pair {
  explicit Pair(Http2Settings clientSettings = {}, Http2Settings serverSettings = {})
      : client(Http2Connection::Role::kClient, clientSettings, clientListener, clientStats),
        server(Http2Connection::Role::kServer, serverSettings, serverListener, serverStats) {
    clientListener.conn = &client;
    serverListener.conn = &server;
    client.start();
    server.start();
  }
  /// Moves bytes both ways until neither side has anything to send.
  void pump() {
    for (int i = 0; i < 1000; ++i) {
      Buffer c2s;
      Buffer s2c;
      client.drainOutput(c2s);
      server.drainOutput(s2c);
      if (c2s.empty() && s2c.empty()) return;
      clientBytes.append(c2s.view());
      if (!c2s.empty()) server.receive(c2s.data(), c2s.size());
      if (!s2c.empty()) client.receive(s2c.data(), s2c.size());
    }
  }
  RecordingListener clientListener;
  RecordingListener serverListener;
  Http2Stats clientStats;
  Http2Stats serverStats;
  Http2Connection client;
  Http2Connection server;
  std::string clientBytes;  // everything the client sent (seed corpus material)
};

inline const Fields kGet = {
    {":method", "GET"}, {":scheme", "https"}, {":authority", "example.com"}, {":path", "/"}};
inline const Fields kPost = {
    {":method", "POST"}, {":scheme", "https"}, {":authority", "example.com"}, {":path", "/up"}};

// ---- raw frames ----
enum FrameType : uint8_t {
  kData = 0,
  kHeadersFrame = 1,
  kRstStream = 3,
  kSettings = 4,
  kPing = 6,
  kGoawayFrame = 7,
  kWindowUpdate = 8,
  kContinuation = 9
};
constexpr uint8_t kEndStream = 0x1;
constexpr uint8_t kEndHeaders = 0x4;
constexpr std::string_view kPreface = "PRI * HTTP/2.0\r\n\r\nSM\r\n\r\n";

inline std::string frame(uint8_t type, uint8_t flags, uint32_t streamId, std::string_view payload) {
  std::string out;
  size_t len = payload.size();
  out.push_back(static_cast<char>((len >> 16) & 0xff));
  out.push_back(static_cast<char>((len >> 8) & 0xff));
  out.push_back(static_cast<char>(len & 0xff));
  out.push_back(static_cast<char>(type));
  out.push_back(static_cast<char>(flags));
  for (int shift = 24; shift >= 0; shift -= 8) {
    out.push_back(static_cast<char>((streamId >> shift) & 0xff));
  }
  out.append(payload);
  return out;
}

inline std::string u32(uint32_t v) {
  std::string out;
  for (int shift = 24; shift >= 0; shift -= 8)
    out.push_back(static_cast<char>((v >> shift) & 0xff));
  return out;
}

/// HPACK integer with an N-bit prefix (RFC 7541 §5.1); `first` carries the pattern bits.
inline std::string hpackInt(uint8_t first, int prefixBits, size_t value) {
  std::string out;
  size_t max = (size_t{1} << prefixBits) - 1;
  if (value < max) {
    out.push_back(static_cast<char>(first | value));
    return out;
  }
  out.push_back(static_cast<char>(first | max));
  value -= max;
  while (value >= 128) {
    out.push_back(static_cast<char>((value & 0x7f) | 0x80));
    value >>= 7;
  }
  out.push_back(static_cast<char>(value));
  return out;
}

/// Literal header field without indexing, new name (RFC 7541 §6.2.2), no Huffman.
inline std::string literal(std::string_view name, std::string_view value) {
  return std::string(1, '\0') + hpackInt(0, 7, name.size()) + std::string(name) +
         hpackInt(0, 7, value.size()) + std::string(value);
}

/// Literal with incremental indexing, new name (§6.2.1): enters the dynamic table.
inline std::string literalIndexed(std::string_view name, std::string_view value) {
  return std::string(1, '\x40') + hpackInt(0, 7, name.size()) + std::string(name) +
         hpackInt(0, 7, value.size()) + std::string(value);
}

inline std::string requestBlock(const Fields& extra = {}) {
  std::string b = literal(":method", "GET") + literal(":scheme", "https") +
                  literal(":authority", "a") + literal(":path", "/");
  for (const auto& [n, v] : extra) b += literal(n, v);
  return b;
}

inline std::string clientStart() {
  return std::string(kPreface) + frame(kSettings, 0, 0, "");
}

/// Frames (type, payload) parsed from a server's output; skips nothing.
inline std::vector<std::pair<uint8_t, std::string>> parseFrames(std::string_view bytes) {
  std::vector<std::pair<uint8_t, std::string>> out;
  while (bytes.size() >= 9) {
    size_t len = (static_cast<uint8_t>(bytes[0]) << 16) | (static_cast<uint8_t>(bytes[1]) << 8) |
                 static_cast<uint8_t>(bytes[2]);
    if (bytes.size() < 9 + len) break;
    out.emplace_back(static_cast<uint8_t>(bytes[3]), std::string(bytes.substr(9, len)));
    bytes.remove_prefix(9 + len);
  }
  return out;
}

/// The error code of the first GOAWAY in `bytes`, or -1.
inline int64_t goawayCode(std::string_view bytes) {
  for (const auto& [type, payload] : parseFrames(bytes)) {
    if (type == kGoawayFrame && payload.size() >= 8) {
      uint32_t code = 0;
      for (int i = 4; i < 8; ++i) code = (code << 8) | static_cast<uint8_t>(payload[i]);
      return code;
    }
  }
  return -1;
}

}  // namespace trellis::http2::test
