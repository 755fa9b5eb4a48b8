// gRPC message framing: messages cut anywhere by HTTP/2, several per chunk, and a hostile
// length prefix refused before anything is buffered.
#include "xds/client/grpc_message_reader.h"

#include <gtest/gtest.h>

#include <string>
#include <vector>

namespace trellis::xds::client {
namespace {

std::string framed(const std::vector<std::string>& messages) {
  std::string out;
  for (const auto& m : messages) appendGrpcMessage(out, m);
  return out;
}

TEST(GrpcMessageReader, PrefixIsFlagThenBigEndianLength) {
  std::string out;
  appendGrpcMessage(out, std::string(258, 'x'));
  ASSERT_EQ(out.size(), 5u + 258u);
  EXPECT_EQ(out.substr(0, 5), std::string("\0\0\0\x01\x02", 5));
}

TEST(GrpcMessageReader, SeveralMessagesInOneChunk) {
  GrpcMessageReader reader(1024);
  std::vector<std::string> got;
  std::string error = reader.feed(framed({"one", "", "three"}), [&](std::string_view m) {
    got.emplace_back(m);
    return true;
  });
  EXPECT_EQ(error, "");
  EXPECT_EQ(got, (std::vector<std::string>{"one", "", "three"}));
  EXPECT_TRUE(reader.atBoundary());
}

TEST(GrpcMessageReader, MessagesCutAtEveryByte) {
  std::string wire = framed({"alpha", std::string(300, 'b'), "c"});
  GrpcMessageReader reader(1024);
  std::vector<std::string> got;
  for (char byte : wire) {
    ASSERT_EQ(reader.feed(std::string_view(&byte, 1),
                          [&](std::string_view m) {
                            got.emplace_back(m);
                            return true;
                          }),
              "");
  }
  EXPECT_EQ(got, (std::vector<std::string>{"alpha", std::string(300, 'b'), "c"}));
  EXPECT_TRUE(reader.atBoundary());
  EXPECT_EQ(reader.bufferedBytes(), 0u);
}

TEST(GrpcMessageReader, EveryCutOfTwoChunksGivesTheSameMessages) {
  std::string wire = framed({"first message", "second"});
  for (size_t cut = 0; cut <= wire.size(); ++cut) {
    GrpcMessageReader reader(1024);
    std::vector<std::string> got;
    auto collect = [&](std::string_view m) {
      got.emplace_back(m);
      return true;
    };
    ASSERT_EQ(reader.feed(std::string_view(wire).substr(0, cut), collect), "");
    ASSERT_EQ(reader.feed(std::string_view(wire).substr(cut), collect), "");
    EXPECT_EQ(got, (std::vector<std::string>{"first message", "second"})) << "cut at " << cut;
  }
}

TEST(GrpcMessageReader, PartialMessageIsNotABoundary) {
  GrpcMessageReader reader(1024);
  std::string wire = framed({"partial"});
  ASSERT_EQ(reader.feed(std::string_view(wire).substr(0, 7),
                        [](std::string_view) {
                          ADD_FAILURE() << "no message is complete";
                          return true;
                        }),
            "");
  EXPECT_FALSE(reader.atBoundary());
}

TEST(GrpcMessageReader, OversizedPrefixIsRefusedBeforeBuffering) {
  GrpcMessageReader reader(16u << 20);
  // 16 MiB + 1 announced; only the prefix arrives.
  std::string prefix("\0\x01\0\0\x01", 5);
  std::string error = reader.feed(prefix, [](std::string_view) { return true; });
  EXPECT_EQ(error, "gRPC message of 16777217 bytes exceeds the limit of 16777216");
  EXPECT_EQ(reader.bufferedBytes(), 0u);
  // A failed reader stays failed.
  EXPECT_EQ(reader.feed(framed({"ok"}), [](std::string_view) { return true; }), error);
}

TEST(GrpcMessageReader, LimitItselfIsAccepted) {
  GrpcMessageReader reader(4);
  int count = 0;
  EXPECT_EQ(reader.feed(framed({"four"}),
                        [&](std::string_view) {
                          ++count;
                          return true;
                        }),
            "");
  EXPECT_EQ(count, 1);
}

TEST(GrpcMessageReader, CompressedOrUnknownFlagIsAnError) {
  GrpcMessageReader compressed(1024);
  EXPECT_EQ(
      compressed.feed(std::string("\x01\0\0\0\x01z", 6), [](std::string_view) { return true; }),
      "compressed gRPC message, but no grpc-encoding was negotiated");
  GrpcMessageReader flagged(1024);
  EXPECT_EQ(flagged.feed(std::string("\x07\0\0\0\x00", 5), [](std::string_view) { return true; }),
            "bad gRPC message flag 7");
}

TEST(GrpcMessageReader, StopsWhenTheCallbackSaysSo) {
  GrpcMessageReader reader(1024);
  int count = 0;
  EXPECT_EQ(reader.feed(framed({"a", "b", "c"}),
                        [&](std::string_view) {
                          ++count;
                          return false;
                        }),
            "");
  EXPECT_EQ(count, 1);
}

}  // namespace
}  // namespace trellis::xds::client
