#include "routing/host_match.h"

#include <gtest/gtest.h>

#include <string>
#include <vector>

#include "routing_test_util.h"

namespace trellis::routing {
namespace {

using testing::prefix;
using testing::Table;

struct SplitCase {
  std::string_view authority;
  std::string_view host;
  std::string_view port;
};

TEST(SplitHostPort, Table) {
  const SplitCase cases[] = {
      {"example.com", "example.com", ""},
      {"example.com:8080", "example.com", "8080"},
      {"example.com:", "example.com", ""},
      {"example.com:abc", "example.com:abc", ""},  // not a port: left whole, matches nothing
      {"[::1]:443", "::1", "443"},
      {"[::1]", "::1", ""},
      {"[2001:db8::1]:x", "2001:db8::1", ""},
      {"::1", "::1", ""},  // unbracketed IPv6 is not split at its last colon
      {"[::1", "[::1", ""},
      {"", "", ""},
      {"10.0.0.1:80", "10.0.0.1", "80"},
  };
  for (const SplitCase& c : cases) {
    const HostAndPort hp = splitHostPort(c.authority);
    EXPECT_EQ(hp.host, c.host) << c.authority;
    EXPECT_EQ(hp.port, c.port) << c.authority;
  }
}

TEST(RoutingHost, StripsPortBracketsAndOneTrailingDot) {
  EXPECT_EQ(routingHost("Example.COM.:80"), "Example.COM");
  EXPECT_EQ(routingHost("example.com.."), "example.com.");
  EXPECT_EQ(routingHost("[::1]:80"), "::1");
  EXPECT_EQ(routingHost("."), ".");
}

TEST(FoldedCompare, IgnoresAsciiCaseOfValueOnly) {
  EXPECT_TRUE(equalsFolded("ExAmPle.COM", "example.com"));
  EXPECT_FALSE(equalsFolded("example.com", "Example.com"));  // second operand must be lower
  EXPECT_FALSE(equalsFolded("example.co", "example.com"));
  EXPECT_EQ(compareFolded("B", "a"), 1);
  EXPECT_EQ(compareFolded("A", "b"), -1);
  EXPECT_EQ(compareFolded("AB", "ab"), 0);
  EXPECT_EQ(compareFolded("a", "ab"), -1);
  EXPECT_EQ(compareFolded("\xc3\x89", "\xc3\xa9"), -1);  // non-ASCII bytes are not folded
}

TEST(FoldedCompare, WordAtATimePathAgreesWithBytewiseFolding) {
  // Every byte value at every position of a 19-byte string (two words plus a tail).
  std::string lower = "abcdefghijklmnopqrs";
  for (size_t pos = 0; pos < lower.size(); ++pos) {
    for (int c = 0; c < 256; ++c) {
      std::string value = lower;
      value[pos] = static_cast<char>(c);
      const char folded = asciiLower(static_cast<char>(c));
      EXPECT_EQ(equalsFolded(value, lower), folded == lower[pos]) << pos << " " << c;
      std::string expectedLower = lower;
      expectedLower[pos] = folded;
      EXPECT_TRUE(equalsFolded(value, expectedLower)) << pos << " " << c;
    }
  }
}

TEST(ReverseFoldedHash, SuffixHashesFromOnePass) {
  const std::string_view host = "Foo.Example.COM";
  ReverseFoldedHash h;
  for (size_t i = host.size(); i > 0; --i) {
    h.add(host[i - 1]);
    std::string lowered(host.substr(i - 1));
    for (char& c : lowered) c = asciiLower(c);
    EXPECT_EQ(h.value(), ReverseFoldedHash::of(lowered)) << lowered;
  }
  EXPECT_NE(ReverseFoldedHash::of("a.test"), ReverseFoldedHash::of("b.test"));
}

TEST(FoldedNameIndex, FindsEveryNameAndOnlyThose) {
  std::vector<std::string> names;
  for (int i = 0; i < 100; ++i) names.push_back("svc" + std::to_string(i) + ".example.com");
  const std::vector<std::string_view> views(names.begin(), names.end());
  FoldedNameIndex index;
  index.build(views);
  for (int i = 0; i < 100; ++i) {
    std::string upper = "SVC" + std::to_string(i) + ".Example.Com";
    EXPECT_EQ(index.find(upper, ReverseFoldedHash::of(names[static_cast<size_t>(i)])), i);
  }
  EXPECT_EQ(index.find("svc100.example.com", ReverseFoldedHash::of("svc100.example.com")), -1);
  FoldedNameIndex empty;
  EXPECT_EQ(empty.find("a", ReverseFoldedHash::of("a")), -1);
  empty.build({});
  EXPECT_EQ(empty.find("a", ReverseFoldedHash::of("a")), -1);
}

TEST(WildcardMatches, OneOrMoreLabels) {
  EXPECT_TRUE(wildcardMatches("*.example.com", "foo.example.com"));
  EXPECT_TRUE(wildcardMatches("*.example.com", "foo.bar.example.com"));
  EXPECT_TRUE(wildcardMatches("*.example.com", "FOO.Example.com"));
  EXPECT_FALSE(wildcardMatches("*.example.com", "example.com"));
  EXPECT_FALSE(wildcardMatches("*.example.com", ".example.com"));
  EXPECT_FALSE(wildcardMatches("*.example.com", "fooexample.com"));
  EXPECT_FALSE(wildcardMatches("*.example.com", "foo.example.org"));
  EXPECT_FALSE(wildcardMatches("example.com", "foo.example.com"));
}

// Hosts select a group of routes (an Envoy virtual host): exact, then the longest wildcard,
// then the routes without hostnames. There is no fall-through between groups.
class HostSelection : public ::testing::Test {
 protected:
  Table table_{{
      {"ns/exact", {"foo.example.com"}, {{prefix("/exact")}}},
      {"ns/wild", {"*.example.com"}, {{prefix("/")}}},
      {"ns/wild-long", {"*.bar.example.com"}, {{prefix("/")}}},
      {"ns/any", {}, {{prefix("/")}}},
      {"ns/multi", {"a.test", "B.Test", "a.test"}, {{prefix("/")}}},
      {"ns/star", {"*"}, {{prefix("/star")}}},
      {"ns/empty", {"claimed.test"}, {}},
  }};
};

TEST_F(HostSelection, ExactBeatsWildcardBeatsCatchAll) {
  EXPECT_EQ(table_.routeHost("foo.example.com", "/exact"), "ns/exact/0/0");
  EXPECT_EQ(table_.routeHost("other.example.com"), "ns/wild/0/0");
  EXPECT_EQ(table_.routeHost("unknown.test"), "ns/any/0/0");
}

TEST_F(HostSelection, NoFallThroughToLessSpecificGroups) {
  // foo.example.com selects only ns/exact; its rule does not match "/", and the wildcard and
  // catch-all routes are not consulted (Envoy Gateway behaves the same).
  EXPECT_EQ(table_.routeHost("foo.example.com", "/"), "404");
}

TEST_F(HostSelection, LongerWildcardWins) {
  EXPECT_EQ(table_.routeHost("x.bar.example.com"), "ns/wild-long/0/0");
  EXPECT_EQ(table_.routeHost("x.y.bar.example.com"), "ns/wild-long/0/0");
  EXPECT_EQ(table_.routeHost("bar.example.com"), "ns/wild/0/0");
  EXPECT_EQ(table_.routeHost("x.y.example.com"), "ns/wild/0/0");
}

TEST_F(HostSelection, WildcardDoesNotMatchItsParentDomain) {
  EXPECT_EQ(table_.routeHost("example.com"), "ns/any/0/0");
  EXPECT_EQ(table_.routeHost(".example.com"), "ns/any/0/0");
}

TEST_F(HostSelection, CaseInsensitivePortAndTrailingDotIgnored) {
  EXPECT_EQ(table_.routeHost("FOO.Example.COM:8080", "/exact"), "ns/exact/0/0");
  EXPECT_EQ(table_.routeHost("foo.example.com.", "/exact"), "ns/exact/0/0");
  EXPECT_EQ(table_.routeHost("Other.EXAMPLE.com:443"), "ns/wild/0/0");
}

TEST_F(HostSelection, IpLiteralsAndOddHostsUseCatchAll) {
  EXPECT_EQ(table_.routeHost("[::1]:8080"), "ns/any/0/0");
  EXPECT_EQ(table_.routeHost("10.1.2.3"), "ns/any/0/0");
  EXPECT_EQ(table_.routeHost(""), "ns/any/0/0");
  EXPECT_EQ(table_.routeHost("foo.example.com:abc"), "ns/any/0/0");
}

TEST_F(HostSelection, RouteWithSeveralHostnamesServesEach) {
  EXPECT_EQ(table_.routeHost("a.test"), "ns/multi/0/0");
  EXPECT_EQ(table_.routeHost("b.test"), "ns/multi/0/0");
}

TEST_F(HostSelection, StarHostnameJoinsTheCatchAllGroup) {
  EXPECT_EQ(table_.routeHost("unknown.test", "/star/x"), "ns/star/0/0");
}

TEST_F(HostSelection, RouteWithoutRulesDoesNotClaimItsHostname) {
  EXPECT_EQ(table_.routeHost("claimed.test"), "ns/any/0/0");
}

TEST(HostSelectionNoCatchAll, UnknownHostIs404) {
  Table table({{"ns/a", {"a.test"}, {{prefix("/")}}}, {"ns/w", {"*.w.test"}, {{prefix("/")}}}});
  EXPECT_EQ(table.routeHost("b.test"), "404");
  EXPECT_EQ(table.routeHost("w.test"), "404");
  EXPECT_EQ(table.routeHost("x.w.test"), "ns/w/0/0");
  EXPECT_EQ(table.routeHost(""), "404");
}

TEST(HostSelectionGroups, RoutesSharingAHostnameCompeteByPrecedence) {
  // Two routes for the same host form one group; a wildcard route's rule is not a candidate.
  Table table({
      {"ns/a", {"a.test"}, {{prefix("/")}}},
      {"ns/b", {"a.test"}, {{prefix("/api")}}},
      {"ns/w", {"*.test"}, {{prefix("/api/v1")}}},
  });
  EXPECT_EQ(table.routeHost("a.test", "/api/v1/x"), "ns/b/0/0");
  EXPECT_EQ(table.routeHost("a.test", "/other"), "ns/a/0/0");
  EXPECT_EQ(table.routeHost("z.test", "/api/v1/x"), "ns/w/0/0");
}

TEST(HostSelectionEmpty, EmptyTableMatchesNothing) {
  Table table({});
  EXPECT_EQ(table.routeHost("a.test"), "404");
}

}  // namespace
}  // namespace trellis::routing
