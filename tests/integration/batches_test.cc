// Batched release orders against the real local control plane: KWOK's pods
// start, become Ready and terminate, and a watch on the environment's pods
// checks the invariants at every event: never more than R instances
// (terminating ones counted), never fewer than R - k Ready once the release
// has begun (R = 1 excepted).
#include <gtest/gtest.h>
#include <rapidjson/document.h>

#include <atomic>
#include <chrono>
#include <map>
#include <mutex>
#include <thread>

#include "rollout/rollout.h"
#include "tests/integration/test_cluster.h"

namespace pagoda {
namespace {

using namespace std::chrono_literals;
using testing::TestCluster;

std::string DeploymentJson(const std::string& env, const std::string& revision,
                           const std::string& image, int replicas) {
  std::string labels =
      R"("app.kubernetes.io/name":"batches","app.kubernetes.io/managed-by":"pagoda",)"
      R"("app.kubernetes.io/instance":")" +
      env + R"(","pagoda.dev/revision":")" + revision + "\"";
  return R"({"apiVersion":"apps/v1","kind":"Deployment","metadata":{"name":")" + env + "-" +
         revision + R"(","labels":{)" + labels + R"(}},"spec":{"replicas":)" +
         std::to_string(replicas) + R"(,"selector":{"matchLabels":{)" + labels +
         R"(}},"template":{"metadata":{"labels":{)" + labels +
         R"(}},"spec":{"terminationGracePeriodSeconds":1,"containers":[{"name":"app","image":")" +
         image + R"("}]}}}})";
}

// Follows the environment's pods with `kubectl get pods --watch` (a real
// watch on the API server) and checks the invariants at every event.
class PodWatch {
 public:
  PodWatch(const std::string& ns, int64_t R, int64_t k)
      : R_(R),
        k_(k),
        proc_({TestCluster::Get().kubectl, "--kubeconfig=" + TestCluster::Get().admin_kubeconfig,
               "get", "pods", "-n", ns, "--watch", "--output-watch-events", "-o", "json"}) {
    reader_ = std::thread([this] { Read(); });
  }
  ~PodWatch() {
    stop_ = true;
    ::kill(proc_.pid(), SIGTERM);
    reader_.join();
  }
  void Begin() { begun_ = true; }  // the first scale call is about to be made
  // Ready pods as the watch sees them now.
  int64_t ready() {
    std::lock_guard<std::mutex> lock(mu_);
    int64_t n = 0;
    for (const auto& [name, r] : pods_) n += r;
    return n;
  }
  int64_t max_pods() {
    std::lock_guard<std::mutex> lock(mu_);
    return max_pods_;
  }
  int64_t min_ready() {
    std::lock_guard<std::mutex> lock(mu_);
    return min_ready_;
  }
  int events() {
    std::lock_guard<std::mutex> lock(mu_);
    return events_;
  }
  std::vector<std::string> violations() {
    std::lock_guard<std::mutex> lock(mu_);
    return violations_;
  }

 private:
  void Read() {
    std::string object;
    int depth = 0;
    while (!stop_) {
      std::string line = proc_.ReadLine(200ms);
      if (line.empty()) continue;
      for (char c : line) depth += c == '{' ? 1 : c == '}' ? -1 : 0;
      object += line + "\n";
      if (depth == 0 && !object.empty()) {
        Handle(object);
        object.clear();
      }
    }
  }
  void Handle(const std::string& text) {
    rapidjson::Document event;
    event.Parse(text.c_str());
    if (event.HasParseError() || !event.HasMember("object")) return;
    const auto& pod = event["object"];
    std::string name = pod["metadata"]["name"].GetString();
    std::string type = event["type"].GetString();
    std::lock_guard<std::mutex> lock(mu_);
    ++events_;
    if (type == "DELETED") {
      pods_.erase(name);
    } else {
      bool ready = false;
      if (pod["status"].HasMember("conditions")) {
        for (const auto& c : pod["status"]["conditions"].GetArray()) {
          if (std::string(c["type"].GetString()) == "Ready")
            ready = std::string(c["status"].GetString()) == "True";
        }
      }
      bool terminating = pod["metadata"].HasMember("deletionTimestamp");
      pods_[name] = ready && !terminating;
    }
    int64_t total = static_cast<int64_t>(pods_.size()), ready = 0;
    for (const auto& [n, r] : pods_) ready += r;
    max_pods_ = std::max(max_pods_, total);
    if (total > R_)
      violations_.push_back(std::to_string(total) +
                            " instances exist, more than R=" + std::to_string(R_));
    if (begun_ && R_ > 1) {
      min_ready_ = std::min(min_ready_, ready);
      if (ready < R_ - k_) {
        violations_.push_back(std::to_string(ready) +
                              " Ready, fewer than R-k=" + std::to_string(R_ - k_));
      }
    }
  }

