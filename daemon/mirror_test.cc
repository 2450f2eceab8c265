// The mirror's own logic with Release objects kept in memory: a record's
// states fold into its latest, failed writes are retried and shown, the
// history is pruned to its limit by start time, and a record whose app has
// been led by another replica since is never written. The Release objects'
// JSON round-trips. Against a real API server: tests/integration/ha_test.cc.
#include "daemon/mirror.h"

#include <gtest/gtest.h>

#include <atomic>
#include <map>
#include <mutex>

#include "base/json.h"
#include "daemon/memory_releases.h"

namespace pagoda::daemon {
namespace {

using namespace std::chrono_literals;
using journal::Outcome;
using journal::ReleaseRecord;

ReleaseRecord Record(int number, const std::string& env, Outcome outcome, int64_t start) {
  ReleaseRecord r;
  r.id = journal::ReleaseId(number);
  r.app = "shop";
  r.env = env;
  r.cluster = "prod";
  r.to_revision = "abc";
  r.outcome = outcome;
  r.start = start;
  return r;
}

Mirror::Options Fast(int limit = 100) {
  Mirror::Options o;
  o.history_limit = limit;
  o.identity = "pagoda-a";
  o.first_retry = 5ms;
  o.max_retry = 20ms;
  return o;
}

TEST(MirrorTest, WritesEachRecordsLatestStateAndPrunesTheOldestBeyondTheLimit) {
  auto objects = std::make_unique<MemoryReleases>();
  MemoryReleases& store = *objects;
  Mirror mirror(std::move(objects), Fast(3), [](const std::string&) { return int64_t{7}; });
  // Started out of order of number: pruning goes by start time.
  for (int i = 1; i <= 5; ++i) {
    mirror.Put(Record(i, "prod", Outcome::kInProgress, 1000 * (i == 2 ? 9 : i)));
    mirror.Put(Record(i, "prod", Outcome::kSucceeded, 1000 * (i == 2 ? 9 : i)));
  }
  mirror.Put(Record(6, "prod", Outcome::kInProgress, 500));  // never pruned
  mirror.Put(Record(7, "test", Outcome::kSucceeded, 100));
  ASSERT_TRUE(mirror.Drain(5s));
  auto kept = store.Of("prod");
  // prod: 6, in progress, stays; of the finished, the newest by start stay
  // (2 at 9 s, then 5), at most 3 of them; 1 and 3 are the oldest: gone.
  int finished = 0;
  for (const auto& [id, m] : kept) {
    finished += m.record.env == "prod" && m.record.outcome != Outcome::kInProgress;
  }
  EXPECT_LE(finished, 3);
  for (const char* id : {"r-000002", "r-000005", "r-000006", "r-000007"}) {
    EXPECT_TRUE(kept.count(id)) << id;
  }
  for (const char* id : {"r-000001", "r-000003"}) EXPECT_FALSE(kept.count(id)) << id;
  EXPECT_EQ(kept.at("r-000005").record.outcome, Outcome::kSucceeded);
  EXPECT_EQ(kept.at("r-000005").writer.identity, "pagoda-a");
  EXPECT_EQ(kept.at("r-000005").writer.epoch, 7);
  const Mirror::Stats stats = mirror.stats();
  EXPECT_EQ(stats.waiting, 0u);
  EXPECT_GE(stats.pruned, 2);
  EXPECT_EQ(stats.failures, 0);
  EXPECT_LE(store.puts, 12);  // states of one record fold when they wait together
  // One LIST per environment until it passes its limit again.
  EXPECT_LE(store.lists, 5);
}

TEST(MirrorTest, AWriteThatFailsIsRetriedAndWhatWaitsShows) {
  auto objects = std::make_unique<MemoryReleases>();
  MemoryReleases& store = *objects;
  store.failing = 3;
  Mirror::Options options = Fast();
  options.first_retry = 200ms;
  options.max_retry = 200ms;
  Mirror mirror(std::move(objects), options, [](const std::string&) { return int64_t{0}; });
  mirror.Put(Record(1, "prod", Outcome::kInProgress, 1000));
  std::this_thread::sleep_for(50ms);
  Mirror::Stats waiting = mirror.stats();
  EXPECT_EQ(waiting.waiting, 1u);
  EXPECT_GT(waiting.oldest_waiting_ms, 0);
  EXPECT_NE(waiting.last_error.find("the API server is away"), std::string::npos)
      << waiting.last_error;
  EXPECT_NE(waiting.last_error.find("r-000001"), std::string::npos);
  // A newer state while it waits: that one is what gets written.
  mirror.Put(Record(1, "prod", Outcome::kSucceeded, 1000));
  ASSERT_TRUE(mirror.Drain(5s));
  EXPECT_EQ(store.Of("prod").at("r-000001").record.outcome, Outcome::kSucceeded);
  Mirror::Stats done = mirror.stats();
  EXPECT_EQ(done.failures, 3);
  EXPECT_TRUE(done.last_error.empty());
  EXPECT_EQ(done.written, 1);
}

TEST(MirrorTest, ARecordIsWrittenOnlyUnderTheEpochItWasRecordedIn) {
  auto objects = std::make_unique<MemoryReleases>();
  MemoryReleases& store = *objects;
  store.failing = 1000;  // nothing goes through while the epoch moves on
  std::atomic<int64_t> epoch{1};
  std::atomic<bool> leads{true};
  Mirror mirror(std::move(objects), Fast(), [&](const std::string&) -> std::optional<int64_t> {
    if (!leads) return std::nullopt;
    return epoch.load();
  });
  mirror.Put(Record(1, "prod", Outcome::kInProgress, 1000));
  std::this_thread::sleep_for(30ms);
  // Another replica held the shard since (a new epoch): this word is dropped.
  epoch = 2;
  {
    std::lock_guard lock(store.mu);
    store.failing = 0;
  }
  ASSERT_TRUE(mirror.Drain(5s));
  EXPECT_TRUE(store.Of("prod").empty());
  EXPECT_EQ(mirror.stats().handed_over, 1);
  // Not leading the app: not even queued.
  leads = false;
  mirror.Put(Record(2, "prod", Outcome::kInProgress, 1000));
  ASSERT_TRUE(mirror.Drain(5s));
  EXPECT_TRUE(store.Of("prod").empty());
  EXPECT_EQ(mirror.stats().handed_over, 2);
  // Leading again, under the new epoch: written with it.
  leads = true;
  mirror.Put(Record(3, "prod", Outcome::kInProgress, 1000));
  ASSERT_TRUE(mirror.Drain(5s));
  EXPECT_EQ(store.Of("prod").at("r-000003").writer.epoch, 2);
}

TEST(ReleaseObjectTest, ARecordRoundTripsThroughItsObjectWithLabelsAndWriter) {
  ReleaseRecord r = Record(42, "prod", Outcome::kInProgress, 1714557600000);
  r.kind = journal::ReleaseKind::kRollback;
  r.to = {"2222222222222222222222222222222222222222", "Ada <ada@example.com>", 1, "fix"};
  r.batches.push_back({1, 2, 3, {"pod-a"}, 4, 5, {"ok"}});
  r.changes.push_back({journal::ChangeAction::kConfigured,
                       "Deployment/shop/prod-abc",
                       "",
                       {"spec.replicas: 1 -> 2"}});
  const std::string json = ReleaseObjectJson(r, {"pagoda-b", 3});
  rapidjson::Document doc;
  ASSERT_TRUE(json::Parse(json, &doc).ok()) << json;
  EXPECT_EQ(json::StringAt(doc, {"metadata", "name"}), "r-000042");
  EXPECT_EQ(json::StringAt(doc, {"metadata", "namespace"}), "shop");
  EXPECT_EQ(json::StringAt(doc, {"metadata", "labels", "pagoda.dev/env"}), "prod");
  EXPECT_EQ(json::StringAt(doc, {"metadata", "labels", "pagoda.dev/kind"}), "rollback");
  EXPECT_EQ(json::StringAt(doc, {"metadata", "labels", "pagoda.dev/outcome"}), "in-progress");
  EXPECT_EQ(json::StringAt(doc, {"spec", "to", "id"}), r.to.id);
  auto back = ReleaseOfObject(doc);
  ASSERT_TRUE(back.ok()) << back.status().ToString();
  EXPECT_EQ(back->record, r);
  EXPECT_EQ(back->writer.identity, "pagoda-b");
  EXPECT_EQ(back->writer.epoch, 3);

  // Too large for etcd: the field lines go first, and the object says so.
  const std::string small = ReleaseObjectJson(r, {"pagoda-b", 3}, 300);
  ASSERT_TRUE(json::Parse(small, &doc).ok());
  EXPECT_NE(json::StringAt(doc, {"metadata", "annotations", "pagoda.dev/trimmed"}), "");
  auto trimmed = ReleaseOfObject(doc);
  ASSERT_TRUE(trimmed.ok());
  EXPECT_TRUE(trimmed->record.changes.empty() || trimmed->record.changes[0].fields.empty());

  // A spec that is not this object's record is refused.
  std::string other = json;
  other.replace(other.find("\"name\":\"r-000042\""), 17, "\"name\":\"r-000041\"");
  ASSERT_TRUE(json::Parse(other, &doc).ok());
  EXPECT_EQ(ReleaseOfObject(doc).status().code(), Status::Code::kInvalidArgument);
}

}  // namespace
}  // namespace pagoda::daemon
