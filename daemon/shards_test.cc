#include "daemon/shards.h"

#include <gtest/gtest.h>

#include <algorithm>
#include <map>
#include <set>
#include <string>
#include <vector>

namespace pagoda::daemon {
namespace {

TEST(JumpHash, MatchesTheReferenceAlgorithm) {
  // From the paper's C++ (and Guava's consistentHash, which is the same).
  EXPECT_EQ(JumpHash(1, 1), 0);
  EXPECT_EQ(JumpHash(42, 57), 43);
  EXPECT_EQ(JumpHash(0xDEAD10CC, 1), 0);
  EXPECT_EQ(JumpHash(0xDEAD10CC, 666), 361);
  EXPECT_EQ(JumpHash(256, 1024), 520);
  EXPECT_EQ(JumpHash(123456789, 1000), 294);
  EXPECT_EQ(JumpHash(UINT64_MAX, 100), 92);
  EXPECT_EQ(JumpHash(42, 0), 0);
  EXPECT_EQ(JumpHash(42, -3), 0);
}

std::vector<std::string> AppNames(int count) {
  std::vector<std::string> names;
  for (int i = 0; i < count; ++i) names.push_back("app-" + std::to_string(i));
  return names;
}

TEST(JumpHash, GrowingByOneMovesAboutOneInNPlusOneAllToTheNewShard) {
  const auto names = AppNames(10'000);
  for (int n : {1, 2, 3, 4, 7, 10, 16}) {
    int moved = 0;
    std::vector<int> per_shard(n + 1);
    for (const auto& name : names) {
      const int before = ShardOf(name, n);
      const int after = ShardOf(name, n + 1);
      ASSERT_GE(before, 0);
      ASSERT_LT(before, n);
      ++per_shard[after];
      if (after != before) {
        ++moved;
        EXPECT_EQ(after, n) << name << " moved from " << before << " to an old shard";
      }
    }
    const double expected = 10'000.0 / (n + 1);
    EXPECT_NEAR(moved, expected, expected * 0.15) << n << " -> " << n + 1;
    for (int s = 0; s <= n; ++s) {
      EXPECT_NEAR(per_shard[s], expected, expected * 0.15) << "shard " << s << " of " << n + 1;
    }
  }
}

TEST(ShardOf, IsTheSameEverywhere) {
  // SHA-256's first 8 bytes, so these hold on every host and build.
  EXPECT_EQ(ShardOf("shop", 16), 15);
  EXPECT_EQ(ShardOf("payments", 16), 11);
  EXPECT_EQ(ShardOf("app-1", 100), 63);
  EXPECT_EQ(ShardOf("shop", 1), 0);
}

// Replicas sharing out shards: each round, every live replica computes its
// moves from the same state (as if at once), then in replica order each
// gives up what it releases and takes what it acquires if still free then.
class Fleet {
 public:
  Fleet(int shards, std::vector<std::string> live) : holder_(shards), live_(std::move(live)) {}

  void Round() {
    std::vector<ShardMoves> all;
    for (const auto& r : live_) {
      ShardView view{r, live_, holder_};
      ShardMoves moves = Balance(view);
      for (int s : moves.acquire) {
        EXPECT_EQ(holder_[s], "") << r << " went for shard " << s << ", which is not free";
      }
      for (int s : moves.release) {
        EXPECT_EQ(holder_[s], r) << r << " gave up shard " << s << ", which is not its";
      }
      EXPECT_TRUE(moves.acquire.empty() || moves.release.empty()) << r;
      all.push_back(std::move(moves));
    }
    for (size_t i = 0; i < live_.size(); ++i) {
      for (int s : all[i].release) holder_[s] = "";
      for (int s : all[i].acquire) {
        if (holder_[s].empty()) holder_[s] = live_[i];
      }
    }
  }

  // Rounds until nothing moves (at most `limit`); -1 when it never settles.
  int Settle(int limit = 10) {
    for (int i = 0; i < limit; ++i) {
      auto before = holder_;
      Round();
      if (holder_ == before) return i;
    }
    return -1;
  }

  // How many shards each live replica holds, by name; "" counts free ones.
  std::map<std::string, int> Counts() const {
    std::map<std::string, int> out;
    for (const auto& r : live_) out[r] = 0;
    for (const auto& h : holder_) ++out[h];
    return out;
  }
  std::multiset<int> Shares() const {
    std::multiset<int> out;
    for (const auto& [r, n] : Counts()) {
      if (!r.empty()) out.insert(n);
    }
    return out;
  }
  int Free() const { return static_cast<int>(std::count(holder_.begin(), holder_.end(), "")); }

  void Kill(const std::string& r) {
    live_.erase(std::find(live_.begin(), live_.end(), r));
    // Its Leases expire: its shards are free.
    std::replace(holder_.begin(), holder_.end(), r, std::string());
  }
  void Add(const std::string& r) {
    live_.push_back(r);
    std::sort(live_.begin(), live_.end());
  }
  const std::vector<std::string>& holder() const { return holder_; }

 private:
  std::vector<std::string> holder_;
  std::vector<std::string> live_;
};

TEST(Balance, ThreeReplicasShareFourShardsAndFollowThemComingAndGoing) {
  Fleet fleet(4, {"a", "b", "c"});
  int settled = fleet.Settle();
  ASSERT_GE(settled, 0);
  EXPECT_LE(settled, 3);
  EXPECT_EQ(fleet.Free(), 0);
  EXPECT_EQ(fleet.Shares(), (std::multiset<int>{1, 1, 2}));
  // And it stays put.
  auto settled_state = fleet.holder();
  for (int i = 0; i < 5; ++i) fleet.Round();
  EXPECT_EQ(fleet.holder(), settled_state);

  // One goes: the two left take all four, two each.
  const std::string gone = fleet.holder()[0];
  fleet.Kill(gone);
  settled = fleet.Settle();
  ASSERT_GE(settled, 0);
  EXPECT_LE(settled, 2);
  EXPECT_EQ(fleet.Free(), 0);
  EXPECT_EQ(fleet.Shares(), (std::multiset<int>{2, 2}));

  // It comes back: one of the others gives it a shard.
  fleet.Add(gone);
  settled = fleet.Settle();
  ASSERT_GE(settled, 0);
  EXPECT_LE(settled, 4);
  EXPECT_EQ(fleet.Free(), 0);
  EXPECT_EQ(fleet.Shares(), (std::multiset<int>{1, 1, 2}));
  EXPECT_GE(fleet.Counts()[gone], 1);
}

TEST(Balance, OneShardHasExactlyOneHolder) {
  Fleet fleet(1, {"a", "b", "c"});
  ASSERT_GE(fleet.Settle(), 0);
  EXPECT_EQ(fleet.Free(), 0);
  EXPECT_EQ(fleet.Shares(), (std::multiset<int>{0, 0, 1}));
  // Its holder goes: another takes it.
  fleet.Kill(fleet.holder()[0]);
  ASSERT_GE(fleet.Settle(), 0);
  EXPECT_EQ(fleet.Shares(), (std::multiset<int>{0, 1}));
}

TEST(Balance, TenShardsOnThreeReplicasAreFourThreeThree) {
  Fleet fleet(10, {"a", "b", "c"});
  ASSERT_GE(fleet.Settle(), 0);
  EXPECT_EQ(fleet.Free(), 0);
  EXPECT_EQ(fleet.Shares(), (std::multiset<int>{3, 3, 4}));
  // A fourth replica: 3/3/2/2.
  fleet.Add("d");
  ASSERT_GE(fleet.Settle(), 0);
  EXPECT_EQ(fleet.Free(), 0);
  EXPECT_EQ(fleet.Shares(), (std::multiset<int>{2, 2, 3, 3}));
}

TEST(Balance, ManyReplicasAndShardsSettleEvenly) {
  std::vector<std::string> replicas;
  for (int i = 0; i < 7; ++i) replicas.push_back("replica-" + std::to_string(i));
  Fleet fleet(64, replicas);
  const int settled = fleet.Settle(20);
  ASSERT_GE(settled, 0);
  EXPECT_EQ(fleet.Free(), 0);
  // 64 = 9 x 7 + 1: one holds 10, the others 9.
  EXPECT_EQ(fleet.Shares(), (std::multiset<int>{9, 9, 9, 9, 9, 9, 10}));
}

TEST(Balance, ReplicasThatAreNotLiveHoldNothingButTheirShardsWaitToExpire) {
  // c's heartbeat has expired; its shard Leases not yet.
  ShardView view{"b", {"a", "b"}, {"a", "a", "c", "c"}};
  EXPECT_TRUE(Balance(view).acquire.empty()) << "c's shards are not free yet";
  EXPECT_TRUE(Balance(view).release.empty());
  view.self = "a";
  EXPECT_TRUE(Balance(view).release.empty()) << "a holds its floor of 2";
  // They expire: b takes both.
  view.holder = {"a", "a", "", ""};
  view.self = "b";
  auto moves = Balance(view);
  EXPECT_EQ(std::set<int>(moves.acquire.begin(), moves.acquire.end()), (std::set<int>{2, 3}));
}

TEST(Balance, GivesUpTheShardsItPrefersLeastAndPrefersTheSameOnes) {
  // a holds all four and b arrives: a gives up two, then the one of those it
  // prefers least when it must give up only one.
  ShardView view{"a", {"a", "b"}, {"a", "a", "a", "a"}};
  ShardMoves two = Balance(view);
  ASSERT_EQ(two.release.size(), 2u);
  EXPECT_TRUE(two.acquire.empty());
  view.live = {"a", "b", "c", "d"};  // ceil 1: give up three
  ShardMoves three = Balance(view);
  ASSERT_EQ(three.release.size(), 3u);
  EXPECT_EQ(std::vector<int>(three.release.begin(), three.release.begin() + 2), two.release);

  // The same view, the same moves; and b, seeing the same free shards,
  // orders them its own way, the same each time.
  ShardView fresh{"a", {"a", "b", "c"}, {"", "", "", "", "", ""}};
  ShardMoves a_moves = Balance(fresh);
  EXPECT_EQ(Balance(fresh).acquire, a_moves.acquire);
  ASSERT_EQ(a_moves.acquire.size(), 2u);
  fresh.self = "b";
  ShardMoves b_moves = Balance(fresh);
  EXPECT_EQ(Balance(fresh).acquire, b_moves.acquire);
  ASSERT_EQ(b_moves.acquire.size(), 2u);

  // Self is live whether listed or not: two replicas, two shards each.
  ShardView unlisted{"z", {"a"}, {"", "", "", ""}};
  EXPECT_EQ(Balance(unlisted).acquire.size(), 2u);
}

}  // namespace
}  // namespace pagoda::daemon
