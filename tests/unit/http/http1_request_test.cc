#include <gtest/gtest.h>

#include <cctype>
#include <set>
#include <string>

#include "http/http1_parser.h"
#include "http1_test_util.h"

namespace trellis::http {
namespace {

using testing::expectRequestError;
using testing::expectRequestPrefixes;
using testing::header;
using testing::ParsedRequest;

const std::string kGet =
    "GET /search?q=trellis&lang=en HTTP/1.1\r\n"
    "Host: example.com\r\n"
    "User-Agent: Mozilla/5.0 (X11; Linux x86_64)\r\n"
    "Accept: text/html,application/xhtml+xml\r\n"
    "Accept-Encoding: gzip, deflate, br\r\n"
    "\r\n";

std::string get(std::string_view fields, std::string_view target = "/",
                std::string_view version = "HTTP/1.1") {
  return "GET " + std::string(target) + " " + std::string(version) + "\r\n" + std::string(fields) +
         "\r\n";
}
std::string post(std::string_view fields) {
  return "POST /upload HTTP/1.1\r\nHost: h\r\n" + std::string(fields) + "\r\n";
}

TEST(Http1Request, ParsesTypicalGet) {
  ParsedRequest r(kGet);
  ASSERT_EQ(r.status, ParseStatus::Complete);
  EXPECT_EQ(r.error, ParseError::None);
  EXPECT_EQ(r.head.method, "GET");
  EXPECT_EQ(r.head.target, "/search?q=trellis&lang=en");
  EXPECT_EQ(r.head.path, "/search");
  EXPECT_EQ(r.head.query, "q=trellis&lang=en");
  EXPECT_EQ(r.head.host, "example.com");
  EXPECT_EQ(r.head.versionMinor, 1);
  EXPECT_EQ(r.head.headBytes, kGet.size());
  EXPECT_EQ(r.head.framing, BodyFraming::None);
  EXPECT_TRUE(r.head.keepAlive);
  EXPECT_FALSE(r.head.connectionUpgrade);
  EXPECT_FALSE(r.head.expectContinue);
  ASSERT_EQ(r.head.headers.size(), 4u);
  EXPECT_EQ(r.head.headers[0].name, "host");
  EXPECT_EQ(r.head.headers[1].name, "user-agent");
  EXPECT_EQ(r.head.headers[1].value, "Mozilla/5.0 (X11; Linux x86_64)");
  EXPECT_EQ(r.head.headers[3].name, "accept-encoding");
  EXPECT_EQ(r.head.headers[3].value, "gzip, deflate, br");
  ASSERT_NE(r.head.find("accept"), nullptr);
  EXPECT_EQ(r.head.find("accept")->value, "text/html,application/xhtml+xml");
  EXPECT_EQ(r.head.find("Accept"), nullptr);  // lookups take lower-case names
  EXPECT_EQ(r.head.find("cookie"), nullptr);
}

TEST(Http1Request, ViewsPointIntoTheBufferAndNamesAreLoweredInPlace) {
  ParsedRequest r("GET / HTTP/1.1\r\nHOST: h\r\nX-MiXeD-Case: KeepsValue\r\n\r\n");
  ASSERT_EQ(r.status, ParseStatus::Complete);
  EXPECT_EQ(r.head.method.data(), r.buf.data());
  EXPECT_EQ(r.head.headers[1].name, "x-mixed-case");
  EXPECT_EQ(r.head.headers[1].value, "KeepsValue");
  EXPECT_NE(r.buf.find("x-mixed-case: KeepsValue"), std::string::npos);
}

TEST(Http1Request, TrimsOwsAroundValues) {
  ParsedRequest r(get("Host: h\r\nA:   spaced  out \t \r\nB:\r\nC: \t\r\nD:\tx\r\n"));
  ASSERT_EQ(r.status, ParseStatus::Complete);
  EXPECT_EQ(r.head.find("a")->value, "spaced  out");
  EXPECT_EQ(r.head.find("b")->value, "");
  EXPECT_EQ(r.head.find("c")->value, "");
  EXPECT_EQ(r.head.find("d")->value, "x");
}

TEST(Http1Request, AcceptsObsTextInValues) {
  ParsedRequest r(get("Host: h\r\nX: caf\xc3\xa9 \xff\r\n"));
  ASSERT_EQ(r.status, ParseStatus::Complete);
  EXPECT_EQ(r.head.find("x")->value, "caf\xc3\xa9 \xff");
}

TEST(Http1Request, SplitsQueryAtFirstQuestionMark) {
  ParsedRequest a(get("Host: h\r\n", "/a?b?c"));
  EXPECT_EQ(a.head.path, "/a");
  EXPECT_EQ(a.head.query, "b?c");
  ParsedRequest b(get("Host: h\r\n", "/a?"));
  EXPECT_EQ(b.head.path, "/a");
  EXPECT_EQ(b.head.query, "");
  ParsedRequest c(get("Host: h\r\n", "/plain"));
  EXPECT_EQ(c.head.path, "/plain");
  EXPECT_EQ(c.head.query, "");
}

TEST(Http1Request, AbsoluteFormTakesHostFromAuthority) {
  ParsedRequest r(get("Host: ignored\r\n", "http://Example.com:8080/p/q?x=1"));
  ASSERT_EQ(r.status, ParseStatus::Complete);
  EXPECT_EQ(r.head.host, "Example.com:8080");
  EXPECT_EQ(r.head.path, "/p/q");
  EXPECT_EQ(r.head.query, "x=1");

  ParsedRequest noPath(get("Host: h\r\n", "HTTPS://h"));
  ASSERT_EQ(noPath.status, ParseStatus::Complete);
  EXPECT_EQ(noPath.head.host, "h");
  EXPECT_EQ(noPath.head.path, "/");
  EXPECT_EQ(noPath.head.query, "");

  ParsedRequest queryOnly(get("Host: h\r\n", "http://h?x"));
  ASSERT_EQ(queryOnly.status, ParseStatus::Complete);
  EXPECT_EQ(queryOnly.head.path, "/");
  EXPECT_EQ(queryOnly.head.query, "x");

  ParsedRequest ipv6(get("Host: h\r\n", "http://[::1]:80/"));
  ASSERT_EQ(ipv6.status, ParseStatus::Complete);
  EXPECT_EQ(ipv6.head.host, "[::1]:80");
}

TEST(Http1Request, RejectsBadAbsoluteForms) {
  for (const char* target : {"http://user@h/", "ftp://h/", "http:///x", "http://", "h/x",
                             "example.com", "http://h h/", "http://h/#frag"}) {
    expectRequestError(get("Host: h\r\n", target), ParseError::BadRequestLine);
  }
}

TEST(Http1Request, AsteriskFormOnlyForOptions) {
  ParsedRequest r("OPTIONS * HTTP/1.1\r\nHost: h\r\n\r\n");
  ASSERT_EQ(r.status, ParseStatus::Complete);
  EXPECT_EQ(r.head.path, "*");
  expectRequestError(get("Host: h\r\n", "*"), ParseError::BadRequestLine);
  expectRequestError("OPTIONS *x HTTP/1.1\r\nHost: h\r\n\r\n", ParseError::BadRequestLine);
}

TEST(Http1Request, AuthorityFormOnlyForConnect) {
  ParsedRequest r("CONNECT example.com:443 HTTP/1.1\r\nHost: example.com:443\r\n\r\n");
  ASSERT_EQ(r.status, ParseStatus::Complete);
  EXPECT_EQ(r.head.host, "example.com:443");
  EXPECT_EQ(r.head.path, "");
  ParsedRequest v6("CONNECT [2001:db8::1]:443 HTTP/1.1\r\nHost: x\r\n\r\n");
  ASSERT_EQ(v6.status, ParseStatus::Complete);
  EXPECT_EQ(v6.head.host, "[2001:db8::1]:443");
  for (const char* target : {"/", "example.com", "example.com:", ":443", "example.com:https",
                             "http://example.com:443/", "u@example.com:443"}) {
    expectRequestError(std::string("CONNECT ") + target + " HTTP/1.1\r\nHost: h\r\n\r\n",
                       ParseError::BadRequestLine);
  }
  expectRequestError(get("Host: h\r\n", "example.com:443"), ParseError::BadRequestLine);
}

TEST(Http1Request, RejectsMalformedRequestLines) {
  for (const char* line : {
           " / HTTP/1.1",
           "GET  / HTTP/1.1",
           "GET /  HTTP/1.1",
           "GET / HTTP/1.1 ",
           "GET / http/1.1",
           "GET / HTTP/1.10",
           "GET / HTTP/11",
           "GET / HTTP/1",
           "GET / HTTP/1.x",
           "GET /",
           "GET / HTTP/1.1 x",
           "G(T / HTTP/1.1",
           "GET\t/ HTTP/1.1",
           "GET /\tx HTTP/1.1",
           "GET /a\x01 HTTP/1.1",
           "GET /a\x7f HTTP/1.1",
           "GET /caf\xc3\xa9 HTTP/1.1",
           "GET /a#b HTTP/1.1",
           "\x16\x03\x01\x02 TLS",
       }) {
    expectRequestError(std::string(line) + "\r\nHost: h\r\n\r\n", ParseError::BadRequestLine);
  }
  static constexpr char kNul[] = "GET /a\0b HTTP/1.1\r\nHost: h\r\n\r\n";
  expectRequestError(std::string(kNul, sizeof kNul - 1), ParseError::BadRequestLine);
}

TEST(Http1Request, RejectsUnsupportedMajorVersions) {
  for (const char* version : {"HTTP/2.0", "HTTP/0.9", "HTTP/3.1", "HTTP/9.9"}) {
    expectRequestError(get("Host: h\r\n", "/", version), ParseError::BadVersion);
  }
  expectRequestError("PRI * HTTP/2.0\r\n\r\nSM\r\n\r\n", ParseError::BadVersion);
  EXPECT_EQ(statusFor(ParseError::BadVersion), 505);
}

TEST(Http1Request, Http10AndHigherMinorVersions) {
  ParsedRequest old(get("", "/", "HTTP/1.0"));
  ASSERT_EQ(old.status, ParseStatus::Complete);  // Host is optional in 1.0
  EXPECT_EQ(old.head.versionMinor, 0);
  EXPECT_FALSE(old.head.keepAlive);
  EXPECT_EQ(old.head.host, "");

  ParsedRequest future(get("Host: h\r\n", "/", "HTTP/1.7"));
  ASSERT_EQ(future.status, ParseStatus::Complete);
  EXPECT_EQ(future.head.versionMinor, 1);
  EXPECT_TRUE(future.head.keepAlive);
}

TEST(Http1Request, SkipsEmptyLinesBeforeRequestLine) {
  const std::string bytes = "\r\n\r\n" + kGet;
  ParsedRequest r(bytes);
  ASSERT_EQ(r.status, ParseStatus::Complete);
  EXPECT_EQ(r.head.method, "GET");
  EXPECT_EQ(r.head.headBytes, bytes.size());
  expectRequestError("\n" + kGet, ParseError::BareCrOrLf);
  expectRequestError("\r" + kGet, ParseError::BareCrOrLf);
}

TEST(Http1Request, RejectsMalformedFieldLines) {
  expectRequestError(get("Host : h\r\n"), ParseError::BadHeader);
  expectRequestError(get("Host: h\r\nX\t: v\r\n"), ParseError::BadHeader);
  expectRequestError(get("Host: h\r\n: v\r\n"), ParseError::BadHeader);
  expectRequestError(get("Host: h\r\nNoColon\r\n"), ParseError::BadHeader);
  expectRequestError(get("Host: h\r\nX(y): v\r\n"), ParseError::BadHeader);
  expectRequestError(get("Host: h\r\nX@: v\r\n"), ParseError::BadHeader);
  expectRequestError(get("Host: h\r\n\x80x: v\r\n"), ParseError::BadHeader);
  static constexpr char kNul[] = "Host: h\r\nX: a\0b\r\n";
  expectRequestError(get(std::string_view(kNul, sizeof kNul - 1)), ParseError::BadHeader);
  expectRequestError(get("Host: h\r\nX: a\x01\r\n"), ParseError::BadHeader);
  expectRequestError(get("Host: h\r\nX: a\x7f\r\n"), ParseError::BadHeader);
  expectRequestError(get("Host: h\r\nX: a\x0b b\r\n"), ParseError::BadHeader);
  expectRequestError(get("Host: h\r\nX: 0123456789abcdef\x1f\r\n"), ParseError::BadHeader);
  EXPECT_EQ(statusFor(ParseError::BadHeader), 400);
}

// Every byte value at every offset of a long value, so both the 8-bytes-at-a-time scan and the
// byte-wise tail see each one.
TEST(Http1Request, EveryByteAtEveryFieldValueOffset) {
  for (int c = 0; c < 256; ++c) {
    const bool valid = c == '\t' || (c >= 0x20 && c != 0x7f);
    for (size_t pos = 1; pos < 23; ++pos) {
      std::string value(24, 'v');
      value[pos] = static_cast<char>(c);
      ParsedRequest r(get("Host: h\r\nX: " + value + "\r\n"));
      SCOPED_TRACE(::testing::Message() << "byte " << c << " at " << pos);
      if (valid) {
        ASSERT_EQ(r.status, ParseStatus::Complete);
        EXPECT_EQ(r.head.find("x")->value, value);
      } else {
        ASSERT_EQ(r.status, ParseStatus::Error);
        EXPECT_EQ(r.error, c == '\r' || c == '\n' ? ParseError::BareCrOrLf : ParseError::BadHeader);
      }
    }
  }
}

TEST(Http1Request, EveryByteAtEveryTargetOffset) {
  for (int c = 0; c < 256; ++c) {
    const bool valid = c > 0x20 && c < 0x7f && c != '#';
    for (size_t pos = 1; pos < 24; ++pos) {
      std::string target = "/" + std::string(23, 't');
      target[pos] = static_cast<char>(c);
      ParsedRequest r(get("Host: h\r\n", target));
      SCOPED_TRACE(::testing::Message() << "byte " << c << " at " << pos);
      if (valid) {
        ASSERT_EQ(r.status, ParseStatus::Complete);
        EXPECT_EQ(r.head.target, target);
      } else {
        ASSERT_EQ(r.status, ParseStatus::Error);
        EXPECT_EQ(r.error,
                  c == '\r' || c == '\n' ? ParseError::BareCrOrLf : ParseError::BadRequestLine);
      }
    }
  }
}

TEST(Http1Request, EveryByteAtEveryFieldNameOffset) {
  for (int c = 0; c < 256; ++c) {
    if (c == ':') continue;  // just ends the name early
    const bool valid = detail::isTchar(c);
    for (size_t pos = 0; pos < 20; ++pos) {
      std::string name(20, 'N');
      name[pos] = static_cast<char>(c);
      ParsedRequest r(get("Host: h\r\n" + name + ": v\r\n"));
      SCOPED_TRACE(::testing::Message() << "byte " << c << " at " << pos);
      if (valid) {
        ASSERT_EQ(r.status, ParseStatus::Complete);
        std::string lower = name;
        for (char& ch : lower) ch = static_cast<char>(std::tolower(static_cast<unsigned char>(ch)));
        EXPECT_EQ(r.head.headers[1].name, lower);
      } else {
        ASSERT_EQ(r.status, ParseStatus::Error);
        const ParseError expected = c == '\r' || c == '\n'                ? ParseError::BareCrOrLf
                                    : pos == 0 && (c == ' ' || c == '\t') ? ParseError::ObsFold
                                                                          : ParseError::BadHeader;
        EXPECT_EQ(r.error, expected);
      }
    }
  }
}

TEST(Http1Request, RejectsObsFold) {
  expectRequestError(get("Host: h\r\nX: a\r\n b\r\n"), ParseError::ObsFold);
  expectRequestError(get("Host: h\r\nX: a\r\n\tb\r\n"), ParseError::ObsFold);
  expectRequestError(get(" Host: h\r\n"), ParseError::ObsFold);
}

TEST(Http1Request, RejectsBareCrOrLfAnywhere) {
  expectRequestError("GET / HTTP/1.1\nHost: h\r\n\r\n", ParseError::BareCrOrLf);
  expectRequestError("GET / HTTP/1.1\r\rHost: h\r\n\r\n", ParseError::BareCrOrLf);
  expectRequestError("GET / HTTP/1.0\rHost: h\r\n\r\n", ParseError::BareCrOrLf);
  expectRequestError("GET /a\rb HTTP/1.1\r\nHost: h\r\n\r\n", ParseError::BareCrOrLf);
  expectRequestError("GET /a\nb HTTP/1.1\r\nHost: h\r\n\r\n", ParseError::BareCrOrLf);
  expectRequestError("GE\rT / HTTP/1.1\r\nHost: h\r\n\r\n", ParseError::BareCrOrLf);
  expectRequestError("GET / HTTP/1.1\r\nHost: h\nX: y\r\n\r\n", ParseError::BareCrOrLf);
  expectRequestError("GET / HTTP/1.1\r\nHost: h\rX: y\r\n\r\n", ParseError::BareCrOrLf);
  expectRequestError("GET / HTTP/1.1\r\nHo\rst: h\r\n\r\n", ParseError::BareCrOrLf);
  expectRequestError("GET / HTTP/1.1\r\nHost\n: h\r\n\r\n", ParseError::BareCrOrLf);
  expectRequestError("GET / HTTP/1.1\r\nHost: h\r\n\n", ParseError::BareCrOrLf);
  expectRequestError("GET / HTTP/1.1\r\nHost: h\r\n\r\r\n", ParseError::BareCrOrLf);
  expectRequestError("GET / HTTP/1.1\r\nHost: h\n\n", ParseError::BareCrOrLf);
  expectRequestError("GET / HTTP/1.1\r\nHost: h\r\n\nX: y\r\n\r\n", ParseError::BareCrOrLf);
}

TEST(Http1Request, HeadSizeLimit) {
  Limits limits;
  // Pad a value so the head is exactly the limit.
  std::string exact = "GET / HTTP/1.1\r\nHost: h\r\nX: ";
  limits.maxHeadBytes = 200;
  exact += std::string(200 - exact.size() - 4, 'v') + "\r\n\r\n";
  ASSERT_EQ(exact.size(), 200u);
  ParsedRequest ok(exact, limits);
  EXPECT_EQ(ok.status, ParseStatus::Complete);
  EXPECT_EQ(ok.head.headBytes, 200u);

  std::string over = exact;
  over.insert(over.size() - 4, "v");
  ParsedRequest big(over, limits);
  EXPECT_EQ(big.status, ParseStatus::Error);
  EXPECT_EQ(big.error, ParseError::HeadersTooLarge);

  // Incomplete but already over the limit: reject instead of buffering more.
  ParsedRequest partial(exact.substr(0, 150) + std::string(100, 'v'), limits);
  EXPECT_EQ(partial.error, ParseError::HeadersTooLarge);
  // Incomplete and exactly at the limit: the next byte decides.
  ParsedRequest atLimit(exact.substr(0, 150) + std::string(50, 'v'), limits);
  EXPECT_EQ(atLimit.status, ParseStatus::Incomplete);
  // A complete head followed by body bytes beyond the limit is fine.
  ParsedRequest withBody(exact + std::string(1000, 'b'), limits);
  EXPECT_EQ(withBody.status, ParseStatus::Complete);
  EXPECT_EQ(withBody.head.headBytes, 200u);
  EXPECT_EQ(statusFor(ParseError::HeadersTooLarge), 431);
}

TEST(Http1Request, HeaderCountLimit) {
  Limits limits;
  limits.maxHeaders = 5;
  std::string fields = "Host: h\r\n";
  for (int i = 1; i < 5; ++i) fields += header("x-" + std::to_string(i), "v");
  ParsedRequest ok(get(fields), limits);
  ASSERT_EQ(ok.status, ParseStatus::Complete);
  EXPECT_EQ(ok.head.headers.size(), 5u);
  expectRequestError(get(fields + "X-Last: v\r\n"), ParseError::TooManyHeaders, limits);
  EXPECT_EQ(statusFor(ParseError::TooManyHeaders), 431);
}

TEST(Http1Request, UriLengthLimit) {
  Limits limits;
  limits.maxUrlBytes = 64;
  const std::string exact = "/" + std::string(63, 'a');
  ParsedRequest ok(get("Host: h\r\n", exact), limits);
  EXPECT_EQ(ok.status, ParseStatus::Complete);
  EXPECT_EQ(ok.head.target.size(), 64u);
  expectRequestError(get("Host: h\r\n", exact + "b"), ParseError::UriTooLong, limits);
  // Still incomplete, but the partial target is already too long.
  ParsedRequest partial("GET " + exact + "bb", limits);
  EXPECT_EQ(partial.status, ParseStatus::Error);
  EXPECT_EQ(partial.error, ParseError::UriTooLong);
  ParsedRequest partialAtLimit("GET " + exact, limits);
  EXPECT_EQ(partialAtLimit.status, ParseStatus::Incomplete);
  // An absurdly long method counts as a too-long request line (as in nginx).
  ParsedRequest longMethod(std::string(65, 'M'), limits);
  EXPECT_EQ(longMethod.error, ParseError::UriTooLong);
  EXPECT_EQ(statusFor(ParseError::UriTooLong), 414);
}

TEST(Http1Request, ContentLengthFraming) {
  ParsedRequest r(post("Content-Length: 42\r\n"));
  ASSERT_EQ(r.status, ParseStatus::Complete);
  EXPECT_EQ(r.head.framing, BodyFraming::ContentLength);
  EXPECT_EQ(r.head.contentLength, 42u);

  ParsedRequest zero(post("Content-Length: 0\r\n"));
  EXPECT_EQ(zero.head.framing, BodyFraming::ContentLength);
  EXPECT_EQ(zero.head.contentLength, 0u);

  ParsedRequest leadingZeros(post("Content-Length: 007\r\n"));
  EXPECT_EQ(leadingZeros.head.contentLength, 7u);

  ParsedRequest max(post("Content-Length: 9223372036854775807\r\n"));
  ASSERT_EQ(max.status, ParseStatus::Complete);
  EXPECT_EQ(max.head.contentLength, 9223372036854775807u);

  ParsedRequest sameTwice(post("Content-Length: 5\r\nContent-Length: 5\r\n"));
  ASSERT_EQ(sameTwice.status, ParseStatus::Complete);
  EXPECT_EQ(sameTwice.head.contentLength, 5u);

  ParsedRequest sameList(post("Content-Length: 5, 5,5\r\n"));
  ASSERT_EQ(sameList.status, ParseStatus::Complete);
  EXPECT_EQ(sameList.head.contentLength, 5u);
}

TEST(Http1Request, RejectsBadContentLength) {
  for (const char* value :
       {"+5", "-5", "0x10", "5 5", "", "5,", ",5", "5,,5", "1e3", "five", "9223372036854775808",
        "18446744073709551616", "99999999999999999999999", "5;", "\"5\""}) {
    SCOPED_TRACE(value);
    expectRequestError(post(header("Content-Length", value)), ParseError::BadContentLength);
  }
  expectRequestError(post("Content-Length: 5\r\nContent-Length: 6\r\n"),
                     ParseError::BadContentLength);
  expectRequestError(post("Content-Length: 5, 6\r\n"), ParseError::BadContentLength);
  expectRequestError(post("Content-Length: 5\r\nContent-Length: 5, 50\r\n"),
                     ParseError::BadContentLength);
}

TEST(Http1Request, ChunkedFraming) {
  ParsedRequest r(post("Transfer-Encoding: chunked\r\n"));
  ASSERT_EQ(r.status, ParseStatus::Complete);
  EXPECT_EQ(r.head.framing, BodyFraming::Chunked);
  ParsedRequest upper(post("Transfer-Encoding: CHUNKED\r\n"));
  EXPECT_EQ(upper.head.framing, BodyFraming::Chunked);
  ParsedRequest tab(post("Transfer-Encoding:\tchunked\t\r\n"));
  EXPECT_EQ(tab.head.framing, BodyFraming::Chunked);
}

// Request smuggling vectors (RFC 9112 §6.3, §11.2; PortSwigger CL.TE / TE.CL / TE.TE).
TEST(Http1Request, SmugglingVectorsAreRejected) {
  expectRequestError(post("Content-Length: 5\r\nTransfer-Encoding: chunked\r\n"),
                     ParseError::ConflictingFraming);
  expectRequestError(post("Transfer-Encoding: chunked\r\nContent-Length: 5\r\n"),
                     ParseError::ConflictingFraming);
  expectRequestError(post("Transfer-Encoding: chunked\r\nContent-Length: x\r\n"),
                     ParseError::ConflictingFraming);
  expectRequestError(post("Content-Length: 5\r\nContent-Length: 7\r\n"),
                     ParseError::BadContentLength);
  expectRequestError(post("Content-Length: +5\r\n"), ParseError::BadContentLength);
  expectRequestError(post("Content-Length: 0x10\r\n"), ParseError::BadContentLength);
  for (const char* te :
       {"chunked, identity", "identity", "gzip, chunked", "chunked, chunked", "chunked,",
        ", chunked", "chunked;q=1", "xchunked", "chunked x", "\"chunked\"", ""}) {
    SCOPED_TRACE(te);
    expectRequestError(post(header("Transfer-Encoding", te)), ParseError::BadTransferEncoding);
  }
  expectRequestError(post("Transfer-Encoding: chunked\r\nTransfer-Encoding: chunked\r\n"),
                     ParseError::BadTransferEncoding);
  expectRequestError(post("Transfer-Encoding: gzip\r\nTransfer-Encoding: chunked\r\n"),
                     ParseError::BadTransferEncoding);
  // Whitespace games with the field name.
  expectRequestError(post(" Transfer-Encoding: chunked\r\n"), ParseError::ObsFold);
  expectRequestError(post("Transfer-Encoding : chunked\r\n"), ParseError::BadHeader);
  expectRequestError(post("Transfer-Encoding\t: chunked\r\n"), ParseError::BadHeader);
  expectRequestError(post("Transfer-Encoding: \x0b"
                          "chunked\r\n"),
                     ParseError::BadHeader);
  expectRequestError(post("Transfer-Encoding:\r\n chunked\r\n"), ParseError::ObsFold);
  expectRequestError(post("Transfer-Encoding: chunked\nContent-Length: 5\r\n"),
                     ParseError::BareCrOrLf);
  // Transfer-Encoding in HTTP/1.0 is faulty framing (RFC 9112 §6.1).
  expectRequestError("POST / HTTP/1.0\r\nTransfer-Encoding: chunked\r\n\r\n",
                     ParseError::BadTransferEncoding);
  // A look-alike name is just another field and does not frame the body.
  ParsedRequest lookAlike(post("Transfer_Encoding: chunked\r\n"));
  ASSERT_EQ(lookAlike.status, ParseStatus::Complete);
  EXPECT_EQ(lookAlike.head.framing, BodyFraming::None);
}

TEST(Http1Request, HostRules) {
  expectRequestError(get(""), ParseError::MissingHost);
  expectRequestError(get("Host: a\r\nHost: a\r\n"), ParseError::MissingHost);
  expectRequestError(get("Host: a\r\nHost: b\r\n", "/", "HTTP/1.0"), ParseError::MissingHost);
  expectRequestError(get("", "http://h/"), ParseError::MissingHost);
  for (const char* bad : {"a b", "user@h", "h/p", "h?x", "h#f", "\"h\""}) {
    expectRequestError(get(header("Host", bad)), ParseError::BadHeader);
  }
  ParsedRequest empty(get("Host:\r\n"));
  ASSERT_EQ(empty.status, ParseStatus::Complete);
  EXPECT_EQ(empty.head.host, "");
  ParsedRequest port(get("Host: [::1]:8080\r\n"));
  EXPECT_EQ(port.head.host, "[::1]:8080");
  ParsedRequest old(get("Host: h10\r\n", "/", "HTTP/1.0"));
  EXPECT_EQ(old.head.host, "h10");
  EXPECT_EQ(statusFor(ParseError::MissingHost), 400);
}

TEST(Http1Request, ConnectionHeader) {
  EXPECT_FALSE(ParsedRequest(get("Host: h\r\nConnection: close\r\n")).head.keepAlive);
  EXPECT_FALSE(ParsedRequest(get("Host: h\r\nConnection: CLOSE\r\n")).head.keepAlive);
  EXPECT_TRUE(ParsedRequest(get("Host: h\r\nConnection: closed\r\n")).head.keepAlive);
  EXPECT_FALSE(ParsedRequest(get("Host: h\r\nConnection: keep-alive\r\nConnection: x, close\r\n"))
                   .head.keepAlive);
  EXPECT_TRUE(ParsedRequest(get("Connection: Keep-Alive\r\n", "/", "HTTP/1.0")).head.keepAlive);
  EXPECT_FALSE(
      ParsedRequest(get("Connection: keep-alive, close\r\n", "/", "HTTP/1.0")).head.keepAlive);
  ParsedRequest upgrade(get("Host: h\r\nConnection: keep-alive ,\tUpgrade\r\nUpgrade: ws\r\n"));
  EXPECT_TRUE(upgrade.head.connectionUpgrade);
  EXPECT_TRUE(upgrade.head.keepAlive);
  EXPECT_FALSE(ParsedRequest(get("Host: h\r\nUpgrade: ws\r\n")).head.connectionUpgrade);
}

TEST(Http1Request, ExpectContinue) {
  EXPECT_TRUE(ParsedRequest(post("Expect: 100-continue\r\n")).head.expectContinue);
  EXPECT_TRUE(ParsedRequest(post("Expect: 100-Continue\r\n")).head.expectContinue);
  EXPECT_FALSE(ParsedRequest(post("Expect: 100-continue-x\r\n")).head.expectContinue);
  EXPECT_FALSE(ParsedRequest(post("")).head.expectContinue);
  // RFC 9110 §10.1.1: ignore it in HTTP/1.0 requests.
  EXPECT_FALSE(
      ParsedRequest("POST / HTTP/1.0\r\nExpect: 100-continue\r\n\r\n").head.expectContinue);
}

TEST(Http1Request, PipelinedRequests) {
  std::string bytes = kGet + "POST /b HTTP/1.1\r\nHost: h\r\nContent-Length: 3\r\n\r\nabc" +
                      "DELETE /c HTTP/1.1\r\nHost: h\r\n\r\nGET /partial HT";
  RequestHead head;
  ParseError error;
  size_t offset = 0;
  ASSERT_EQ(parseRequestHead(bytes.data(), bytes.size(), {}, head, error), ParseStatus::Complete);
  EXPECT_EQ(head.path, "/search");
  offset += head.headBytes;
  ASSERT_EQ(parseRequestHead(bytes.data() + offset, bytes.size() - offset, {}, head, error),
            ParseStatus::Complete);
  EXPECT_EQ(head.method, "POST");
  EXPECT_EQ(head.headers.size(), 2u);
  offset += head.headBytes + head.contentLength;
  ASSERT_EQ(parseRequestHead(bytes.data() + offset, bytes.size() - offset, {}, head, error),
            ParseStatus::Complete);
  EXPECT_EQ(head.method, "DELETE");
  EXPECT_EQ(head.framing, BodyFraming::None);  // reset from the previous request
  EXPECT_EQ(head.contentLength, 0u);
  offset += head.headBytes;
  EXPECT_EQ(parseRequestHead(bytes.data() + offset, bytes.size() - offset, {}, head, error),
            ParseStatus::Incomplete);
}

TEST(Http1Request, ReusesHeaderStorageAndResetsFields) {
  RequestHead head;
  ParseError error;
  std::string first = post("Expect: 100-continue\r\nConnection: close, upgrade\r\n" +
                           std::string("A: 1\r\nB: 2\r\nC: 3\r\n"));
  ASSERT_EQ(parseRequestHead(first.data(), first.size(), {}, head, error), ParseStatus::Complete);
  const size_t capacity = head.headers.capacity();
  const auto* storage = head.headers.data();
  std::string second = get("Host: h\r\n", "/x?y");
  ASSERT_EQ(parseRequestHead(second.data(), second.size(), {}, head, error), ParseStatus::Complete);
  EXPECT_EQ(head.headers.size(), 1u);
  EXPECT_EQ(head.headers.capacity(), capacity);
  EXPECT_EQ(head.headers.data(), storage);
  EXPECT_FALSE(head.expectContinue);
  EXPECT_FALSE(head.connectionUpgrade);
  EXPECT_TRUE(head.keepAlive);
  EXPECT_EQ(head.query, "y");
  std::string third = "GET / HTTP/1.1\r\n\r\n";
  ASSERT_EQ(parseRequestHead(third.data(), third.size(), {}, head, error), ParseStatus::Error);
  std::string fourth = get("Host: h\r\n", "/plain");
  ASSERT_EQ(parseRequestHead(fourth.data(), fourth.size(), {}, head, error), ParseStatus::Complete);
  EXPECT_EQ(head.query, "");
  EXPECT_EQ(error, ParseError::None);
}

TEST(Http1Request, EveryPrefixOfValidRequestsIsIncomplete) {
  const std::string messages[] = {
      kGet,
      "\r\n" + kGet,
      post("Content-Length: 5\r\nX: \xff\t\r\n") + "hello",
      "OPTIONS * HTTP/1.0\r\n\r\n",
      "CONNECT h:443 HTTP/1.1\r\nHost: h:443\r\n\r\n",
      get("Host: h\r\nA:\r\nB:  padded value that is long enough for the fast path  \r\n",
          "http://h:1/a/b/c/d/e/f?g"),
  };
  for (const std::string& m : messages) {
    SCOPED_TRACE(m);
    ParsedRequest whole(m);
    ASSERT_EQ(whole.status, ParseStatus::Complete);
    expectRequestPrefixes(m, whole.head.headBytes, ParseError::None);
  }
}

TEST(Http1Request, ParseErrorNamesAreStableAndDistinct) {
  EXPECT_EQ(parseErrorName(ParseError::BadRequestLine), "bad_request_line");
  EXPECT_EQ(parseErrorName(ParseError::HeadersTooLarge), "headers_too_large");
  EXPECT_EQ(parseErrorName(ParseError::ConflictingFraming), "conflicting_framing");
  EXPECT_EQ(parseErrorName(ParseError::BareCrOrLf), "bare_cr_or_lf");
  std::set<std::string_view> names;
  for (int e = 0; e <= static_cast<int>(ParseError::MissingHost); ++e) {
    const std::string_view name = parseErrorName(static_cast<ParseError>(e));
    EXPECT_TRUE(names.insert(name).second) << name;
    for (char c : name) EXPECT_TRUE((c >= 'a' && c <= 'z') || c == '_') << name;
  }
  EXPECT_EQ(statusFor(ParseError::BadStatusLine), 502);
  EXPECT_EQ(statusFor(ParseError::BadRequestLine), 400);
  EXPECT_EQ(statusFor(ParseError::ConflictingFraming), 400);
  EXPECT_EQ(statusFor(ParseError::BadChunk), 400);
  EXPECT_EQ(statusFor(ParseError::None), 0);
}

// Simulates a reader that receives one byte at a time and only parses when the pre-check says
// the head may be complete.
TEST(Http1Request, HeadMayBeCompleteGatesByteAtATimeReading) {
  const std::string inputs[] = {kGet, "\r\n" + kGet, "GET / HTTP/1.1\r\nHost: h\n\nX"};
  for (const std::string& input : inputs) {
    std::string buf;
    RequestHead head;
    ParseError error;
    int parses = 0;
    ParseStatus status = ParseStatus::Incomplete;
    for (size_t len = 1; len <= input.size() && status == ParseStatus::Incomplete; ++len) {
      buf.assign(input, 0, len);
      if (!headMayBeComplete(buf.data(), len, len - 1, {})) continue;
      ++parses;
      status = parseRequestHead(buf.data(), len, {}, head, error);
    }
    EXPECT_NE(status, ParseStatus::Incomplete) << input;
    EXPECT_LE(parses, 3) << input;
  }
  Limits limits;
  limits.maxHeadBytes = 100;
  limits.maxUrlBytes = 50;
  const std::string longLine = "GET /" + std::string(80, 'a');
  EXPECT_FALSE(headMayBeComplete(longLine.data(), 40, 39, limits));
  EXPECT_TRUE(headMayBeComplete(longLine.data(), 60, 59, limits));  // may be a too-long URI
  const std::string longHead = "GET / HTTP/1.1\r\nX: " + std::string(100, 'a');
  EXPECT_FALSE(headMayBeComplete(longHead.data(), 90, 89, limits));
  EXPECT_TRUE(headMayBeComplete(longHead.data(), 101, 100, limits));
  const std::string split = "GET / HTTP/1.1\r\nHost: h\r\n\r\n";
  EXPECT_FALSE(headMayBeComplete(split.data(), split.size() - 1, split.size() - 2, {}));
  EXPECT_TRUE(headMayBeComplete(split.data(), split.size(), split.size() - 1, {}));
  EXPECT_TRUE(headMayBeComplete(split.data(), split.size(), 0, {}));
  EXPECT_TRUE(headMayBeComplete(split.data(), split.size(), 1000, {}));  // prevLen beyond len
}

}  // namespace
}  // namespace trellis::http
