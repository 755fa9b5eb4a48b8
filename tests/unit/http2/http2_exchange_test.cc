// Client and server Http2Connection talking through memory.
#include <gtest/gtest.h>

#include <cstdlib>
#include <fstream>

#include "http2_test_util.h"

namespace trellis::http2::test {
namespace {

TEST(Http2Exchange, RequestAndResponseWithBodyAndTrailers) {
  Pair p;
  std::vector<HeaderField> req = toFields(kPost);
  int32_t id = p.client.submitRequest(req, true);
  ASSERT_EQ(id, 1);
  EXPECT_EQ(p.client.submitData(id, "hello ", false), 6u);
  EXPECT_EQ(p.client.submitData(id, "world", false), 5u);
  Fields trailers = {{"x-checksum", "abc"}};
  std::vector<HeaderField> t = toFields(trailers);
  ASSERT_TRUE(p.client.submitTrailers(id, t));
  p.pump();

  auto heads = p.serverListener.of(Event::kHeaders);
  ASSERT_EQ(heads.size(), 1u);
  EXPECT_EQ(heads[0].fields, kPost);
  EXPECT_FALSE(heads[0].endStream);
  EXPECT_EQ(p.serverListener.body(id), "hello world");
  auto tr = p.serverListener.of(Event::kTrailers);
  ASSERT_EQ(tr.size(), 1u);
  EXPECT_EQ(tr[0].fields, trailers);

  Fields resp = {{":status", "200"}, {"content-type", "text/plain"}};
  std::vector<HeaderField> r = toFields(resp);
  ASSERT_TRUE(p.server.submitResponse(id, r, true));
  EXPECT_EQ(p.server.submitData(id, "pong", false), 4u);
  Fields grpc = {{"grpc-status", "0"}};
  std::vector<HeaderField> g = toFields(grpc);
  ASSERT_TRUE(p.server.submitTrailers(id, g));
  p.pump();

  auto rh = p.clientListener.of(Event::kHeaders);
  ASSERT_EQ(rh.size(), 1u);
  EXPECT_EQ(rh[0].fields, resp);
  EXPECT_EQ(p.clientListener.body(id), "pong");
  auto rt = p.clientListener.of(Event::kTrailers);
  ASSERT_EQ(rt.size(), 1u);
  EXPECT_EQ(rt[0].fields, grpc);
  EXPECT_EQ(p.clientListener.of(Event::kClosed).size(), 1u);
  EXPECT_EQ(p.serverListener.of(Event::kClosed).size(), 1u);
  EXPECT_EQ(p.client.activeStreams(), 0u);
  EXPECT_EQ(p.server.activeStreams(), 0u);
  EXPECT_TRUE(p.clientListener.of(Event::kReset).empty());
}

TEST(Http2Exchange, BodylessRequestEndsWithHeaders) {
  Pair p;
  std::vector<HeaderField> req = toFields(kGet);
  int32_t id = p.client.submitRequest(req, false);
  p.pump();
  auto heads = p.serverListener.of(Event::kHeaders);
  ASSERT_EQ(heads.size(), 1u);
  EXPECT_TRUE(heads[0].endStream);
  Fields resp = {{":status", "204"}};
  std::vector<HeaderField> r = toFields(resp);
  ASSERT_TRUE(p.server.submitResponse(id, r, false));
  p.pump();
  auto rh = p.clientListener.of(Event::kHeaders);
  ASSERT_EQ(rh.size(), 1u);
  EXPECT_TRUE(rh[0].endStream);
}

TEST(Http2Exchange, FlowControlStallsSenderUntilConsumed) {
  Pair p;
  p.serverListener.autoConsume = false;
  std::vector<HeaderField> req = toFields(kPost);
  int32_t id = p.client.submitRequest(req, true);
  const std::string chunk(16 * 1024, 'x');
  size_t total = 256 * 1024;
  size_t sent = 0;
  // Keep the client's queue full; the server never opens the window.
  for (int i = 0; i < 50 && sent < total; ++i) {
    while (sent < total) {
      size_t n = p.client.submitData(
          id, std::string_view(chunk).substr(0, std::min(chunk.size(), total - sent)),
          sent + chunk.size() >= total);
      sent += n;
      if (n == 0) break;
    }
    p.pump();
  }
  // Stalled by the stream window (64 KiB from SETTINGS; 65535 before they arrived).
  EXPECT_LE(p.serverListener.bytes, 64u * 1024);
  EXPECT_GE(p.serverListener.bytes, 65535u);
  EXPECT_TRUE(p.client.stalledOnWindow(id));
  EXPECT_EQ(p.client.sendCapacity(id), 0u);  // queue bounded: caller must wait

  // The reader drains: windows reopen and the rest flows.
  size_t consumedSoFar = 0;
  for (int i = 0; i < 100 && p.serverListener.bytes < total; ++i) {
    size_t have = p.serverListener.bytes;
    p.server.consumed(id, have - consumedSoFar);
    consumedSoFar = have;
    p.pump();
    while (sent < total) {
      size_t n = p.client.submitData(
          id, std::string_view(chunk).substr(0, std::min(chunk.size(), total - sent)),
          sent + std::min(chunk.size(), total - sent) >= total);
      sent += n;
      if (n == 0) break;
    }
    p.pump();
  }
  EXPECT_EQ(sent, total);
  EXPECT_GT(p.clientListener.writable, 0u);  // the full queue reported room again
  EXPECT_EQ(p.serverListener.bytes, total);
  EXPECT_FALSE(p.client.stalledOnWindow(id));
  auto data = p.serverListener.of(Event::kData);
  ASSERT_FALSE(data.empty());
  EXPECT_TRUE(data.back().endStream);
}

TEST(Http2Exchange, ConcurrentStreamsUpToPeerLimit) {
  Http2Settings server;
  server.maxConcurrentStreams = 10;
  Pair p({}, server);
  p.pump();  // exchange SETTINGS
  EXPECT_EQ(p.client.remoteMaxConcurrentStreams(), 10u);
  std::vector<HeaderField> req = toFields(kGet);
  std::vector<int32_t> ids;
  while (p.client.canOpenStream()) ids.push_back(p.client.submitRequest(req, false));
  EXPECT_EQ(ids.size(), 10u);
  EXPECT_EQ(p.client.activeStreams(), 10u);
  p.pump();
  EXPECT_EQ(p.serverListener.of(Event::kHeaders).size(), 10u);
  EXPECT_EQ(p.server.activeStreams(), 10u);
  Fields resp = {{":status", "200"}};
  std::vector<HeaderField> r = toFields(resp);
  for (int32_t id : ids) ASSERT_TRUE(p.server.submitResponse(id, r, false));
  p.pump();
  EXPECT_EQ(p.clientListener.of(Event::kHeaders).size(), 10u);
  EXPECT_EQ(p.client.activeStreams(), 0u);
  EXPECT_TRUE(p.client.canOpenStream());
}

TEST(Http2Exchange, ResetStreamBothWays) {
  Pair p;
  std::vector<HeaderField> req = toFields(kPost);
  int32_t a = p.client.submitRequest(req, true);
  int32_t b = p.client.submitRequest(req, true);
  p.pump();
  ASSERT_TRUE(p.client.resetStream(a, kCancel));
  ASSERT_TRUE(p.server.resetStream(b, kRefusedStream));
  p.pump();
  auto sr = p.serverListener.of(Event::kReset);
  ASSERT_EQ(sr.size(), 2u);  // the local reset of `b` is reported too
  bool sawA = false;
  for (const Event& e : sr) sawA |= (e.streamId == a && e.code == kCancel);
  EXPECT_TRUE(sawA);
  auto cr = p.clientListener.of(Event::kReset);
  ASSERT_EQ(cr.size(), 2u);
  bool sawB = false;
  for (const Event& e : cr) sawB |= (e.streamId == b && e.code == kRefusedStream);
  EXPECT_TRUE(sawB);
  EXPECT_EQ(p.serverStats.peerResets.value(), 1u);
  EXPECT_EQ(p.client.activeStreams(), 0u);
  EXPECT_EQ(p.server.activeStreams(), 0u);
}

TEST(Http2Exchange, GracefulGoaway) {
  Pair p;
  std::vector<HeaderField> req = toFields(kGet);
  int32_t id = p.client.submitRequest(req, false);
  p.pump();
  ASSERT_TRUE(p.server.goAway(kNoError, true));
  p.pump();
  auto g = p.clientListener.of(Event::kGoaway);
  ASSERT_EQ(g.size(), 1u);
  EXPECT_EQ(g[0].streamId, 0x7fffffff);
  EXPECT_FALSE(p.client.canOpenStream());
  ASSERT_TRUE(p.server.goAway(kNoError, false));
  Fields resp = {{":status", "200"}};
  std::vector<HeaderField> r = toFields(resp);
  ASSERT_TRUE(p.server.submitResponse(id, r, false));
  p.pump();
  g = p.clientListener.of(Event::kGoaway);
  ASSERT_EQ(g.size(), 2u);
  EXPECT_EQ(g[1].streamId, id);
  EXPECT_EQ(p.clientListener.of(Event::kHeaders).size(), 1u);  // in-flight stream completed
  EXPECT_TRUE(p.server.closing());
  EXPECT_EQ(p.server.fatalErrorCode(), 0u);
}

TEST(Http2Exchange, ConnectionSpecificHeadersRejected) {
  for (const auto& [name, value] : Fields{{"connection", "close"},
                                          {"keep-alive", "5"},
                                          {"proxy-connection", "x"},
                                          {"transfer-encoding", "chunked"},
                                          {"upgrade", "h2c"},
                                          {"te", "gzip"}}) {
    Pair p;
    Fields f = kGet;
    f.emplace_back(name, value);
    std::vector<HeaderField> req = toFields(f);
    int32_t id = p.client.submitRequest(req, false);
    p.pump();
    EXPECT_TRUE(p.serverListener.of(Event::kHeaders).empty()) << name;
    auto cr = p.clientListener.of(Event::kReset);
    ASSERT_EQ(cr.size(), 1u) << name;
    EXPECT_EQ(cr[0].streamId, id);
    EXPECT_EQ(cr[0].code, kProtocolError);
    EXPECT_EQ(p.serverStats.invalidHeaders.value(), 1u) << name;
    EXPECT_FALSE(p.server.closing());
  }
}

TEST(Http2Exchange, TeTrailersAccepted) {
  Pair p;
  Fields f = kGet;
  f.emplace_back("te", "trailers");
  std::vector<HeaderField> req = toFields(f);
  p.client.submitRequest(req, false);
  p.pump();
  auto heads = p.serverListener.of(Event::kHeaders);
  ASSERT_EQ(heads.size(), 1u);
  EXPECT_EQ(heads[0].fields.back(), (std::pair<std::string, std::string>{"te", "trailers"}));
  EXPECT_EQ(p.serverStats.invalidHeaders.value(), 0u);
}

// Writes the client side of a few exchanges as fuzz seeds when asked:
// TRELLIS_HTTP2_CORPUS_DIR=tests/fuzz/http2_session/corpus ./http2_codec_test
TEST(Http2Exchange, DumpSeedCorpus) {
  const char* dir = std::getenv("TRELLIS_HTTP2_CORPUS_DIR");
  Pair p;
  std::vector<HeaderField> get = toFields(kGet);
  std::vector<HeaderField> post = toFields(kPost);
  p.client.submitRequest(get, false);
  int32_t id = p.client.submitRequest(post, true);
  p.client.submitData(id, "payload", false);
  Fields trailers = {{"x-t", "1"}};
  std::vector<HeaderField> t = toFields(trailers);
  p.client.submitTrailers(id, t);
  int32_t c = p.client.submitRequest(post, true);
  p.pump();
  p.client.resetStream(c, kCancel);
  p.client.goAway(kNoError, false);
  p.pump();
  ASSERT_GT(p.clientBytes.size(), kPreface.size());
  if (dir == nullptr) return;
  std::ofstream(std::string(dir) + "/exchange") << p.clientBytes.substr(kPreface.size());
  std::ofstream(std::string(dir) + "/get_with_body")
      << frame(kSettings, 0, 0, "") + frame(kHeadersFrame, kEndHeaders, 1, requestBlock()) +
             frame(kData, kEndStream, 1, "body");
}

}  // namespace
}  // namespace trellis::http2::test
