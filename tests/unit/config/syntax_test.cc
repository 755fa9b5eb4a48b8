#include "config/syntax.h"

#include <gtest/gtest.h>

namespace trellis::config::syntax {
namespace {

TEST(SyntaxTest, DnsLabel) {
  EXPECT_EQ(checkDnsLabel("web-1"), "");
  EXPECT_EQ(checkDnsLabel("a"), "");
  EXPECT_EQ(checkDnsLabel(std::string(63, 'a')), "");
  EXPECT_NE(checkDnsLabel(std::string(64, 'a')), "");
  EXPECT_EQ(checkDnsLabel("Web"), "must be lower case");
  EXPECT_NE(checkDnsLabel("-web"), "");
  EXPECT_NE(checkDnsLabel("web-"), "");
  EXPECT_NE(checkDnsLabel("a.b"), "");
  EXPECT_NE(checkDnsLabel("a_b"), "");
  EXPECT_NE(checkDnsLabel(""), "");
}

TEST(SyntaxTest, DnsSubdomain) {
  EXPECT_EQ(checkDnsSubdomain("shop.v2"), "");
  EXPECT_NE(checkDnsSubdomain("shop..v2"), "");
  EXPECT_NE(checkDnsSubdomain(".shop"), "");
  EXPECT_NE(checkDnsSubdomain("shop."), "");
  EXPECT_NE(checkDnsSubdomain(std::string(254, 'a')), "");
}

TEST(SyntaxTest, Hostname) {
  EXPECT_EQ(checkHostname("shop.example.com", true), "");
  EXPECT_EQ(checkHostname("*.example.com", true), "");
  EXPECT_EQ(checkHostname("localhost", true), "");
  EXPECT_NE(checkHostname("*.example.com", false), "");
  EXPECT_NE(checkHostname("*", true), "");
  EXPECT_NE(checkHostname("*example.com", true), "");
  EXPECT_NE(checkHostname("a.*.example.com", true), "");
  EXPECT_NE(checkHostname("*.*.example.com", true), "");
  EXPECT_NE(checkHostname("Shop.example.com", true), "");
  EXPECT_NE(checkHostname("10.0.0.1", true), "");
  EXPECT_NE(checkHostname("shop.example.com:80", true), "");
  EXPECT_NE(checkHostname("", true), "");
  EXPECT_NE(checkHostname(std::string(64, 'a') + ".com", true), "");  // label > 63
}

TEST(SyntaxTest, GroupAndKind) {
  EXPECT_EQ(checkGroup(""), "");
  EXPECT_EQ(checkGroup("trellis.dev"), "");
  EXPECT_NE(checkGroup("Trellis.dev"), "");
  EXPECT_EQ(checkKind("Service"), "");
  EXPECT_EQ(checkKind("Service-Import2"), "");
  EXPECT_NE(checkKind("2Service"), "");
  EXPECT_NE(checkKind("Service-"), "");
  EXPECT_NE(checkKind("Ser vice"), "");
}

TEST(SyntaxTest, HeaderNameAndValue) {
  EXPECT_EQ(checkHeaderName("X-Request-Id"), "");
  EXPECT_EQ(checkHeaderName("a!#$%&'*+-.^_`|~9"), "");
  EXPECT_NE(checkHeaderName(":method"), "");
  EXPECT_NE(checkHeaderName("bad name"), "");
  EXPECT_NE(checkHeaderName(""), "");
  EXPECT_NE(checkHeaderName(std::string(257, 'a')), "");
  EXPECT_EQ(checkHeaderValue("a b\tc"), "");
  EXPECT_NE(checkHeaderValue("a\r\nInjected: 1"), "");
  EXPECT_NE(checkHeaderValue(std::string("a\0b", 3)), "");
  EXPECT_NE(checkHeaderValue(" padded"), "");
  EXPECT_NE(checkHeaderValue(""), "");
  EXPECT_NE(checkHeaderValue(std::string(4097, 'a')), "");
}

TEST(SyntaxTest, MatchPath) {
  EXPECT_EQ(checkMatchPath("/"), "");
  EXPECT_EQ(checkMatchPath("/api/v1/users%20x;a=b@c"), "");
  EXPECT_NE(checkMatchPath("api"), "");
  EXPECT_NE(checkMatchPath("/a//b"), "");
  EXPECT_NE(checkMatchPath("/a/./b"), "");
  EXPECT_NE(checkMatchPath("/a/../b"), "");
  EXPECT_NE(checkMatchPath("/a%2fb"), "");
  EXPECT_NE(checkMatchPath("/a%2Fb"), "");
  EXPECT_NE(checkMatchPath("/a#b"), "");
  EXPECT_NE(checkMatchPath("/a/.."), "");
  EXPECT_NE(checkMatchPath("/a/."), "");
  EXPECT_NE(checkMatchPath("/a b"), "");
  EXPECT_NE(checkMatchPath("/a?b"), "");
  EXPECT_NE(checkMatchPath("/a%"), "");
  EXPECT_NE(checkMatchPath("/a%4"), "");
  EXPECT_NE(checkMatchPath("/a%zz"), "");
  EXPECT_NE(checkMatchPath("/" + std::string(1024, 'a')), "");
}

TEST(SyntaxTest, ReplacementPath) {
  EXPECT_EQ(checkReplacementPath("", true), "");
  EXPECT_NE(checkReplacementPath("", false), "");
  EXPECT_EQ(checkReplacementPath("/v1/", true), "");
  EXPECT_NE(checkReplacementPath("v1", true), "");
  EXPECT_NE(checkReplacementPath("/a\r\n", false), "");
}

TEST(SyntaxTest, CanonicalIp) {
  EXPECT_EQ(canonicalIp("10.0.0.1"), "10.0.0.1");
  EXPECT_EQ(canonicalIp("::0"), "::");
  EXPECT_EQ(canonicalIp("FD00:0:0::22"), "fd00::22");
  EXPECT_EQ(canonicalIp("10.0.0.256"), std::nullopt);
  EXPECT_EQ(canonicalIp("localhost"), std::nullopt);
  EXPECT_EQ(canonicalIp(""), std::nullopt);
  EXPECT_EQ(canonicalIp("10.0.0.1:80"), std::nullopt);
  EXPECT_EQ(canonicalIp(std::string("10.0.0.1\0x", 10)), std::nullopt);
}

TEST(SyntaxTest, Duration) {
  EXPECT_EQ(parseDuration("10s"), Duration(10000));
  EXPECT_EQ(parseDuration("250ms"), Duration(250));
  EXPECT_EQ(parseDuration("1h"), Duration(3600000));
  EXPECT_EQ(parseDuration("1h30m"), Duration(5400000));
  EXPECT_EQ(parseDuration("1m1s1ms"), Duration(61001));
  EXPECT_EQ(parseDuration("0s"), Duration(0));
  EXPECT_EQ(parseDuration("99999h"), Duration(99999LL * 3600000));
  EXPECT_EQ(parseDuration("1h1m1s1ms"), Duration(3661001));
  EXPECT_EQ(parseDuration("1h1m1s1ms1h"), std::nullopt);  // at most 4 units
  EXPECT_EQ(parseDuration("100000s"), std::nullopt);      // at most 5 digits
  // Regression (fuzz_config_loader): a long digit run overflowed before the length check.
  EXPECT_EQ(parseDuration("22222222222222222222222s"), std::nullopt);
  EXPECT_EQ(parseDuration("10"), std::nullopt);
  EXPECT_EQ(parseDuration("s"), std::nullopt);
  EXPECT_EQ(parseDuration(""), std::nullopt);
  EXPECT_EQ(parseDuration("1.5s"), std::nullopt);
  EXPECT_EQ(parseDuration("-1s"), std::nullopt);
  EXPECT_EQ(parseDuration("1d"), std::nullopt);
  EXPECT_EQ(parseDuration("1us"), std::nullopt);
  EXPECT_EQ(parseDuration("10s "), std::nullopt);
}

TEST(SyntaxTest, FormatDuration) {
  EXPECT_EQ(formatDuration(Duration(0)), "0s");
  EXPECT_EQ(formatDuration(Duration(250)), "250ms");
  EXPECT_EQ(formatDuration(Duration(90000)), "1m30s");
  EXPECT_EQ(formatDuration(Duration(3601001)), "1h1s1ms");
  for (int64_t ms : {1, 999, 1000, 61001, 3600000, 86399999}) {
    EXPECT_EQ(parseDuration(formatDuration(Duration(ms))), Duration(ms)) << ms;
  }
}

TEST(SyntaxTest, Rfc3339) {
  EXPECT_EQ(parseRfc3339("1970-01-01T00:00:00Z"), 0);
  EXPECT_EQ(parseRfc3339("2024-05-01T10:00:00Z"), 1714557600);
  EXPECT_EQ(parseRfc3339("2024-05-01T12:00:00+02:00"), 1714557600);
  EXPECT_EQ(parseRfc3339("2024-05-01T09:30:00-00:30"), 1714557600);
  EXPECT_EQ(parseRfc3339("2024-05-01t10:00:00.123456z"), 1714557600);
  EXPECT_EQ(parseRfc3339("2024-02-29T00:00:00Z"), 1709164800);
  EXPECT_EQ(parseRfc3339("1969-12-31T23:59:59Z"), -1);
  EXPECT_EQ(parseRfc3339("2023-02-29T00:00:00Z"), std::nullopt);
  EXPECT_EQ(parseRfc3339("2024-13-01T00:00:00Z"), std::nullopt);
  EXPECT_EQ(parseRfc3339("2024-05-01T24:00:00Z"), std::nullopt);
  EXPECT_EQ(parseRfc3339("2024-05-01T10:00:00"), std::nullopt);  // offset required
  EXPECT_EQ(parseRfc3339("2024-05-01 10:00:00Z"), std::nullopt);
  EXPECT_EQ(parseRfc3339("2024-05-01T10:00:00.Z"), std::nullopt);
  EXPECT_EQ(parseRfc3339("2024-05-01T10:00:00Zjunk"), std::nullopt);
  EXPECT_EQ(parseRfc3339("2024-5-1T10:00:00Z"), std::nullopt);
  EXPECT_EQ(parseRfc3339(""), std::nullopt);
}

TEST(SyntaxTest, PrimeAndDistance) {
  EXPECT_TRUE(isPrime(2));
  EXPECT_TRUE(isPrime(65537));
  EXPECT_TRUE(isPrime(5000011));
  EXPECT_FALSE(isPrime(1));
  EXPECT_FALSE(isPrime(65536));
  EXPECT_FALSE(isPrime(65539 * 3));
  EXPECT_EQ(editDistance("weigth", "weight", 2), 2u);
  EXPECT_EQ(editDistance("port", "port", 2), 0u);
  EXPECT_EQ(editDistance("a", "abcdef", 2), 3u);
  EXPECT_EQ(toLower("X-Request-ID"), "x-request-id");
}

}  // namespace
}  // namespace trellis::config::syntax
