// HTTP/1 <-> HTTP/2 head translation (RFC 9113 §8) and chunked-trailer capture.
#include <gtest/gtest.h>

#include <string>
#include <vector>

#include "http/http1_parser.h"
#include "proxy/head_writer.h"

namespace trellis::proxy {
namespace {

using Fields = std::vector<std::pair<std::string, std::string>>;

Fields toPairs(std::span<const http::HeaderField> fields) {
  Fields out;
  for (const auto& f : fields) out.emplace_back(f.name, f.value);
  return out;
}

TEST(FieldList, SetValueReplacesOneValueAndKeepsTheOthers) {
  FieldList list;
  list.add(":path", "/a");
  list.add("grpc-timeout", "3000m");
  list.add("x-forwarded-for", "10.0.0.1");
  list.appendToLast(", 10.0.0.2");
  EXPECT_TRUE(list.setValue("grpc-timeout", "2599m"));
  EXPECT_FALSE(list.setValue("absent", "x"));
  EXPECT_EQ(toPairs(list.fields()), (Fields{{":path", "/a"},
                                            {"grpc-timeout", "2599m"},
                                            {"x-forwarded-for", "10.0.0.1, 10.0.0.2"}}));
  EXPECT_TRUE(list.setValue("grpc-timeout", "1S"));  // again, for a second retry
  EXPECT_EQ(toPairs(list.fields())[1], (std::pair<std::string, std::string>{"grpc-timeout", "1S"}));
}

TEST(HeadTranslation, Http1RequestBecomesHttp2FieldsWithPseudoHeadersFirst) {
  std::string text =
      "POST /a?b=c HTTP/1.1\r\nHost: example\r\nConnection: keep-alive, x-secret\r\n"
      "X-Secret: 1\r\nTE: trailers\r\nTransfer-Encoding: chunked\r\nUpgrade: h2c\r\n"
      "Content-Type: application/grpc\r\n\r\n";
  http::RequestHead head;
  http::ParseError error;
  ASSERT_EQ(http::parseRequestHead(text.data(), text.size(), http::Limits{}, head, error),
            http::ParseStatus::Complete);
  FieldList out;
  ForwardedRequest fwd{"/a", "b=c", "example", "10.0.0.1", "id-1", false, true};
  buildUpstreamRequestFields(out, head.method, head.headers, &head, nullptr, fwd);
  EXPECT_EQ(toPairs(out.fields()), (Fields{{":method", "POST"},
                                           {":scheme", "http"},
                                           {":authority", "example"},
                                           {":path", "/a?b=c"},
                                           {"te", "trailers"},
                                           {"content-type", "application/grpc"},
                                           {"x-forwarded-for", "10.0.0.1"},
                                           {"x-forwarded-proto", "http"},
                                           {"x-request-id", "id-1"}}));
}

TEST(HeadTranslation, Http2RequestBecomesHttp1WithCookiesJoined) {
  std::vector<http::HeaderField> headers = {
      {"cookie", "a=1"}, {"accept", "*/*"}, {"cookie", "b=2"}, {"x-forwarded-for", "1.1.1.1"}};
  Buffer out;
  ForwardedRequest fwd{"/p", "", "svc.local", "10.0.0.2", "id-2", false, true};
  writeUpstreamRequestHead(out, "PUT", headers, nullptr, fwd);
  EXPECT_EQ(out.view(),
            "PUT /p HTTP/1.1\r\nhost: svc.local\r\naccept: */*\r\n"
            "transfer-encoding: chunked\r\nx-forwarded-for: 1.1.1.1, 10.0.0.2\r\n"
            "x-forwarded-proto: http\r\nx-request-id: id-2\r\ncookie: a=1; b=2\r\n\r\n");
}

TEST(HeadTranslation, Http1ResponseLosesConnectionFieldsOnItsWayToHttp2) {
  std::string text =
      "HTTP/1.1 200 OK\r\nConnection: x-hop\r\nX-Hop: 1\r\nKeep-Alive: timeout=1\r\n"
      "Transfer-Encoding: chunked\r\nContent-Type: text/plain\r\n\r\n";
  http::ResponseHead head;
  http::ParseError error;
  ASSERT_EQ(http::parseResponseHead(text.data(), text.size(), http::Limits{}, "GET", head, error),
            http::ParseStatus::Complete);
  config::HeaderModifier modifier;
  modifier.add = {{"x-added", "yes"}};
  FieldList out;
  buildDownstreamResponseFields(out, 200, head.headers, &head, &modifier);
  EXPECT_EQ(toPairs(out.fields()),
            (Fields{{":status", "200"}, {"content-type", "text/plain"}, {"x-added", "yes"}}));
}

TEST(HeadTranslation, Http2ResponseBecomesAChunkedHttp1Head) {
  std::vector<http::HeaderField> headers = {{"content-type", "application/json"}};
  Buffer out;
  ForwardedResponse fwd;
  fwd.chunked = true;
  writeDownstreamResponseHead(out, 503, headers, nullptr, fwd);
  EXPECT_EQ(out.view(),
            "HTTP/1.1 503 Service Unavailable\r\ncontent-type: application/json\r\n"
            "transfer-encoding: chunked\r\n\r\n");
}

TEST(ChunkedTrailers, CapturedLowerCasedAndFiltered) {
  std::string body =
      "3\r\nabc\r\n0\r\nX-Checksum: 42\r\nContent-Length: 3\r\nGrpc-Status:  0 \r\n\r\n";
  http::ChunkedFramer framer;
  std::string section;
  framer.captureTrailers(&section);
  std::string payload;
  auto result =
      framer.feed(body.data(), body.size(), [&](const char* p, size_t n) { payload.append(p, n); });
  ASSERT_TRUE(result.done);
  EXPECT_EQ(payload, "abc");
  std::vector<http::HeaderField> fields;
  http::parseTrailerSection(section, fields);
  EXPECT_EQ(toPairs(fields), (Fields{{"x-checksum", "42"}, {"grpc-status", "0"}}));
}

TEST(ChunkedTrailers, NoTrailersCaptureNothing) {
  std::string body = "0\r\n\r\n";
  http::ChunkedFramer framer;
  std::string section;
  framer.captureTrailers(&section);
  ASSERT_TRUE(framer.feed(body.data(), body.size()).done);
  EXPECT_TRUE(section.empty());
}

}  // namespace
}  // namespace trellis::proxy
