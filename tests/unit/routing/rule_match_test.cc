#include "routing/rule_match.h"

#include <gtest/gtest.h>

#include "routing_test_util.h"

namespace trellis::routing {
namespace {

using namespace testing;  // NOLINT(google-build-using-namespace): test builders

struct PrefixCase {
  std::string_view prefix;
  std::string_view path;
  bool matches;
};

TEST(PathPrefix, SegmentAwareTable) {
  const PrefixCase cases[] = {
      {"/v2", "/v2", true},
      {"/v2", "/v2/", true},
      {"/v2", "/v2/example", true},
      {"/v2", "/v2example", false},
      {"/v2", "/v", false},
      {"/v2", "/V2", false},  // case-sensitive
      {"/v2", "/foo/v2", false},
      {"/v2/", "/v2", true},  // the trailing slash of a prefix is ignored
      {"/v2/", "/v2/", true},
      {"/v2/", "/v2/example", true},
      {"/v2/", "/v2example", false},
      {"/", "/", true},
      {"/", "/anything/at/all", true},
      {"/", "//double", true},
      {"/", "*", false},  // "OPTIONS *" is not a path
      {"/foo/bar", "/foo/bar/baz", true},
      {"/foo/bar", "/foo/barbaz", false},
      {"/foo/bar", "/foo", false},
      {"/foo", "/foo//bar", true},
      {"/foo", "/foo?x", false},  // paths reach routing without their query
  };
  for (const PrefixCase& c : cases) {
    EXPECT_EQ(pathPrefixMatches(trimTrailingSlash(c.prefix), c.path), c.matches)
        << "prefix " << c.prefix << " path " << c.path;
  }
}

TEST(PathPrefix, ThroughTheTable) {
  Table table({{"ns/a", {}, {{prefix("/v2/")}}}});
  EXPECT_EQ(table.route("/v2"), "ns/a/0/0");
  EXPECT_EQ(table.route("/v2/x"), "ns/a/0/0");
  EXPECT_EQ(table.route("/v2x"), "404");
  EXPECT_EQ(table.route("/"), "404");
}

TEST(PathMatch, EmptyPathIsTreatedAsRoot) {
  Table table({{"ns/a", {}, {{exact("/")}}}});
  EXPECT_EQ(table.route(""), "ns/a/0/0");
}

TEST(PathMatch, ExactIsByteExact) {
  Table table({{"ns/a", {}, {{exact("/foo")}}}});
  EXPECT_EQ(table.route("/foo"), "ns/a/0/0");
  EXPECT_EQ(table.route("/foo/"), "404");
  EXPECT_EQ(table.route("/Foo"), "404");
  EXPECT_EQ(table.route("/fo%6f"), "404");  // no decoding: normalisation is the caller's job
}

TEST(PathMatch, RegexIsAFullMatch) {
  Table table({{"ns/a", {}, {{regex("/items/[0-9]+")}}}});
  EXPECT_EQ(table.route("/items/42"), "ns/a/0/0");
  EXPECT_EQ(table.route("/items/42/x"), "404");
  EXPECT_EQ(table.route("/x/items/42"), "404");
}

TEST(PathMatch, BrokenRegexNeverMatchesAndOthersStillDo) {
  config::RouteMatch broken = regex("/(unclosed");
  config::RouteMatch missing = regex("/.*");
  missing.path.regex.reset();
  config::RouteMatch brokenHeader = withHeader(prefix("/"), regexValue("h", "(("));
  config::RouteMatch brokenQuery = withQuery(prefix("/"), regexValue("q", "[["));
  Table table({{"ns/a", {}, {{broken}, {missing}, {brokenHeader}, {brokenQuery}, {prefix("/")}}}});
  Request r;
  r.path = "/(unclosed";
  r.headers = {{"h", "(("}};
  r.query = "q=[[";
  EXPECT_EQ(table.route(r), "ns/a/4/0");
}

TEST(PathMatch, RegexPrefilterNeverRejectsARealMatch) {
  // The table rejects paths outside RE2's PossibleMatchRange before running the regex; compare
  // against a plain FullMatch for patterns whose ranges are wide, open or case-folded.
  const char* patterns[] = {"/items/[0-9]+", "(?i)/API/v[12]/.*", ".*/suffix", "/a|/zz",
                            "/x*",           "[/a-c].*",          "/\\xff.*",  "/caf\\x{e9}/.*",
                            "/(a|b)+/c{0,3}"};
  const char* paths[] = {"/items/7",  "/items/",  "/api/v1/x", "/Api/V2/",   "/API/v3/x",
                         "/q/suffix", "/suffix",  "/a",        "/zz",        "/zzz",
                         "/",         "/xxxx",    "b/c",       "/\xff/z",    "/caf\xc3\xa9/x",
                         "/ab/ccc",   "/ab/cccc", "",          "/items/12a", "~"};
  for (const char* pattern : patterns) {
    const re2::RE2 re(pattern, re2::RE2::Quiet);
    ASSERT_TRUE(re.ok()) << pattern;
    Table table({{"ns/a", {}, {{regex(pattern)}}}});
    for (const char* path : paths) {
      const bool expected = re2::RE2::FullMatch(std::string_view(path).empty() ? "/" : path, re);
      EXPECT_EQ(table.route(path) != "404", expected) << pattern << " on " << path;
    }
  }
}

TEST(Method, ExactAndCaseSensitive) {
  Table table({{"ns/a", {}, {{withMethod(prefix("/"), "POST")}}}});
  Request r;
  r.method = "POST";
  EXPECT_EQ(table.route(r), "ns/a/0/0");
  r.method = "post";
  EXPECT_EQ(table.route(r), "404");
  r.method = "GET";
  EXPECT_EQ(table.route(r), "404");
}

TEST(Headers, NameCaseInsensitiveValueCaseSensitive) {
  Table table({{"ns/a", {}, {{withHeader(prefix("/"), exactValue("X-Version", "Two"))}}}});
  Request r;
  r.headers = {{"x-version", "Two"}};
  EXPECT_EQ(table.route(r), "ns/a/0/0");
  r.headers = {{"X-VERSION", "Two"}};  // defensive: upper-case names still compare equal
  EXPECT_EQ(table.route(r), "ns/a/0/0");
  r.headers = {{"x-version", "two"}};
  EXPECT_EQ(table.route(r), "404");
  r.headers = {{"x-versions", "Two"}};
  EXPECT_EQ(table.route(r), "404");
  r.headers.clear();
  EXPECT_EQ(table.route(r), "404");
}

TEST(Headers, EmptyValueNeedsThePresentHeader) {
  Table table({{"ns/a", {}, {{withHeader(prefix("/"), exactValue("x", ""))}}}});
  Request r;
  EXPECT_EQ(table.route(r), "404");
  r.headers = {{"x", ""}};
  EXPECT_EQ(table.route(r), "ns/a/0/0");
}

TEST(Headers, RepeatedHeadersAreJoinedWithComma) {
  Table table({{"ns/a",
                {},
                {{withHeader(prefix("/"), exactValue("x", "a,b"))},
                 {withHeader(prefix("/r"), regexValue("x", "a,b,c"))},
                 {withHeader(prefix("/one"), exactValue("x", "a"))}}}});
  Request r;
  r.headers = {{"x", "a"}, {"other", "z"}, {"x", "b"}};
  EXPECT_EQ(table.route(r), "ns/a/0/0");
  r.headers = {{"x", "a"}, {"x", "b"}, {"x", "c"}};
  EXPECT_EQ(table.route(r), "404");  // "a,b,c" != "a,b"
  r.path = "/r";
  EXPECT_EQ(table.route(r), "ns/a/1/0");
  r.path = "/one";
  r.headers = {{"x", "a"}, {"x", "b"}};
  EXPECT_EQ(table.route(r), "ns/a/0/0");  // "a,b", not the first value "a", is compared
  r.headers = {{"x", "a"}, {"x", ""}};
  EXPECT_EQ(table.route(r), "404");  // "a," != "a"
  r.headers = {{"x", "a"}};
  EXPECT_EQ(table.route(r), "ns/a/2/0");
}

TEST(Headers, RegexIsAFullMatch) {
  Table table({{"ns/a", {}, {{withHeader(prefix("/"), regexValue("x", "v[0-9]"))}}}});
  Request r;
  r.headers = {{"x", "v1"}};
  EXPECT_EQ(table.route(r), "ns/a/0/0");
  r.headers = {{"x", "v12"}};
  EXPECT_EQ(table.route(r), "404");
  r.headers = {{"x", "av1"}};
  EXPECT_EQ(table.route(r), "404");
}

TEST(Query, FindQueryParam) {
  std::string_view v;
  EXPECT_TRUE(findQueryParam("a=1&b=2", "b", v));
  EXPECT_EQ(v, "2");
  EXPECT_TRUE(findQueryParam("a=1&a=2", "a", v));
  EXPECT_EQ(v, "1");  // first occurrence wins
  EXPECT_TRUE(findQueryParam("flag&x=1", "flag", v));
  EXPECT_EQ(v, "");
  EXPECT_TRUE(findQueryParam("x=a=b", "x", v));
  EXPECT_EQ(v, "a=b");  // split at the first '='
  EXPECT_TRUE(findQueryParam("&&x=1&", "x", v));
  EXPECT_EQ(v, "1");
  EXPECT_TRUE(findQueryParam("=1", "", v));
  EXPECT_FALSE(findQueryParam("ab=1", "a", v));
  EXPECT_FALSE(findQueryParam("A=1", "a", v));  // names are case-sensitive
  EXPECT_FALSE(findQueryParam("", "a", v));
}

TEST(Query, ExactRawValueNoDecoding) {
  Table table({{"ns/a",
                {},
                {{withQuery(prefix("/"), exactValue("name", "a b"))},
                 {withQuery(prefix("/"), exactValue("name", "a%20b"))}}}});
  Request r;
  r.query = "name=a%20b";
  EXPECT_EQ(table.route(r), "ns/a/1/0");
  r.query = "name=a+b";
  EXPECT_EQ(table.route(r), "404");
}

TEST(Query, FirstOccurrenceDecides) {
  Table table({{"ns/a", {}, {{withQuery(prefix("/"), exactValue("animal", "whale"))}}}});
  Request r;
  r.query = "animal=whale&animal=dolphin";
  EXPECT_EQ(table.route(r), "ns/a/0/0");
  r.query = "animal=dolphin&animal=whale";
  EXPECT_EQ(table.route(r), "404");
}

TEST(Query, RegexFullMatch) {
  Table table({{"ns/a", {}, {{withQuery(prefix("/"), regexValue("id", "[0-9]+"))}}}});
  Request r;
  r.query = "id=42";
  EXPECT_EQ(table.route(r), "ns/a/0/0");
  r.query = "id=42x";
  EXPECT_EQ(table.route(r), "404");
  r.query = "other=1";
  EXPECT_EQ(table.route(r), "404");
}

TEST(Combined, AllConditionsMustHold) {
  Table table({{"ns/a",
                {},
                {{withQuery(withHeader(withMethod(exact("/p"), "PUT"), exactValue("h", "1")),
                            exactValue("q", "1"))}}}});
  Request ok;
  ok.path = "/p";
  ok.method = "PUT";
  ok.headers = {{"h", "1"}};
  ok.query = "q=1";
  EXPECT_EQ(table.route(ok), "ns/a/0/0");
  Request r = ok;
  r.path = "/p/";
  EXPECT_EQ(table.route(r), "404");
  r = ok;
  r.method = "GET";
  EXPECT_EQ(table.route(r), "404");
  r = ok;
  r.headers = {{"h", "2"}};
  EXPECT_EQ(table.route(r), "404");
  r = ok;
  r.query = "q=2";
  EXPECT_EQ(table.route(r), "404");
}

}  // namespace
}  // namespace trellis::routing
