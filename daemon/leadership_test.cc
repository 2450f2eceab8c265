// Leadership's rounds with Leases in memory and a fake clock: replicas share
// out the shards and each writes only where it leads; a holder cut off from
// its Leases stops writing before another can take over; taking a shard up
// brings its releases in flight and a fresh block of ids; a stop hands over
// at once, and a write in flight holds the Lease until it lands. Against a
// real API server: tests/integration/ha_test.cc.
#include "daemon/leadership.h"

#include <gtest/gtest.h>
#include <unistd.h>

#include <atomic>
#include <filesystem>
#include <thread>

#include "daemon/memory_releases.h"
#include "daemon/shards.h"

namespace pagoda::daemon {
namespace {

using namespace std::chrono_literals;
namespace fs = std::filesystem;
using journal::Outcome;

// One replica's way to the shared Leases, which a test can cut.
class Link final : public kube::LeaseStore {
 public:
  explicit Link(kube::MemoryLeaseStore& inner, bool* cut) : inner_(inner), cut_(cut) {}
  Result<Versioned> Get(const std::string& name) override {
    if (*cut_) return Away();
    return inner_.Get(name);
  }
  Result<Versioned> Create(const std::string& name, const kube::LeaseRecord& r) override {
    if (*cut_) return Away();
    return inner_.Create(name, r);
  }
  Result<Versioned> Update(const std::string& name, const Versioned& v) override {
    if (*cut_) return Away();
    return inner_.Update(name, v);
  }
  Result<std::map<std::string, Versioned>> List(const std::string& prefix) override {
    if (*cut_) return Away();
    return inner_.List(prefix);
  }
  Status Delete(const std::string& name, const std::string& version) override {
    if (*cut_) return Away();
    return inner_.Delete(name, version);
  }

 private:
  static Status Away() { return Status::Unavailable("connection timed out"); }
  kube::MemoryLeaseStore& inner_;
  bool* cut_;
};

// The first app name (app-0, app-1, …) of `shard` among `shards`.
std::string AppOf(int shard, int shards) {
  for (int i = 0;; ++i) {
    std::string app = "app-" + std::to_string(i);
    if (ShardOf(app, shards) == shard) return app;
  }
}

std::string WritePath(const std::string& app) {
  return "/apis/apps/v1/namespaces/" + app + "/deployments/prod-abc?fieldManager=pagoda";
}

class LeadershipTest : public ::testing::Test {
 protected:
  struct Replica {
    std::string name;
    bool cut = false;
    std::unique_ptr<journal::Journal> journal;
    std::unique_ptr<Leadership> leadership;
    std::shared_ptr<const Ownership> owns;  // as the loop was told
    std::vector<Leadership::Takeover> takeovers;
    bool let_go = true;  // what the loop answers a give-up

    bool Writes(const std::string& app) {
      auto gate = leadership->gate();
      Status st = gate->Enter("PATCH", WritePath(app));
      if (st.ok()) gate->Leave(WritePath(app));
      return st.ok();
    }
    bool Leads(const std::string& app) const { return owns != nullptr && owns->Owns(app); }
  };

  void SetUp() override {
    dir_ = fs::temp_directory_path() /
           ("pagoda-leadership-test-" + std::to_string(::getpid()) + "-" +
            ::testing::UnitTest::GetInstance()->current_test_info()->name());
    fs::remove_all(dir_);
    fs::create_directories(dir_);
  }
  void TearDown() override {
    replicas_.clear();
    fs::remove_all(dir_);
  }

