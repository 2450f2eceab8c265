// Leases against the real API server, as pagoda's ServiceAccount (the rights
// deploy/rbac.yaml grants and deploy/admission.yaml lets through): the store
// creates, reads, updates and lists them, a stale resourceVersion is a
// Conflict, and two electors on the real clock hand the Lease over as
// client-go's would.
#include "kube/lease.h"

#include <gtest/gtest.h>

#include <chrono>
#include <string>
#include <thread>
#include <vector>

#include "kube/kube.h"
#include "tests/integration/test_cluster.h"

namespace pagoda {
namespace {

using namespace std::chrono_literals;
using testing::Connect;
using testing::TestCluster;

constexpr const char* kNamespace = "pagoda-system";

// Deletes the Leases named, as the administrator, when the test ends however
// it ends.
class LeaseCleanup {
 public:
  ~LeaseCleanup() {
    auto admin = Connect(TestCluster::Get().Admin());
    if (admin == nullptr) return;
    for (const auto& name : names_) {
      auto deleted = admin->Delete(std::string("/apis/coordination.k8s.io/v1/namespaces/") +
                                   kNamespace + "/leases/" + name);
      EXPECT_TRUE(deleted.ok() || deleted.status().code() == Status::Code::kNotFound)
          << name << ": " << deleted.status().ToString();
    }
  }
  std::string Add(const std::string& name) {
    names_.push_back(name);
    return name;
  }

