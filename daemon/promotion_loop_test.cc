// Staged promotion in the loop: a revision reaches prod only once test has
// run it, settled, for the soak; a failed test release never reaches prod;
// a newer commit restarts the wait; rollbacks and an operator's promote
// skip it, and records say whose release they followed.
#include "daemon/loop_test_fixture.h"

namespace pagoda::daemon::test {
namespace {

constexpr int64_t kSoakMs = 30 * 60 * 1000;

std::string EnvFile(const std::string& name, const std::string& extra) {
  return "apiVersion: pagoda.dev/v1\nkind: Environment\nmetadata: {name: " + name +
         "}\nspec:\n  cluster: " + name + "\n  deployConfig: web\n  replicas: 2\n" +
         "  sync: {auto: true, selfHeal: true, prune: true}\n" + extra;
}

// shop with test and prod (promoted after test with a 30m soak), at `image`.
std::map<std::string, std::string> Staged(const std::string& image) {
  auto files = Repo(image);
  // A batch of test that never gets Ready fails after 20s.
  files["apps/shop/envs/test.yaml"] = EnvFile("test", "  release: {batchTimeout: 20s}\n");
  files["apps/shop/envs/prod.yaml"] += "  promotion: {after: test, soak: 30m}\n";
  return files;
}

class PromotionLoopTest : public LoopTest {
 protected:
  void SetUp() override {
    LoopTest::SetUp();
    // Long drift checks: what a soak held back must go when it ends, not then.
    OpenJournal([](LoopOptions& o) { o.drift_interval_ms = 24 * 3'600'000; });
  }
  const EnvironmentStatus* Env(const std::string& env) {
    snapshot_ = reconciler_->Snapshot();
    for (const auto& e : snapshot_.environments) {
      if (e.app == "shop" && e.env == env) return &e;
    }
    return nullptr;
  }
  std::vector<ReleaseRecord> Of(const std::string& env) {
    std::vector<ReleaseRecord> out;
    for (const auto& r : Releases()) {
      if (r.env == env) out.push_back(r);
    }
    return out;
  }
  bool Soaking() {
    const EnvironmentStatus* prod = Env("prod");
    return prod != nullptr && prod->waiting_reason == "soaking";
  }
  // Pushes `files` and steps until the loop has fetched them and `done` holds.
  bool PushUntil(std::map<std::string, std::string> files, const char* message,
                 const std::function<bool()>& done) {
    git_.Push(std::move(files), message);
    clock_.Advance(31s);
    return StepUntil(done);
  }
  // Both environments at web:1, prod after its soak.
  void BothAtOne() {
    ASSERT_TRUE(
        PushUntil(Staged("example.com/web:1"), "first", [&] { return Of("prod").size() == 1; }));
  }
};

TEST_F(PromotionLoopTest, ACommitGoesToTestSoaksThenGoesToProdByItself) {
  ASSERT_TRUE(PushUntil(Staged("example.com/web:1"), "first", [&] { return Soaking(); }));
  ASSERT_EQ(Of("test").size(), 1u);
  const ReleaseRecord in_test = Of("test").front();
  EXPECT_EQ(in_test.outcome, Outcome::kSucceeded);
  EXPECT_TRUE(Of("prod").empty());
  EXPECT_EQ(Env("prod")->waiting_for, "test");
  EXPECT_EQ(Env("prod")->soak_ms, kSoakMs);
  EXPECT_LT(Env("prod")->soaked_ms, kSoakMs);

  ASSERT_TRUE(
      StepUntil([&] { return Of("prod").size() == 1 && Env("prod")->release.empty(); }, 5000));
  const ReleaseRecord in_prod = Of("prod").front();
  EXPECT_EQ(in_prod.outcome, Outcome::kSucceeded);
  EXPECT_EQ(in_prod.follows, in_test.id);
  EXPECT_EQ(in_prod.promotion.substr(0, 18), "test ran it for 30") << in_prod.promotion;
  EXPECT_NE(in_prod.promotion.find("since " + in_test.id), std::string::npos);
  EXPECT_GE(in_prod.start, in_test.end + kSoakMs);
  EXPECT_LT(in_prod.start, in_test.end + kSoakMs + 60'000) << "it waited for a drift check";
  EXPECT_TRUE(Env("prod")->waiting_for.empty());
}

TEST_F(PromotionLoopTest, ATestReleaseThatFailsNeverReachesProd) {
  BothAtOne();
  ASSERT_TRUE(PushUntil(Staged("example.com/web:broken"), "web broken",
                        [&] { return Of("test").size() == 2 && Env("test")->release.empty(); }));
  EXPECT_EQ(Of("test").front().outcome, Outcome::kRolledBack);
  clock_.Advance(std::chrono::hours(2));
  ASSERT_TRUE(StepUntil([&] { return Env("prod")->waiting_for == "test"; }));
  for (int i = 0; i < 50; ++i) reconciler_->Step(), clock_.Advance(1min);
  EXPECT_EQ(Of("prod").size(), 1u);
  EXPECT_EQ(Env("prod")->waiting_for, "test");
  EXPECT_NE(Env("prod")->waiting_reason.find("test"), std::string::npos)
      << Env("prod")->waiting_reason;
}

TEST_F(PromotionLoopTest, ANewerCommitRestartsTheWaitForTheNewerRevision) {
  BothAtOne();
  ASSERT_TRUE(PushUntil(Staged("example.com/web:2"), "web 2", [&] { return Soaking(); }));
  clock_.Advance(20min);
  ASSERT_TRUE(PushUntil(Staged("example.com/web:3"), "web 3",
                        [&] { return Of("test").size() == 3 && Soaking(); }));
  const ReleaseRecord web3 = Of("test").front();
  EXPECT_LT(Env("prod")->soaked_ms, 60'000);  // web 2's soak counts for nothing
  ASSERT_TRUE(
      StepUntil([&] { return Of("prod").size() == 2 && Env("prod")->release.empty(); }, 5000));
  EXPECT_EQ(Of("prod").front().follows, web3.id);
  EXPECT_GE(Of("prod").front().start, web3.end + kSoakMs);
  const std::string deployment = DeploymentName();
  EXPECT_EQ(cluster_.objects.at({"apps", "Deployment", "shop", deployment}).find("web:2"),
            std::string::npos);
}

TEST_F(PromotionLoopTest, ARollbackAndAnOperatorsPromoteSkipTheWait) {
  BothAtOne();
  ASSERT_TRUE(PushUntil(Staged("example.com/web:2"), "web 2", [&] { return Soaking(); }));
  EXPECT_FALSE(reconciler_->Promote("shop", "prod", "ada", "").ok());  // a reason is needed
  ASSERT_TRUE(reconciler_->Promote("shop", "prod", "ada", "the checkout fix").ok());
  OpenJournal(
      [](LoopOptions& o) { o.drift_interval_ms = 24 * 3'600'000; });  // it outlives a restart
  ASSERT_TRUE(StepUntil([&] { return Of("prod").size() == 2 && Env("prod")->release.empty(); }));
  EXPECT_EQ(Of("prod").front().promotion,
            "promoted by ada without waiting for test: the checkout fix");
  EXPECT_TRUE(Of("prod").front().follows.empty());
  // A revert goes to both at once, prod without waiting for test's soak.
  ASSERT_TRUE(PushUntil(Staged("example.com/web:1"), "Revert \"web 2\"",
                        [&] { return Of("prod").size() == 3 && Env("prod")->release.empty(); }));
  EXPECT_EQ(Of("prod").front().promotion, "a rollback: it does not wait for test");
  EXPECT_EQ(Of("prod").front().kind, ReleaseKind::kRollback);
  EXPECT_LT(Of("prod").front().start, Of("test").front().end + kSoakMs);
}

TEST_F(PromotionLoopTest, AChainGoesOneEnvironmentAfterAnother) {
  auto files = Staged("example.com/web:1");
  files["apps/shop/envs/staging.yaml"] = EnvFile("staging", "  promotion: {after: test}\n");
  files["apps/shop/envs/prod.yaml"] =
      Repo()["apps/shop/envs/prod.yaml"] + "  promotion: {after: staging, soak: 10m}\n";
  ASSERT_TRUE(PushUntil(files, "first", [&] { return Of("prod").size() == 1; }));
  ASSERT_EQ(Of("staging").size(), 1u);
  EXPECT_EQ(Of("staging").front().follows, Of("test").front().id);
  EXPECT_EQ(Of("prod").front().follows, Of("staging").front().id);
  EXPECT_GE(Of("staging").front().start, Of("test").front().end);
  EXPECT_GE(Of("prod").front().start, Of("staging").front().end + 10 * 60'000);
}

}  // namespace
}  // namespace pagoda::daemon::test
