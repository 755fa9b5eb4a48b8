#include "http/grpc_health.h"

#include <gtest/gtest.h>

#include <string>

namespace trellis::http::grpc {
namespace {

std::string frame(std::string_view message) {
  std::string out(1, '\0');
  auto n = static_cast<uint32_t>(message.size());
  for (int shift = 24; shift >= 0; shift -= 8) out.push_back(static_cast<char>(n >> shift));
  return out + std::string(message);
}

TEST(GrpcHealthTest, EncodesTheServiceNameAsField1) {
  EXPECT_EQ(encodeHealthCheckRequest("shop.Cart"), frame(std::string("\x0a\x09", 2) + "shop.Cart"));
}

TEST(GrpcHealthTest, EmptyServiceIsAnEmptyMessage) {
  EXPECT_EQ(encodeHealthCheckRequest(""), std::string(5, '\0'));
}

TEST(GrpcHealthTest, LongServiceNamesUseMultiByteLengths) {
  std::string name(200, 'a');
  std::string encoded = encodeHealthCheckRequest(name);
  ASSERT_EQ(encoded.size(), 5u + 3u + 200u);
  EXPECT_EQ(static_cast<uint8_t>(encoded[6]), 0xc8);  // 200 = 0xc8 0x01
  EXPECT_EQ(static_cast<uint8_t>(encoded[7]), 0x01);
}

TEST(GrpcHealthTest, ParsesEachStatus) {
  EXPECT_EQ(parseHealthCheckResponse(frame("\x08\x01")), ServingStatus::Serving);
  EXPECT_EQ(parseHealthCheckResponse(frame("\x08\x02")), ServingStatus::NotServing);
  EXPECT_EQ(parseHealthCheckResponse(frame("\x08\x03")), ServingStatus::ServiceUnknown);
  EXPECT_EQ(parseHealthCheckResponse(frame("")), ServingStatus::Unknown);  // default value
}

TEST(GrpcHealthTest, SkipsUnknownFieldsOfEveryWireType) {
  std::string message = std::string("\x10\x05", 2)                      // field 2 varint
                        + std::string("\x19", 1) + std::string(8, 'x')  // field 3 fixed64
                        + std::string("\x22\x02hi", 4)                  // field 4 bytes
                        + std::string("\x2d", 1) + std::string(4, 'y')  // field 5 fixed32
                        + std::string("\x08\x01", 2);
  EXPECT_EQ(parseHealthCheckResponse(frame(message)), ServingStatus::Serving);
}

TEST(GrpcHealthTest, UnknownEnumValuesReadAsUnknown) {
  EXPECT_EQ(parseHealthCheckResponse(frame("\x08\x07")), ServingStatus::Unknown);
}

TEST(GrpcHealthTest, RejectsMalformedBodies) {
  EXPECT_FALSE(parseHealthCheckResponse(""));
  EXPECT_FALSE(parseHealthCheckResponse(std::string("\x01\0\0\0\x02\x08\x01", 7)));  // compressed
  EXPECT_FALSE(parseHealthCheckResponse(frame("\x08\x01").substr(0, 6)));            // truncated
  EXPECT_FALSE(parseHealthCheckResponse(frame("\x08\x01") + "x"));                   // trailing
  EXPECT_FALSE(parseHealthCheckResponse(frame("\x08")));                             // varint cut
  EXPECT_FALSE(parseHealthCheckResponse(frame("\x22\x09hi")));  // length beyond message
  EXPECT_FALSE(parseHealthCheckResponse(frame("\x0b")));        // group wire type
  EXPECT_FALSE(parseHealthCheckResponse(frame(std::string("\x00\x01", 2))));  // field 0
  EXPECT_FALSE(parseHealthCheckResponse(frame(std::string(11, '\xff'))));     // endless varint
}

TEST(GrpcHealthTest, RoundTripsThroughItsOwnFraming) {
  // The response parser and the request encoder agree on the 5-byte prefix.
  std::string request = encodeHealthCheckRequest("");
  EXPECT_EQ(parseHealthCheckResponse(request), ServingStatus::Unknown);
}

}  // namespace
}  // namespace trellis::http::grpc