 private:
  std::vector<std::string> names_;
};

TEST(LeaseTest, StoreCreatesReadsUpdatesAndListsLeases) {
  auto client = Connect(TestCluster::Get().Pagoda());
  ASSERT_NE(client, nullptr);
  auto store = kube::NewKubeLeaseStore(*client, kNamespace);
  LeaseCleanup cleanup;
  const std::string prefix = testing::UniqueName("lease-test");
  const std::string one = cleanup.Add(prefix + "-one");
  const std::string two = cleanup.Add(prefix + "-two");

  const std::string now = kube::FormatMicroTime(RealClock().UnixMillis());
  kube::LeaseRecord record{.holder = "replica-a",
                           .duration_seconds = 15,
                           .acquire_time = now,
                           .renew_time = now,
                           .transitions = 0,
                           .annotations = {{"pagoda.dev/test", "1"}}};
  auto created = store->Create(one, record);
  ASSERT_TRUE(created.ok()) << created.status().ToString();
  EXPECT_FALSE(created->resource_version.empty());
  EXPECT_EQ(created->record, record) << "the server changed what it stored";

  auto got = store->Get(one);
  ASSERT_TRUE(got.ok()) << got.status().ToString();
  EXPECT_EQ(got->record, record);
  EXPECT_EQ(got->resource_version, created->resource_version);

  auto again = store->Create(one, record);
  EXPECT_EQ(again.status().code(), Status::Code::kAlreadyExists) << again.status().ToString();

  // An update from the version read; the time as the server returns it.
  kube::LeaseStore::Versioned renewed = *got;
  renewed.record.renew_time = kube::FormatMicroTime(RealClock().UnixMillis() + 1);
  renewed.record.transitions = 3;
  auto updated = store->Update(one, renewed);
  ASSERT_TRUE(updated.ok()) << updated.status().ToString();
  EXPECT_EQ(updated->record, renewed.record);
  EXPECT_NE(updated->resource_version, got->resource_version);

  // The version read before that update is stale now: 409, and nothing changes.
  kube::LeaseStore::Versioned stale = *got;
  stale.record.holder = "replica-b";
  auto conflict = store->Update(one, stale);
  EXPECT_EQ(conflict.status().code(), Status::Code::kConflict) << conflict.status().ToString();
  EXPECT_EQ(store->Get(one)->record.holder, "replica-a");

  // Released: no holder, as leader election writes it.
  kube::LeaseStore::Versioned released = *updated;
  released.record.holder = "";
  released.record.duration_seconds = 1;
  auto written = store->Update(one, released);
  ASSERT_TRUE(written.ok()) << written.status().ToString();
  EXPECT_EQ(store->Get(one)->record, released.record);

  ASSERT_TRUE(store->Create(two, kube::LeaseRecord{.holder = "replica-b"}).ok());
  auto listed = store->List(prefix + "-");
  ASSERT_TRUE(listed.ok()) << listed.status().ToString();
  ASSERT_EQ(listed->size(), 2u);
  EXPECT_EQ(listed->at(one).record, released.record);
  EXPECT_EQ(listed->at(one).resource_version, written->resource_version);
  EXPECT_EQ(listed->at(two).record.holder, "replica-b");
  EXPECT_TRUE(store->List(prefix + "-t")->contains(two));
  EXPECT_FALSE(store->List(prefix + "-t")->contains(one));

  EXPECT_EQ(store->Get(prefix + "-three").status().code(), Status::Code::kNotFound);

  // Deleted only at the version read: a Lease renewed since is kept.
  EXPECT_EQ(store->Delete(one, updated->resource_version).code(), Status::Code::kConflict);
  EXPECT_TRUE(store->Get(one).ok());
  EXPECT_TRUE(store->Delete(one, written->resource_version).ok());
  EXPECT_EQ(store->Get(one).status().code(), Status::Code::kNotFound);
  EXPECT_TRUE(store->Delete(one, written->resource_version).ok()) << "gone already is fine";
}

// Two replicas in one process, each with its own client, on the real clock.
TEST(LeaseTest, TwoElectorsHandOverOnTheRealClock) {
  const kube::LeaseTiming timing{3s, 2s, 500ms};
  ASSERT_TRUE(timing.Validate().ok());
  // Requests bounded well within a retry period, as leadership's client is.
  kube::ClientOptions options;
  options.timeout = 1s;
  options.retry.max_attempts = 2;
  auto a_client = kube::KubeClient::Connect(TestCluster::Get().Pagoda(), options);
  auto b_client = kube::KubeClient::Connect(TestCluster::Get().Pagoda(), options);
  ASSERT_TRUE(a_client.ok()) << a_client.status().ToString();
  ASSERT_TRUE(b_client.ok()) << b_client.status().ToString();
  auto a_store = kube::NewKubeLeaseStore(**a_client, kNamespace);
  auto b_store = kube::NewKubeLeaseStore(**b_client, kNamespace);
  LeaseCleanup cleanup;
  const std::string name = cleanup.Add(testing::UniqueName("lease-test-election"));
  Clock& clock = RealClock();
  kube::LeaseElector a(*a_store, name, "replica-a", timing, clock);
  kube::LeaseElector b(*b_store, name, "replica-b", timing, clock);

  ASSERT_TRUE(a.Try()) << a.last_error();
  EXPECT_FALSE(b.Try()) << "b took a Lease a had just acquired";
  EXPECT_EQ(b.last_error(), "");
  EXPECT_EQ(b.LiveHolder(), "replica-a");
  EXPECT_EQ(a.observed().transitions, 0);

  // Both try every retry period for a few seconds, longer than a lease: a
  // keeps it.
  for (auto until = clock.Now() + 4s; clock.Now() < until;) {
    std::this_thread::sleep_for(timing.retry);
    ASSERT_TRUE(a.Try()) << a.last_error();
    ASSERT_FALSE(b.Try()) << "b took the Lease from a renewing holder";
  }
  EXPECT_EQ(a.observed().transitions, 0);

  // a stops renewing (as a replica cut off or stopped would). b takes over
  // once a lease has passed since it saw a's last renewal, and a has stopped
  // leading before then.
  const Clock::TimePoint last_renewal = a.WritesUntil() - timing.renew_deadline;
  Clock::TimePoint b_acquired{};
  while (clock.Now() < last_renewal + 10s) {
    std::this_thread::sleep_for(timing.retry);
    EXPECT_FALSE(a.Leading() && b.Leading());
    if (b.Try()) {
      b_acquired = clock.Now();
      break;
    }
    ASSERT_EQ(b.last_error(), "");
  }
  ASSERT_NE(b_acquired, Clock::TimePoint{}) << "b never took over";
  EXPECT_FALSE(a.Leading());
  EXPECT_LT(a.WritesUntil(), b_acquired);
  EXPECT_GE(b_acquired - last_renewal, timing.lease);
  // Within a lease and a retry period, and the requests' own time.
  EXPECT_LE(b_acquired - last_renewal, timing.lease + timing.retry + 1s);
  EXPECT_EQ(b.observed().holder, "replica-b");
  EXPECT_EQ(b.observed().transitions, 1);

  // a comes back and finds b holding it.
  EXPECT_FALSE(a.Try());
  EXPECT_EQ(a.LiveHolder(), "replica-b");

  // b lets go: a takes it at its next attempt, without waiting out a lease.
  ASSERT_TRUE(b.Release().ok());
  EXPECT_FALSE(b.Leading());
  const auto released = clock.Now();
  ASSERT_TRUE(a.Try()) << a.last_error();
  EXPECT_LT(clock.Now() - released, 1s);
  EXPECT_EQ(a.observed().transitions, 2);
  EXPECT_EQ(a.observed().acquire_time, a.observed().renew_time);

  // What the server holds is what a wrote.
  auto held = a_store->Get(name);
  ASSERT_TRUE(held.ok()) << held.status().ToString();
  EXPECT_EQ(held->record, a.observed());
  EXPECT_EQ(held->record.duration_seconds, 3);
  ASSERT_TRUE(a.Release().ok());
  EXPECT_EQ(a_store->Get(name)->record.holder, "");
}

}  // namespace
}  // namespace pagoda
