// Rollback by commit or release id, the pins it leaves, and unpinning.
#include "daemon/loop_test_fixture.h"

namespace pagoda::daemon::test {
namespace {

TEST_F(LoopTest, RollbackPinsUntilTheRepositoryChangesTheEnvironment) {
  git_.Push(Repo("example.com/web:1"));
  Step();
  std::string v1 = Releases()[0].id;
  std::string first_rev = DeploymentName();
  git_.Push(Repo("example.com/web:2"));
  reconciler_->RequestSync();
  Step();
  auto id = reconciler_->Rollback("shop", "prod", v1);
  ASSERT_TRUE(id.ok()) << id.status().ToString();
  Step();  // the rollback moves instances back, batch by batch
  EXPECT_EQ(DeploymentName(), first_rev);
  auto releases = Releases();
  EXPECT_EQ(releases[0].kind, ReleaseKind::kRollback);
  EXPECT_EQ(releases[0].trigger, Trigger::kManualRollback);
  EXPECT_EQ(releases[0].restores, v1);
  // Pinned: the next cycles leave it alone although the tip says web:2.
  clock_.Advance(301s);
  Step();
  EXPECT_EQ(DeploymentName(), first_rev);
  EXPECT_EQ(reconciler_->Snapshot().environments[0].pinned_commit, releases[0].to.id);
  // A commit that does not change the environment keeps the pin...
  auto same = Repo("example.com/web:2");
  same["apps/shop/README.md"] = "notes";
  git_.Push(same);
  reconciler_->RequestSync();
  Step();
  EXPECT_EQ(DeploymentName(), first_rev);
  // ...and survives a restart.
  OpenJournal();
  Step();
  EXPECT_EQ(DeploymentName(), first_rev);
  // One that changes it releases the pin and the environment follows the repository.
  git_.Push(Repo("example.com/web:3"));
  reconciler_->RequestSync();
  Step();
  EXPECT_NE(DeploymentName(), first_rev);
  EXPECT_EQ(reconciler_->Snapshot().environments[0].pinned_commit, "");
}

TEST_F(LoopTest, ARollbackInFlightIsTakenUpAtItsPinAfterARestart) {
  const auto batched = [&](const std::string& image) {
    auto files = Repo(image);
    files["apps/shop/envs/prod.yaml"] += "  release: {batches: 3, batchInterval: 30s}\n";
    return files;
  };
  git_.Push(batched("example.com/web:1"), "web 1");
  Step();
  const std::string v1 = Releases()[0].id, first_rev = DeploymentName();
  git_.Push(batched("example.com/web:2"), "web 2");
  reconciler_->RequestSync();
  Step();
  auto id = reconciler_->Rollback("shop", "prod", v1);
  ASSERT_TRUE(id.ok()) << id.status().ToString();
  ASSERT_TRUE(StepUntil([&] { return Shop()->batches_done == 1; }));

  OpenJournal();  // the next process: the environment is pinned, its rollback unfinished
  ASSERT_TRUE(StepUntil([&] { return Shop() != nullptr && Shop()->release.empty(); }));
  const auto done = journal_->reader().Release(*id);
  ASSERT_TRUE(done.ok());
  EXPECT_EQ(done->outcome, Outcome::kSucceeded);
  EXPECT_EQ(done->kind, ReleaseKind::kRollback);
  EXPECT_EQ(BatchesOf(*id), (std::vector<int>{1, 2, 3}));  // none repeated
  EXPECT_EQ(DeploymentName(), first_rev);
  EXPECT_EQ(Shop()->pinned_commit, done->to.id);
}

// A rollback asked of a Reconciler that has not reconciled yet (right after
// a start or a reload) pins against the tip all the same.
TEST_F(LoopTest, ARollbackBeforeTheFirstReconcileStaysPinned) {
  git_.Push(Repo("example.com/web:1"), "web 1");
  Step();
  const std::string v1 = Releases()[0].id, first_rev = DeploymentName();
  git_.Push(Repo("example.com/web:2"), "web 2");
  reconciler_->RequestSync();
  Step();
  ASSERT_NE(DeploymentName(), first_rev);

  OpenJournal();  // a reload: a new Reconciler, nothing loaded yet
  auto id = reconciler_->Rollback("shop", "prod", v1);
  ASSERT_TRUE(id.ok()) << id.status().ToString();
  reconciler_->RequestSync();
  Step();
  Step();
  EXPECT_EQ(DeploymentName(), first_rev) << "the tip did not take the environment back";
  ASSERT_NE(Shop(), nullptr);
  EXPECT_EQ(Shop()->pinned_commit, journal_->reader().Release(v1)->to.id);
}

TEST_F(LoopTest, UnpinResumesAutoSync) {
  git_.Push(Repo("example.com/web:1"));
  Step();
  std::string v1 = Releases()[0].id, first_rev = DeploymentName();
  git_.Push(Repo("example.com/web:2"));
  reconciler_->RequestSync();
  Step();
  ASSERT_TRUE(reconciler_->Rollback("shop", "prod", v1).ok());
  Step();
  EXPECT_FALSE(reconciler_->Unpin("shop", "test").ok());
  ASSERT_TRUE(reconciler_->Unpin("shop", "prod").ok());
  Step();
  EXPECT_NE(DeploymentName(), first_rev);
}

TEST_F(LoopTest, RollbackRefusesWhatItCannotRender) {
  git_.Push(Repo());
  Step();
  EXPECT_EQ(reconciler_->Rollback("shop", "prod", "r-999999").status().code(),
            Status::Code::kNotFound);
  EXPECT_EQ(reconciler_->Rollback("shop", "staging", git_.Last()).status().code(),
            Status::Code::kNotFound);
  EXPECT_FALSE(reconciler_->Rollback("shop", "prod", "nope").ok());
}

}  // namespace
}  // namespace pagoda::daemon::test
