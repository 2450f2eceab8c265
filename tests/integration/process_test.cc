// The daemon's process model end to end (docs/architecture.md): the real
// binary against the local control plane, its repository behind a server
// that can be made to stop answering. A Git server that says nothing, or
// stops halfway through a pack, freezes nothing: status, pause, abort,
// batch progress and SIGTERM all answer within 2 s. A hold, by policy or by
// an operator, outlives SIGKILL and SIGHUP until it is resumed, and no batch
// is done twice.
#include <gtest/gtest.h>
#include <signal.h>

#include <chrono>
#include <filesystem>
#include <fstream>
#include <random>
#include <sstream>
#include <thread>

#include "tests/integration/daemon_fixture.h"
#include "tests/servers/git_servers.h"
#include "tests/servers/stall_server.h"

namespace pagoda {
namespace {

using namespace std::chrono_literals;
using journal::Hold;
using journal::Outcome;
using journal::ReleaseRecord;
using testing::Git;
using testing::Kubectl;

namespace fs = std::filesystem;

// How long a request may take while the Git server says nothing.
constexpr auto kPrompt = 2s;

class Process : public testing::DaemonFixture {
 protected:
  // The repository over smart HTTP, behind a server that passes everything
  // on until told otherwise.
  void ServeOverHttp() {
    ASSERT_TRUE(http_.Start(fs::path(repo_.dir()).parent_path().string(), "", "").ok());
    ASSERT_TRUE(front_.Start(http_.port(), pagoda::testing::StallingServer::kAll).ok());
    WriteConfig(testing::TestCluster::Get().pagoda_kubeconfig,
                "http://127.0.0.1:" + std::to_string(front_.port()) + "/" +
                    fs::path(repo_.dir()).filename().string(),
                "fetchTimeout: 60s\n");
  }

  // Runs the command line and checks that it answered within kPrompt.
  std::string Prompt(const std::vector<std::string>& args, int want = 0) {
    std::string out;
    auto start = std::chrono::steady_clock::now();
    int code = Cli(args, &out);
    auto took = std::chrono::steady_clock::now() - start;
    EXPECT_EQ(code, want) << out;
    EXPECT_LT(took, kPrompt) << "pagoda " << args[0] << " took "
                             << std::chrono::duration_cast<std::chrono::milliseconds>(took).count()
                             << " ms";
    return out;
  }

  // The release of shop-web/prod to `commit`, once it has `batches` batches.
  std::string WaitForBatches(const std::string& commit, size_t batches) {
    std::string id;
    EXPECT_TRUE(testing::WaitUntil(
        [&] {
          for (const auto& r : Releases()) {
            if (r.app == repo_.App("shop-web") && r.env == "prod" && r.to.id == commit &&
                r.batches.size() >= batches) {
              id = r.id;
              return true;
            }
          }
          return false;
        },
        60s));
    return id;
  }

  std::optional<ReleaseRecord> Record(const std::string& id) {
    for (const auto& r : Releases()) {
      if (r.id == id) return r;
    }
    return std::nullopt;
  }

  // Each Deployment of shop-web/prod as name=replicas.
  std::string ProdReplicas() {
    const std::vector<std::string> args = {
        "get", "deployments",
        "-n",  repo_.App("shop-web"),
        "-o",  "jsonpath={range .items[*]}{.metadata.name}={.spec.replicas} {end}"};
    std::istringstream all(Kubectl(args));
    std::string out, one;
    while (all >> one) {
      if (one.rfind("prod-", 0) == 0) out += one + " ";
    }
    return out;
  }

  std::string Status() {
    std::string out;
    Cli({"status", "--json"}, &out);
    return out;
  }

  // shop-web/prod released once, then a new image pushed with its release
  // policy's line `policy` ("pause: first", "batchInterval: 20s") in force.
  std::string ReleaseNewImage(const std::string& policy) {
    StartDaemon();
    std::string head;
    Git(repo_.dir(), {"rev-parse", "HEAD"}, &head);
    EXPECT_TRUE(WaitForRelease("shop-web", "prod", head.substr(0, 40), 60s).has_value());
    const std::string field = policy.substr(0, policy.find(':') + 1);
    repo_.Edit("shop-web", "envs/prod.yaml",
               field == "pause:" ? "pause: none" : "batchInterval: 0s", policy);
    repo_.Edit("shop-web", "deploy/web.yaml", "shop/web:1.4.2", "shop/web:1.7.0");
    return Commit("shop-web: web 1.7.0");
  }