  int64_t R_, k_;
  testing::ChildProcess proc_;
  std::thread reader_;
  std::atomic<bool> stop_{false};
  std::atomic<bool> begun_{false};
  std::mutex mu_;
  std::map<std::string, bool> pods_;
  int64_t max_pods_ = 0, min_ready_ = 1 << 30;
  int events_ = 0;
  std::vector<std::string> violations_;
};

// An environment of one namespace (labelled as pagoda's): revision "old"
// running R instances, revision "new" created at 0.
struct Environment {
  testing::ScopedNamespace ns{"it-batches", testing::ScopedNamespace::Labels::kPagodas};
  std::unique_ptr<kube::KubeClient> client;
  std::unique_ptr<rollout::KubeWorkloads> workloads;

  Environment(int64_t R, const std::string& new_image, bool with_old = true) {
    auto c = kube::KubeClient::Connect(TestCluster::Get().Pagoda());
    EXPECT_TRUE(c.ok());
    client = std::move(*c);
    workloads = std::make_unique<rollout::KubeWorkloads>(*client);
    const std::string path = "/apis/apps/v1/namespaces/" + ns.name() + "/deployments";
    if (with_old)
      Create(path, DeploymentJson("prod", "old", "example.com/app:1", static_cast<int>(R)));
    Create(path, DeploymentJson("prod", "new", new_image, 0));
    if (with_old) {
      EXPECT_TRUE(testing::WaitUntil([&] { return Ready("old") == R; }, 60s))
          << "the old revision never ran";
    }
  }
  void Create(const std::string& path, const std::string& json) {
    rapidjson::Document d;
    d.Parse(json.c_str());
    auto created = client->Post(path, d);
    EXPECT_TRUE(created.ok()) << created.status().ToString();
  }
  int64_t Ready(const std::string& revision) {
    auto state = workloads->Read(ns.name(), "prod");
    if (!state.ok() || !state->count(revision)) return -1;
    return (*state)[revision].ready;
  }
  int64_t Replicas(const std::string& revision) {
    auto state = workloads->Read(ns.name(), "prod");
    return state.ok() && state->count(revision) ? (*state)[revision].replicas : -1;
  }
};

rollout::OrderPolicy Policy(int64_t R, int B) {
  rollout::OrderPolicy p;
  p.replicas = R;
  p.batches = B;
  p.batch_timeout = 30s;
  p.poll = 20ms;
  return p;
}

// Steps an order in real time until it ends or holds.
rollout::OrderPhase Drive(rollout::ReleaseOrder& order, std::chrono::seconds limit = 120s) {
  auto deadline = std::chrono::steady_clock::now() + limit;
  while (std::chrono::steady_clock::now() < deadline) {
    auto next = order.Step();
    auto phase = order.phase();
    if (rollout::Finished(phase) || phase == rollout::OrderPhase::kHeld ||
        phase == rollout::OrderPhase::kFailed) {
      return phase;
    }
    auto wait = next - RealClock().Now();
    if (wait > 0ns) std::this_thread::sleep_for(std::min<std::chrono::nanoseconds>(wait, 1s));
  }
  ADD_FAILURE() << "the order did not finish in time";
  return order.phase();
}

TEST(Batches, InvariantsHoldAtEveryPodEventForEveryReplicaAndBatchCount) {
  for (int64_t R : {1, 2, 4, 5, 10}) {
    for (int B : {1, 2, 3, static_cast<int>(R)}) {
      if (B > R || (B == R && (R == 1 || R == 2))) continue;  // already covered
      SCOPED_TRACE("R=" + std::to_string(R) + " B=" + std::to_string(B));
      Environment env(R, "example.com/app:2");
      const int64_t k = (R + B - 1) / B;
      PodWatch watch(env.ns.name(), R, k);
      // The watch has listed what exists before the release begins.
      ASSERT_TRUE(testing::WaitUntil([&] { return watch.ready() == R; }, 30s));
      rollout::ReleaseOrder order(*env.workloads, RealClock(), env.ns.name(), "prod", "new",
                                  Policy(R, B));
      watch.Begin();
      EXPECT_EQ(Drive(order), rollout::OrderPhase::kSucceeded) << order.error();
      EXPECT_EQ(env.Replicas("new"), R);
      EXPECT_EQ(env.Replicas("old"), 0);
      EXPECT_EQ(order.batches().size(), static_cast<size_t>((R + k - 1) / k));
      std::this_thread::sleep_for(300ms);  // the last events arrive
      EXPECT_GT(watch.events(), 0);
      EXPECT_TRUE(watch.violations().empty()) << watch.violations().front();
      EXPECT_LE(watch.max_pods(), R);
    }
  }
}

