#include <gtest/gtest.h>

#include <string>

#include "http/http1_parser.h"
#include "http1_test_util.h"

namespace trellis::http {
namespace {

using testing::expectResponseError;
using testing::expectResponsePrefixes;
using testing::ParsedResponse;

const std::string kOk =
    "HTTP/1.1 200 OK\r\n"
    "Content-Type: text/html; charset=utf-8\r\n"
    "Content-Length: 1234\r\n"
    "Cache-Control: max-age=60\r\n"
    "\r\n";

std::string response(std::string_view statusLine, std::string_view fields) {
  return std::string(statusLine) + "\r\n" + std::string(fields) + "\r\n";
}

TEST(Http1Response, ParsesTypicalResponse) {
  ParsedResponse r(kOk);
  ASSERT_EQ(r.status, ParseStatus::Complete);
  EXPECT_EQ(r.head.status, 200);
  EXPECT_EQ(r.head.reason, "OK");
  EXPECT_EQ(r.head.versionMinor, 1);
  EXPECT_EQ(r.head.framing, BodyFraming::ContentLength);
  EXPECT_EQ(r.head.contentLength, 1234u);
  EXPECT_TRUE(r.head.keepAlive);
  EXPECT_EQ(r.head.headBytes, kOk.size());
  ASSERT_EQ(r.head.headers.size(), 3u);
  EXPECT_EQ(r.head.headers[0].name, "content-type");
  EXPECT_EQ(r.head.headers[0].value, "text/html; charset=utf-8");
  expectResponsePrefixes(kOk, kOk.size(), ParseError::None);
}

TEST(Http1Response, ReasonPhraseVariants) {
  ParsedResponse none("HTTP/1.1 204\r\n\r\n");
  ASSERT_EQ(none.status, ParseStatus::Complete);
  EXPECT_EQ(none.head.status, 204);
  EXPECT_EQ(none.head.reason, "");
  ParsedResponse empty("HTTP/1.1 204 \r\n\r\n");
  ASSERT_EQ(empty.status, ParseStatus::Complete);
  EXPECT_EQ(empty.head.reason, "");
  ParsedResponse spaces("HTTP/1.1 404 Not  Found\t\xe9t\xe9\r\n\r\n");
  ASSERT_EQ(spaces.status, ParseStatus::Complete);
  EXPECT_EQ(spaces.head.reason, "Not  Found\t\xe9t\xe9");
}

TEST(Http1Response, RejectsMalformedStatusLines) {
  for (const char* line :
       {"HTTP/1.1 99 Low", "HTTP/1.1 099 Low", "HTTP/1.1 2000 OK", "HTTP/1.1 20 OK",
        "HTTP/1.1  200 OK", "HTTP/1.1 2x0 OK", "http/1.1 200 OK", "HTTP/1.1200 OK", "HTTP/2 200",
        "ICY 200 OK", "HTTP/1.1 200 O\x01K", "HTTP/1.1 200 O\x7fK", " HTTP/1.1 200 OK"}) {
    SCOPED_TRACE(line);
    expectResponseError(response(line, "Content-Length: 0\r\n"), ParseError::BadStatusLine);
  }
  expectResponseError("\r\nHTTP/1.1 200 OK\r\n\r\n", ParseError::BadStatusLine);
  expectResponseError("HTTP/1.1 200 OK\n\r\n", ParseError::BareCrOrLf);
  expectResponseError("HTTP/1.1 200 O\rK\r\n\r\n", ParseError::BareCrOrLf);
  expectResponseError("HTTP/1.1 200\n\r\n", ParseError::BareCrOrLf);
  expectResponseError("HTTP/2.0 200 OK\r\n\r\n", ParseError::BadVersion);
  expectResponseError("HTTP/0.9 200 OK\r\n\r\n", ParseError::BadVersion);
}

TEST(Http1Response, FieldErrorsMatchRequests) {
  expectResponseError(response("HTTP/1.1 200 OK", "X: a\r\n b\r\n"), ParseError::ObsFold);
  expectResponseError(response("HTTP/1.1 200 OK", "X : a\r\n"), ParseError::BadHeader);
  expectResponseError(response("HTTP/1.1 200 OK", "X: a\nY: b\r\n"), ParseError::BareCrOrLf);
  expectResponseError(response("HTTP/1.1 200 OK", "Content-Length: 1\r\nContent-Length: 2\r\n"),
                      ParseError::BadContentLength);
  expectResponseError(
      response("HTTP/1.1 200 OK", "Content-Length: 1\r\nTransfer-Encoding: chunked\r\n"),
      ParseError::ConflictingFraming);
  expectResponseError(response("HTTP/1.1 200 OK", "Transfer-Encoding: gzip, chunked\r\n"),
                      ParseError::BadTransferEncoding);
  expectResponseError(response("HTTP/1.0 200 OK", "Transfer-Encoding: chunked\r\n"),
                      ParseError::BadTransferEncoding);
}

TEST(Http1Response, ChunkedAndUntilCloseFraming) {
  ParsedResponse chunked(response("HTTP/1.1 200 OK", "Transfer-Encoding: chunked\r\n"));
  EXPECT_EQ(chunked.head.framing, BodyFraming::Chunked);
  EXPECT_TRUE(chunked.head.keepAlive);

  ParsedResponse untilClose(response("HTTP/1.1 200 OK", "Content-Type: text/plain\r\n"));
  EXPECT_EQ(untilClose.head.framing, BodyFraming::UntilClose);
  EXPECT_FALSE(untilClose.head.keepAlive);
}

TEST(Http1Response, BodylessStatusesAndHead) {
  for (const char* line : {"HTTP/1.1 204 No Content", "HTTP/1.1 304 Not Modified"}) {
    ParsedResponse r(response(line, "Content-Length: 10\r\n"));
    ASSERT_EQ(r.status, ParseStatus::Complete);
    EXPECT_EQ(r.head.framing, BodyFraming::None) << line;
    EXPECT_TRUE(r.head.keepAlive);
  }
  ParsedResponse head(response("HTTP/1.1 200 OK", "Content-Length: 1234\r\n"), "HEAD");
  ASSERT_EQ(head.status, ParseStatus::Complete);
  EXPECT_EQ(head.head.framing, BodyFraming::None);
  EXPECT_EQ(head.head.contentLength, 1234u);  // the size a GET would have had
  ParsedResponse headChunked(response("HTTP/1.1 200 OK", "Transfer-Encoding: chunked\r\n"), "HEAD");
  EXPECT_EQ(headChunked.head.framing, BodyFraming::None);
  ParsedResponse headNoLength(response("HTTP/1.1 200 OK", ""), "HEAD");
  EXPECT_EQ(headNoLength.head.framing, BodyFraming::None);
  EXPECT_TRUE(headNoLength.head.keepAlive);
}

TEST(Http1Response, InformationalResponsesThenFinal) {
  std::string bytes =
      "HTTP/1.1 100 Continue\r\n\r\n"
      "HTTP/1.1 103 Early Hints\r\nLink: </style.css>; rel=preload\r\n\r\n" +
      kOk + "body";
  ResponseHead head;
  ParseError error;
  size_t offset = 0;
  for (int expected : {100, 103, 200}) {
    ASSERT_EQ(
        parseResponseHead(bytes.data() + offset, bytes.size() - offset, {}, "POST", head, error),
        ParseStatus::Complete);
    EXPECT_EQ(head.status, expected);
    EXPECT_EQ(head.framing, expected == 200 ? BodyFraming::ContentLength : BodyFraming::None);
    offset += head.headBytes;
  }
  EXPECT_EQ(bytes.substr(offset), "body");

  ParsedResponse switching(
      response("HTTP/1.1 101 Switching Protocols", "Connection: Upgrade\r\nUpgrade: ws\r\n"));
  ASSERT_EQ(switching.status, ParseStatus::Complete);
  EXPECT_EQ(switching.head.framing, BodyFraming::None);
  EXPECT_TRUE(switching.head.connectionUpgrade);
}

TEST(Http1Response, ConnectTunnel) {
  ParsedResponse ok(response("HTTP/1.1 200 Connection Established", ""), "CONNECT");
  EXPECT_EQ(ok.head.framing, BodyFraming::None);
  ParsedResponse denied(response("HTTP/1.1 407 Proxy Auth", "Content-Length: 3\r\n"), "CONNECT");
  EXPECT_EQ(denied.head.framing, BodyFraming::ContentLength);
}

TEST(Http1Response, Http10KeepAlive) {
  ParsedResponse old(response("HTTP/1.0 200 OK", "Content-Length: 2\r\n"));
  EXPECT_EQ(old.head.versionMinor, 0);
  EXPECT_FALSE(old.head.keepAlive);
  ParsedResponse kept(
      response("HTTP/1.0 200 OK", "Content-Length: 2\r\nConnection: keep-alive\r\n"));
  EXPECT_TRUE(kept.head.keepAlive);
  ParsedResponse closing(response("HTTP/1.1 200 OK", "Content-Length: 2\r\nConnection: close\r\n"));
  EXPECT_FALSE(closing.head.keepAlive);
}

TEST(Http1Response, Limits) {
  Limits limits;
  limits.maxHeadBytes = 64;
  ParsedResponse big(kOk + std::string(100, 'x'), "GET", limits);
  EXPECT_EQ(big.error, ParseError::HeadersTooLarge);
  limits = {};
  limits.maxHeaders = 2;
  ParsedResponse many(kOk, "GET", limits);
  EXPECT_EQ(many.error, ParseError::TooManyHeaders);
}

TEST(Http1Response, EveryPrefixOfValidResponsesIsIncomplete) {
  const std::string messages[] = {
      kOk,
      "HTTP/1.1 204\r\n\r\n",
      "HTTP/1.0 404 Not Found\r\nConnection: keep-alive\r\n\r\nbody",
      response("HTTP/1.1 200 OK", "Transfer-Encoding: chunked\r\nX:\r\n") + "0\r\n\r\n",
  };
  for (const std::string& m : messages) {
    SCOPED_TRACE(m);
    ParsedResponse whole(m);
    ASSERT_EQ(whole.status, ParseStatus::Complete);
    expectResponsePrefixes(m, whole.head.headBytes, ParseError::None);
  }
}

}  // namespace
}  // namespace trellis::http
