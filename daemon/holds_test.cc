// Holds and what survives a restart: a hold by policy, an operator's pause,
// an abort asked for, and a journal that cannot be written.
#include "daemon/loop_test_fixture.h"

namespace pagoda::daemon::test {
namespace {

TEST_F(LoopTest, AHoldByPolicyIsStillHeldAfterARestartUntilResumed) {
  const std::string id = BatchedRelease("{batches: 3, pause: first}");
  ASSERT_TRUE(StepUntil([&] { return Phase() == "held"; }));
  EXPECT_EQ(journal_->reader().Release(id)->hold, journal::Hold::kPolicy);
  const int scales = cluster_.scales;

  OpenJournal();  // the next process, as after a SIGKILL
  for (int i = 0; i < 5; ++i) {
    clock_.Advance(60s);
    reconciler_->Step();
  }
  EXPECT_EQ(Phase(), "held");
  EXPECT_EQ(Shop()->release, id);
  EXPECT_EQ(cluster_.scales, scales);  // nothing moved while held

  ASSERT_TRUE(reconciler_->Resume(id).ok());
  ASSERT_TRUE(StepUntil([&] { return Shop()->release.empty(); }));
  EXPECT_EQ(BatchesOf(id), (std::vector<int>{1, 2, 3}));  // none repeated
  EXPECT_EQ(journal_->reader().Release(id)->outcome, Outcome::kSucceeded);
  EXPECT_EQ(journal_->reader().Release(id)->hold, journal::Hold::kNone);
}

TEST_F(LoopTest, AnOperatorsPauseIsJournalledAndHoldsAfterARestart) {
  const std::string id = BatchedRelease("{batches: 3, batchInterval: 30s}");
  ASSERT_TRUE(reconciler_->Pause(id).ok());  // between batch 1 and 2: held at once
  EXPECT_TRUE(journal_->reader().Release(id)->pause_requested);
  ASSERT_TRUE(StepUntil([&] { return Phase() == "held"; }));
  EXPECT_EQ(journal_->reader().Release(id)->hold, journal::Hold::kOperator);
  const int scales = cluster_.scales;

  OpenJournal();
  for (int i = 0; i < 5; ++i) {
    clock_.Advance(60s);
    reconciler_->Step();
  }
  EXPECT_EQ(Phase(), "held");
  EXPECT_EQ(cluster_.scales, scales);
  ASSERT_TRUE(reconciler_->Resume(id).ok());
  ASSERT_TRUE(StepUntil([&] { return Shop()->release.empty(); }));
  EXPECT_EQ(BatchesOf(id), (std::vector<int>{1, 2, 3}));
}

TEST_F(LoopTest, AnAbortAskedForIsCarriedOutAfterARestart) {
  const std::string id = BatchedRelease("{batches: 3, pause: first}");
  ASSERT_TRUE(StepUntil([&] { return Phase() == "held"; }));
  // The abort is written; the process dies before the order moves.
  ReleaseRecord r = *journal_->reader().Release(id);
  r.abort_requested = true;
  ASSERT_TRUE(journal_->Append(&r).ok());
  OpenJournal();
  ASSERT_TRUE(StepUntil([&] { return Shop()->release.empty(); }));
  EXPECT_EQ(journal_->reader().Release(id)->outcome, Outcome::kAborted);
}

TEST_F(LoopTest, ALastBatchScaledButNotRecordedIsRecordedAfterARestart) {
  const std::string id = BatchedRelease("{batches: 3, batchInterval: 30s}");
  ASSERT_TRUE(StepUntil([&] { return Shop()->batches_done == 2; }));
  // The process scaled batch 3 (old 1 → 0, new 2 → 3) and died before it
  // recorded it: nothing is left to apply.
  std::string old_rev, new_rev;
  for (const auto& [key, json] : cluster_.objects) {
    if (key.kind != "Deployment" || key.namespace_name != "shop") continue;
    (cluster_.Replicas("shop", key.name) == 1 ? old_rev : new_rev) = key.name;
  }
  ASSERT_FALSE(old_rev.empty());
  ASSERT_FALSE(new_rev.empty());
  ASSERT_TRUE(cluster_.pods.Scale("shop", old_rev, 0).ok());
  ASSERT_TRUE(cluster_.pods.Scale("shop", new_rev, 3).ok());

  OpenJournal();
  ASSERT_TRUE(StepUntil([&] { return Shop()->release.empty(); }));
  EXPECT_EQ(BatchesOf(id), (std::vector<int>{1, 2, 3}));
  EXPECT_EQ(journal_->reader().Release(id)->outcome, Outcome::kSucceeded);
  EXPECT_EQ(cluster_.Replicas("shop", new_rev), 3);
}

TEST_F(LoopTest, AFullDiskHoldsTheOrdersBackAndNothingIsLostOrRecordedTwice) {
  const std::string id = BatchedRelease("{batches: 3, batchInterval: 10s}");
  fs_->full = true;
  // At most the batch in hand ends; then nothing moves until it is written.
  for (int i = 0; i < 20; ++i) {
    clock_.Advance(10s);
    reconciler_->Step();
  }
  const int scales = cluster_.scales;
  for (int i = 0; i < 20; ++i) {
    clock_.Advance(10s);
    reconciler_->Step();
  }
  EXPECT_EQ(cluster_.scales, scales);
  LoopStatus status = reconciler_->Snapshot();
  EXPECT_NE(status.journal_error.find("No space left on device"), std::string::npos);
  auto [ready, why] = Readiness(status);
  EXPECT_FALSE(ready);
  EXPECT_NE(why.find("the journal cannot be written"), std::string::npos) << why;
  EXPECT_FALSE(reconciler_->Pause(id).ok());  // a decision that cannot be written is refused
  EXPECT_FALSE(journal_->reader().Release(id)->pause_requested);

  fs_->full = false;  // space again
  ASSERT_TRUE(StepUntil([&] { return Shop()->release.empty(); }));
  EXPECT_EQ(BatchesOf(id), (std::vector<int>{1, 2, 3}));
  EXPECT_EQ(journal_->reader().Release(id)->outcome, Outcome::kSucceeded);
  EXPECT_EQ(reconciler_->Snapshot().journal_error, "");
  auto log = journal_->reader().SyncLog(0);
  ASSERT_TRUE(log.ok());
  EXPECT_GE(log->size(), 3u);  // the cycles of the full disk too, written once there was room
}

}  // namespace
}  // namespace pagoda::daemon::test