  // A fetch the Git server will not finish: the server falls silent (or
  // stalls after `pass_bytes` of its answer) for every connection from now
  // on, a commit waits there, and the daemon is asked to fetch it. Returns
  // once a fetch of the daemon's is stuck in a read that never returns,
  // whichever fetch it is: the one asked for, or a periodic one that began
  // first (the asked-for fetch then waits for it).
  void HangTheNextFetch(size_t pass_bytes) {
    front_.SetPassBytes(pass_bytes);
    const int stalled = front_.stalled();
    if (pass_bytes > 0) {
      // A pack of a few MiB, so that the server stops halfway through it.
      std::mt19937_64 rng(42);
      std::string noise(3 << 20, ' ');
      for (char& c : noise) c = static_cast<char>('!' + rng() % 90);
      std::ofstream(repo_.dir() + "/blob.bin") << noise;
    } else {
      std::ofstream(repo_.dir() + "/NOTES") << "a commit the daemon cannot fetch\n";
    }
    Commit("a commit behind a server that stops answering");
    std::string out;
    ASSERT_EQ(Cli({"sync-now"}, &out), 0) << out;
    ASSERT_TRUE(testing::WaitUntil([&] { return front_.stalled() > stalled; }, 20s))
        << "no fetch of the daemon's was left waiting (" << front_.accepted() << " connections, "
        << front_.passed() << " bytes passed)";
    std::this_thread::sleep_for(500ms);  // well into the read that never returns
  }

  // With a fetch that does not end: status answers, the release is paused
  // and aborted within 2 s each, it rolls back meanwhile, and SIGTERM ends
  // the daemon within 2 s.
  void NothingWaitsForAHungFetch(size_t pass_bytes) {
    ServeOverHttp();
    const std::string commit = ReleaseNewImage("batchInterval: 20s");
    const std::string id = WaitForBatches(commit, 1);
    ASSERT_FALSE(id.empty());
    ASSERT_NO_FATAL_FAILURE(HangTheNextFetch(pass_bytes));

    std::string status = Prompt({"status", "--json"});
    EXPECT_NE(status.find("\"release\":\"" + id + "\""), std::string::npos) << status;
    Prompt({"release", "pause", id});
    EXPECT_TRUE(testing::WaitUntil([&] { return Record(id)->hold == Hold::kOperator; }, 5s));
    Prompt({"release", "abort", id});
    // Batch progress goes on: the way back is walked while the fetch hangs.
    auto done = WaitForRelease("shop-web", "prod", commit, 60s);
    ASSERT_TRUE(done.has_value());
    EXPECT_EQ(done->outcome, Outcome::kAborted);
    EXPECT_NE(Status().find("\"repo\""), std::string::npos);

    auto start = std::chrono::steady_clock::now();
    ::kill(daemon_->pid(), SIGTERM);
    int wait_status = 0;
    ASSERT_TRUE(daemon_->WaitForExit(kPrompt, &wait_status)) << "SIGTERM took more than 2 s";
    EXPECT_LT(std::chrono::steady_clock::now() - start, kPrompt);
    EXPECT_TRUE(WIFEXITED(wait_status) && WEXITSTATUS(wait_status) == 0) << wait_status;
  }

