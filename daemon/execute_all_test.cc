// What the loop does at once: ClusterAccess::ExecuteAll (each lane in
// order, different lanes at once, results in the jobs' order), and the
// reads orders due make first (PrefetchedWorkloads).
#include <gtest/gtest.h>

#include <atomic>
#include <chrono>
#include <condition_variable>
#include <mutex>
#include <thread>

#include "daemon/loop_internal.h"

namespace pagoda::daemon {
namespace {

// Each Execute() names its plan's first key in its result, notes which
// lanes are running, and waits (up to a deadline) until `wanted` have run
// at once.
class Recording final : public ClusterAccess {
 public:
  explicit Recording(int concurrency, int wanted) : concurrency_(concurrency), wanted_(wanted) {}

  int Concurrency() const override { return concurrency_; }
  apply::ExecuteResult Execute(const std::string& server, const diff::Plan& plan,
                               const std::string& commit) override {
    const std::string name = plan.changes.front().key.name;
    const std::string lane = name.substr(0, name.find('-'));
    {
      std::unique_lock lock(mu_);
      if (!running_lanes_.insert(lane).second) overlapped_in_lane_ = true;
      order_.push_back(name);
      threads_.insert(std::this_thread::get_id());
      ++running_;
      max_running_ = std::max(max_running_, running_);
      cv_.notify_all();
      cv_.wait_for(lock, std::chrono::milliseconds(300), [&] { return max_running_ >= wanted_; });
      --running_;
      running_lanes_.erase(lane);
    }
    apply::ExecuteResult result;
    result.changes.entries.push_back({apply::ChangeAction::kCreated, server + "/" + name, commit});
    return result;
  }
  Result<std::string> ServerOf(const std::string& c) override { return c; }
  Result<std::unique_ptr<ServerPlan>> Plan(const ServerDesired&) override {
    return Status::Internal("not planned here");
  }
  rollout::Workloads& Workloads(const std::string&) override { std::abort(); }
  Result<std::vector<manifest::NodeAllocatable>> Nodes(const std::string&) override {
    return std::vector<manifest::NodeAllocatable>{};
  }

  std::mutex mu_;
  std::condition_variable cv_;
  std::set<std::string> running_lanes_;
  std::vector<std::string> order_;
  std::set<std::thread::id> threads_;
  int running_ = 0, max_running_ = 0;
  bool overlapped_in_lane_ = false;

 private:
  const int concurrency_, wanted_;
};

diff::Plan PlanNamed(const std::string& name) {
  diff::Plan plan;
  diff::PlannedChange c;
  c.key = {"", "ConfigMap", "ns", name};
  plan.changes.push_back(c);
  return plan;
}

struct Jobs {
  std::vector<diff::Plan> plans;
  std::vector<ExecuteJob> jobs;
};

// Lanes a, b, c, d with three jobs each, interleaved: a-0 b-0 c-0 d-0 a-1 ...
Jobs FourLanes() {
  Jobs out;
  for (int i = 0; i < 3; ++i) {
    for (const char* lane : {"a", "b", "c", "d"}) {
      out.plans.push_back(PlanNamed(std::string(lane) + "-" + std::to_string(i)));
    }
  }
  for (size_t i = 0; i < out.plans.size(); ++i) {
    const std::string& name = out.plans[i].changes.front().key.name;
    out.jobs.push_back({"s", &out.plans[i], "c" + std::to_string(i), name.substr(0, 1)});
  }
  return out;
}

TEST(ExecuteAllTest, LanesRunAtOnceEachInItsOrderAndResultsComeInTheJobsOrder) {
  Recording access(/*concurrency=*/4, /*wanted=*/4);
  Jobs j = FourLanes();
  auto results = access.ExecuteAll(j.jobs);
  ASSERT_EQ(results.size(), j.jobs.size());
  for (size_t i = 0; i < results.size(); ++i) {
    ASSERT_EQ(results[i].changes.entries.size(), 1u);
    EXPECT_EQ(results[i].changes.entries[0].key, "s/" + j.plans[i].changes.front().key.name);
    EXPECT_EQ(results[i].changes.entries[0].detail, j.jobs[i].commit);
  }
  EXPECT_EQ(access.max_running_, 4);  // four lanes, four at once
  EXPECT_FALSE(access.overlapped_in_lane_);
  for (const char* lane : {"a", "b", "c", "d"}) {
    std::vector<std::string> seen;
    for (const auto& name : access.order_) {
      if (name[0] == lane[0]) seen.push_back(name);
    }
    EXPECT_EQ(seen, (std::vector<std::string>{std::string(lane) + "-0", std::string(lane) + "-1",
                                              std::string(lane) + "-2"}));
  }
}

TEST(ExecuteAllTest, NoMoreAtOnceThanTheConcurrency) {
  Recording access(/*concurrency=*/2, /*wanted=*/4);  // waits out its deadline for 4: never there
  Jobs j = FourLanes();
  j.jobs.resize(4);  // one job in each lane
  auto results = access.ExecuteAll(j.jobs);
  EXPECT_EQ(results.size(), 4u);
  EXPECT_EQ(access.max_running_, 2);
  EXPECT_EQ(access.threads_.size(), 2u);
}

TEST(ExecuteAllTest, OneAtATimeRunsOnTheCallingThreadInTheJobsOrder) {
  Recording access(/*concurrency=*/1, /*wanted=*/1);
  Jobs j = FourLanes();
  auto results = access.ExecuteAll(j.jobs);
  EXPECT_EQ(access.threads_, std::set<std::thread::id>{std::this_thread::get_id()});
  // Lane by lane, in the order lanes first appear.
  EXPECT_EQ(access.order_, (std::vector<std::string>{"a-0", "a-1", "a-2", "b-0", "b-1", "b-2",
                                                     "c-0", "c-1", "c-2", "d-0", "d-1", "d-2"}));
  EXPECT_TRUE(access.ExecuteAll({}).empty());
}

// Counts reads; each answers the revision "r<number of the read>".
class CountingWorkloads final : public rollout::Workloads {
 public:
  int reads = 0;
  Result<std::map<std::string, rollout::RevisionState>> Read(const std::string& ns,
                                                             const std::string& env) override {
    ++reads;
    rollout::RevisionState s;
    s.deployment = ns + "/" + env;
    return std::map<std::string, rollout::RevisionState>{{"r" + std::to_string(reads), s}};
  }
  Status Scale(const std::string&, const std::string&, int64_t) override { return Status::Ok(); }
  std::string LastEvent(const std::string&, const std::vector<std::string>&) override { return ""; }
};

TEST(PrefetchedWorkloadsTest, AReadMadeAheadAnswersTheNextReadOnceAndIsNeverKeptLonger) {
  CountingWorkloads inner;
  PrefetchedWorkloads w(inner);
  w.Prefetch("shop", "prod");
  EXPECT_EQ(inner.reads, 1);
  auto first = w.Read("shop", "prod");  // the read made ahead
  ASSERT_TRUE(first.ok());
  EXPECT_EQ(first->begin()->first, "r1");
  EXPECT_EQ(first->begin()->second.deployment, "shop/prod");
  EXPECT_EQ(inner.reads, 1);
  auto second = w.Read("shop", "prod");  // then the workloads themselves
  ASSERT_TRUE(second.ok());
  EXPECT_EQ(second->begin()->first, "r2");
  w.Prefetch("shop", "prod");
  w.Forget();  // not taken: gone
  auto third = w.Read("shop", "prod");
  ASSERT_TRUE(third.ok());
  EXPECT_EQ(third->begin()->first, "r4");
}

}  // namespace
}  // namespace pagoda::daemon