TEST(Batches, PauseFirstHoldsWithKNewAndTheRestOldUntilResumedAndAbortReturnsToAllOld) {
  Environment env(4, "example.com/app:2");
  auto policy = Policy(4, 2);
  policy.pause = rollout::OrderPause::kFirst;
  rollout::ReleaseOrder order(*env.workloads, RealClock(), env.ns.name(), "prod", "new", policy);
  ASSERT_EQ(Drive(order), rollout::OrderPhase::kHeld);
  std::this_thread::sleep_for(1s);  // held means held
  order.Step();
  EXPECT_EQ(order.phase(), rollout::OrderPhase::kHeld);
  EXPECT_EQ(env.Ready("new"), 2);
  EXPECT_EQ(env.Ready("old"), 2);
  EXPECT_GE(order.held_for(), 1s);
  order.Abort();
  EXPECT_EQ(Drive(order), rollout::OrderPhase::kAborted);
  EXPECT_EQ(env.Replicas("old"), 4);
  EXPECT_EQ(env.Replicas("new"), 0);
  EXPECT_EQ(env.Ready("old"), 4);

  // The same from a hold, resumed instead: it finishes.
  rollout::ReleaseOrder again(*env.workloads, RealClock(), env.ns.name(), "prod", "new", policy);
  ASSERT_EQ(Drive(again), rollout::OrderPhase::kHeld);
  again.Resume();
  EXPECT_EQ(Drive(again), rollout::OrderPhase::kSucceeded);
  EXPECT_EQ(env.Ready("new"), 4);
}

TEST(Batches, ABrokenRevisionIsRolledBackAndTheReasonNamesPodsConditionAndEvent) {
  Environment env(4, "example.com/app:broken");
  auto policy = Policy(4, 2);
  policy.batch_timeout = 4s;
  PodWatch watch(env.ns.name(), 4, 2);
  ASSERT_TRUE(testing::WaitUntil([&] { return watch.ready() == 4; }, 30s));
  rollout::ReleaseOrder order(*env.workloads, RealClock(), env.ns.name(), "prod", "new", policy);
  watch.Begin();
  EXPECT_EQ(Drive(order), rollout::OrderPhase::kRolledBack);
  EXPECT_EQ(env.Replicas("old"), 4);
  EXPECT_EQ(env.Replicas("new"), 0);
  EXPECT_TRUE(testing::WaitUntil([&] { return env.Ready("old") == 4; }, 30s));
  const std::string& why = order.error();
  EXPECT_NE(why.find("0 of 2 instances of revision new Ready"), std::string::npos) << why;
  EXPECT_NE(why.find("prod-new-"), std::string::npos) << why;               // which pods
  EXPECT_NE(why.find("ContainersNotReady"), std::string::npos) << why;      // which condition
  EXPECT_NE(why.find("Readiness probe failed"), std::string::npos) << why;  // the last event
  std::this_thread::sleep_for(300ms);
  EXPECT_LE(watch.max_pods(), 4);
}

TEST(Batches, HaltHoldsTheFailedBatch) {
  Environment env(4, "example.com/app:broken");
  auto policy = Policy(4, 2);
  policy.batch_timeout = 3s;
  policy.on_failure = rollout::OrderFailure::kHalt;
  rollout::ReleaseOrder order(*env.workloads, RealClock(), env.ns.name(), "prod", "new", policy);
  EXPECT_EQ(Drive(order), rollout::OrderPhase::kFailed);
  EXPECT_EQ(env.Replicas("new"), 2);
  EXPECT_EQ(env.Replicas("old"), 2);
  EXPECT_EQ(env.Ready("old"), 2);
}

