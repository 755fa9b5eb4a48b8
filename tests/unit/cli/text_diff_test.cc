#include "cli/text_diff.h"

#include <gtest/gtest.h>

namespace trellis::cli {
namespace {

TEST(UnifiedDiff, SameLinesGiveNothing) {
  EXPECT_EQ(unifiedDiff("a\nb\n", "a\nb\n", "old", "new"), "");
  EXPECT_EQ(unifiedDiff("a\nb", "a\nb\n", "old", "new"), "");  // final newline only
}

TEST(UnifiedDiff, OneChangedLineWithContext) {
  std::string before = "1\n2\n3\n4\n5\n6\n7\n8\n9\n";
  std::string after = "1\n2\n3\n4\nFIVE\n6\n7\n8\n9\n";
  EXPECT_EQ(unifiedDiff(before, after, "live", "file"),
            "--- live\n+++ file\n"
            "@@ -2,7 +2,7 @@\n 2\n 3\n 4\n-5\n+FIVE\n 6\n 7\n 8\n");
}

TEST(UnifiedDiff, DistantChangesMakeTwoHunks) {
  std::string before, after;
  for (int i = 1; i <= 20; ++i) {
    before += std::to_string(i) + "\n";
    after += (i == 2    ? std::string("two")
              : i == 18 ? std::string("eighteen")
                        : std::to_string(i)) +
             "\n";
  }
  std::string diff = unifiedDiff(before, after, "a", "b");
  EXPECT_NE(diff.find("@@ -1,5 +1,5 @@\n 1\n-2\n+two\n 3\n 4\n 5\n"), std::string::npos) << diff;
  EXPECT_NE(diff.find("@@ -15,6 +15,6 @@\n 15\n 16\n 17\n-18\n+eighteen\n 19\n 20\n"),
            std::string::npos)
      << diff;
}

TEST(UnifiedDiff, CloseChangesShareAHunk) {
  std::string diff = unifiedDiff("a\nb\nc\nd\ne\nf\ng\nh\n", "A\nb\nc\nd\ne\nf\ng\nH\n", "x", "y");
  EXPECT_EQ(diff, "--- x\n+++ y\n@@ -1,8 +1,8 @@\n-a\n+A\n b\n c\n d\n e\n f\n g\n-h\n+H\n");
}

TEST(UnifiedDiff, NewAndDeletedTexts) {
  EXPECT_EQ(unifiedDiff("", "a\nb\n", "none", "file"),
            "--- none\n+++ file\n@@ -0,0 +1,2 @@\n+a\n+b\n");
  EXPECT_EQ(unifiedDiff("a\n", "", "live", "none"), "--- live\n+++ none\n@@ -1 +0,0 @@\n-a\n");
}

TEST(UnifiedDiff, InsertionInTheMiddleIsMinimal) {
  std::string diff = unifiedDiff("a\nb\nc\n", "a\nb\nx\nc\n", "1", "2");
  EXPECT_EQ(diff, "--- 1\n+++ 2\n@@ -1,3 +1,4 @@\n a\n b\n+x\n c\n");
}

TEST(UnifiedDiff, LargeRewritesStayCorrect) {
  // Beyond the LCS budget the middle is replaced wholesale: still a valid diff.
  std::string before, after;
  for (int i = 0; i < 3000; ++i) {
    before += "old " + std::to_string(i) + "\n";
    after += "new " + std::to_string(i) + "\n";
  }
  DiffStats stats = diffStats(before, after);
  EXPECT_EQ(stats.removed, 3000u);
  EXPECT_EQ(stats.added, 3000u);
}

TEST(DiffStats, CountsAddedAndRemoved) {
  DiffStats stats = diffStats("a\nb\nc\n", "a\nc\nd\ne\n");
  EXPECT_EQ(stats.added, 2u);
  EXPECT_EQ(stats.removed, 1u);
  EXPECT_FALSE(diffStats("a\n", "a\n").changed());
}

}  // namespace
}  // namespace trellis::cli