  Replica& Add(const std::string& name, int shards) {
    auto r = std::make_unique<Replica>();
    r->name = name;
    auto journal = journal::Journal::Open((dir_ / (name + ".journal")).string());
    EXPECT_TRUE(journal.ok()) << journal.status().ToString();
    r->journal = std::move(*journal);
    Leadership::Options o;
    o.ha.enabled = true;
    o.ha.cluster = "prod";
    o.ha.shards = shards;
    o.identity = name;
    o.id_block = 100;
    Replica* self = r.get();
    r->leadership = std::make_unique<Leadership>(
        o, std::make_unique<Link>(leases_, &r->cut), *r->journal, releases_,
        std::vector<std::string>{"prod"},
        Leadership::Hooks{
            [self](std::shared_ptr<const Ownership> owns, std::vector<Leadership::Takeover> t) {
              self->owns = std::move(owns);
              for (auto& one : t) self->takeovers.push_back(std::move(one));
            },
            [self](std::shared_ptr<const Ownership> owns) {
              if (!self->let_go) return false;
              self->owns = std::move(owns);
              return true;
            }},
        clock_);
    replicas_.push_back(std::move(r));
    return *replicas_.back();
  }

  // pagoda-a leading the one shard, pagoda-b there to take over.
  std::pair<Replica*, Replica*> ALeadsBWaits() {
    Replica& a = Add("pagoda-a", 1);
    Rounds(1);
    Replica& b = Add("pagoda-b", 1);
    Rounds(2);
    EXPECT_TRUE(a.Leads(AppOf(0, 1)));
    EXPECT_FALSE(b.Leads(AppOf(0, 1)));
    return {&a, &b};
  }

  // One round of every replica that is running, then a retry period.
  void Rounds(int n) {
    for (int i = 0; i < n; ++i) {
      for (auto& r : replicas_) {
        if (r->leadership) r->leadership->Round();
      }
      clock_.Advance(2s);
    }
  }

  // Which replica leads each shard, as their loops were told; "" for none,
  // "!" when two do.
  std::vector<std::string> Leaders(int shards) {
    std::vector<std::string> out;
    for (int k = 0; k < shards; ++k) {
      std::string who;
      for (auto& r : replicas_) {
        if (r->leadership && r->Leads(AppOf(k, shards))) who = who.empty() ? r->name : "!";
      }
      out.push_back(who);
    }
    return out;
  }

  // Two replicas with threads of their own on the real clock (lease 1 s,
  // renew deadline 700 ms, retry 200 ms), readers hammering them, and one
  // stopped halfway.
  void RealClockLeadership() {
    std::vector<std::unique_ptr<Leadership>> live;
    std::vector<std::unique_ptr<journal::Journal>> journals;
    std::atomic<int> both{0}, led{0}, owned{0}, listed{0};
    for (const char* name : {"pagoda-a", "pagoda-b"}) {
      auto journal = journal::Journal::Open((dir_ / (std::string(name) + ".journal")).string());
      ASSERT_TRUE(journal.ok());
      journals.push_back(std::move(*journal));
      Leadership::Options o;
      o.ha.enabled = true;
      o.ha.cluster = "prod";
      o.ha.shards = 2;
      o.ha.lease_ms = 1000;
      o.ha.renew_deadline_ms = 700;
      o.ha.retry_ms = 200;
      o.identity = name;
      live.push_back(std::make_unique<Leadership>(
          o, std::make_unique<Link>(leases_, &never_cut_), *journals.back(), releases_,
          std::vector<std::string>{"prod"},
          Leadership::Hooks{
              [](std::shared_ptr<const Ownership>, std::vector<Leadership::Takeover>) {},
              [](std::shared_ptr<const Ownership>) { return true; }},
          RealClock()));
    }
    for (auto& l : live) l->Start();
    std::atomic<bool> done{false};
    std::vector<std::thread> readers;
    for (int t = 0; t < 3; ++t) {
      readers.emplace_back([&] {
        while (!done) {
          for (int k = 0; k < 2; ++k) {
            const std::string app = AppOf(k, 2);
            int writers = 0;
            for (auto& l : live) {
              if (l == nullptr) continue;
              if (l->gate()->Enter("PATCH", WritePath(app)).ok()) {
                ++writers;
                l->gate()->Leave(WritePath(app));
              }
              owned += l->ownership()->Owns(app);
              listed += l->status().shards.size() == 2;  // each shard, once it has looked
            }
            if (writers > 1) ++both;
            if (writers == 1) ++led;
          }
        }
      });
    }
    std::this_thread::sleep_for(3s);
    live[0]->Stop();  // hands over; readers go on
    std::this_thread::sleep_for(1500ms);
    done = true;
    for (auto& t : readers) t.join();
    for (auto& l : live) l->Stop();
    EXPECT_EQ(both.load(), 0) << "two writers of one shard at once";
    EXPECT_GT(led.load(), 0);
    EXPECT_GT(owned.load(), 0) << "no reader saw an app owned";
    EXPECT_GT(listed.load(), 0) << "no reader saw the shards in a status";
  }

