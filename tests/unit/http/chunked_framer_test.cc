#include <gtest/gtest.h>

#include <string>
#include <vector>

#include "http/http1_parser.h"

namespace trellis::http {
namespace {

struct Outcome {
  size_t consumed = 0;
  bool done = false;
  bool error = false;
  std::string payload;

  bool operator==(const Outcome&) const = default;
};

std::ostream& operator<<(std::ostream& os, const Outcome& o) {
  return os << "{consumed=" << o.consumed << " done=" << o.done << " error=" << o.error
            << " payload=\"" << o.payload << "\"}";
}

/// Feeds `input` cut at `cuts` (ascending offsets), the way a reader would: stop at the end of
/// the message or at the first error.
Outcome feedPieces(const std::string& input, const std::vector<size_t>& cuts,
                   ChunkedFramer::Limits limits = {}) {
  ChunkedFramer framer(limits);
  Outcome out;
  size_t start = 0;
  auto onData = [&](const char* p, size_t n) { out.payload.append(p, n); };
  for (size_t i = 0; i <= cuts.size(); ++i) {
    const size_t end = i < cuts.size() ? cuts[i] : input.size();
    // Each piece gets its own buffer so ASan catches reads past it.
    const std::vector<char> piece(input.begin() + static_cast<long>(start),
                                  input.begin() + static_cast<long>(end));
    const ChunkedFramer::Result r = framer.feed(piece.data(), piece.size(), onData);
    out.consumed += r.consumed;
    EXPECT_LE(r.consumed, piece.size());
    if (r.error || r.done) {
      out.done = r.done;
      out.error = r.error;
      EXPECT_EQ(framer.done(), r.done);
      return out;
    }
    EXPECT_EQ(r.consumed, piece.size()) << "stopped early without done or error";
    start = end;
  }
  return out;
}

Outcome feedWhole(const std::string& input, ChunkedFramer::Limits limits = {}) {
  return feedPieces(input, {}, limits);
}

/// The outcome must not depend on how the input is split: one byte at a time, every single cut
/// point, and every pair of cut points.
void expectSplitInvariant(const std::string& input, const Outcome& expected,
                          ChunkedFramer::Limits limits = {}) {
  SCOPED_TRACE(input);
  EXPECT_EQ(feedWhole(input, limits), expected);
  std::vector<size_t> everyByte;
  for (size_t i = 1; i < input.size(); ++i) everyByte.push_back(i);
  EXPECT_EQ(feedPieces(input, everyByte, limits), expected);
  for (size_t a = 0; a <= input.size(); ++a) {
    ASSERT_EQ(feedPieces(input, {a}, limits), expected) << "cut " << a;
    for (size_t b = a; b <= input.size(); ++b) {
      ASSERT_EQ(feedPieces(input, {a, b}, limits), expected) << "cuts " << a << "," << b;
    }
  }
}

Outcome complete(size_t consumed, std::string payload) {
  return {consumed, true, false, std::move(payload)};
}
Outcome failedAt(size_t offset, std::string payload = "") {
  return {offset, false, true, std::move(payload)};
}

TEST(ChunkedFramer, ValidMessagesAtEverySplit) {
  struct Case {
    std::string message;
    std::string payload;
  };
  const Case cases[] = {
      {"5\r\nhello\r\n0\r\n\r\n", "hello"},
      {"0\r\n\r\n", ""},
      {"3\r\nabc\r\n1A\r\n" + std::string(26, 'z') + "\r\n0\r\n\r\n", "abc" + std::string(26, 'z')},
      {"00a\r\n0123456789\r\n000\r\n\r\n", "0123456789"},
      {"4;name=value;flag\r\nwiki\r\n5 ;q=\"x y\"\r\npedia\r\n0;last\r\n\r\n", "wikipedia"},
      {"1\t;x\r\n\r\r\n0\r\nExpires: never\r\nX-Checksum:\tabc \r\n\r\n", "\r"},
      {"2\r\n\n\n\r\n0\r\nt:\r\n\r\n", "\n\n"},
  };
  for (const Case& c : cases) {
    expectSplitInvariant(c.message, complete(c.message.size(), c.payload));
    // Bytes of a pipelined next message are left alone.
    const std::string pipelined = c.message + "GET / HTTP/1.1\r\n\r\n";
    expectSplitInvariant(pipelined, complete(c.message.size(), c.payload));
  }
}

TEST(ChunkedFramer, InvalidMessagesFailAtTheSameByteAtEverySplit) {
  struct Case {
    std::string message;
    size_t offset;  // bytes consumed before the offending one
    std::string payload;
  };
  const Case cases[] = {
      {"\r\n", 0, ""},              // empty size
      {";ext\r\n", 0, ""},          // extension without size
      {"g\r\n", 0, ""},             // not hex
      {"0x5\r\nhello\r\n", 1, ""},  // 0x prefix
      {"-1\r\n", 0, ""},
      {"+5\r\n", 0, ""},
      {" 5\r\n", 0, ""},
      {"5 \r\nhello\r\n", 2, ""},  // BWS without an extension
      {"5 x\r\n", 2, ""},
      {"5\nhello\r\n0\r\n\r\n", 1, ""},          // bare LF after size
      {"5\rhello", 2, ""},                       // bare CR after size
      {"5;a\nhello", 3, ""},                     // bare LF inside extension
      {"5;a\x01\r\nhello", 3, ""},               // CTL inside extension
      {"5\r\nhelloX\r\n0\r\n\r\n", 8, "hello"},  // missing CRLF after data
      {"5\r\nhello\n0\r\n\r\n", 8, "hello"},     // bare LF after data
      {"5\r\nhello\r0\r\n\r\n", 9, "hello"},     // bare CR after data
      {"0\n\r\n", 1, ""},                        // bare LF after last-chunk
      {"0\r\n\n", 3, ""},                        // bare LF ending the message
      {"0\r\n\r\r\n", 4, ""},
      {"0\r\n\r", 4, ""},              // hmm: incomplete, see below
      {"0\r\n x: y\r\n\r\n", 3, ""},   // obs-fold in trailers
      {"0\r\n: y\r\n\r\n", 3, ""},     // empty trailer name
      {"0\r\nx y: z\r\n\r\n", 4, ""},  // space in trailer name
      {"0\r\nx : z\r\n\r\n", 4, ""},   // space before colon
      {"0\r\nnocolon\r\n\r\n", 10, ""},
      {"0\r\nx: a\nb\r\n\r\n", 7, ""},  // bare LF in trailer value
      {"0\r\nx: a\x7f\r\n\r\n", 7, ""},
      {"0\r\nx: a\r\r\n\r\n", 8, ""},
      {"4000000000000001\r\n", 15, ""},  // > 2^62
      {"ffffffffffffffffff\r\n", 15, ""},
  };
  for (const Case& c : cases) {
    if (c.message == "0\r\n\r") continue;  // listed to document: an unfinished end is Incomplete
    expectSplitInvariant(c.message, failedAt(c.offset, c.payload));
  }
  const Outcome unfinished = feedWhole("0\r\n\r");
  EXPECT_EQ(unfinished, (Outcome{4, false, false, ""}));
}

TEST(ChunkedFramer, LargestChunkSizeIsAccepted) {
  ChunkedFramer framer;
  const std::string line = "4000000000000000\r\nabc";
  const auto r = framer.feed(line.data(), line.size());
  EXPECT_FALSE(r.error);
  EXPECT_EQ(r.consumed, line.size());
  ChunkedFramer padded;
  const std::string zeros = "0000000000000000000000000000001\r\n";
  EXPECT_FALSE(padded.feed(zeros.data(), zeros.size()).error);
}

TEST(ChunkedFramer, ChunkLineLimit) {
  ChunkedFramer::Limits limits;
  limits.maxChunkLineBytes = 8;
  expectSplitInvariant("1;abcdef\r\nx\r\n0\r\n\r\n", complete(18, "x"), limits);
  expectSplitInvariant("1;abcdefg\r\nx\r\n0\r\n\r\n", failedAt(8), limits);
  expectSplitInvariant("000000001\r\nx\r\n", failedAt(8), limits);
  expectSplitInvariant("1       ;\r\n", failedAt(8), limits);
  // The limit applies per line, not per message.
  expectSplitInvariant("1;abcdef\r\nx\r\n1;abcdef\r\ny\r\n0\r\n\r\n", complete(31, "xy"), limits);
}

TEST(ChunkedFramer, TrailerLimit) {
  ChunkedFramer::Limits limits;
  limits.maxTrailerBytes = 12;
  const std::string fits = "0\r\nab: cdef\r\n\r\n";  // 10 + 2 trailer bytes
  expectSplitInvariant(fits, complete(fits.size(), ""), limits);
  const std::string over = "0\r\nab: cdefg\r\n\r\n";
  expectSplitInvariant(over, failedAt(over.size() - 1), limits);
  ChunkedFramer framer(limits);
  framer.feed(fits.data(), 8);
  EXPECT_EQ(framer.trailerBytes(), 5u);
}

TEST(ChunkedFramer, StaysDoneOrFailedAndResets) {
  ChunkedFramer framer;
  const std::string message = "1\r\na\r\n0\r\n\r\n";
  auto r = framer.feed(message.data(), message.size());
  EXPECT_TRUE(r.done);
  EXPECT_TRUE(framer.done());
  r = framer.feed("more", 4);
  EXPECT_TRUE(r.done);
  EXPECT_EQ(r.consumed, 0u);
  r = framer.feed(nullptr, 0);
  EXPECT_TRUE(r.done);

  framer.reset();
  EXPECT_FALSE(framer.done());
  r = framer.feed("zz", 2);
  EXPECT_TRUE(r.error);
  EXPECT_EQ(r.consumed, 0u);
  r = framer.feed(message.data(), message.size());
  EXPECT_TRUE(r.error);
  EXPECT_EQ(r.consumed, 0u);
  r = framer.feed(nullptr, 0);
  EXPECT_TRUE(r.error);

  framer.reset();
  r = framer.feed(message.data(), message.size());
  EXPECT_TRUE(r.done);
  EXPECT_EQ(r.consumed, message.size());
}

TEST(ChunkedFramer, ReportsPayloadRunsWithoutCopying) {
  ChunkedFramer framer;
  const std::string message = "3\r\nabc\r\n2\r\nde\r\n0\r\n\r\n";
  std::vector<std::pair<const char*, size_t>> runs;
  const auto r = framer.feed(message.data(), message.size(),
                             [&](const char* p, size_t n) { runs.emplace_back(p, n); });
  EXPECT_TRUE(r.done);
  ASSERT_EQ(runs.size(), 2u);
  EXPECT_EQ(runs[0].first, message.data() + 3);
  EXPECT_EQ(runs[0].second, 3u);
  EXPECT_EQ(runs[1].first, message.data() + 11);
  EXPECT_EQ(runs[1].second, 2u);
}

}  // namespace
}  // namespace trellis::http
