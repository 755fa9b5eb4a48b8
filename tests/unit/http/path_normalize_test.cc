// The path policies see (http/path_normalize.h): every spelling an application reads as the
// same path normalizes to one form, already-normal paths cost nothing, and the spellings whose
// meaning depends on the application are refused.

#include "http/path_normalize.h"

#include <gtest/gtest.h>

#include <string>

namespace trellis::http {
namespace {

std::string normalized(std::string_view path) {
  std::string storage;
  auto out = normalizePath(path, storage);
  return out ? std::string(*out) : std::string("<refused>");
}

TEST(PathNormalize, NormalPathsAreReturnedAsTheyAre) {
  for (std::string_view path :
       {"/", "/admin", "/a/b/", "/.well-known/x", "/a..b/c.", "/~u/a-b_c", "*", "/a;b", "/a/b.."}) {
    std::string storage;
    auto out = normalizePath(path, storage);
    ASSERT_TRUE(out) << path;
    EXPECT_EQ(out->data(), path.data()) << path << ": no copy for a normal path";
  }
}

TEST(PathNormalize, SpellingsOfTheSamePathBecomeOne) {
  EXPECT_EQ(normalized("//admin"), "/admin");
  EXPECT_EQ(normalized("/./admin"), "/admin");
  EXPECT_EQ(normalized("/x/../admin"), "/admin");
  EXPECT_EQ(normalized("/%61dmin"), "/admin");
  EXPECT_EQ(normalized("/%2e%2e/admin"), "/admin");
  EXPECT_EQ(normalized("/admin/%2E/x"), "/admin/x");
  EXPECT_EQ(normalized("/a//b///c"), "/a/b/c");
  EXPECT_EQ(normalized("/a/b//"), "/a/b/");
}

TEST(PathNormalize, DotSegmentsFollowRfc3986) {
  EXPECT_EQ(normalized("/a/b/c/./../../g"), "/a/g");  // RFC 3986 §5.2.4's example
  EXPECT_EQ(normalized("/a/."), "/a/");
  EXPECT_EQ(normalized("/a/.."), "/");
  EXPECT_EQ(normalized("/.."), "/");
  EXPECT_EQ(normalized("/../../etc/passwd"), "/etc/passwd");  // never above the root
  EXPECT_EQ(normalized("/a/b/.."), "/a/");
}

TEST(PathNormalize, OtherEscapesStayEscapedInUpperCase) {
  EXPECT_EQ(normalized("/a%20b"), "/a%20b");
  EXPECT_EQ(normalized("/a%3fb//c"), "/a%3Fb/c");
  EXPECT_EQ(normalized("/caf%c3%a9"), "/caf%C3%A9");
}

TEST(PathNormalize, AmbiguousSpellingsAreRefused) {
  EXPECT_EQ(normalized("/admin%2fsecret"), "<refused>");
  EXPECT_EQ(normalized("/admin%2Fsecret"), "<refused>");
  EXPECT_EQ(normalized("/admin%5csecret"), "<refused>");
  EXPECT_EQ(normalized("/bad%zz"), "<refused>");
  EXPECT_EQ(normalized("/bad%4"), "<refused>");
  EXPECT_EQ(normalized("/bad%"), "<refused>");
}

}  // namespace
}  // namespace trellis::http
