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

TEST(FieldLines, SayWhatChangedFromWhatToWhat) {
  ObjectKey service{"", "Service", "shop", "prod"};
  std::vector<FieldChange> changes = {{"spec.ports[name=web].port", "8080", "80"},
                                      {"spec.sessionAffinity", "\"ClientIP\"", ""},
                                      {"metadata.labels.tier", "", "\"web\""}};
  EXPECT_EQ(FieldLines(service, changes),
            (std::vector<std::string>{"spec.ports[name=web].port: 80 -> 8080",
                                      "spec.sessionAffinity: (none) -> \"ClientIP\"",
                                      "metadata.labels.tier: \"web\" -> (none)"}));
}

TEST(FieldLines, NeverShowASecretsValuesAndStayBounded) {
  ObjectKey secret{"", "Secret", "shop", "db"};
  std::vector<FieldChange> changes = {{"data.password", "\"aHVudGVyMg==\"", "\"b2xk\""}};
  EXPECT_EQ(FieldLines(secret, changes),
            std::vector<std::string>{"data.password: (a value) -> (a value)"});
  ObjectKey config{"", "ConfigMap", "shop", "files"};
  std::vector<FieldChange> many;
  for (int i = 0; i < 40; ++i)
    many.push_back({"data.f" + std::to_string(i), std::string(500, 'x'), ""});
  std::vector<std::string> lines = FieldLines(config, many);
  ASSERT_EQ(lines.size(), kMaxFieldLines + 1);
  EXPECT_EQ(lines.back(), "… 8 more");
  EXPECT_LT(lines[0].size(), kMaxFieldValue + 40);
}

}  // namespace
}  // namespace pagoda::diff
