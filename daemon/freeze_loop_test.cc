// Freeze windows in the loop: automatic releases wait while one is open and
// status says until when; an operator's override, and rollbacks or
// self-heals a window allows, go through and their records say so.
#include "daemon/loop_test_fixture.h"

namespace pagoda::daemon::test {
namespace {

// The fake clock starts at 2027-01-15T08:00:00Z.
constexpr char kWindowOpenNow[] =
    "apiVersion: pagoda.dev/v1\nkind: Freeze\nmetadata: {name: freezes}\nspec:\n  windows:\n"
    "    - name: maintenance\n      start: \"2027-01-15T00:00\"\n      end: \"2027-01-16T00:00\"\n"
    "      envs: [prod]\n";

class FreezeLoopTest : public LoopTest {
 protected:
  // shop/prod released at web:1; then `files` pushed.
  void Released() {
    git_.Push(Repo(), "first");
    Step();
    ASSERT_EQ(Releases().size(), 1u);
  }
  // Pushes `files` and steps until the loop has fetched and reconciled them
  // and `done` holds.
  bool PushUntil(std::map<std::string, std::string> files, const char* message,
                 const std::function<bool()>& done) {
    git_.Push(files, message);
    clock_.Advance(31s);
    return StepUntil(done);
  }
  bool FrozenNow() { return !Shop()->frozen_by.empty(); }
  bool ReleasesAre(size_t n) { return Releases().size() == n && Shop()->release.empty(); }
  std::map<std::string, std::string> Frozen(const std::string& image,
                                            const std::string& window = kWindowOpenNow) {
    auto files = Repo(image);
    files["policy/freeze.yaml"] = window;
    return files;
  }
};

TEST_F(FreezeLoopTest, ACommitWaitsWhileAWindowIsOpenAndGoesWhenItCloses) {
  Released();
  ASSERT_TRUE(PushUntil(Frozen("example.com/web:2"), "web 2", [&] { return FrozenNow(); }));
  EXPECT_EQ(Releases().size(), 1u);
  EXPECT_EQ(Shop()->frozen_by, "maintenance");
  EXPECT_EQ(Shop()->frozen_until_ms, 1'800'000'000'000 + 16 * 3'600'000);  // 2027-01-16T00:00Z
  EXPECT_TRUE(Shop()->release.empty());

  clock_.Advance(std::chrono::hours(16));
  ASSERT_TRUE(StepUntil([&] { return ReleasesAre(2); }));
  EXPECT_EQ(Releases().front().outcome, Outcome::kSucceeded);
  EXPECT_TRUE(Releases().front().freeze.empty());
  EXPECT_TRUE(Shop()->frozen_by.empty());
}

TEST_F(FreezeLoopTest, WhatAWindowHeldBackGoesOutWhenItClosesNotADriftIntervalLater) {
  OpenJournal([](LoopOptions& o) { o.drift_interval_ms = 24 * 3'600'000; });
  Released();
  ASSERT_TRUE(PushUntil(Frozen("example.com/web:2"), "web 2", [&] { return FrozenNow(); }));
  const int64_t until = Shop()->frozen_until_ms;
  ASSERT_TRUE(StepUntil([&] { return Releases().size() == 2; }, 20000));
  const ReleaseRecord r = Releases().front();
  EXPECT_GE(r.start, until);
  EXPECT_LT(r.start, until + 60'000) << "it waited for the next drift check";
}

TEST_F(FreezeLoopTest, AnOverrideLetsOneReleaseThroughAndSaysWhoAndWhy) {
  Released();
  ASSERT_TRUE(PushUntil(Frozen("example.com/web:2"), "web 2", [&] { return FrozenNow(); }));
  ASSERT_EQ(Releases().size(), 1u);
  EXPECT_FALSE(reconciler_->Override("shop", "prod", "ada", "").ok());  // a reason is needed
  ASSERT_TRUE(reconciler_->Override("shop", "prod", "ada", "the checkout fix").ok());
  ASSERT_TRUE(StepUntil([&] { return ReleasesAre(2); }));
  const ReleaseRecord through = Releases().front();
  EXPECT_EQ(through.outcome, Outcome::kSucceeded);
  EXPECT_EQ(through.freeze,
            "freeze window maintenance (until 2027-01-16T00:00:00.000Z): let through by ada: the "
            "checkout fix");
  // The next commit waits again.
  ASSERT_TRUE(PushUntil(Frozen("example.com/web:3"), "web 3", [&] { return FrozenNow(); }));
  EXPECT_EQ(Releases().size(), 2u);
  EXPECT_EQ(Shop()->frozen_by, "maintenance");
}

TEST_F(FreezeLoopTest, AnOverrideOutlivesARestartAndIsUsedOnce) {
  Released();
  ASSERT_TRUE(PushUntil(Frozen("example.com/web:2"), "web 2", [&] { return FrozenNow(); }));
  ASSERT_TRUE(reconciler_->Override("shop", "prod", "ada", "the checkout \"fix\"").ok());
  OpenJournal();  // a restart before the next reconcile
  ASSERT_TRUE(StepUntil([&] { return ReleasesAre(2); }));
  EXPECT_NE(Releases().front().freeze.find("let through by ada: the checkout \"fix\""),
            std::string::npos)
      << Releases().front().freeze;
  OpenJournal();  // taken: gone from disk too
  ASSERT_TRUE(PushUntil(Frozen("example.com/web:3"), "web 3", [&] { return FrozenNow(); }));
  EXPECT_EQ(Releases().size(), 2u);
}

TEST_F(FreezeLoopTest, ARollbackPassesOnlyWhenTheWindowAllowsIt) {
  Released();
  ASSERT_TRUE(PushUntil(Repo("example.com/web:2"), "web 2", [&] { return ReleasesAre(2); }));
  // A revert to web:1 during the window: it waits...
  ASSERT_TRUE(
      PushUntil(Frozen("example.com/web:1"), "Revert \"web 2\"", [&] { return FrozenNow(); }));
  EXPECT_EQ(Releases().size(), 2u);
  EXPECT_EQ(Shop()->frozen_by, "maintenance");
  // ...until the window lets rollbacks through.
  std::string allowing = std::string(kWindowOpenNow) + "      allow: [rollback]\n";
  ASSERT_TRUE(PushUntil(Frozen("example.com/web:1", allowing), "freeze: let rollbacks through",
                        [&] { return ReleasesAre(3); }));
  const ReleaseRecord back = Releases().front();
  EXPECT_EQ(back.kind, ReleaseKind::kRollback);
  EXPECT_EQ(back.outcome, Outcome::kSucceeded);
  EXPECT_NE(back.freeze.find("a rollback, which it allows"), std::string::npos) << back.freeze;
  // A new revision still waits.
  ASSERT_TRUE(
      PushUntil(Frozen("example.com/web:3", allowing), "web 3", [&] { return FrozenNow(); }));
  EXPECT_EQ(Releases().size(), 3u);
}

TEST_F(FreezeLoopTest, SelfHealPassesWhenAllowedAndDriftOnlyWaitsOtherwise) {
  std::string allowing = std::string(kWindowOpenNow) + "      allow: [selfHeal]\n";
  git_.Push(Frozen("example.com/web:1", allowing), "first, frozen, allowing self-heal");
  ASSERT_TRUE(StepUntil([&] { return Shop() != nullptr && FrozenNow(); }));
  EXPECT_EQ(Releases().size(), 0u);  // a first release is no self-heal
  ASSERT_TRUE(reconciler_->Override("shop", "prod", "ada", "the first release").ok());
  ASSERT_TRUE(StepUntil([&] { return ReleasesAre(1); }));
  cluster_.Scale("shop", "prod-", 1);  // someone scales it by hand
  clock_.Advance(std::chrono::minutes(6));
  ASSERT_TRUE(StepUntil([&] { return ReleasesAre(2); }));
  EXPECT_EQ(Releases().front().kind, ReleaseKind::kSelfHeal);
  EXPECT_NE(Releases().front().freeze.find("a self-heal, which it allows"), std::string::npos);
}

TEST_F(FreezeLoopTest, AFreezeFileWithErrorsFreezesEverything) {
  Released();
  auto files = Repo("example.com/web:2");
  files["policy/freeze.yaml"] = "apiVersion: pagoda.dev/v1\nkind: Freeze\nspec: {windows: 3}\n";
  ASSERT_TRUE(PushUntil(files, "a broken freeze file", [&] { return FrozenNow(); }));
  EXPECT_EQ(Releases().size(), 1u);
  EXPECT_EQ(Shop()->frozen_by, "policy/freeze.yaml does not load");
  EXPECT_EQ(Shop()->frozen_until_ms, 0);
}

}  // namespace
}  // namespace pagoda::daemon::test
