// Leader election's rules with Leases in memory and a clock the test moves;
// the Leases' JSON with a scripted transport. tests/integration/lease_test.cc
// proves the same against a real API server.
#include "kube/lease.h"

#include <gtest/gtest.h>

#include <deque>
#include <functional>
#include <utility>

#include "base/json.h"
#include "kube/kube.h"
#include "kube/scripted_transport.h"

namespace pagoda::kube {
namespace {

using namespace std::chrono_literals;

LeaseTiming Defaults() { return LeaseTiming{}; }

// What Validate() says of `lease`, `renew` and `retry`.
std::string Refusal(std::chrono::milliseconds lease, std::chrono::milliseconds renew,
                    std::chrono::milliseconds retry) {
  return LeaseTiming{lease, renew, retry}.Validate().message();
}

// One replica's way to the shared store: it can be cut off, every call takes
// `latency` of the test's clock, and `before_update` runs just before an
// Update goes through (to slip another replica's write in between).
class Link final : public LeaseStore {
 public:
  Link(LeaseStore& store, FakeClock& clock) : store_(store), clock_(clock) {}
  bool up = true;
  std::chrono::milliseconds latency{0};
  std::function<void()> before_update;

  Result<Versioned> Get(const std::string& name) override {
    if (auto s = Enter(); !s.ok()) return s;
    return store_.Get(name);
  }
  Result<Versioned> Create(const std::string& name, const LeaseRecord& r) override {
    if (auto s = Enter(); !s.ok()) return s;
    return store_.Create(name, r);
  }
  Result<Versioned> Update(const std::string& name, const Versioned& v) override {
    if (auto s = Enter(); !s.ok()) return s;
    if (before_update) std::exchange(before_update, nullptr)();
    return store_.Update(name, v);
  }
  Result<std::map<std::string, Versioned>> List(const std::string& prefix) override {
    if (auto s = Enter(); !s.ok()) return s;
    return store_.List(prefix);
  }
  Status Delete(const std::string& name, const std::string& version) override {
    if (auto s = Enter(); !s.ok()) return s;
    return store_.Delete(name, version);
  }

