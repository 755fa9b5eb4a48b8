#include "http/grpc.h"

#include <gtest/gtest.h>

#include <string>

namespace trellis::http::grpc {
namespace {

using std::chrono::microseconds;

std::string format(microseconds timeout) {
  char out[kMaxTimeoutChars];
  size_t length = formatTimeout(timeout, out);
  return std::string(out, length);
}

std::string encode(std::string_view message) {
  std::string out;
  percentEncodeMessage(message, out);
  return out;
}

std::string decode(std::string_view message) {
  std::string out;
  percentDecodeMessage(message, out);
  return out;
}

TEST(GrpcStatusTest, NamesAllSeventeenCodes) {
  EXPECT_EQ(statusName(Status::Ok), "OK");
  EXPECT_EQ(statusName(Status::Cancelled), "CANCELLED");
  EXPECT_EQ(statusName(Status::DeadlineExceeded), "DEADLINE_EXCEEDED");
  EXPECT_EQ(statusName(Status::FailedPrecondition), "FAILED_PRECONDITION");
  EXPECT_EQ(statusName(Status::Unimplemented), "UNIMPLEMENTED");
  EXPECT_EQ(statusName(Status::Unauthenticated), "UNAUTHENTICATED");
  EXPECT_EQ(statusName(static_cast<Status>(17)), "UNKNOWN");
  for (int code = 0; code < kStatusCount; ++code) {
    EXPECT_FALSE(statusName(static_cast<Status>(code)).empty());
  }
}

TEST(GrpcStatusTest, ParsesWireValues) {
  EXPECT_EQ(parseStatus("0"), Status::Ok);
  EXPECT_EQ(parseStatus("14"), Status::Unavailable);
  EXPECT_EQ(parseStatus("16"), Status::Unauthenticated);
  for (std::string_view bad : {"", "17", "99", "01", "-1", "+1", "1 ", "abc", "100"}) {
    EXPECT_EQ(parseStatus(bad), std::nullopt) << bad;
  }
}

TEST(GrpcStatusTest, MapsHttpStatusAsTheSpecSays) {
  EXPECT_EQ(statusFromHttp(400), Status::Internal);
  EXPECT_EQ(statusFromHttp(401), Status::Unauthenticated);
  EXPECT_EQ(statusFromHttp(403), Status::PermissionDenied);
  EXPECT_EQ(statusFromHttp(404), Status::Unimplemented);
  for (int code : {429, 502, 503, 504}) EXPECT_EQ(statusFromHttp(code), Status::Unavailable);
  for (int code : {200, 201, 301, 405, 500, 501, 0, -1}) {
    EXPECT_EQ(statusFromHttp(code), Status::Unknown) << code;
  }
}

TEST(GrpcTimeoutTest, ParsesEveryUnit) {
  EXPECT_EQ(parseTimeout("1H"), microseconds(3'600'000'000));
  EXPECT_EQ(parseTimeout("2M"), microseconds(120'000'000));
  EXPECT_EQ(parseTimeout("3S"), microseconds(3'000'000));
  EXPECT_EQ(parseTimeout("250m"), microseconds(250'000));
  EXPECT_EQ(parseTimeout("7u"), microseconds(7));
  EXPECT_EQ(parseTimeout("0S"), microseconds(0));
  EXPECT_EQ(parseTimeout("00000005S"), microseconds(5'000'000));
  EXPECT_EQ(parseTimeout("99999999H"), microseconds(int64_t{99'999'999} * 3'600'000'000));
}

TEST(GrpcTimeoutTest, RoundsNanosecondsUp) {
  EXPECT_EQ(parseTimeout("1n"), microseconds(1));
  EXPECT_EQ(parseTimeout("1000n"), microseconds(1));
  EXPECT_EQ(parseTimeout("1001n"), microseconds(2));
  EXPECT_EQ(parseTimeout("0n"), microseconds(0));
}

TEST(GrpcTimeoutTest, RejectsMalformedValues) {
  for (std::string_view bad : {"", "S", "1", "1s", "1x", "123456789S", "-1S", "+1S", " 1S", "1 S",
                               "1S ", "1.5S", "1SS", "0x1S", "1h"}) {
    EXPECT_EQ(parseTimeout(bad), std::nullopt) << bad;
  }
}

TEST(GrpcTimeoutTest, FormatsTheShortestExactEncoding) {
  EXPECT_EQ(format(microseconds(0)), "0u");
  EXPECT_EQ(format(microseconds(5)), "5u");
  EXPECT_EQ(format(std::chrono::milliseconds(1500)), "1500m");
  EXPECT_EQ(format(std::chrono::seconds(1)), "1S");
  EXPECT_EQ(format(std::chrono::seconds(90)), "90S");
  EXPECT_EQ(format(std::chrono::minutes(2)), "2M");
  EXPECT_EQ(format(std::chrono::hours(3)), "3H");
  EXPECT_EQ(format(std::chrono::seconds(7200)), "2H");
  EXPECT_EQ(format(microseconds(99'999'999)), "99999999u");
  EXPECT_EQ(format(std::chrono::hours(99'999'999)), "99999999H");
  EXPECT_EQ(format(microseconds(-5)), "0u");
}

TEST(GrpcTimeoutTest, RoundsUpWhenNoExactEncodingFits) {
  // 100000001 us does not fit in 8 digits of 'u': 100001m (rounded up) is the finest that does.
  EXPECT_EQ(format(microseconds(100'000'001)), "100001m");
  EXPECT_EQ(format(microseconds(1'234'567'891'234)), "1234568S");
  // Past 99999999 hours the encoding saturates.
  EXPECT_EQ(format(microseconds::max()), "99999999H");
}

TEST(GrpcTimeoutTest, FormattedValuesParseBackNoEarlier) {
  for (int64_t us : {int64_t{0}, int64_t{1}, int64_t{999}, int64_t{1'000'001},
                     int64_t{123'456'789'012}, int64_t{987'654'321'987'654}}) {
    std::string text = format(microseconds(us));
    ASSERT_LE(text.size(), kMaxTimeoutChars);
    auto parsed = parseTimeout(text);
    ASSERT_TRUE(parsed.has_value()) << text;
    EXPECT_GE(parsed->count(), us) << text;
  }
  // Every parsed value formats back, even the largest.
  for (std::string_view text : {"99999999H", "99999999n", "1n", "12345678M"}) {
    auto parsed = parseTimeout(text);
    ASSERT_TRUE(parsed.has_value()) << text;
    auto again = parseTimeout(format(*parsed));
    ASSERT_TRUE(again.has_value()) << text;
    EXPECT_EQ(*again, *parsed) << text;
  }
}

TEST(GrpcContentTypeTest, AcceptsGrpcAndItsVariants) {
  for (std::string_view good :
       {"application/grpc", "application/grpc+proto", "application/grpc+json",
        "application/grpc;charset=utf-8", "Application/GRPC+proto"}) {
    EXPECT_TRUE(isGrpcContentType(good)) << good;
  }
  for (std::string_view bad : {"", "application/grp", "application/grpcx", "application/grpc-web",
                               "application/json", " application/grpc", "text/plain"}) {
    EXPECT_FALSE(isGrpcContentType(bad)) << bad;
  }
}

TEST(GrpcMessageTest, PercentEncodesOutsideVisibleAsciiAndPercent) {
  EXPECT_EQ(encode("hello world"), "hello world");
  EXPECT_EQ(encode("100%"), "100%25");
  EXPECT_EQ(encode("a\nb\tc"), "a%0Ab%09c");
  EXPECT_EQ(encode("\x7f"), "%7F");
  EXPECT_EQ(encode("caf\xc3\xa9"), "caf%C3%A9");
  EXPECT_EQ(encode(std::string_view("\0", 1)), "%00");
  EXPECT_EQ(encode(""), "");
}

TEST(GrpcMessageTest, DecodesAndKeepsMalformedEscapes) {
  EXPECT_EQ(decode("caf%C3%A9"), "caf\xc3\xa9");
  EXPECT_EQ(decode("100%25"), "100%");
  EXPECT_EQ(decode("%0a%0A"), "\n\n");
  EXPECT_EQ(decode("%"), "%");
  EXPECT_EQ(decode("%4"), "%4");
  EXPECT_EQ(decode("%zz%41"), "%zzA");
  EXPECT_EQ(decode("50%"), "50%");
}

TEST(GrpcMessageTest, RoundTripsEveryByte) {
  std::string all;
  for (int byte = 0; byte < 256; ++byte) all.push_back(static_cast<char>(byte));
  EXPECT_EQ(decode(encode(all)), all);
}

TEST(GrpcPathTest, SplitsServiceAndMethod) {
  auto parts = splitPath("/helloworld.Greeter/SayHello");
  ASSERT_TRUE(parts.has_value());
  EXPECT_EQ(parts->service, "helloworld.Greeter");
  EXPECT_EQ(parts->method, "SayHello");
  parts = splitPath("/a/b");
  ASSERT_TRUE(parts.has_value());
  EXPECT_EQ(parts->service, "a");
  EXPECT_EQ(parts->method, "b");
}

TEST(GrpcPathTest, RejectsOtherShapes) {
  for (std::string_view bad :
       {"", "/", "//", "/a", "/a/", "//b", "a/b", "/a/b/c", "/a/b?x=1", "/a?/b", "/a/b/"}) {
    EXPECT_EQ(splitPath(bad), std::nullopt) << bad;
  }
}

}  // namespace
}  // namespace trellis::http::grpc