  bool never_cut_ = false;
  fs::path dir_;
  FakeClock clock_;
  kube::MemoryLeaseStore leases_;
  MemoryReleases releases_;
  std::vector<std::unique_ptr<Replica>> replicas_;
};

TEST_F(LeadershipTest, ReplicasShareOutTheShardsAndEachWritesOnlyWhereItLeads) {
  Replica& a = Add("pagoda-a", 4);
  Replica& b = Add("pagoda-b", 4);
  Replica& c = Add("pagoda-c", 4);
  Rounds(6);
  std::map<std::string, int> count;
  for (const std::string& who : Leaders(4)) {
    ASSERT_NE(who, "") << "a shard nobody leads";
    ASSERT_NE(who, "!") << "a shard two lead";
    ++count[who];
  }
  EXPECT_EQ(count.size(), 3u) << "every replica leads some";
  for (const auto& [who, n] : count) EXPECT_LE(n, 2) << who;
  // The fence follows the Leases: each app is written by its leader alone.
  for (int k = 0; k < 4; ++k) {
    const std::string app = AppOf(k, 4);
    int writers = 0;
    for (Replica* r : {&a, &b, &c}) {
      EXPECT_EQ(r->Writes(app), r->Leads(app)) << r->name << " " << app;
      writers += r->Writes(app);
    }
    EXPECT_EQ(writers, 1) << app;
  }
  // A write that names no namespace is refused: it could be anyone's.
  EXPECT_FALSE(a.leadership->gate()->Enter("POST", "/api/v1/namespaces").ok());
  // Release ids: blocks that do not overlap.
  std::set<std::string> ids;
  for (Replica* r : {&a, &b, &c}) {
    for (int i = 0; i < 3; ++i) {
      journal::ReleaseRecord rec;
      rec.app = "x";
      rec.env = "prod";
      ASSERT_TRUE(r->journal->Append(&rec).ok());
      EXPECT_TRUE(ids.insert(rec.id).second) << rec.id << " twice";
    }
  }
  // The status names the holder of each shard and the live replicas.
  const LeadershipStatus st = a.leadership->status();
  EXPECT_EQ(st.replicas, (std::vector<std::string>{"pagoda-a", "pagoda-b", "pagoda-c"}));
  ASSERT_EQ(st.shards.size(), 4u);
  for (const auto& shard : st.shards) {
    EXPECT_EQ(shard.lease, "pagoda-shard-" + std::to_string(shard.index));
    EXPECT_EQ(shard.holder, Leaders(4)[static_cast<size_t>(shard.index)]);
    EXPECT_EQ(shard.mine, shard.holder == "pagoda-a");
    EXPECT_GT(shard.since_ms, 0);
  }
  EXPECT_TRUE(st.error.empty()) << st.error;
}

TEST_F(LeadershipTest, AHolderCutOffStopsWritingBeforeAnotherCanTakeOver) {
  auto [pa, pb] = ALeadsBWaits();
  Replica& a = *pa;
  Replica& b = *pb;
  const std::string app = AppOf(0, 1);
  a.leadership->Round();  // a renewal that works, then the cut
  const auto renewed = clock_.Now();
  a.cut = true;
  std::optional<Clock::TimePoint> stopped, taken;
  for (int i = 0; i < 100 && !taken; ++i) {
    clock_.Advance(250ms);
    a.leadership->Round();
    b.leadership->Round();
    if (!stopped && !a.Writes(app)) stopped = clock_.Now();
    if (b.Writes(app)) taken = clock_.Now();
    EXPECT_FALSE(a.Writes(app) && b.Writes(app)) << "two writers at once";
  }
  ASSERT_TRUE(stopped && taken);
  EXPECT_LE(*stopped - renewed, 10s + 250ms) << "the renew deadline";
  EXPECT_GE(*taken - renewed, 15s) << "a whole lease after the last renewal b saw";
  EXPECT_LT(*stopped, *taken);
  EXPECT_FALSE(a.Leads(app)) << "the loop was told";
  EXPECT_TRUE(b.Leads(app));
  EXPECT_NE(a.leadership->status().error, "");
  // Back on the network, a does not write again while b holds the Lease.
  a.cut = false;
  Rounds(5);
  EXPECT_FALSE(a.Writes(app));
  EXPECT_TRUE(b.Writes(app));
}

TEST_F(LeadershipTest, TakingAShardUpBringsItsReleasesInFlightAndFreshIds) {
  auto inflight = [&](const std::string& id, const std::string& app) {
    journal::ReleaseRecord r;
    r.id = id;
    r.app = app;
    r.env = "prod";
    r.cluster = "prod";
    r.batches.push_back({1, 1, 1, {}, 2, 3});
    releases_.objects["prod"][id] = {r, {"gone", 1, "pagoda"}};
  };
  inflight("r-000500", AppOf(0, 2));
  inflight("r-000501", AppOf(1, 2));
  journal::ReleaseRecord done;
  done.id = "r-000502";
  done.app = AppOf(0, 2);
  done.env = "test";
  done.outcome = journal::Outcome::kSucceeded;
  releases_.objects["prod"][done.id] = {done, {"gone", 1, "pagoda"}};
  // Another group of replicas' release in flight, in the same cluster: not ours to take.
  journal::ReleaseRecord theirs = done;
  theirs.id = "r-000503";
  theirs.env = "prod";
  theirs.outcome = journal::Outcome::kInProgress;
  releases_.objects["prod"][theirs.id] = {theirs, {"elsewhere", 3, "other-pagoda"}};
  // A rollback that is the newest release of its environment pins it; one a
  // later release went past does not.
  auto record = [&](const std::string& id, const std::string& app, const std::string& env,
                    journal::Trigger trigger, int64_t start) {
    journal::ReleaseRecord r;
    r.id = id;
    r.app = app;
    r.env = env;
    r.cluster = "prod";
    r.trigger = trigger;
    r.kind = journal::ReleaseKind::kRollback;
    r.outcome = Outcome::kSucceeded;
    r.start = start;
    r.to.id = "c0ffee" + id;
    releases_.objects["prod"][id] = {r, {"gone", 1, "pagoda"}};
  };
  record("r-000600", AppOf(0, 2), "pinned", journal::Trigger::kManualRollback, 100);
  record("r-000601", AppOf(0, 2), "moved-on", journal::Trigger::kManualRollback, 100);
  record("r-000602", AppOf(0, 2), "moved-on", journal::Trigger::kCommit, 200);
  releases_.reachable = false;  // not yet: a shard is held, not taken up
  Replica& a = Add("pagoda-a", 2);
  Rounds(2);
  EXPECT_TRUE(a.takeovers.empty());
  EXPECT_FALSE(a.Leads(AppOf(0, 2)));
  EXPECT_NE(a.leadership->status().error.find("taking up"), std::string::npos)
      << a.leadership->status().error;
  releases_.reachable = true;
  Rounds(1);
  ASSERT_EQ(a.takeovers.size(), 2u);
  for (const auto& t : a.takeovers) {
    if (t.shard == ShardOf(AppOf(0, 2), 2)) {
      ASSERT_EQ(t.pinned.size(), 1u);
      EXPECT_EQ(t.pinned[0].id, "r-000600");
    } else {
      EXPECT_TRUE(t.pinned.empty());
    }
    ASSERT_EQ(t.in_flight.size(), 1u) << "shard " << t.shard;
    EXPECT_EQ(ShardOf(t.in_flight[0].app, 2), t.shard);
    EXPECT_EQ(t.in_flight[0].id, t.shard == ShardOf(AppOf(0, 2), 2) ? "r-000500" : "r-000501");
    EXPECT_EQ(t.epoch, 0) << "the Leases' first holder";
  }
  // Ids: a block of its own, above every id this journal holds.
  EXPECT_GT(a.journal->IdsLeft(), 0);
  journal::ReleaseRecord next;
  next.app = "x";
  next.env = "prod";
  ASSERT_TRUE(a.journal->Append(&next).ok());
  EXPECT_GE(journal::ReleaseIdNumber(next.id), 1);
}

// The journal's word on a release is this replica's last: taking a shard
// up brings the cluster's record of each release the journal holds in
// flight that another replica ended meanwhile.
TEST_F(LeadershipTest, TakingAShardUpBringsWhatEndedOfTheReleasesItsJournalHoldsInFlight) {
  Replica& a = Add("pagoda-a", 1);
  auto started = [&](const std::string& env) {
    journal::ReleaseRecord r;
    r.app = AppOf(0, 1);
    r.env = env;
    r.cluster = "prod";
    r.batches.push_back({1, 1, 1, {}, 2, 3});
    EXPECT_TRUE(a.journal->Append(&r).ok());
    return r;
  };
  journal::ReleaseRecord ended = started("prod");
  ended.outcome = Outcome::kSucceeded;
  ended.batches.push_back({2, 1, 1, {}, 4, 5});
  ended.batches.push_back({3, 1, 1, {}, 6, 7});
  releases_.objects["prod"][ended.id] = {ended, {"pagoda-b", 2, "pagoda"}};
  const journal::ReleaseRecord flying = started("test");
  releases_.objects["prod"][flying.id] = {flying, {"pagoda-b", 2, "pagoda"}};
  started("dev");  // not in the cluster: the journal's word is the only one
  journal::ReleaseRecord finished_here = started("qa");
  finished_here.outcome = Outcome::kFailed;
  ASSERT_TRUE(a.journal->Append(&finished_here).ok());
  journal::ReleaseRecord cluster_has = finished_here;
  cluster_has.outcome = Outcome::kSucceeded;  // not asked: it ended here
  releases_.objects["prod"][cluster_has.id] = {cluster_has, {"pagoda-b", 2, "pagoda"}};

  Rounds(2);
  ASSERT_EQ(a.takeovers.size(), 1u);
  const Leadership::Takeover& t = a.takeovers[0];
  ASSERT_EQ(t.ended.size(), 1u);
  EXPECT_EQ(t.ended[0], ended);
  ASSERT_EQ(t.in_flight.size(), 1u);
  EXPECT_EQ(t.in_flight[0].id, flying.id);
}

TEST_F(LeadershipTest, AStopHandsOverAtOnceButAWriteInFlightHoldsTheLease) {
  auto [pa, pb] = ALeadsBWaits();
  Replica& a = *pa;
  Replica& b = *pb;
  const std::string app = AppOf(0, 1);
  // A write in flight: the Lease is kept, and b waits for its expiry.
  auto gate = a.leadership->gate();
  ASSERT_TRUE(gate->Enter("PATCH", WritePath(app)).ok());
  a.leadership->Stop();
  b.leadership->Round();
  EXPECT_FALSE(b.Writes(app)) << "taken while a's write was in flight";
  gate->Leave(WritePath(app));
  // A replica with nothing in flight hands over at once.
  Rounds(10);  // a's Lease expires; b takes it
  ASSERT_TRUE(b.Leads(app));
  Replica& c = Add("pagoda-c", 1);
  Rounds(1);
  b.leadership->Stop();
  c.leadership->Round();
  EXPECT_TRUE(c.Writes(app)) << "not at once";
  EXPECT_TRUE(c.Leads(app));
  EXPECT_FALSE(b.Writes(app));
}

TEST_F(LeadershipTest, AShardIsGivenUpToBalanceOnlyOnceTheLoopLetsGo) {
  Replica& a = Add("pagoda-a", 2);
  Rounds(2);
  ASSERT_EQ(Leaders(2), (std::vector<std::string>{"pagoda-a", "pagoda-a"}));
  a.let_go = false;  // the loop is in a long step
  Replica& b = Add("pagoda-b", 2);
  Rounds(3);
  EXPECT_EQ(Leaders(2), (std::vector<std::string>{"pagoda-a", "pagoda-a"}));
  a.let_go = true;
  Rounds(3);
  std::vector<std::string> leaders = Leaders(2);
  std::sort(leaders.begin(), leaders.end());
  EXPECT_EQ(leaders, (std::vector<std::string>{"pagoda-a", "pagoda-b"}));
  EXPECT_GE(b.leadership->status().transitions_seen, 1);
}

TEST_F(LeadershipTest, HeartbeatsOfReplicasGoneAreRemoved) {
  Replica& a = Add("pagoda-a", 1);
  Replica& b = Add("pagoda-b", 1);
  Replica& c = Add("pagoda-c", 1);
  Rounds(2);
  auto beats = [&] {
    std::vector<std::string> names;
    auto listed = leases_.List("pagoda-replica-");
    if (listed.ok()) {
      for (const auto& [name, v] : *listed) names.push_back(name);
    }
    return names;
  };
  EXPECT_EQ(beats().size(), 3u);
  // Stopped: its heartbeat goes with it.
  b.leadership->Stop();
  EXPECT_EQ(beats(),
            (std::vector<std::string>{"pagoda-replica-pagoda-a", "pagoda-replica-pagoda-c"}));
  // Killed: its heartbeat is removed by the others once silent for ten leases.
  c.cut = true;
  Rounds(20);
  EXPECT_EQ(beats().size(), 2u) << "removed too early";
  Rounds(60);
  EXPECT_EQ(beats(), (std::vector<std::string>{"pagoda-replica-pagoda-a"}));
  EXPECT_EQ(a.leadership->status().replicas, (std::vector<std::string>{"pagoda-a"}));
}

// On their own threads and the real clock, with readers of the fence, the
// ownership and the status on others (as the loop, the mirror and the
// writers are): never two leaders of one shard at once. Under
// ThreadSanitizer, this is also the proof that those readers are safe.
TEST_F(LeadershipTest, OnTheirOwnThreadsTwoReplicasNeverLeadOneShardAtOnce) {
  RealClockLeadership();
}

TEST(OwnershipTest, EveryAppWithoutLeadershipTheShardsHeldWithIt) {
  Ownership all;
  EXPECT_TRUE(all.Owns("shop"));
  EXPECT_EQ(all.EpochOf("shop"), 0);
  Ownership some;
  some.everything = false;
  some.shards = 2;
  some.held[ShardOf("shop", 2)] = 5;
  EXPECT_TRUE(some.Owns("shop"));
  EXPECT_EQ(some.EpochOf("shop"), 5);
  EXPECT_EQ(some.ShardName("shop"), "shard " + std::to_string(ShardOf("shop", 2)) + " of 2");
  EXPECT_EQ(some.Owns(AppOf(1 - ShardOf("shop", 2), 2)), false);
}

TEST(NamespaceOfPathTest, TheNamespaceOfAnObjectOrOfANamespace) {
  EXPECT_EQ(NamespaceOfPath("/apis/apps/v1/namespaces/shop/deployments/x?fieldManager=pagoda"),
            "shop");
  EXPECT_EQ(NamespaceOfPath("/api/v1/namespaces/shop?fieldManager=pagoda"), "shop");
  EXPECT_EQ(NamespaceOfPath("/api/v1/namespaces/shop/configmaps/c"), "shop");
  EXPECT_EQ(NamespaceOfPath("/api/v1/namespaces"), "");
  EXPECT_EQ(NamespaceOfPath("/apis/rbac.authorization.k8s.io/v1/clusterroles/x"), "");
}

}  // namespace
}  // namespace pagoda::daemon