  // A release held after batch 1 stays held through SIGKILL and a restart,
  // and through SIGHUP, until resumed; then it finishes with each batch once.
  void HeldUntilResumed(const std::string& id) {
    ASSERT_TRUE(testing::WaitUntil(
        [&] { return Status().find("\"releasePhase\":\"held\"") != std::string::npos; }, 10s))
        << Status();
    const std::string before = ProdReplicas();
    ::kill(daemon_->pid(), SIGKILL);
    ASSERT_TRUE(daemon_->WaitForExit(5s));
    StartDaemon();
    std::this_thread::sleep_for(5s);  // several steps of the new process
    EXPECT_NE(Status().find("\"releasePhase\":\"held\""), std::string::npos) << Status();
    ::kill(daemon_->pid(), SIGHUP);
    std::this_thread::sleep_for(3s);
    EXPECT_NE(Status().find("\"releasePhase\":\"held\""), std::string::npos) << Status();
    EXPECT_TRUE(testing::ReadAll(Log()).find("SIGHUP: reloaded") != std::string::npos);
    const std::string after = ProdReplicas();
    EXPECT_EQ(after, before) << "nothing moves while held";

    std::string out;
    ASSERT_EQ(Cli({"release", "resume", id}, &out), 0) << out;
    ASSERT_TRUE(
        testing::WaitUntil([&] { return Record(id)->outcome == Outcome::kSucceeded; }, 60s));
    const std::optional<ReleaseRecord> done = Record(id);
    ASSERT_TRUE(done.has_value());
    std::vector<int> batches;
    for (const auto& b : done->batches) batches.push_back(b.index);
    const std::vector<int> once = {1, 2};
    EXPECT_EQ(batches, once) << "a batch was done twice";
  }

  source::testing::GitHttpServer http_;
  pagoda::testing::StallingServer front_;
};

TEST_F(Process, ASilentGitServerFreezesNothing) { NothingWaitsForAHungFetch(0); }

TEST_F(Process, AGitServerThatStallsHalfwayThroughAPackFreezesNothing) {
  NothingWaitsForAHungFetch(64 * 1024);
}

TEST_F(Process, AHoldByPolicyOutlivesSigkillAndSighup) {
  const std::string commit = ReleaseNewImage("pause: first");
  const std::string id = WaitForBatches(commit, 1);
  ASSERT_FALSE(id.empty());
  HeldUntilResumed(id);
}

TEST_F(Process, AnOperatorsPauseOutlivesSigkillAndSighup) {
  const std::string commit = ReleaseNewImage("batchInterval: 20s");
  const std::string id = WaitForBatches(commit, 1);
  ASSERT_FALSE(id.empty());
  std::string out;
  ASSERT_EQ(Cli({"release", "pause", id}, &out), 0) << out;
  HeldUntilResumed(id);
  EXPECT_EQ(Record(id)->hold, Hold::kNone);
}

// SIGHUP in the middle of a batched release, and while a control request
// waits for its answer: the release goes on under its id, the request is
// answered, and the journal holds one release, its batches each once.
TEST_F(Process, SighupDuringAReleaseAndDuringAControlRequest) {
  const std::string commit = ReleaseNewImage("batchInterval: 3s");
  const std::string id = WaitForBatches(commit, 1);
  ASSERT_FALSE(id.empty());
  ::kill(daemon_->pid(), SIGHUP);
  auto done = WaitForRelease("shop-web", "prod", commit, 60s);
  ASSERT_TRUE(done.has_value());
  EXPECT_EQ(done->id, id);
  EXPECT_EQ(done->outcome, Outcome::kSucceeded);
  ASSERT_EQ(done->batches.size(), 2u);
  EXPECT_EQ(done->batches[1].index, 2);

  // A rollback asked for, with SIGHUP on its heels.
  std::thread signal([&] {
    std::this_thread::sleep_for(50ms);
    ::kill(daemon_->pid(), SIGHUP);
  });
  std::string out;
  int code = Cli({"rollback", repo_.App("shop-web") + "/prod", "--to", done->from.id}, &out);
  signal.join();
  ASSERT_EQ(code, 0) << out;
  std::vector<ReleaseRecord> rollbacks;
  ASSERT_TRUE(testing::WaitUntil(
      [&] {
        rollbacks.clear();
        for (const auto& r : Releases()) {
          if (r.app == repo_.App("shop-web") && r.kind == journal::ReleaseKind::kRollback) {
            rollbacks.push_back(r);
          }
        }
        return !rollbacks.empty() && rollbacks[0].outcome != Outcome::kInProgress;
      },
      60s));
  ASSERT_EQ(rollbacks.size(), 1u) << "one rollback, asked for once";
  EXPECT_EQ(rollbacks[0].outcome, Outcome::kSucceeded);
  EXPECT_EQ(rollbacks[0].to.id, done->from.id);
  EXPECT_NE(Status().find("\"pinned\":{"), std::string::npos) << Status();
}

}  // namespace
}  // namespace pagoda
