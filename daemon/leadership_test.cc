// Leadership's rounds with Leases in memory and a fake clock: replicas share
// out the shards and each writes only where it leads; a holder cut off from
// its Leases stops writing before another can take over; taking a shard up
// brings its releases in flight and a fresh block of ids; a stop hands over
// at once, and a write in flight holds the Lease until it lands. Against a
// real API server: tests/integration/ha_test.cc.
#include "daemon/leadership.h"

#include <gtest/gtest.h>
#include <unistd.h>

#include <filesystem>

#include "daemon/memory_releases.h"
#include "daemon/shards.h"

namespace pagoda::daemon {
namespace {

using namespace std::chrono_literals;
namespace fs = std::filesystem;

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
  Replica& a = Add("pagoda-a", 1);
  Rounds(1);
  Replica& b = Add("pagoda-b", 1);
  Rounds(2);
  const std::string app = AppOf(0, 1);
  ASSERT_TRUE(a.Leads(app));
  ASSERT_FALSE(b.Leads(app));
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
    releases_.objects["prod"][id] = {r, {"gone", 1}};
  };
  inflight("r-000500", AppOf(0, 2));
  inflight("r-000501", AppOf(1, 2));
  journal::ReleaseRecord done;
  done.id = "r-000502";
  done.app = AppOf(0, 2);
  done.env = "test";
  done.outcome = journal::Outcome::kSucceeded;
  releases_.objects["prod"][done.id] = {done, {"gone", 1}};
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

TEST_F(LeadershipTest, AStopHandsOverAtOnceButAWriteInFlightHoldsTheLease) {
  Replica& a = Add("pagoda-a", 1);
  Rounds(1);
  Replica& b = Add("pagoda-b", 1);
  Rounds(2);
  const std::string app = AppOf(0, 1);
  ASSERT_TRUE(a.Leads(app));
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