// An order that takes over from a held one (a newer commit superseded it):
// back to the revision it came from, or on to a third one, from the mixed
// state, within the invariants, oldest revision first.
TEST(Batches, AnOrderTakingOverFromAHeldOneGoesBackOrOnWithinTheInvariants) {
  for (bool back : {true, false}) {
    SCOPED_TRACE(back ? "back to old" : "on to third");
    Environment env(4, "example.com/app:2");
    // Revisions created a second apart, as commits are: creationTimestamp
    // orders them.
    const std::string path = "/apis/apps/v1/namespaces/" + env.ns.name() + "/deployments";
    std::this_thread::sleep_for(1100ms);
    env.Create(path, DeploymentJson("prod", "gray", "example.com/app:3", 0));
    std::this_thread::sleep_for(1100ms);
    env.Create(path, DeploymentJson("prod", "third", "example.com/app:4", 0));
    PodWatch watch(env.ns.name(), 4, 2);
    ASSERT_TRUE(testing::WaitUntil([&] { return watch.ready() == 4; }, 30s));
    auto policy = Policy(4, 2);
    policy.pause = rollout::OrderPause::kFirst;
    rollout::ReleaseOrder gray(*env.workloads, RealClock(), env.ns.name(), "prod", "gray", policy);
    watch.Begin();
    ASSERT_EQ(Drive(gray), rollout::OrderPhase::kHeld);
    ASSERT_EQ(env.Replicas("gray"), 2);

    auto next_policy = Policy(4, 2);
    next_policy.adopt_scaled = false;
    next_policy.pause = back ? rollout::OrderPause::kNone : rollout::OrderPause::kFirst;
    rollout::ReleaseOrder next(*env.workloads, RealClock(), env.ns.name(), "prod",
                               back ? "old" : "third", next_policy);
    if (back) {
      EXPECT_EQ(Drive(next), rollout::OrderPhase::kSucceeded) << next.error();
      EXPECT_EQ(env.Replicas("old"), 4);
      EXPECT_EQ(env.Replicas("gray"), 0);
      ASSERT_EQ(next.batches().size(), 1u);  // the two instances the gray order had moved
      EXPECT_EQ(next.batches()[0].instances, 2);
    } else {
      ASSERT_EQ(Drive(next), rollout::OrderPhase::kHeld) << next.error();
      EXPECT_EQ(env.Replicas("old"), 0);  // the oldest gave its instances first
      EXPECT_EQ(env.Replicas("gray"), 2);
      EXPECT_EQ(env.Replicas("third"), 2);
      next.Resume();
      EXPECT_EQ(Drive(next), rollout::OrderPhase::kSucceeded) << next.error();
      EXPECT_EQ(env.Replicas("third"), 4);
      EXPECT_EQ(env.Replicas("gray"), 0);
      EXPECT_EQ(next.batches().size(), 2u);
    }
    std::this_thread::sleep_for(300ms);
    EXPECT_TRUE(watch.violations().empty()) << watch.violations().front();
    EXPECT_LE(watch.max_pods(), 4);
  }
}

TEST(Batches, AnOrderBuiltAfterEveryStepFinishesWithoutRepeatingABatch) {
  // As a restarted process would: a fresh order after each step, each one
  // reading where the cluster stands.
  Environment env(6, "example.com/app:2");
  PodWatch watch(env.ns.name(), 6, 2);
  ASSERT_TRUE(testing::WaitUntil([&] { return watch.ready() == 6; }, 30s));
  watch.Begin();
  std::vector<int> indices;
  rollout::OrderPhase phase = rollout::OrderPhase::kRunning;
  auto deadline = std::chrono::steady_clock::now() + 120s;
  while (!rollout::Finished(phase) && std::chrono::steady_clock::now() < deadline) {
    rollout::ReleaseOrder order(*env.workloads, RealClock(), env.ns.name(), "prod", "new",
                                Policy(6, 3));
    order.SetRecordedBatches(static_cast<int>(indices.size()));  // what the journal would hold
    order.Step();
    std::this_thread::sleep_for(50ms);
    order.Step();
    phase = order.phase();
    for (const auto& b : order.batches()) indices.push_back(b.index);
  }
  ASSERT_TRUE(rollout::Finished(phase));
  EXPECT_EQ(env.Replicas("new"), 6);
  EXPECT_EQ(env.Replicas("old"), 0);
  EXPECT_EQ(indices, (std::vector<int>{1, 2, 3})) << "a batch was repeated or skipped";
  std::this_thread::sleep_for(300ms);
  EXPECT_TRUE(watch.violations().empty()) << watch.violations().front();
}

}  // namespace
}  // namespace pagoda
