// Gateway API v1 precedence: Exact path, (our choice) RegularExpression, longest PathPrefix,
// method, most headers, most query parameters; then oldest route, route name, rule order.

#include <gtest/gtest.h>

#include "routing_test_util.h"

namespace trellis::routing {
namespace {

using namespace testing;  // NOLINT(google-build-using-namespace): test builders

TEST(Precedence, ExactBeatsLongerPrefixAndEarlierRules) {
  Table table({
      {"ns/a", {}, {{prefix("/foo/bar")}, {prefix("/foo")}}},
      {"ns/b", {}, {{exact("/foo")}, {exact("/foo/bar")}}},
  });
  EXPECT_EQ(table.route("/foo/bar"), "ns/b/1/0");
  EXPECT_EQ(table.route("/foo"), "ns/b/0/0");
  EXPECT_EQ(table.route("/foo/bar/baz"), "ns/a/0/0");
  EXPECT_EQ(table.route("/foo/baz"), "ns/a/1/0");
}

TEST(Precedence, ExactBeatsMethodHeadersAndQuery) {
  Table table({
      {"ns/a",
       {},
       {{withQuery(withHeader(withMethod(prefix("/x"), "GET"), exactValue("h", "1")),
                   exactValue("q", "1"))}}},
      {"ns/b", {}, {{exact("/x")}}},
  });
  Request r;
  r.path = "/x";
  r.query = "q=1";
  r.headers = {{"h", "1"}};
  EXPECT_EQ(table.route(r), "ns/b/0/0");
}

TEST(Precedence, RegexBetweenExactAndPrefix) {
  Table table({
      {"ns/prefix", {}, {{prefix("/api/v1/users")}}},
      {"ns/regex", {}, {{regex("/api/v[0-9]+/.*")}}},
      {"ns/exact", {}, {{exact("/api/v1/users")}}},
  });
  EXPECT_EQ(table.route("/api/v1/users"), "ns/exact/0/0");
  EXPECT_EQ(table.route("/api/v1/users/7"), "ns/regex/0/0");
  EXPECT_EQ(table.route("/api/vx/users"), "404");
}

TEST(Precedence, LongerRegexFirst) {
  Table table({
      {"ns/short", {}, {{regex("/a.*")}}},
      {"ns/long", {}, {{regex("/a/b/.*")}}},
  });
  EXPECT_EQ(table.route("/a/b/c"), "ns/long/0/0");
  EXPECT_EQ(table.route("/a/c"), "ns/short/0/0");
}

TEST(Precedence, LongestPrefixWinsRegardlessOfOrder) {
  Table table({
      {"ns/a", {}, {{prefix("/")}, {prefix("/a")}, {prefix("/a/b/c")}, {prefix("/a/b")}}},
  });
  EXPECT_EQ(table.route("/a/b/c/d"), "ns/a/2/0");
  EXPECT_EQ(table.route("/a/b/x"), "ns/a/3/0");
  EXPECT_EQ(table.route("/a/x"), "ns/a/1/0");
  EXPECT_EQ(table.route("/x"), "ns/a/0/0");
}

TEST(Precedence, PrefixLengthBeatsMethod) {
  Table table({{"ns/a", {}, {{withMethod(prefix("/"), "GET")}, {prefix("/foo")}}}});
  EXPECT_EQ(table.route("/foo"), "ns/a/1/0");
  EXPECT_EQ(table.route("/bar"), "ns/a/0/0");
}

TEST(Precedence, MethodBeatsHeaderCount) {
  Table table({{"ns/a",
                {},
                {{withHeader(withHeader(prefix("/"), exactValue("a", "1")), exactValue("b", "1"))},
                 {withMethod(prefix("/"), "GET")}}}});
  Request r;
  r.headers = {{"a", "1"}, {"b", "1"}};
  EXPECT_EQ(table.route(r), "ns/a/1/0");
  r.method = "POST";
  EXPECT_EQ(table.route(r), "ns/a/0/0");
}

TEST(Precedence, HeaderCountBeatsQueryCount) {
  Table table({{"ns/a",
                {},
                {{withQuery(withQuery(prefix("/"), exactValue("a", "1")), exactValue("b", "1"))},
                 {withHeader(prefix("/"), exactValue("h", "1"))}}}});
  Request r;
  r.query = "a=1&b=1";
  r.headers = {{"h", "1"}};
  EXPECT_EQ(table.route(r), "ns/a/1/0");
  r.headers.clear();
  EXPECT_EQ(table.route(r), "ns/a/0/0");
}

TEST(Precedence, MoreHeadersWin) {
  Table table({{"ns/a",
                {},
                {{withHeader(prefix("/"), exactValue("version", "two"))},
                 {withHeader(withHeader(prefix("/"), exactValue("version", "two")),
                             exactValue("color", "orange"))}}}});
  Request r;
  r.headers = {{"version", "two"}, {"color", "orange"}};
  EXPECT_EQ(table.route(r), "ns/a/1/0");
  r.headers = {{"version", "two"}};
  EXPECT_EQ(table.route(r), "ns/a/0/0");
}

TEST(Precedence, MoreQueryParamsWin) {
  Table table({{"ns/a",
                {},
                {{withQuery(prefix("/"), exactValue("a", "1"))},
                 {withQuery(withQuery(prefix("/"), exactValue("a", "1")), exactValue("b", "2"))},
                 {prefix("/")}}}});
  Request r;
  r.query = "a=1&b=2";
  EXPECT_EQ(table.route(r), "ns/a/1/0");
  r.query = "a=1";
  EXPECT_EQ(table.route(r), "ns/a/0/0");
  r.query = "";
  EXPECT_EQ(table.route(r), "ns/a/2/0");
}

TEST(Precedence, DuplicateHeaderNamesCountOnceAndOnlyTheFirstApplies) {
  // Gateway API: of several matches on an equivalent header name only the first is considered.
  Table table(
      {{"ns/a",
        {},
        {{withHeader(withHeader(prefix("/"), exactValue("x-a", "1")), exactValue("X-A", "2"))},
         {withHeader(withHeader(prefix("/"), exactValue("x-a", "1")), exactValue("x-b", "1"))}}}});
  Request r;
  r.headers = {{"x-a", "1"}, {"x-b", "1"}};
  EXPECT_EQ(table.route(r), "ns/a/1/0");  // two effective header matches beat one
  r.headers = {{"x-a", "1"}};
  EXPECT_EQ(table.route(r), "ns/a/0/0");  // "X-A: 2" was ignored
}

TEST(Precedence, DuplicateQueryNamesOnlyFirstApplies) {
  Table table(
      {{"ns/a",
        {},
        {{withQuery(withQuery(prefix("/"), exactValue("q", "1")), exactValue("q", "2"))}}}});
  Request r;
  r.query = "q=1";
  EXPECT_EQ(table.route(r), "ns/a/0/0");
}

TEST(TieBreak, OldestRouteWins) {
  Table table({
      {"ns/a", {}, {{prefix("/")}}, 2000},
      {"ns/z", {}, {{prefix("/")}}, 1000},
  });
  EXPECT_EQ(table.route("/"), "ns/z/0/0");
}

TEST(TieBreak, EqualTimestampsGoAlphabetical) {
  Table table({
      {"ns/b", {}, {{prefix("/")}}, 1000},
      {"ns/a", {}, {{prefix("/")}}, 1000},
      {"aa/z", {}, {{prefix("/")}}, 1000},
  });
  EXPECT_EQ(table.route("/"), "aa/z/0/0");
}

TEST(TieBreak, AbsentTimestampsFallBackToConfigurationOrder) {
  Table table({
      {"ns/b", {}, {{prefix("/")}}},
      {"ns/a", {}, {{prefix("/")}}},
  });
  EXPECT_EQ(table.route("/"), "ns/b/0/0");
}

TEST(TieBreak, AbsentTimestampSortsAsOldest) {
  Table table({
      {"ns/a", {}, {{prefix("/")}}, 1000},
      {"ns/b", {}, {{prefix("/")}}},
  });
  EXPECT_EQ(table.route("/"), "ns/b/0/0");
}

TEST(TieBreak, RuleThenMatchOrderWithinARoute) {
  Table table({{"ns/a", {}, {{prefix("/x"), prefix("/y"), prefix("/")}, {prefix("/")}}}});
  EXPECT_EQ(table.route("/z"), "ns/a/0/2");
  Table reversed({{"ns/a", {}, {{prefix("/")}, {prefix("/x"), prefix("/")}}}});
  EXPECT_EQ(reversed.route("/z"), "ns/a/0/0");
}

TEST(TieBreak, PrecedenceIsPerMatchNotPerRule) {
  // A rule's matches are ranked separately: the exact match of rule 1 beats rule 0's prefix.
  Table table({{"ns/a", {}, {{prefix("/a")}, {prefix("/"), exact("/a/b")}}}});
  EXPECT_EQ(table.route("/a/b"), "ns/a/1/1");
  EXPECT_EQ(table.route("/a/c"), "ns/a/0/0");
  EXPECT_EQ(table.route("/b"), "ns/a/1/0");
}

TEST(TieBreak, SpecificityBeatsAge) {
  Table table({
      {"ns/old", {}, {{prefix("/")}}, 1},
      {"ns/new", {}, {{prefix("/api")}}, 99999},
  });
  EXPECT_EQ(table.route("/api/x"), "ns/new/0/0");
}

// Modelled on the Gateway API conformance test HTTPRouteMatching and the path-matching-order
// test: precedence decided across two routes for the same parent.
TEST(Conformance, HttpRouteMatching) {
  Table table({
      {"gateway-conformance-infra/matching",
       {},
       {{prefix("/")},
        {prefix("/v2")},
        {exact("/exact")},
        {withHeader(withHeader(prefix("/"), exactValue("version", "two")),
                    exactValue("color", "orange"))}}},
  });
  const std::string base = "gateway-conformance-infra/matching/";
  EXPECT_EQ(table.route("/"), base + "0/0");
  EXPECT_EQ(table.route("/example"), base + "0/0");
  EXPECT_EQ(table.route("/v2"), base + "1/0");
  EXPECT_EQ(table.route("/v2/"), base + "1/0");
  EXPECT_EQ(table.route("/v2/example"), base + "1/0");
  EXPECT_EQ(table.route("/v2example"), base + "0/0");
  EXPECT_EQ(table.route("/exact"), base + "2/0");
  EXPECT_EQ(table.route("/exact/more"), base + "0/0");
  Request r;
  r.headers = {{"version", "two"}, {"color", "orange"}};
  EXPECT_EQ(table.route(r), base + "3/0");
  r.path = "/v2/x";  // longer prefix beats header matches
  EXPECT_EQ(table.route(r), base + "1/0");
}

TEST(Conformance, PathMatchOrder) {
  Table table({{"infra/path-matching-order",
                {},
                {{exact("/match")},
                 {exact("/match/exact")},
                 {exact("/match/exact/one")},
                 {prefix("/match")},
                 {prefix("/match/prefix")},
                 {prefix("/match/prefix/one")},
                 {withMethod(prefix("/match"), "POST")},
                 {withHeader(prefix("/match"), exactValue("version", "one"))},
                 {withQuery(prefix("/match"), exactValue("q", "1"))}}}});
  const std::string base = "infra/path-matching-order/";
  EXPECT_EQ(table.route("/match"), base + "0/0");
  EXPECT_EQ(table.route("/match/exact"), base + "1/0");
  EXPECT_EQ(table.route("/match/exact/one"), base + "2/0");
  EXPECT_EQ(table.route("/match/exact/two"), base + "3/0");
  EXPECT_EQ(table.route("/match/prefix/one/x"), base + "5/0");
  EXPECT_EQ(table.route("/match/prefix/two"), base + "4/0");
  Request r;
  r.path = "/match/x";
  r.method = "POST";
  r.headers = {{"version", "one"}};
  r.query = "q=1";
  EXPECT_EQ(table.route(r), base + "6/0");  // method beats header and query
  r.method = "GET";
  EXPECT_EQ(table.route(r), base + "7/0");  // header beats query
  r.headers.clear();
  EXPECT_EQ(table.route(r), base + "8/0");
  r.query.clear();
  EXPECT_EQ(table.route(r), base + "3/0");
}

}  // namespace
}  // namespace trellis::routing
