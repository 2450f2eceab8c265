// policy/freeze.yaml read: windows of both forms, and each mistake named by
// file, line and field. A freeze file with errors freezes everything.
#include <gtest/gtest.h>

#include "manifest/manifest.h"
#include "manifest/test_repo.h"

namespace pagoda::manifest {
namespace {

Repository WithFreeze(const std::string& windows) {
  auto files = testing::BaseRepo();
  files["policy/freeze.yaml"] =
      "apiVersion: pagoda.dev/v1\nkind: Freeze\nmetadata: {name: freezes}\nspec:\n  windows:\n" +
      windows;
  MemorySource source = testing::ToSource(files);
  return LoadRepository(source, testing::TestOptions());
}

std::string Errors(const Repository& repo) {
  std::string out;
  for (const Diagnostic& d : repo.diagnostics) out += d.ToString() + "\n";
  return out;
}

TEST(FreezeFile, BothFormsGlobsAndAllowances) {
  Repository repo = WithFreeze(
      "    - name: double-eleven\n"
      "      schedule: \"0 0 10 11 *\"\n"
      "      duration: 48h\n"
      "      timeZone: Asia/Shanghai\n"
      "      clusters: [\"cn-*\"]\n"
      "      allow: [rollback, selfHeal]\n"
      "    - name: migration\n"
      "      start: \"2026-12-05T22:00\"\n"
      "      end: \"2026-12-06T06:00\"\n"
      "      envs: [prod]\n");
  ASSERT_TRUE(repo.freeze_error.empty()) << repo.freeze_error;
  EXPECT_EQ(Errors(repo), "");
  ASSERT_EQ(repo.freeze.windows.size(), 2u);
  const auto& sale = repo.freeze.windows[0];
  EXPECT_EQ(sale.name, "double-eleven");
  ASSERT_TRUE(sale.schedule.has_value());
  EXPECT_EQ(sale.duration_ms, 48 * 3'600'000);
  EXPECT_EQ(sale.time_zone, "Asia/Shanghai");
  EXPECT_EQ(sale.clusters, (std::vector<std::string>{"cn-*"}));
  EXPECT_TRUE(sale.allow_rollback && sale.allow_self_heal);
  EXPECT_EQ(sale.where, "policy/freeze.yaml:6:7");
  const auto& migration = repo.freeze.windows[1];
  EXPECT_FALSE(migration.schedule.has_value());
  EXPECT_EQ(migration.time_zone, "UTC");
  EXPECT_EQ(migration.start, "2026-12-05T22:00");
  EXPECT_FALSE(migration.allow_rollback);
}

TEST(FreezeFile, MistakesAreNamedByLineAndFieldAndFreezeEverything) {
  const std::vector<std::pair<std::string, std::string>> cases = {
      {"    - {name: a, schedule: \"0 24 * * *\", duration: 1h}\n",
       "policy/freeze.yaml:6:27: spec.windows[0].schedule: hour: 24 is out of range 0-23"},
      {"    - {name: a, schedule: \"0 0 * * *\", duration: 1h, timeZone: Mars/Base}\n",
       "spec.windows[0].timeZone: unknown time zone \"Mars/Base\""},
      {"    - {name: a, schedule: \"0 0 * * *\", duration: 1h, start: \"2026-01-01T00:00\"}\n",
       "policy/freeze.yaml:6:7: spec.windows[0]: a window has either a schedule and a duration, "
       "or a start and an end, not both"},
      {"    - {name: a, schedule: \"0 0 * * *\"}\n",
       "spec.windows[0].duration: is required with schedule"},
      {"    - {name: a, schedule: \"0 0 * * *\", duration: 800h}\n",
       "spec.windows[0].duration: a window lasts from 1m to 31 days"},
      {"    - {name: a, start: \"2026-01-02T00:00\", end: \"2026-01-01T00:00\"}\n",
       "spec.windows[0].end: the window ends before it starts (2026-01-02T00:00)"},
      {"    - {name: a, start: \"2026-03-08T02:30\", end: \"2026-03-09T00:00\", "
       "timeZone: America/New_York}\n",
       "spec.windows[0].start: 2026-03-08T02:30 does not exist in America/New_York"},
      {"    - {name: a, start: \"tomorrow\", end: \"2026-03-09T00:00\"}\n",
       "spec.windows[0].start: \"tomorrow\" is not a local time like 2026-11-10T00:00"},
      {"    - {name: a, start: \"2026-01-01T00:00\", end: \"2026-01-02T00:00\", allow: [prune]}\n",
       "spec.windows[0].allow[0]"},
      {"    - {name: a, start: \"2026-01-01T00:00\", end: \"2026-01-02T00:00\", clusterz: [x]}\n",
       "clusterz"},
      {"    - {name: a, start: \"2026-01-01T00:00\", end: \"2026-01-02T00:00\"}\n"
       "    - {name: a, start: \"2026-02-01T00:00\", end: \"2026-02-02T00:00\"}\n",
       "policy/freeze.yaml:7:7: spec.windows[1].name: a second window named \"a\" (the first "
       "is at line 6)"},
  };
  for (const auto& [windows, want] : cases) {
    Repository repo = WithFreeze(windows);
    EXPECT_NE(Errors(repo).find(want), std::string::npos) << windows << Errors(repo);
    EXPECT_FALSE(repo.freeze_error.empty()) << windows;
    EXPECT_TRUE(repo.freeze.windows.empty()) << windows;
    EXPECT_TRUE(repo.FindApp("shop")->valid) << "an app is not the freeze file's";
  }
}

TEST(FreezeFile, OtherFilesUnderPolicyAreIgnoredWithAWarning) {
  auto files = testing::BaseRepo();
  files["policy/freeze.yml"] = "kind: Freeze\n";
  MemorySource source = testing::ToSource(files);
  Repository repo = LoadRepository(source, testing::TestOptions());
  EXPECT_TRUE(repo.freeze_error.empty());
  EXPECT_EQ(Errors(repo),
            "policy/freeze.yml: warning: ignored: policy/ holds freeze.yaml (kind Freeze)\n");
}

}  // namespace
}  // namespace pagoda::manifest
