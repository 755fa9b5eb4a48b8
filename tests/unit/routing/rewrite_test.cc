#include <gtest/gtest.h>

#include "routing_test_util.h"

namespace trellis::routing {
namespace {

using config::PathRewriteType;

config::PathMatch prefixMatch(std::string value) {
  return testing::prefix(std::move(value)).path;
}

struct PrefixRewriteCase {
  std::string_view path;
  std::string_view prefix;
  std::string_view replacement;
  std::string_view expected;
};

TEST(RewritePath, ReplacePrefixMatchGatewayApiTable) {
  // The table from the Gateway API HTTPPathModifier documentation, plus edge cases.
  const PrefixRewriteCase cases[] = {
      {"/foo/bar", "/foo", "/xyz", "/xyz/bar"},
      {"/foo/bar", "/foo", "/xyz/", "/xyz/bar"},
      {"/foo/bar", "/foo/", "/xyz", "/xyz/bar"},
      {"/foo/bar", "/foo/", "/xyz/", "/xyz/bar"},
      {"/foo", "/foo", "/xyz", "/xyz"},
      {"/foo/", "/foo", "/xyz", "/xyz/"},
      {"/foo/bar", "/foo", "", "/bar"},
      {"/foo/", "/foo", "", "/"},
      {"/foo", "/foo", "", "/"},
      {"/foo/", "/foo", "/", "/"},
      {"/foo", "/foo", "/", "/"},
      {"/foo/bar", "/foo", "/", "/bar"},
      {"/foo/bar/baz", "/foo/bar", "/x", "/x/baz"},
      {"/x", "/", "/api", "/api/x"},
      {"/", "/", "/api", "/api/"},
      {"/x", "/", "/", "/x"},
      {"/foobar", "/foo", "/xyz", "/foobar"},  // not matched: unchanged
  };
  for (const PrefixRewriteCase& c : cases) {
    EXPECT_EQ(rewritePath(PathRewriteType::ReplacePrefixMatch, c.replacement,
                          prefixMatch(std::string(c.prefix)), c.path),
              c.expected)
        << c.path << " prefix " << c.prefix << " replacement " << c.replacement;
  }
}

TEST(RewritePath, NoneAndFullPath) {
  const config::PathMatch m = prefixMatch("/foo");
  EXPECT_EQ(rewritePath(PathRewriteType::None, "/x", m, "/foo/bar"), "/foo/bar");
  EXPECT_EQ(rewritePath(PathRewriteType::ReplaceFullPath, "/x/y", m, "/foo/bar"), "/x/y");
  EXPECT_EQ(rewritePath(PathRewriteType::ReplaceFullPath, "", m, "/foo/bar"), "/");
}

TEST(RewritePath, ReplacePrefixMatchWithExactAndRegexMatches) {
  const config::PathMatch exact = testing::exact("/foo/").path;
  EXPECT_EQ(rewritePath(PathRewriteType::ReplacePrefixMatch, "/xyz", exact, "/foo/"), "/xyz/");
  const config::PathMatch regex = testing::regex("/foo/.*").path;
  EXPECT_EQ(rewritePath(PathRewriteType::ReplacePrefixMatch, "/xyz", regex, "/foo/a"), "/foo/a");
}

config::RequestRedirect redirectTo(std::optional<std::string> scheme,
                                   std::optional<std::string> hostname,
                                   std::optional<uint16_t> port) {
  config::RequestRedirect r;
  r.scheme = std::move(scheme);
  r.hostname = std::move(hostname);
  r.port = port;
  return r;
}

TEST(RedirectLocation, DefaultsKeepRequestAndQuery) {
  const config::RequestRedirect r;
  EXPECT_EQ(r.statusCode, 302);
  EXPECT_EQ(redirectLocation(r, prefixMatch("/"), "http", "example.com", "/a", "x=1&y=2"),
            "http://example.com/a?x=1&y=2");
  EXPECT_EQ(redirectLocation(r, prefixMatch("/"), "http", "example.com:8080", "/a", ""),
            "http://example.com:8080/a");
  EXPECT_EQ(redirectLocation(r, prefixMatch("/"), "http", "example.com:80", "", ""),
            "http://example.com/");
}

TEST(RedirectLocation, SchemeChangeImpliesItsDefaultPort) {
  const auto r = redirectTo("https", std::nullopt, std::nullopt);
  EXPECT_EQ(redirectLocation(r, prefixMatch("/"), "http", "example.com", "/a", ""),
            "https://example.com/a");
  EXPECT_EQ(redirectLocation(r, prefixMatch("/"), "http", "example.com:8080", "/a", "q"),
            "https://example.com/a?q");
  const auto toHttp = redirectTo("http", std::nullopt, std::nullopt);
  EXPECT_EQ(redirectLocation(toHttp, prefixMatch("/"), "https", "example.com:8443", "/", ""),
            "http://example.com/");
}

TEST(RedirectLocation, ExplicitPortShownUnlessSchemeDefault) {
  EXPECT_EQ(redirectLocation(redirectTo("https", std::nullopt, 8443), prefixMatch("/"), "http",
                             "example.com", "/", ""),
            "https://example.com:8443/");
  EXPECT_EQ(redirectLocation(redirectTo("https", std::nullopt, 443), prefixMatch("/"), "http",
                             "example.com:80", "/", ""),
            "https://example.com/");
  EXPECT_EQ(redirectLocation(redirectTo(std::nullopt, std::nullopt, 8083), prefixMatch("/"), "http",
                             "example.com", "/", ""),
            "http://example.com:8083/");
  EXPECT_EQ(redirectLocation(redirectTo(std::nullopt, std::nullopt, 80), prefixMatch("/"), "http",
                             "example.com:8080", "/", ""),
            "http://example.com/");
  EXPECT_EQ(redirectLocation(redirectTo("http", std::nullopt, 443), prefixMatch("/"), "https",
                             "example.com", "/", ""),
            "http://example.com:443/");
}

TEST(RedirectLocation, HostnameReplacedKeepsListenerPort) {
  EXPECT_EQ(redirectLocation(redirectTo(std::nullopt, "other.example", std::nullopt),
                             prefixMatch("/"), "http", "Example.com:8080", "/p", ""),
            "http://other.example:8080/p");
  EXPECT_EQ(redirectLocation(redirectTo(std::nullopt, "other.example", std::nullopt),
                             prefixMatch("/"), "https", "example.com", "/p", ""),
            "https://other.example/p");
}

TEST(RedirectLocation, Ipv6HostsKeepBrackets) {
  EXPECT_EQ(redirectLocation(redirectTo("https", std::nullopt, std::nullopt), prefixMatch("/"),
                             "http", "[::1]:8080", "/", ""),
            "https://[::1]/");
  EXPECT_EQ(
      redirectLocation(config::RequestRedirect{}, prefixMatch("/"), "http", "[::1]:8080", "/", ""),
      "http://[::1]:8080/");
}

TEST(RedirectLocation, UnknownSchemeWithoutPortKeepsRequestPort) {
  EXPECT_EQ(redirectLocation(redirectTo("ftp", std::nullopt, std::nullopt), prefixMatch("/"),
                             "http", "example.com:8080", "/", ""),
            "ftp://example.com:8080/");
}

TEST(RedirectLocation, PathModifiers) {
  config::RequestRedirect full;
  full.pathType = PathRewriteType::ReplaceFullPath;
  full.path = "/new";
  EXPECT_EQ(redirectLocation(full, prefixMatch("/old"), "http", "h", "/old/x", "a=1"),
            "http://h/new?a=1");
  config::RequestRedirect pre;
  pre.pathType = PathRewriteType::ReplacePrefixMatch;
  pre.path = "/new";
  EXPECT_EQ(redirectLocation(pre, prefixMatch("/old"), "http", "h", "/old/x", "a=1"),
            "http://h/new/x?a=1");
  pre.path = "/";
  EXPECT_EQ(redirectLocation(pre, prefixMatch("/old"), "http", "h", "/old", ""), "http://h/");
}

}  // namespace
}  // namespace trellis::routing
