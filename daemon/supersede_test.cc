// A newer desired state supersedes a release in flight at its next step: a
// revert of a held gray release rolls it back at once, without holds, and a
// third revision goes on from the mixed state, oldest instances first.
#include "daemon/loop_test_fixture.h"

namespace pagoda::daemon::test {
namespace {

class SupersedeTest : public LoopTest {
 protected:
  // Replicas of shop/prod's Deployment running `image`.
  int ReplicasOf(const std::string& image) {
    int replicas = 0;
    for (const auto& [key, json] : cluster_.objects) {
      if (key.kind == "Deployment" && key.namespace_name == "shop" &&
          json.find("\"" + image + "\"") != std::string::npos) {
        replicas += cluster_.Replicas("shop", key.name);
      }
    }
    return replicas;
  }
  // web:3 pushed with `pause: first` while `gray` is held: the release that
  // takes over, held after its first batch; "" if none did.
  std::string HeldThirdRevision(const std::string& gray) {
    auto files = Repo("example.com/web:3");
    files["apps/shop/envs/prod.yaml"] += "  release: {batches: 3, pause: first}\n";
    git_.Push(files, "web 3");
    clock_.Advance(31s);
    std::string third;
    bool held = StepUntil([&] {
      third = Shop()->release;
      return !third.empty() && third != gray && Phase() == "held";
    });
    return held ? third : "";
  }
  ReleaseRecord Record(const std::string& id) {
    auto r = journal_->reader().Release(id);
    EXPECT_TRUE(r.ok()) << id;
    return r.ok() ? *r : ReleaseRecord{};
  }
};

TEST_F(SupersedeTest, ARevertOfAHeldGrayReleaseRollsItBackAtOnce) {
  const std::string gray = BatchedRelease("{batches: 3, pause: first}");
  ASSERT_TRUE(StepUntil([&] { return Phase() == "held"; }));
  ASSERT_EQ(ReplicasOf("example.com/web:2"), 1);
  ASSERT_EQ(ReplicasOf("example.com/web:1"), 2);

  git_.Push(Repo(), "Revert \"web 2\"");
  clock_.Advance(31s);
  std::string back;
  ASSERT_TRUE(StepUntil([&] {
    back = Shop()->release;
    return !back.empty() && back != gray;
  }));
  // The gray release ended at that step, and names what took over.
  ReleaseRecord ended = Record(gray);
  EXPECT_EQ(ended.outcome, Outcome::kSuperseded);
  EXPECT_EQ(ended.superseded_by, back);
  EXPECT_EQ(ended.hold, journal::Hold::kNone);
  EXPECT_NE(ended.errors.back().find("superseded by commit"), std::string::npos);

  ASSERT_TRUE(StepUntil([&] { return Shop()->release.empty(); }));
  ReleaseRecord rollback = Record(back);
  EXPECT_EQ(rollback.outcome, Outcome::kSucceeded);
  EXPECT_EQ(rollback.kind, ReleaseKind::kRollback);
  EXPECT_EQ(rollback.trigger, Trigger::kRevert);
  EXPECT_EQ(rollback.supersedes, gray);
  EXPECT_EQ(rollback.to_revision, Record(gray).from_revision);
  EXPECT_EQ(rollback.hold, journal::Hold::kNone);
  // One instance came back: the one the gray release had moved, no more.
  ASSERT_EQ(rollback.batches.size(), 1u);
  EXPECT_EQ(rollback.batches[0].instances, 1);
  EXPECT_EQ(ReplicasOf("example.com/web:1"), 3);
  EXPECT_EQ(ReplicasOf("example.com/web:2"), 0);
  EXPECT_EQ(Shop()->revision, rollback.to_revision);
}

TEST_F(SupersedeTest, AThirdRevisionGoesOnFromTheMixedStateOldestFirst) {
  const std::string gray = BatchedRelease("{batches: 3, pause: first}");
  ASSERT_TRUE(StepUntil([&] { return Phase() == "held"; }));

  const std::string third = HeldThirdRevision(gray);
  ASSERT_FALSE(third.empty());
  EXPECT_EQ(Record(gray).outcome, Outcome::kSuperseded);
  EXPECT_EQ(Record(third).kind, ReleaseKind::kRollout);
  EXPECT_EQ(Record(third).supersedes, gray);
  // Its first batch took the oldest revision's instance; the gray one's stays.
  EXPECT_EQ(ReplicasOf("example.com/web:3"), 1);
  EXPECT_EQ(ReplicasOf("example.com/web:1"), 1);
  EXPECT_EQ(ReplicasOf("example.com/web:2"), 1);
  EXPECT_EQ(Record(third).batches.size(), 1u);

  ASSERT_TRUE(reconciler_->Resume(third).ok());
  ASSERT_TRUE(StepUntil([&] { return Shop()->release.empty(); }));
  EXPECT_EQ(Record(third).outcome, Outcome::kSucceeded);
  EXPECT_EQ(BatchesOf(third), (std::vector<int>{1, 2, 3}));
  EXPECT_EQ(ReplicasOf("example.com/web:3"), 3);
  EXPECT_EQ(ReplicasOf("example.com/web:1") + ReplicasOf("example.com/web:2"), 0);
}

TEST_F(SupersedeTest, ACommitThatKeepsTheRevisionWaitsBehindTheRelease) {
  const std::string gray = BatchedRelease("{batches: 3, pause: first}");
  ASSERT_TRUE(StepUntil([&] { return Phase() == "held"; }));
  auto files = Repo("example.com/web:2");
  files["apps/shop/envs/prod.yaml"] += "  release: {batches: 3, pause: first, batchInterval: 1s}\n";
  git_.Push(files, "a shorter interval");
  for (int i = 0; i < 5; ++i) {
    clock_.Advance(31s);
    reconciler_->Step();
  }
  EXPECT_EQ(Shop()->release, gray);
  EXPECT_EQ(Phase(), "held");
  EXPECT_EQ(Record(gray).outcome, Outcome::kInProgress);
}

TEST_F(SupersedeTest, WhatSupersededItIsTakenUpUnderItsIdAfterARestart) {
  const std::string gray = BatchedRelease("{batches: 3, pause: first}");
  ASSERT_TRUE(StepUntil([&] { return Phase() == "held"; }));
  const std::string third = HeldThirdRevision(gray);
  ASSERT_FALSE(third.empty());
  OpenJournal();  // the next process
  ASSERT_TRUE(StepUntil([&] { return Shop()->release == third && Phase() == "held"; }));
  EXPECT_EQ(Record(third).supersedes, gray);
  ASSERT_TRUE(reconciler_->Resume(third).ok());
  ASSERT_TRUE(StepUntil([&] { return Shop()->release.empty(); }));
  EXPECT_EQ(BatchesOf(third), (std::vector<int>{1, 2, 3}));
  EXPECT_EQ(ReplicasOf("example.com/web:3"), 3);
}

}  // namespace
}  // namespace pagoda::daemon::test
