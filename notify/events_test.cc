#include <gtest/gtest.h>

#include "notify/notify.h"

namespace pagoda::notify {
namespace {

using journal::BatchRecord;
using journal::Hold;
using journal::Outcome;
using journal::ReleaseRecord;

ReleaseRecord Batched() {
  ReleaseRecord r;
  r.id = "r-000007";
  r.app = "shop";
  r.env = "prod";
  r.cluster = "prod";
  r.to.id = "1a2b3c4d5e6f";
  r.to.summary = "fix checkout";
  r.to_revision = "web-abc";
  r.start = 1000;
  return r;
}

void EndBatch(ReleaseRecord* r, int index, journal::TimeMs end) {
  BatchRecord b;
  b.index = index;
  b.start = end - 10;
  b.end = end;
  r->batches.push_back(b);
}

std::vector<std::string> Kinds(const std::vector<Event>& events) {
  std::vector<std::string> out;
  for (const Event& e : events) out.emplace_back(Name(e.kind));
  return out;
}

using Strings = std::vector<std::string>;

TEST(EventTrackerTest, ABatchedReleaseIsStartedDoneHeldResumedAndSucceededOnce) {
  EventTracker tracker;
  ReleaseRecord r = Batched();
  EXPECT_EQ(Kinds(tracker.Record(r)), Strings{"started"});
  EXPECT_EQ(Kinds(tracker.Record(r)), Strings{}) << "the same write again says nothing";
  EndBatch(&r, 1, 2000);
  r.hold = Hold::kPolicy;
  std::vector<Event> held = tracker.Record(r);
  ASSERT_EQ(Kinds(held), (Strings{"batch-done", "held"}));
  EXPECT_EQ(held[0].batch, 1);
  EXPECT_EQ(held[0].time, 2000);
  EXPECT_EQ(held[1].detail, "held by its pause policy after batch 1");
  r.hold = Hold::kNone;
  EXPECT_EQ(Kinds(tracker.Record(r)), Strings{"resumed"});
  EndBatch(&r, 2, 3000);
  EXPECT_EQ(Kinds(tracker.Record(r)), Strings{"batch-done"});
  EndBatch(&r, 3, 4000);
  r.outcome = Outcome::kSucceeded;
  r.end = 4100;
  std::vector<Event> done = tracker.Record(r);
  ASSERT_EQ(Kinds(done), Strings{"succeeded"});
  EXPECT_EQ(done[0].batches, 3);
  EXPECT_EQ(done[0].time, 4100);
  EXPECT_EQ(Summary(done[0]),
            "shop/prod: release r-000007 (rollout to 1a2b3c4d \"fix checkout\") succeeded");
}

TEST(EventTrackerTest, AReleaseWrittenOnceAtItsEndIsStartedAndEnded) {
  EventTracker tracker;
  ReleaseRecord r = Batched();
  r.outcome = Outcome::kFailed;
  r.errors = {"Deployment/shop/prod-web: forbidden"};
  std::vector<Event> events = tracker.Record(r);
  ASSERT_EQ(Kinds(events), (Strings{"started", "failed"}));
  EXPECT_EQ(events[1].detail, "Deployment/shop/prod-web: forbidden");
}

TEST(EventTrackerTest, AReleaseTakenUpAfterARestartIsNotStartedAgain) {
  EventTracker tracker;
  ReleaseRecord r = Batched();
  EndBatch(&r, 1, 2000);
  EXPECT_EQ(Kinds(tracker.Record(r)), Strings{});
  EndBatch(&r, 2, 3000);
  EXPECT_EQ(Kinds(tracker.Record(r)), Strings{"batch-done"});
  r.outcome = Outcome::kRolledBack;
  EXPECT_EQ(Kinds(tracker.Record(r)), Strings{"rolled-back"});
  EXPECT_EQ(Kinds(tracker.Record(r)), Strings{"rolled-back"})
      << "an ended release is forgotten: written again, it is told again";
}

TEST(EventTrackerTest, AFailedBatchThatHaltsIsHeldWithItsErrors) {
  EventTracker tracker;
  ReleaseRecord r = Batched();
  tracker.Record(r);
  r.hold = Hold::kFailed;
  r.errors = {"batch 1: 2 of 2 pods not Ready after 5m0s"};
  std::vector<Event> events = tracker.Record(r);
  ASSERT_EQ(Kinds(events), Strings{"held"});
  EXPECT_EQ(events[0].detail,
            "a batch failed and its policy is to halt: batch 1: 2 of 2 pods not Ready after 5m0s");
  r.outcome = Outcome::kAborted;
  EXPECT_EQ(Kinds(tracker.Record(r)), Strings{"aborted"});
}

TEST(EventTrackerTest, ASupersededReleaseSaysNothingOfItsEnd) {
  EventTracker tracker;
  ReleaseRecord r = Batched();
  tracker.Record(r);
  r.outcome = Outcome::kSuperseded;
  EXPECT_EQ(Kinds(tracker.Record(r)), Strings{});
}

TEST(EventTrackerTest, DriftIsToldWhenItBegins) {
  EventTracker tracker;
  journal::SyncEntry entry;
  entry.commit = "c1";
  entry.drift = {"shop/prod"};
  const std::map<std::string, std::string> clusters = {{"shop/prod", "eu"}};
  std::vector<Event> events = tracker.Cycle(entry, clusters);
  ASSERT_EQ(Kinds(events), Strings{"drift"});
  EXPECT_EQ(events[0].app, "shop");
  EXPECT_EQ(events[0].env, "prod");
  EXPECT_EQ(events[0].cluster, "eu");
  EXPECT_EQ(Kinds(tracker.Cycle(entry, clusters)), Strings{});
  entry.drift.clear();
  EXPECT_EQ(Kinds(tracker.Cycle(entry, clusters)), Strings{});
  entry.drift = {"shop/prod"};
  EXPECT_EQ(Kinds(tracker.Cycle(entry, clusters)), Strings{"drift"});
}

TEST(EventTrackerTest, FreezesAndPromotionWaitsAreToldWhenTheyBeginOrChange) {
  EventTracker tracker;
  Waiting w;
  w.app = "shop";
  w.env = "prod";
  w.commit = "c2";
  w.frozen_by = "black-friday";
  w.frozen_until = 1'800'000'000'000;
  std::vector<Event> events = tracker.Status({w}, 5);
  ASSERT_EQ(Kinds(events), Strings{"frozen"});
  EXPECT_EQ(events[0].detail, "freeze window black-friday until 2027-01-15T08:00:00.000Z");
  EXPECT_EQ(Kinds(tracker.Status({w}, 6)), Strings{});
  w.frozen_by.clear();
  w.waiting_for = "test";
  w.waiting_reason = "test is not settled";
  events = tracker.Status({w}, 7);
  ASSERT_EQ(Kinds(events), Strings{"waiting"});
  EXPECT_EQ(events[0].detail, "waits for test: test is not settled");
  EXPECT_EQ(Kinds(tracker.Status({}, 8)), Strings{});
  EXPECT_EQ(Kinds(tracker.Status({w}, 9)), Strings{"waiting"});
}

TEST(EventKindTest, NamesRoundTripAndAnUnknownOneIsNamed) {
  for (int i = 0; i <= static_cast<int>(EventKind::kDrift); ++i) {
    auto kind = static_cast<EventKind>(i);
    ASSERT_TRUE(ParseEventKind(Name(kind)).ok());
    EXPECT_EQ(*ParseEventKind(Name(kind)), kind);
  }
  Result<EventKind> bad = ParseEventKind("finished");
  ASSERT_FALSE(bad.ok());
  EXPECT_NE(bad.status().message().find("\"finished\" is not an event"), std::string::npos);
}

}  // namespace
}  // namespace pagoda::notify
