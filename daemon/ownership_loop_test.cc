// The loop under leadership (daemon/leadership.h): it writes only the apps
// it leads and shows the others as led elsewhere; a release in flight of an
// app it stops leading is left as it stands, and the replica that takes the
// app over carries it on under its id, with no batch done twice.
#include "daemon/loop_test_fixture.h"
#include "daemon/shards.h"

namespace pagoda::daemon::test {
namespace {

// An app name in the other of two shards than shop's.
std::string OtherShardsApp() {
  for (const char* name : {"cart", "search", "orders", "pay", "users", "stock"}) {
    if (ShardOf(name, 2) != ShardOf("shop", 2)) return name;
  }
  return "";
}

std::shared_ptr<Ownership> Leading(std::vector<std::string> apps) {
  auto o = std::make_shared<Ownership>();
  o->everything = false;
  o->shards = 2;
  for (const auto& app : apps) o->held[ShardOf(app, 2)] = 4;
  return o;
}

// Steps `r` until release `id` of `journal` has ended, 200 steps at most.
ReleaseRecord StepUntilEnded(Reconciler& r, Journal& journal, FakeClock& clock,
                             const std::string& id) {
  for (int i = 0; i < 200 && journal.reader().Release(id)->outcome == Outcome::kInProgress; ++i) {
    auto next = r.Step();
    if (next > clock.Now())
      clock.Advance(std::min<std::chrono::nanoseconds>(next - clock.Now(), 5s));
  }
  return *journal.reader().Release(id);
}

// Steps `r` `n` times, a minute apart.
void StepMinutes(Reconciler& r, FakeClock& clock, int n) {
  for (int i = 0; i < n; ++i) {
    clock.Advance(60s);
    r.Step();
  }
}

// Another replica, with a journal of its own in `dir`, that takes shop over
// from the mirrored record `left` and steps five minutes.
struct OtherReplica {
  std::unique_ptr<Journal> journal;
  std::unique_ptr<Reconciler> loop;
};
OtherReplica TakeOver(const ReleaseRecord& left, const std::string& dir, FakeGit& git,
                      MemoryCluster& cluster, FakeClock& clock) {
  OtherReplica other;
  auto journal = Journal::Open(dir + "/journal-b");
  EXPECT_TRUE(journal.ok()) << journal.status().ToString();
  if (!journal.ok()) return other;
  other.journal = std::move(*journal);
  other.loop = std::make_unique<Reconciler>(LoopOptions{}, git, *other.journal, cluster, clock,
                                            dir + "/pins-b.json");
  EXPECT_TRUE(other.loop->Adopt({left}).ok());
  other.loop->SetOwnership(Leading({"shop"}));
  StepMinutes(*other.loop, clock, 5);
  return other;
}

std::vector<int> BatchIndexes(const ReleaseRecord& r) {
  std::vector<int> out;
  for (const auto& b : r.batches) out.push_back(b.index);
  return out;
}

TEST_F(LoopTest, OnlyTheAppsItLeadsAreWrittenAndTheOthersAreShownLedElsewhere) {
  const std::string other = OtherShardsApp();
  ASSERT_FALSE(other.empty());
  reconciler_->SetOwnership(Leading({"shop"}));
  git_.Push(Repo("example.com/web:1", true, other), "two apps");
  Step();
  auto releases = Releases();
  ASSERT_EQ(releases.size(), 1u);
  EXPECT_EQ(releases[0].app, "shop");
  for (const auto& [key, json] : cluster_.objects) {
    EXPECT_NE(key.namespace_name, other) << "written where another replica leads";
  }
  bool shown = false;
  for (const auto& e : reconciler_->Snapshot().environments) {
    if (e.app != other) continue;
    shown = true;
    EXPECT_TRUE(e.standby);
    EXPECT_TRUE(e.drift) << "compared here all the same";
    EXPECT_TRUE(e.release.empty());
  }
  EXPECT_TRUE(shown);
  // What an operator asks of it is refused here, saying why.
  auto rollback = reconciler_->Rollback(other, "prod", git_.Last());
  ASSERT_FALSE(rollback.ok());
  EXPECT_NE(rollback.status().message().find("does not lead app " + other), std::string::npos)
      << rollback.status().message();
  EXPECT_FALSE(reconciler_->Override(other, "prod", "ada", "hotfix").ok());
  EXPECT_NE(reconciler_->Pause("r-000099").message().find("another may lead"), std::string::npos);

  // Leading it now: it is released at the next step.
  reconciler_->SetOwnership(Leading({"shop", other}));
  Step();
  releases = Releases();
  ASSERT_EQ(releases.size(), 2u);
  EXPECT_EQ(releases[0].app, other);
  EXPECT_EQ(releases[0].outcome, Outcome::kSucceeded);
}

TEST_F(LoopTest, AReleaseLeftByAReplicaThatStoppedLeadingIsTakenOverUnderItsId) {
  const std::string id = BatchedRelease("{batches: 3, pause: first}");
  ASSERT_TRUE(StepUntil([&] { return Phase() == "held"; }));
  const ReleaseRecord left = *journal_->reader().Release(id);
  ASSERT_EQ(left.batches.size(), 1u);

  // This replica stops leading shop: its order is dropped as it stands,
  // nothing more is written or journalled for it.
  reconciler_->SetOwnership(Leading({}));
  const int scales = cluster_.scales;
  StepMinutes(*reconciler_, clock_, 5);
  EXPECT_EQ(cluster_.scales, scales);
  EXPECT_EQ(*journal_->reader().Release(id), left);
  EXPECT_TRUE(Shop()->standby);
  EXPECT_EQ(reconciler_->Resume(id).code(), Status::Code::kNotFound);

  // Another replica, with a journal of its own, takes shop over from the
  // mirrored record: held as it was, under the same id.
  OtherReplica b = TakeOver(left, dir_, git_, cluster_, clock_);
  ASSERT_NE(b.loop, nullptr);
  Reconciler& other = *b.loop;
  auto held = b.journal->reader().Release(id);
  ASSERT_TRUE(held.ok()) << held.status().ToString();
  EXPECT_EQ(held->hold, journal::Hold::kPolicy);
  EXPECT_EQ(cluster_.scales, scales) << "nothing moved while held";
  ASSERT_TRUE(other.Resume(id).ok());
  const ReleaseRecord done = StepUntilEnded(other, *b.journal, clock_, id);
  EXPECT_EQ(done.outcome, Outcome::kSucceeded);
  EXPECT_EQ(BatchIndexes(done), (std::vector<int>{1, 2, 3})) << "a batch was done twice";
  // Its own releases from then on number above the one it took over.
  git_.Push(Repo("example.com/web:3"), "web 3");
  other.RequestSync();
  for (int i = 0; i < 50; ++i) {
    auto next = other.Step();
    if (next > clock_.Now())
      clock_.Advance(std::min<std::chrono::nanoseconds>(next - clock_.Now(), 5s));
  }
  auto all = b.journal->reader().Releases({});
  ASSERT_TRUE(all.ok());
  ASSERT_GE(all->size(), 2u);
  EXPECT_GT(journal::ReleaseIdNumber(all->front().id), journal::ReleaseIdNumber(id));
}

// A replica stopped during a release takes it up from its journal when it
// starts again. If another replica finished it meanwhile, leading the app
// again takes the cluster's record of it and carries nothing on: the other
// replica's batches stay recorded, and nothing is done twice.
TEST_F(LoopTest, AReleaseFinishedElsewhereWhileThisReplicaWasAwayIsNotCarriedOnAgain) {
  const std::string id = BatchedRelease("{batches: 3, pause: first}");
  ASSERT_TRUE(StepUntil([&] { return Phase() == "held"; }));
  const ReleaseRecord left = *journal_->reader().Release(id);
  ASSERT_EQ(left.batches.size(), 1u);
  reconciler_->SetOwnership(Leading({}));

  // Another replica takes shop over and finishes the release.
  OtherReplica b = TakeOver(left, dir_, git_, cluster_, clock_);
  ASSERT_NE(b.loop, nullptr);
  ASSERT_TRUE(b.loop->Resume(id).ok());
  const ReleaseRecord done = StepUntilEnded(*b.loop, *b.journal, clock_, id);
  ASSERT_EQ(BatchIndexes(done), (std::vector<int>{1, 2, 3}));

  // This replica starts again, a standby with the release in flight in its
  // journal, and then leads shop: the cluster tells it the release ended.
  OpenJournal();
  reconciler_->SetOwnership(Leading({}));
  reconciler_->Step();
  const int scales = cluster_.scales;
  ASSERT_TRUE(reconciler_->Adopt({}, {}, {done}).ok());
  reconciler_->SetOwnership(Leading({"shop"}));
  StepMinutes(*reconciler_, clock_, 5);
  EXPECT_EQ(*journal_->reader().Release(id), done) << "recorded over the other replica's record";
  EXPECT_EQ(cluster_.scales, scales) << "carried on after it ended";
  ASSERT_NE(Shop(), nullptr);
  EXPECT_TRUE(Shop()->release.empty());
}

// A release this replica saw fail (the fence may have refused its writes as
// its Lease lapsed) does not keep it from releasing that commit once it
// leads the app again: another replica led it meanwhile.
TEST_F(LoopTest, LeadingAnAppAgainForgetsWhatItLastSawFailThere) {
  reconciler_->SetOwnership(Leading({"shop"}));
  cluster_.fail_execute = true;
  git_.Push(Repo(), "first");
  Step();
  auto releases = Releases();
  ASSERT_EQ(releases.size(), 1u);
  ASSERT_EQ(releases[0].outcome, Outcome::kFailed);
  cluster_.fail_execute = false;
  reconciler_->SetOwnership(Leading({}));
  reconciler_->SetOwnership(Leading({"shop"}));
  Step();
  releases = Releases();
  ASSERT_EQ(releases.size(), 2u);
  EXPECT_EQ(releases[0].to.id, git_.Last());
  EXPECT_EQ(releases[0].outcome, Outcome::kSucceeded);
}

// A rollback another replica left as the newest release of an environment
// pins it here too: the tip is not released until the repository changes
// what it asks of it.
TEST_F(LoopTest, ARollbackTakenOverPinsItsEnvironmentHereToo) {
  git_.Push(Repo("example.com/web:1"), "web 1");
  const std::string first = git_.Last();
  git_.Push(Repo("example.com/web:2"), "web 2");
  reconciler_->SetOwnership(Leading({}));  // another replica leads shop, for now
  Step();
  ReleaseRecord rollback;
  rollback.id = "r-000042";
  rollback.app = "shop";
  rollback.env = "prod";
  rollback.cluster = "prod";
  rollback.kind = journal::ReleaseKind::kRollback;
  rollback.trigger = journal::Trigger::kManualRollback;
  rollback.outcome = Outcome::kSucceeded;
  rollback.to.id = first;
  rollback.start = clock_.UnixMillis();
  ASSERT_TRUE(reconciler_->Adopt({}, {rollback}).ok());
  reconciler_->SetOwnership(Leading({"shop"}));
  Step();
  ASSERT_NE(Shop(), nullptr);
  EXPECT_EQ(Shop()->pinned_commit, first);
  for (const auto& r : Releases()) {
    EXPECT_NE(r.to.id, git_.Last()) << "the tip was released over the pin: " << r.id;
  }
  // The repository changes what it asks of prod: the pin goes, the tip goes out.
  git_.Push(Repo("example.com/web:3"), "web 3");
  reconciler_->RequestSync();
  Step();
  EXPECT_EQ(Shop()->pinned_commit, "");
  bool released = false;
  for (const auto& r : Releases()) released |= r.to.id == git_.Last();
  EXPECT_TRUE(released);
}

}  // namespace
}  // namespace pagoda::daemon::test
