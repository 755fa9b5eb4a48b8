// Hostile input built from raw frames, fed to a server-role Http2Connection.
#include <gtest/gtest.h>

#include "http2_test_util.h"

namespace trellis::http2::test {
namespace {

struct Server {
  explicit Server(Http2Settings s = {}) : conn(Http2Connection::Role::kServer, s, listener, stats) {
    listener.conn = &conn;
    conn.start();
  }
  size_t feed(const std::string& bytes) { return conn.receive(bytes.data(), bytes.size()); }
  std::string drain() {
    Buffer b;
    conn.drainOutput(b);
    return std::string(b.view());
  }
  RecordingListener listener;
  Http2Stats stats;
  Http2Connection conn;
};

TEST(Http2Hostile, RapidResetGetsEnhanceYourCalm) {
  Server s;
  std::string in = clientStart();
  for (uint32_t id = 1; id < 2 * 250; id += 2) {
    in += frame(kHeadersFrame, kEndHeaders | kEndStream, id, requestBlock());
    in += frame(kRstStream, 0, id, u32(kCancel));
  }
  EXPECT_EQ(s.feed(in), Http2Connection::kFatal);
  EXPECT_EQ(s.conn.fatalErrorCode(), kEnhanceYourCalm);
  EXPECT_EQ(s.stats.rapidResets.value(), 1u);
  EXPECT_GT(s.stats.peerResets.value(), 200u);
  EXPECT_EQ(goawayCode(s.drain()), kEnhanceYourCalm);
  EXPECT_TRUE(s.conn.closing());
  EXPECT_EQ(s.feed(in), Http2Connection::kFatal);  // stays dead
}

TEST(Http2Hostile, ResetsWithinLimitAreFine) {
  Server s;
  std::string in = clientStart();
  for (uint32_t id = 1; id < 2 * 50; id += 2) {
    in += frame(kHeadersFrame, kEndHeaders | kEndStream, id, requestBlock());
    in += frame(kRstStream, 0, id, u32(kCancel));
  }
  EXPECT_EQ(s.feed(in), in.size());
  EXPECT_EQ(s.stats.rapidResets.value(), 0u);
  EXPECT_EQ(s.stats.peerResets.value(), 50u);
  EXPECT_EQ(s.conn.activeStreams(), 0u);
}

TEST(Http2Hostile, ContinuationFloodClosesConnection) {
  Server s;
  std::string in = clientStart();
  in += frame(kHeadersFrame, 0, 1, requestBlock());
  for (int i = 0; i < 1000; ++i) in += frame(kContinuation, 0, 1, literal("x-a", "aaaa"));
  EXPECT_EQ(s.feed(in), Http2Connection::kFatal);
  EXPECT_EQ(s.stats.continuationFloods.value(), 1u);
  EXPECT_EQ(goawayCode(s.drain()), kEnhanceYourCalm);
  EXPECT_TRUE(s.listener.of(Event::kHeaders).empty());
}

TEST(Http2Hostile, OversizedHeaderListResetsStream) {
  Server s;
  std::string in = clientStart();
  // 5 x ~16 KiB of fields: over the 60 KiB list limit, under the HPACK-bomb threshold.
  std::string big(16000, 'v');
  in += frame(kHeadersFrame, 0, 1, requestBlock() + literal("x-0", big));
  for (int i = 1; i < 5; ++i) {
    in += frame(kContinuation, i == 4 ? kEndHeaders : 0, 1, literal("x-" + std::to_string(i), big));
  }
  EXPECT_EQ(s.feed(in), in.size());
  EXPECT_EQ(s.stats.headerListTooLarge.value(), 1u);
  EXPECT_TRUE(s.listener.of(Event::kHeaders).empty());
  std::string out = s.drain();
  bool rst = false;
  for (const auto& [type, payload] : parseFrames(out)) rst |= type == kRstStream;
  EXPECT_TRUE(rst);
  EXPECT_FALSE(s.conn.closing());
  // The connection still serves the next request.
  EXPECT_EQ(s.feed(frame(kHeadersFrame, kEndHeaders | kEndStream, 3, requestBlock())),
            9u + requestBlock().size());
  EXPECT_EQ(s.listener.of(Event::kHeaders).size(), 1u);
}

TEST(Http2Hostile, HpackBombClosesConnection) {
  Server s;
  std::string in = clientStart();
  // One 4000-byte entry in the dynamic table, then thousands of 1-byte references to it.
  std::string block = requestBlock() + literalIndexed("x-bomb", std::string(4000, 'b'));
  block += std::string(8000, '\xbe');  // indexed field 62: the newest dynamic entry
  in += frame(kHeadersFrame, kEndHeaders | kEndStream, 1, block);
  EXPECT_EQ(s.feed(in), Http2Connection::kFatal);
  EXPECT_EQ(s.stats.hpackBombs.value(), 1u);
  EXPECT_EQ(goawayCode(s.drain()), kEnhanceYourCalm);
}

TEST(Http2Hostile, SettingsFloodIsBounded) {
  Server s;
  std::string in = clientStart();
  for (int i = 0; i < 5000; ++i) in += frame(kSettings, 0, 0, "");
  EXPECT_EQ(s.feed(in), Http2Connection::kFatal);
  EXPECT_EQ(s.stats.controlFloods.value(), 1u);
  std::string out = s.drain();
  EXPECT_LT(out.size(), 1100u * 9 + 200);  // at most maxOutboundAck ACKs, then GOAWAY
}

TEST(Http2Hostile, PingFloodIsBounded) {
  Server s;
  std::string in = clientStart();
  for (int i = 0; i < 5000; ++i) in += frame(kPing, 0, 0, std::string(8, 'p'));
  EXPECT_EQ(s.feed(in), Http2Connection::kFatal);
  EXPECT_EQ(s.stats.controlFloods.value(), 1u);
}

TEST(Http2Hostile, TooManySettingsEntries) {
  Server s;
  std::string entries;
  for (int i = 0; i < 40; ++i) entries += std::string("\x00\x03", 2) + u32(100);
  std::string in = std::string(kPreface) + frame(kSettings, 0, 0, entries);
  s.feed(in);  // nghttp2 answers this one itself
  EXPECT_EQ(goawayCode(s.drain()), kEnhanceYourCalm);
  EXPECT_EQ(s.stats.controlFloods.value(), 1u);
  EXPECT_TRUE(s.conn.closing());
}

TEST(Http2Hostile, InvalidPreface) {
  Server s;
  std::string in = "GET / HTTP/1.1\r\nHost: a\r\n\r\n";
  EXPECT_EQ(s.feed(in), Http2Connection::kFatal);
  EXPECT_EQ(s.stats.badPreface.value(), 1u);
  EXPECT_EQ(s.conn.fatalErrorCode(), kProtocolError);
}

TEST(Http2Hostile, StreamIdReuseIsConnectionError) {
  Server s;
  std::string in = clientStart();
  in += frame(kHeadersFrame, kEndHeaders | kEndStream, 3, requestBlock());
  // A lower, never used id: nghttp2 cannot tell it from a forgotten closed stream and ignores it.
  in += frame(kHeadersFrame, kEndHeaders | kEndStream, 1, requestBlock());
  // The same id again on a half-closed stream: STREAM_CLOSED connection error.
  in += frame(kHeadersFrame, kEndHeaders | kEndStream, 3, requestBlock());
  s.feed(in);
  EXPECT_EQ(s.listener.of(Event::kHeaders).size(), 1u);
  EXPECT_EQ(goawayCode(s.drain()), kStreamClosed);
  EXPECT_EQ(s.conn.fatalErrorCode(), kStreamClosed);
  EXPECT_TRUE(s.conn.closing());
  EXPECT_GE(s.stats.protocolErrors.value(), 1u);
}

TEST(Http2Hostile, InvalidPseudoHeaderResetsStream) {
  Server s;
  std::string in = clientStart();
  in += frame(kHeadersFrame, kEndHeaders | kEndStream, 1, requestBlock({{":foo", "bar"}}));
  // Pseudo-header after a regular one is invalid too.
  in += frame(kHeadersFrame, kEndHeaders | kEndStream, 3,
              literal(":method", "GET") + literal("x-a", "1") + literal(":path", "/") +
                  literal(":scheme", "https"));
  // Upper-case names are invalid in HTTP/2.
  in += frame(kHeadersFrame, kEndHeaders | kEndStream, 5, requestBlock({{"X-Upper", "1"}}));
  EXPECT_EQ(s.feed(in), in.size());
  EXPECT_TRUE(s.listener.of(Event::kHeaders).empty());
  EXPECT_EQ(s.stats.invalidHeaders.value(), 3u);
  EXPECT_FALSE(s.conn.closing());
}

TEST(Http2Hostile, OversizedFrameIsConnectionError) {
  Server s;
  std::string in = clientStart();
  in += frame(kHeadersFrame, kEndHeaders, 1, requestBlock());
  in += frame(kData, 0, 1, std::string(20000, 'd'));  // over the 16 KiB max frame size
  s.feed(in);
  EXPECT_EQ(goawayCode(s.drain()), kFrameSizeError);
  EXPECT_TRUE(s.conn.closing());
}

TEST(Http2Hostile, WindowOverflowByPeerIsFlowControlError) {
  Server s;
  s.listener.autoConsume = false;
  std::string in = clientStart();
  in += frame(kHeadersFrame, kEndHeaders, 1, requestBlock());
  // Send 160000 bytes into a 64 KiB window.
  for (int i = 0; i < 10; ++i) in += frame(kData, 0, 1, std::string(16000, 'd'));
  s.feed(in);
  std::string out = s.drain();
  bool rstOrGoaway = false;
  for (const auto& [type, payload] : parseFrames(out)) {
    rstOrGoaway |= type == kRstStream || type == kGoawayFrame;
  }
  EXPECT_TRUE(rstOrGoaway);
  // nghttp2 delivers the frame that overflows the window, then fails: one frame of slack.
  EXPECT_LE(s.listener.bytes, 65536u + 16384u);
}

}  // namespace
}  // namespace trellis::http2::test

namespace trellis::http2::test {
namespace {

// Padding counts against the window but never reaches the listener: the codec must give it
// back, or padded uploads would shrink the window until the connection stalls.
TEST(Http2Hostile, PaddingDoesNotLeakWindow) {
  Server s;
  ASSERT_EQ(s.feed(clientStart() + frame(kHeadersFrame, kEndHeaders, 1, requestBlock())),
            clientStart().size() + 9 + requestBlock().size());
  s.drain();
  constexpr uint8_t kPadded = 0x8;
  for (int i = 0; i < 16; ++i) {
    std::string payload =
        std::string(1, static_cast<char>(200)) + std::string(8000, 'd') + std::string(200, '\0');
    ASSERT_NE(s.feed(frame(kData, kPadded, 1, payload)), Http2Connection::kFatal);
    s.drain();
  }
  EXPECT_EQ(s.listener.bytes, 16u * 8000);
  EXPECT_FALSE(s.conn.closing());
  EXPECT_TRUE(s.listener.of(Event::kReset).empty());
}

}  // namespace
}  // namespace trellis::http2::test
