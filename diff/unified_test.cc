#include <gtest/gtest.h>

#include "diff/diff.h"

namespace pagoda::diff {
namespace {

TEST(UnifiedDiff, EqualTextsGiveNothing) {
  EXPECT_EQ(UnifiedDiff("a", "x\ny\n", "b", "x\ny\n"), "");
}

TEST(UnifiedDiff, OneChangedLineWithContext) {
  std::string from = "1\n2\n3\n4\n5\n6\n7\n8\n9\n";
  std::string to = "1\n2\n3\n4\nfive\n6\n7\n8\n9\n";
  EXPECT_EQ(UnifiedDiff("live", from, "repo", to),
            "--- live\n+++ repo\n@@ -2,7 +2,7 @@\n 2\n 3\n 4\n-5\n+five\n 6\n 7\n 8\n");
}

TEST(UnifiedDiff, SeparateHunksForDistantChanges) {
  std::string from, to;
  for (int i = 1; i <= 20; ++i) {
    from += std::to_string(i) + "\n";
    to += (i == 2 || i == 18 ? "x" : std::to_string(i)) + "\n";
  }
  std::string d = UnifiedDiff("a", from, "b", to, 1);
  EXPECT_EQ(
      d, "--- a\n+++ b\n@@ -1,3 +1,3 @@\n 1\n-2\n+x\n 3\n@@ -17,3 +17,3 @@\n 17\n-18\n+x\n 19\n");
}

TEST(UnifiedDiff, AdditionsAndRemovalsOfWholeObjects) {
  EXPECT_EQ(UnifiedDiff("a", "", "b", "x\ny\n"), "--- a\n+++ b\n@@ -0,0 +1,2 @@\n+x\n+y\n");
  EXPECT_EQ(UnifiedDiff("a", "x\n", "b", ""), "--- a\n+++ b\n@@ -1,1 +0,0 @@\n-x\n");
}

TEST(Colorize, MarksAdditionsAndRemovals) {
  std::string c = Colorize("--- a\n+++ b\n@@ -1 +1 @@\n-x\n+y\n z\n");
  EXPECT_NE(c.find("\033[31m-x\033[0m"), std::string::npos);
  EXPECT_NE(c.find("\033[32m+y\033[0m"), std::string::npos);
  EXPECT_NE(c.find(" z\n"), std::string::npos);
}

}  // namespace
}  // namespace pagoda::diff