 private:
  Status Enter() {
    clock_.Advance(latency);
    return up ? Status::Ok() : Status::Unavailable("cut off");
  }
  LeaseStore& store_;
  FakeClock& clock_;
};

TEST(MemoryLeaseStore, ADeleteOfAChangedLeaseIsAConflictAndOfAGoneOneIsOk) {
  MemoryLeaseStore store;
  auto made = store.Create("beat", LeaseRecord{"a", 15, "", "", 0, {}});
  ASSERT_TRUE(made.ok());
  LeaseStore::Versioned renewed = *made;
  renewed.record.renew_time = "2026-12-06T10:00:00.000000Z";
  ASSERT_TRUE(store.Update("beat", renewed).ok());
  EXPECT_EQ(store.Delete("beat", made->resource_version).code(), Status::Code::kConflict);
  auto now = store.Get("beat");
  ASSERT_TRUE(now.ok());
  EXPECT_TRUE(store.Delete("beat", now->resource_version).ok());
  EXPECT_EQ(store.Get("beat").status().code(), Status::Code::kNotFound);
  EXPECT_TRUE(store.Delete("beat", now->resource_version).ok());
}

TEST(LeaseTiming, RefusesTimingsThatCannotKeepOneLeader) {
  EXPECT_TRUE(Defaults().Validate().ok());
  EXPECT_TRUE((LeaseTiming{3s, 2s, 500ms}).Validate().ok());

  Status s = LeaseTiming{10s, 10s, 2s}.Validate();
  EXPECT_EQ(s.code(), Status::Code::kInvalidArgument);
  EXPECT_TRUE(s.message().starts_with("lease:")) << s.message();
  s = LeaseTiming{5s, 10s, 2s}.Validate();
  EXPECT_TRUE(s.message().starts_with("lease:")) << s.message();

  s = LeaseTiming{15s, 2400ms, 2s}.Validate();  // exactly 1.2 x retry
  EXPECT_EQ(s.code(), Status::Code::kInvalidArgument);
  EXPECT_TRUE(s.message().starts_with("renewDeadline:")) << s.message();
  EXPECT_TRUE((LeaseTiming{15s, 2401ms, 2s}).Validate().ok());

  EXPECT_TRUE(Refusal(15s, 10s, 0s).starts_with("retry:"));
  EXPECT_TRUE(Refusal(15s, 0s, 1s).starts_with("renewDeadline:"));
  EXPECT_TRUE(Refusal(0s, 10s, 2s).starts_with("lease:"));
  // leaseDurationSeconds is whole seconds: 2.5 s would be written as 2.
  EXPECT_TRUE(Refusal(2500ms, 2100ms, 1s).starts_with("lease:"));
}

TEST(MicroTime, IsRfc3339InUtcWithSixDigits) {
  EXPECT_EQ(FormatMicroTime(1714557600123), "2024-05-01T10:00:00.123000Z");
  EXPECT_EQ(FormatMicroTime(0), "1970-01-01T00:00:00.000000Z");
  EXPECT_EQ(FormatMicroTime(1'800'000'000'999), "2027-01-15T08:00:00.999000Z");
}

TEST(MemoryLeaseStore, VersionsCountUpAndAStaleUpdateIsAConflict) {
  MemoryLeaseStore store;
  auto a = store.Create("one", LeaseRecord{.holder = "a"});
  ASSERT_TRUE(a.ok());
  EXPECT_EQ(a->resource_version, "1");
  EXPECT_EQ(store.Create("one", {}).status().code(), Status::Code::kAlreadyExists);
  auto b = store.Create("two", {});
  ASSERT_TRUE(b.ok());
  EXPECT_EQ(b->resource_version, "2");

  LeaseStore::Versioned next = *a;
  next.record.holder = "b";
  auto updated = store.Update("one", next);
  ASSERT_TRUE(updated.ok());
  EXPECT_EQ(updated->resource_version, "3");
  EXPECT_EQ(store.Get("one")->record.holder, "b");
  // Again from version 1: someone wrote since.
  next.record.holder = "c";
  EXPECT_EQ(store.Update("one", next).status().code(), Status::Code::kConflict);
  EXPECT_EQ(store.Get("one")->record.holder, "b");
  next.resource_version = "";
  EXPECT_EQ(store.Update("one", next).status().code(), Status::Code::kInvalidArgument);
  EXPECT_EQ(store.Update("three", *b).status().code(), Status::Code::kNotFound);
  EXPECT_EQ(store.Get("three").status().code(), Status::Code::kNotFound);
  EXPECT_EQ(store.Get("Not/A/Name").status().code(), Status::Code::kInvalidArgument);

  ASSERT_TRUE(store.Create("onward", {}).ok());
  auto listed = store.List("one");
  ASSERT_TRUE(listed.ok());
  ASSERT_EQ(listed->size(), 1u);
  EXPECT_EQ(listed->begin()->first, "one");
  EXPECT_EQ(store.List("on")->size(), 2u);

  store.SetReachable(false);
  EXPECT_EQ(store.Get("one").status().code(), Status::Code::kUnavailable);
  EXPECT_EQ(store.List("").status().code(), Status::Code::kUnavailable);
  store.SetReachable(true);
  EXPECT_TRUE(store.Get("one").ok());
}

TEST(LeaseElector, FirstAcquirerWinsAndTheSecondOnlyObserves) {
  MemoryLeaseStore store;
  FakeClock clock;
  LeaseElector a(store, "pagoda", "a", Defaults(), clock);
  LeaseElector b(store, "pagoda", "b", Defaults(), clock);

  EXPECT_TRUE(a.Try());
  EXPECT_TRUE(a.Leading());
  EXPECT_EQ(a.LeadingSince(), clock.Now());
  EXPECT_EQ(a.WritesUntil(), clock.Now() + 10s);
  auto held = store.Get("pagoda");
  ASSERT_TRUE(held.ok());
  EXPECT_EQ(held->record.holder, "a");
  EXPECT_EQ(held->record.duration_seconds, 15);
  EXPECT_EQ(held->record.transitions, 0);
  EXPECT_EQ(held->record.acquire_time, FormatMicroTime(clock.UnixMillis()));
  EXPECT_EQ(held->record.renew_time, held->record.acquire_time);
  EXPECT_EQ(a.observed(), held->record);

  EXPECT_FALSE(b.Try());
  EXPECT_FALSE(b.Leading());
  EXPECT_LE(b.WritesUntil(), clock.Now());
  EXPECT_EQ(b.last_error(), "");  // finding it held is no failure
  EXPECT_EQ(b.LiveHolder(), "a");
  EXPECT_EQ(a.LiveHolder(), "a");
  EXPECT_EQ(store.Get("pagoda")->resource_version, held->resource_version) << "b wrote";

  // Observing never writes, even when the Lease is free.
  MemoryLeaseStore empty;
  LeaseElector watcher(empty, "pagoda", "w", Defaults(), clock);
  EXPECT_FALSE(watcher.Try(/*acquire=*/false));
  EXPECT_EQ(empty.Get("pagoda").status().code(), Status::Code::kNotFound);
  EXPECT_EQ(watcher.LiveHolder(), "");
}

TEST(LeaseElector, TakesOverOnlyAfterAWholeLeaseOfObservedSilence) {
  MemoryLeaseStore store;
  FakeClock clock;
  // Its times say it was renewed an hour ago; b cannot know whose clock is
  // right, so it waits a whole lease from when it first saw the record.
  LeaseRecord old{.holder = "a",
                  .duration_seconds = 15,
                  .acquire_time = FormatMicroTime(clock.UnixMillis() - 3'600'000),
                  .renew_time = FormatMicroTime(clock.UnixMillis() - 3'600'000),
                  .transitions = 4};
  ASSERT_TRUE(store.Create("pagoda", old).ok());
  LeaseElector b(store, "pagoda", "b", Defaults(), clock);
  const auto seen = clock.Now();
  EXPECT_FALSE(b.Try());
  clock.Advance(14'999ms);
  EXPECT_FALSE(b.Try());
  EXPECT_EQ(b.LiveHolder(), "a");
  clock.Advance(1ms);
  EXPECT_EQ(b.LiveHolder(), "");  // expired in b's eyes
  EXPECT_TRUE(b.Try());
  EXPECT_EQ(clock.Now() - seen, 15s);
  EXPECT_EQ(b.observed().holder, "b");
  EXPECT_EQ(b.observed().transitions, 5);
  EXPECT_EQ(b.observed().acquire_time, FormatMicroTime(clock.UnixMillis()));
}

TEST(LeaseElector, ARenewingHolderIsNeverTakenOver) {
  MemoryLeaseStore store;
  FakeClock clock;
  LeaseElector a(store, "pagoda", "a", Defaults(), clock);
  LeaseElector b(store, "pagoda", "b", Defaults(), clock);
  ASSERT_TRUE(a.Try());
  const std::string acquired = a.observed().acquire_time;
  for (int i = 0; i < 30; ++i) {  // a minute
    clock.Advance(1s);
    EXPECT_FALSE(b.Try());
    clock.Advance(1s);
    const int64_t calls = store.calls();
    ASSERT_TRUE(a.Try());
    EXPECT_EQ(store.calls(), calls + 1) << "a renewal is one request, without a read";
  }
  EXPECT_EQ(a.observed().acquire_time, acquired);
  EXPECT_EQ(a.observed().transitions, 0);
  EXPECT_EQ(a.observed().renew_time, FormatMicroTime(clock.UnixMillis()));
  EXPECT_EQ(a.LeadingSince(), clock.Now() - 60s);
}

TEST(LeaseElector, TakeoversCountTransitionsAndRenewalsKeepThem) {
  MemoryLeaseStore store;
  FakeClock clock;
  LeaseElector a(store, "pagoda", "a", Defaults(), clock);
  LeaseElector b(store, "pagoda", "b", Defaults(), clock);
  ASSERT_TRUE(a.Try());
  ASSERT_FALSE(b.Try());
  clock.Advance(2s);
  ASSERT_TRUE(a.Try());
  ASSERT_FALSE(b.Try());  // sees the renewal: 15 s from now

  // a goes silent; b takes over a whole lease after it last saw a change.
  clock.Advance(14s);
  EXPECT_FALSE(b.Try());
  EXPECT_FALSE(a.Leading()) << "a's renew deadline has passed";
  clock.Advance(1s);
  ASSERT_TRUE(b.Try());
  const std::string b_acquired = b.observed().acquire_time;
  EXPECT_EQ(b_acquired, FormatMicroTime(clock.UnixMillis()));
  EXPECT_EQ(b.observed().transitions, 1);
  clock.Advance(2s);
  ASSERT_TRUE(b.Try());
  EXPECT_EQ(b.observed().transitions, 1);
  EXPECT_EQ(b.observed().acquire_time, b_acquired);

  // a comes back: it sees b holding it, and does not lead.
  EXPECT_FALSE(a.Try());
  EXPECT_EQ(a.LiveHolder(), "b");
  EXPECT_EQ(a.last_error(), "");
}

TEST(LeaseElector, AnUnreachableHolderStopsExactlyAtItsRenewDeadline) {
  MemoryLeaseStore store;
  FakeClock clock;
  LeaseElector a(store, "pagoda", "a", Defaults(), clock);
  ASSERT_TRUE(a.Try());
  clock.Advance(2s);
  const auto last = clock.Now();
  ASSERT_TRUE(a.Try());
  store.SetReachable(false);
  for (int i = 0; i < 4; ++i) {
    clock.Advance(2s);
    EXPECT_TRUE(a.Try()) << "at +" << (i + 1) * 2 << "s";
    EXPECT_NE(a.last_error().find("unreachable"), std::string::npos) << a.last_error();
  }
  EXPECT_EQ(a.WritesUntil(), last + 10s);
  clock.Advance(1999ms);
  EXPECT_TRUE(a.Leading());
  clock.Advance(1ms);
  EXPECT_FALSE(a.Leading());
  EXPECT_FALSE(a.Try());
  EXPECT_EQ(a.WritesUntil(), last + 10s);

  // Reachable again, and still its: it leads again, a new term.
  store.SetReachable(true);
  clock.Advance(1s);
  EXPECT_TRUE(a.Try());
  EXPECT_EQ(a.last_error(), "");
  EXPECT_EQ(a.LeadingSince(), clock.Now());
  EXPECT_EQ(a.observed().transitions, 0);
}

// Two replicas with slow links try every retry period; a's link is then cut.
// At no moment do both lead, and a stops writing before b can take over.
TEST(LeaseElector, ACutOffHolderStopsBeforeAnotherCanTakeOver) {
  MemoryLeaseStore store;
  FakeClock clock;
  Link a_link(store, clock), b_link(store, clock);
  a_link.latency = 150ms;
  b_link.latency = 250ms;
  LeaseElector a(a_link, "pagoda", "a", Defaults(), clock);
  LeaseElector b(b_link, "pagoda", "b", Defaults(), clock);
  ASSERT_TRUE(a.Try());

  Clock::TimePoint b_acquired{};
  Clock::TimePoint a_writes_until{};
  for (int round = 0; round < 40 && b_acquired == Clock::TimePoint{}; ++round) {
    if (round == 5) a_link.up = false;
    a.Try();
    if (b.Try()) b_acquired = clock.Now();
    if (round >= 5 && a_writes_until == Clock::TimePoint{}) a_writes_until = a.WritesUntil();
    EXPECT_FALSE(a.Leading() && b.Leading()) << "round " << round;
    clock.Advance(700ms);
    EXPECT_FALSE(a.Leading() && b.Leading()) << "round " << round;
    clock.Advance(1300ms);
  }
  ASSERT_NE(b_acquired, Clock::TimePoint{}) << "b never took over";
  EXPECT_EQ(a.WritesUntil(), a_writes_until) << "a renewed while cut off";
  EXPECT_LT(a.WritesUntil(), b_acquired);
  // b took over a lease after it saw a's last renewal, at its next attempt
  // (a round is 2 s and the links' latencies).
  const Clock::TimePoint last_renewal = a.WritesUntil() - 10s;
  EXPECT_GE(b_acquired, last_renewal + 15s);
  EXPECT_LE(b_acquired, last_renewal + 15s + 3s);
  EXPECT_EQ(b.observed().transitions, 1);
}

TEST(LeaseElector, ReleaseLetsAnotherAcquireAtOnce) {
  MemoryLeaseStore store;
  FakeClock clock;
  LeaseElector a(store, "pagoda", "a", Defaults(), clock);
  LeaseElector b(store, "pagoda", "b", Defaults(), clock);
  ASSERT_TRUE(a.Try());
  ASSERT_FALSE(b.Try());
  clock.Advance(1s);
  ASSERT_TRUE(a.Release().ok());
  EXPECT_FALSE(a.Leading());
  EXPECT_LE(a.WritesUntil(), clock.Now());
  auto released = store.Get("pagoda");
  ASSERT_TRUE(released.ok());
  EXPECT_EQ(released->record.holder, "");
  EXPECT_EQ(released->record.duration_seconds, 1);
  EXPECT_EQ(released->record.transitions, 0);
  EXPECT_EQ(released->record.renew_time, FormatMicroTime(clock.UnixMillis()));
  EXPECT_EQ(a.LiveHolder(), "");

  EXPECT_TRUE(b.Try());  // no waiting: nobody holds it
  EXPECT_EQ(b.observed().transitions, 1);
  EXPECT_EQ(b.observed().duration_seconds, 15);

  // a holds nothing now: releasing again asks nothing and changes nothing.
  const int64_t calls = store.calls();
  EXPECT_TRUE(a.Release().ok());
  EXPECT_EQ(store.calls(), calls);
  // Nor does a replica that saw b's Lease and tries to release it.
  LeaseElector c(store, "pagoda", "c", Defaults(), clock);
  EXPECT_FALSE(c.Try());
  EXPECT_TRUE(c.Release().ok());
  EXPECT_EQ(store.Get("pagoda")->record.holder, "b");

  // Released while unreachable: it stops leading all the same.
  store.SetReachable(false);
  EXPECT_TRUE(b.Leading());
  EXPECT_EQ(b.Release().code(), Status::Code::kUnavailable);
  EXPECT_FALSE(b.Leading());
}

TEST(LeaseElector, AStaleResourceVersionIsAConflictAndDoesNotLead) {
  MemoryLeaseStore store;
  FakeClock clock;
  ASSERT_TRUE(store.Create("pagoda", LeaseRecord{.holder = ""}).ok());
  Link b_link(store, clock);
  LeaseElector a(store, "pagoda", "a", Defaults(), clock);
  LeaseElector b(b_link, "pagoda", "b", Defaults(), clock);
  // Both find it free; a's write lands between b's read and b's write.
  b_link.before_update = [&a] { ASSERT_TRUE(a.Try()); };
  EXPECT_FALSE(b.Try());
  EXPECT_FALSE(b.Leading());
  EXPECT_NE(b.last_error().find("conflict"), std::string::npos) << b.last_error();
  EXPECT_TRUE(a.Leading());
  EXPECT_EQ(store.Get("pagoda")->record.holder, "a");
  // Its next attempt reads a's record and leaves it alone.
  EXPECT_FALSE(b.Try());
  EXPECT_EQ(b.last_error(), "");
  EXPECT_EQ(b.LiveHolder(), "a");
}

TEST(LeaseElector, KeepsAnnotationsOthersWrote) {
  MemoryLeaseStore store;
  FakeClock clock;
  ASSERT_TRUE(
      store.Create("pagoda", LeaseRecord{.annotations = {{"pagoda.dev/next-release", "41"}}}).ok());
  LeaseElector a(store, "pagoda", "a", Defaults(), clock);
  ASSERT_TRUE(a.Try());
  clock.Advance(2s);
  ASSERT_TRUE(a.Try());
  EXPECT_EQ(store.Get("pagoda")->record.annotations.at("pagoda.dev/next-release"), "41");
  ASSERT_TRUE(a.Release().ok());
  EXPECT_EQ(store.Get("pagoda")->record.annotations.at("pagoda.dev/next-release"), "41");
}

// ---- The API server's Leases, with a scripted transport ---------------------------------

using testing::Answer;
using testing::Script;

std::unique_ptr<KubeClient> Client(Script* script, FakeClock* clock) {
  return testing::ScriptedClient(script, clock);
}

constexpr const char* kPath =
    "https://api.test/apis/coordination.k8s.io/v1/namespaces/pagoda-system/leases";

TEST(KubeLeaseStore, WritesAndReadsTheLeaseJson) {
  Script script;
  FakeClock clock;
  auto client = Client(&script, &clock);
  auto store = NewKubeLeaseStore(*client, "pagoda-system");

  // Created: no resourceVersion; the answer is what the server stored.
  script.answers.push_back(Answer(201, R"({"apiVersion":"coordination.k8s.io/v1","kind":"Lease",
    "metadata":{"name":"pagoda","namespace":"pagoda-system","resourceVersion":"812",
                "uid":"u-1","annotations":{"x":"1"}},
    "spec":{"holderIdentity":"host-a","leaseDurationSeconds":15,
            "acquireTime":"2027-01-15T08:00:00.000000Z","renewTime":"2027-01-15T08:00:00.000000Z",
            "leaseTransitions":0}})"));
  LeaseRecord r{.holder = "host-a",
                .duration_seconds = 15,
                .acquire_time = "2027-01-15T08:00:00.000000Z",
                .renew_time = "2027-01-15T08:00:00.000000Z",
                .transitions = 0,
                .annotations = {{"x", "1"}}};
  auto created = store->Create("pagoda", r);
  ASSERT_TRUE(created.ok()) << created.status().ToString();
  EXPECT_EQ(created->resource_version, "812");
  EXPECT_EQ(created->record, r);
  ASSERT_EQ(script.requests.size(), 1u);
  EXPECT_EQ(script.requests[0].method, "POST");
  EXPECT_EQ(script.requests[0].url, kPath);
  EXPECT_EQ(script.requests[0].body,
            R"({"apiVersion":"coordination.k8s.io/v1","kind":"Lease",)"
            R"("metadata":{"name":"pagoda","namespace":"pagoda-system","annotations":{"x":"1"}},)"
            R"("spec":{"holderIdentity":"host-a","leaseDurationSeconds":15,)"
            R"("acquireTime":"2027-01-15T08:00:00.000000Z",)"
            R"("renewTime":"2027-01-15T08:00:00.000000Z","leaseTransitions":0}})");

  // Updated: PUT with the version it read; a released Lease has no holder.
  script.answers.push_back(Answer(200, R"({"metadata":{"name":"pagoda","resourceVersion":"813"},
    "spec":{"holderIdentity":"","leaseDurationSeconds":1,"leaseTransitions":0}})"));
  LeaseStore::Versioned released{LeaseRecord{.holder = "", .duration_seconds = 1}, "812"};
  auto updated = store->Update("pagoda", released);
  ASSERT_TRUE(updated.ok()) << updated.status().ToString();
  EXPECT_EQ(updated->resource_version, "813");
  EXPECT_EQ(updated->record, released.record);
  EXPECT_EQ(script.requests[1].method, "PUT");
  EXPECT_EQ(script.requests[1].url, std::string(kPath) + "/pagoda");
  EXPECT_EQ(script.requests[1].body,
            R"({"apiVersion":"coordination.k8s.io/v1","kind":"Lease",)"
            R"("metadata":{"name":"pagoda","namespace":"pagoda-system","resourceVersion":"812"},)"
            R"("spec":{"holderIdentity":"","leaseDurationSeconds":1,"leaseTransitions":0}})");

  // A stale version: 409.
  script.answers.push_back(Answer(
      409, R"({"kind":"Status","reason":"Conflict","message":"Operation cannot be fulfilled on )"
           R"(leases.coordination.k8s.io \"pagoda\": the object has been modified"})"));
  auto stale = store->Update("pagoda", released);
  EXPECT_EQ(stale.status().code(), Status::Code::kConflict);
  EXPECT_NE(stale.status().message().find("has been modified"), std::string::npos);

  // Read: absent holder, duration and transitions are "", 0 and 0.
  script.answers.push_back(Answer(200, R"({"metadata":{"name":"pagoda","resourceVersion":"900"},
    "spec":{"renewTime":"2027-01-15T08:00:01.000000Z"}})"));
  auto got = store->Get("pagoda");
  ASSERT_TRUE(got.ok()) << got.status().ToString();
  EXPECT_EQ(got->record, LeaseRecord{.renew_time = "2027-01-15T08:00:01.000000Z"});
  EXPECT_EQ(script.requests.back().method, "GET");
  EXPECT_EQ(script.requests.back().url, std::string(kPath) + "/pagoda");

  script.answers.push_back(Answer(404, R"({"kind":"Status","reason":"NotFound"})"));
  EXPECT_EQ(store->Get("gone").status().code(), Status::Code::kNotFound);

  // Listed: only the names with the prefix.
  script.answers.push_back(Answer(200, R"({"kind":"LeaseList","apiVersion":"coordination.k8s.io/v1",
    "metadata":{"resourceVersion":"901"},"items":[
    {"metadata":{"name":"pagoda-replica-a","resourceVersion":"5"},"spec":{"holderIdentity":"a"}},
    {"metadata":{"name":"pagoda","resourceVersion":"900"},"spec":{}},
    {"metadata":{"name":"pagoda-replica-b","resourceVersion":"7"},"spec":{"holderIdentity":"b"}}]})"));
  auto listed = store->List("pagoda-replica-");
  ASSERT_TRUE(listed.ok()) << listed.status().ToString();
  ASSERT_EQ(listed->size(), 2u);
  EXPECT_EQ(listed->at("pagoda-replica-a").record.holder, "a");
  EXPECT_EQ(listed->at("pagoda-replica-b").resource_version, "7");
  EXPECT_EQ(script.requests.back().url, std::string(kPath) + "?limit=500");

  // Names that are not a Lease's never reach the server.
  const size_t sent = script.requests.size();
  EXPECT_EQ(store->Get("../secrets/x").status().code(), Status::Code::kInvalidArgument);
  EXPECT_EQ(store->Update("pagoda", {r, ""}).status().code(), Status::Code::kInvalidArgument);
  EXPECT_EQ(script.requests.size(), sent);
}

}  // namespace
}  // namespace pagoda::kube
