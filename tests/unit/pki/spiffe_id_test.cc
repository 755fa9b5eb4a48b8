#include "tls/pki/spiffe_id.h"

#include <gtest/gtest.h>

#include <ostream>
#include <string>

namespace trellis::pki {
namespace {

struct ValidCase {
  std::string input;
  std::string trustDomain;
  std::string path;
};

void PrintTo(const ValidCase& c, std::ostream* os) {
  *os << '"' << c.input << '"';
}

class SpiffeIdValidTest : public ::testing::TestWithParam<ValidCase> {};

TEST_P(SpiffeIdValidTest, Parses) {
  const ValidCase& c = GetParam();
  std::string error;
  std::optional<SpiffeId> id = SpiffeId::parse(c.input, &error);
  ASSERT_TRUE(id) << c.input << ": " << error;
  EXPECT_EQ(id->trustDomain, c.trustDomain);
  EXPECT_EQ(id->path, c.path);
  EXPECT_EQ(id->uri(), "spiffe://" + c.trustDomain + c.path);
  // The canonical form parses back to the same id.
  EXPECT_EQ(SpiffeId::parse(id->uri()), id);
}

INSTANTIATE_TEST_SUITE_P(
    Spec, SpiffeIdValidTest,
    ::testing::Values(
        ValidCase{"spiffe://example.org", "example.org", ""},
        ValidCase{"spiffe://example.org/foo/bar", "example.org", "/foo/bar"},
        // The examples of SPIFFE-ID section 2.2.
        ValidCase{"spiffe://staging.example.com/payments/mysql", "staging.example.com",
                  "/payments/mysql"},
        ValidCase{"spiffe://staging.example.com/payments/web-fe", "staging.example.com",
                  "/payments/web-fe"},
        ValidCase{"spiffe://k8s-west.example.com/ns/staging/sa/default", "k8s-west.example.com",
                  "/ns/staging/sa/default"},
        ValidCase{"spiffe://example.com/9eebccd2-12bf-40a6-b262-65fe0487d453", "example.com",
                  "/9eebccd2-12bf-40a6-b262-65fe0487d453"},
        ValidCase{"spiffe://trust_domain_name.example.com/a.b/C-D/e_F",
                  "trust_domain_name.example.com", "/a.b/C-D/e_F"},
        // Scheme and trust domain are case-insensitive (2.4) and folded; the path is not.
        ValidCase{"SPIFFE://Example.ORG/Path/UPPER", "example.org", "/Path/UPPER"},
        ValidCase{"Spiffe://td", "td", ""},
        // Dotted quads are valid trust domains (2.1).
        ValidCase{"spiffe://192.168.1.10/x", "192.168.1.10", "/x"},
        // Only "." and ".." are relative modifiers; other dot-only segments are names.
        ValidCase{"spiffe://td/.../..a/a..", "td", "/.../..a/a.."},
        ValidCase{"spiffe://a/" + std::string(2048 - 11, 'p'), "a",
                  "/" + std::string(2048 - 11, 'p')}));

struct InvalidCase {
  std::string input;
  std::string error;  // exact message
};

void PrintTo(const InvalidCase& c, std::ostream* os) {
  *os << '"' << c.input << '"';
}

class SpiffeIdInvalidTest : public ::testing::TestWithParam<InvalidCase> {};

TEST_P(SpiffeIdInvalidTest, IsRefusedWithAPreciseReason) {
  const InvalidCase& c = GetParam();
  std::string error;
  EXPECT_FALSE(SpiffeId::parse(c.input, &error)) << c.input;
  EXPECT_EQ(error, c.error) << c.input;
  EXPECT_FALSE(SpiffeId::parse(c.input));  // a null error pointer is fine
}

INSTANTIATE_TEST_SUITE_P(
    Spec, SpiffeIdInvalidTest,
    ::testing::Values(
        InvalidCase{"", "SPIFFE ID is empty"},
        InvalidCase{"example.org/foo", "SPIFFE ID has no scheme (expected 'spiffe://')"},
        InvalidCase{"https://example.org/foo", "scheme must be 'spiffe', not 'https'"},
        InvalidCase{"spiffe:example.org/foo", "SPIFFE ID has no authority ('//' after the scheme)"},
        InvalidCase{"spiffe://", "trust domain is missing"},
        InvalidCase{"spiffe:///path", "trust domain is missing"},
        InvalidCase{"spiffe://exam!ple.org/x", "trust domain has an invalid character '!'"},
        InvalidCase{"spiffe://exa mple.org", "trust domain has an invalid character 0x20"},
        InvalidCase{"spiffe://ex\xc3\xa4mple.org", "trust domain has an invalid character 0xc3"},
        InvalidCase{"spiffe://[::1]/x", "trust domain has an invalid character '['"},
        InvalidCase{"spiffe://user@example.org/x", "userinfo is not allowed in the trust domain"},
        InvalidCase{"spiffe://example.org:8443/x", "port is not allowed in the trust domain"},
        InvalidCase{"spiffe://example%2Eorg/x",
                    "trust domain must not contain percent-encoded characters"},
        InvalidCase{"spiffe://" + std::string(256, 'a'),
                    "trust domain is longer than 255 bytes (256)"},
        InvalidCase{"spiffe://example.org/foo?x=1", "query is not allowed"},
        InvalidCase{"spiffe://example.org?x=1", "query is not allowed"},
        InvalidCase{"spiffe://example.org/foo#frag", "fragment is not allowed"},
        InvalidCase{"spiffe://example.org/", "path has a trailing '/'"},
        InvalidCase{"spiffe://example.org/foo/", "path has a trailing '/'"},
        InvalidCase{"spiffe://example.org//foo", "path has an empty segment"},
        InvalidCase{"spiffe://example.org/foo/../bar", "path segment '..' is not allowed"},
        InvalidCase{"spiffe://example.org/./bar", "path segment '.' is not allowed"},
        InvalidCase{"spiffe://example.org/foo/..", "path segment '..' is not allowed"},
        InvalidCase{"spiffe://example.org/foo%20bar",
                    "path must not contain percent-encoded characters"},
        InvalidCase{"spiffe://example.org/foo bar", "path segment has an invalid character 0x20"},
        InvalidCase{"spiffe://example.org/f*o", "path segment has an invalid character '*'"},
        InvalidCase{"spiffe://a/" + std::string(2048 - 10, 'p'),
                    "SPIFFE ID is longer than 2048 bytes (2049)"}));

TEST(SpiffeIdTest, ForWorkloadBuildsTheIstioShape) {
  std::string error;
  std::optional<SpiffeId> id = SpiffeId::forWorkload("Cluster.Local", "payments", "web-fe", &error);
  ASSERT_TRUE(id) << error;
  EXPECT_EQ(id->uri(), "spiffe://cluster.local/ns/payments/sa/web-fe");
  EXPECT_EQ(id->workloadNamespace(), "payments");
  EXPECT_EQ(id->serviceAccount(), "web-fe");
  EXPECT_EQ(SpiffeId::parse(id->uri()), id);
}

TEST(SpiffeIdTest, ForWorkloadRefusesInvalidParts) {
  std::string error;
  EXPECT_FALSE(SpiffeId::forWorkload("cluster.local", "a/b", "web", &error));
  EXPECT_EQ(error, "namespace: path segment has an invalid character '/'");
  EXPECT_FALSE(SpiffeId::forWorkload("cluster.local", "ns", "", &error));
  EXPECT_EQ(error, "service account: path has an empty segment");
  EXPECT_FALSE(SpiffeId::forWorkload("cluster.local", "..", "web", &error));
  EXPECT_EQ(error, "namespace: path segment '..' is not allowed");
  EXPECT_FALSE(SpiffeId::forWorkload("bad host", "ns", "web", &error));
  EXPECT_EQ(error, "trust domain has an invalid character 0x20");
  EXPECT_FALSE(SpiffeId::forWorkload("", "ns", "web", &error));
  EXPECT_EQ(error, "trust domain is missing");
  EXPECT_FALSE(SpiffeId::forWorkload("td", std::string(2040, 'n'), "web", &error));
  EXPECT_EQ(error, "SPIFFE ID is longer than 2048 bytes (2062)");
}

TEST(SpiffeIdTest, WorkloadPartsAreEmptyForOtherShapes) {
  for (const char* uri : {"spiffe://td", "spiffe://td/ns/a", "spiffe://td/ns/a/sa/b/c",
                          "spiffe://td/x/a/sa/b", "spiffe://td/ns/a/x/b"}) {
    std::optional<SpiffeId> id = SpiffeId::parse(uri);
    ASSERT_TRUE(id) << uri;
    EXPECT_EQ(id->workloadNamespace(), "") << uri;
    EXPECT_EQ(id->serviceAccount(), "") << uri;
  }
  std::optional<SpiffeId> id = SpiffeId::parse("spiffe://td/ns/a/sa/b");
  ASSERT_TRUE(id);
  EXPECT_EQ(id->workloadNamespace(), "a");
  EXPECT_EQ(id->serviceAccount(), "b");
}

}  // namespace
}  // namespace trellis::pki
