// pagoda daemon end to end: a real Git repository, the real local control
// plane, the daemon as a real process under pagoda's own RBAC, and the
// command line talking to it. Push to release, revert to roll back, break one
// app without stopping the others, heal drift, survive remote failures, a
// force push and a SIGKILL.
#include <gtest/gtest.h>
#include <signal.h>
#include <sys/wait.h>

#include <chrono>
#include <ctime>
#include <filesystem>
#include <fstream>
#include <iostream>
#include <sstream>
#include <thread>

#include "journal/journal.h"
#include "tests/integration/daemon_fixture.h"

namespace pagoda {
namespace {

using namespace std::chrono_literals;
using journal::Outcome;
using journal::ReleaseRecord;
using testing::ExampleRepo;
using testing::TestCluster;

using testing::Git;
using testing::Kubectl;
using testing::ReadAll;

class DaemonTest : public testing::DaemonFixture {
 protected:
  // shop-web/prod released, then web 1.7.0 pushed with `pause: first`: held
  // after its first batch of two.
  struct GrayRelease {
    std::string id, commit, old_revision;
  };
  GrayRelease HeldGrayRelease() {
    GrayRelease gray;
    StartDaemon();
    std::string head;
    Git(repo_.dir(), {"rev-parse", "HEAD"}, &head);
    EXPECT_TRUE(WaitForRelease("shop-web", "prod", head.substr(0, 40)).has_value());
    gray.old_revision = RunningRevision("shop-web", "prod");
    repo_.Edit("shop-web", "envs/prod.yaml", "pause: none", "pause: first");
    repo_.Edit("shop-web", "deploy/web.yaml", "shop/web:1.4.2", "shop/web:1.7.0");
    gray.commit = Commit("shop-web: web 1.7.0, gray first");
    EXPECT_TRUE(testing::WaitUntil(
        [&] {
          for (const auto& r : Releases()) {
            if (r.app == repo_.App("shop-web") && r.env == "prod" && r.to.id == gray.commit &&
                r.batches.size() == 1) {
              gray.id = r.id;
              return r.hold == journal::Hold::kPolicy;
            }
          }
          return false;
        },
        30s));
    return gray;
  }
};

TEST_F(DaemonTest, PushReleasesRevertRollsBackAndSyncNowIsImmediate) {
  StartDaemon();
  std::string head;
  Git(repo_.dir(), {"rev-parse", "HEAD"}, &head);
  auto v1 = WaitForRelease("shop-web", "prod", head.substr(0, 40));
  ASSERT_TRUE(v1.has_value()) << "the first commit was never released";
  EXPECT_EQ(v1->outcome, Outcome::kSucceeded);
  EXPECT_EQ(v1->to.summary, "initial apps");
  const std::string old_revision = RunningRevision("shop-web", "prod");
  EXPECT_EQ(old_revision, v1->to_revision);

  // A pushed image change is released within the interval and a few seconds.
  repo_.Edit("shop-web", "deploy/web.yaml", "shop/web:1.4.2", "shop/web:1.5.0");
  const std::string change = Commit("shop-web: web 1.5.0");
  auto v2 = WaitForRelease("shop-web", "prod", change, 10s);
  ASSERT_TRUE(v2.has_value());
  EXPECT_EQ(v2->kind, journal::ReleaseKind::kRollout);
  EXPECT_EQ(v2->trigger, journal::Trigger::kCommit);
  EXPECT_EQ(v2->from_revision, old_revision);
  EXPECT_EQ(v2->to.author, "Dev <dev@example.com>");
  EXPECT_TRUE(testing::WaitUntil(
      [&] { return RunningRevision("shop-web", "prod") == v2->to_revision; }, 10s));

  // sync-now: released in under two seconds.
  repo_.Edit("orders", "deploy/api.yaml", "orders:2.7.0", "orders:2.7.1");
  const std::string hotfix = Commit("orders: 2.7.1");
  std::string out;
  ASSERT_EQ(Cli({"sync-now"}, &out), 0) << out;
  // The release starts (is recorded) within two seconds; its batches take longer.
  EXPECT_TRUE(testing::WaitUntil(
      [&] {
        for (const auto& r : Releases()) {
          if (r.app == repo_.App("orders") && r.env == "prod" && r.to.id == hotfix) return true;
        }
        return false;
      },
      2s))
      << "no release within 2 s of sync-now";
  ASSERT_TRUE(WaitForRelease("orders", "prod", hotfix, 30s).has_value());

  // git revert: a rollback naming the release it restores, onto the kept revision.
  Git(repo_.dir(), {"revert", "--no-edit", change});
  std::string revert;
  Git(repo_.dir(), {"rev-parse", "HEAD"}, &revert);
  auto back = WaitForRelease("shop-web", "prod", revert.substr(0, 40), 10s);
  ASSERT_TRUE(back.has_value());
  EXPECT_EQ(back->kind, journal::ReleaseKind::kRollback);
  EXPECT_EQ(back->trigger, journal::Trigger::kRevert);
  EXPECT_EQ(back->restores, v1->id);
  for (const auto& c : back->changes) {
    EXPECT_NE(c.action, journal::ChangeAction::kCreated) << c.key << ": a kept revision is reused";
  }
  EXPECT_TRUE(
      testing::WaitUntil([&] { return RunningRevision("shop-web", "prod") == old_revision; }, 10s));

  ASSERT_EQ(Cli({"releases", "--app", repo_.App("shop-web"), "--env", "prod"}, &out), 0) << out;
  EXPECT_NE(out.find("rollback"), std::string::npos) << out;
}

TEST_F(DaemonTest, ABrokenAppIsRecordedAndKeepsRunningWhileAnotherReleases) {
  StartDaemon();
  std::string head;
  Git(repo_.dir(), {"rev-parse", "HEAD"}, &head);
  ASSERT_TRUE(WaitForRelease("orders", "prod", head.substr(0, 40)).has_value());
  const std::string orders_revision = RunningRevision("orders", "prod");

  repo_.Edit("orders", "envs/orders.yaml", "replicas: 3", "replicas: [3");
  repo_.Edit("shop-web", "deploy/web.yaml", "shop/web:1.4.2", "shop/web:1.6.0");
  const std::string both = Commit("break orders, update shop-web");
  auto web = WaitForRelease("shop-web", "prod", both, 15s);
  ASSERT_TRUE(web.has_value());
  EXPECT_EQ(web->outcome, Outcome::kSucceeded);

  std::string log;
  EXPECT_TRUE(testing::WaitUntil(
      [&] {
        Cli({"log", "--since", "1m"}, &log);
        return log.find("apps/" + repo_.App("orders") + "/envs/orders.yaml:") != std::string::npos;
      },
      10s))
      << log;
  std::string status;
  Cli({"status"}, &status);
  EXPECT_NE(status.find("orders.yaml:"), std::string::npos) << status;
  for (const auto& r : Releases()) {
    EXPECT_FALSE(r.app == repo_.App("orders") && r.to.id == both) << "the broken app was released";
  }
  EXPECT_EQ(RunningRevision("orders", "prod"), orders_revision);
}

TEST_F(DaemonTest, DriftIsHealedAndRecordedAsSelfHeal) {
  StartDaemon();
  std::string head;
  Git(repo_.dir(), {"rev-parse", "HEAD"}, &head);
  ASSERT_TRUE(WaitForRelease("shop-web", "prod", head.substr(0, 40)).has_value());
  const std::string revision = RunningRevision("shop-web", "prod");
  Kubectl({"scale", "deployment", "prod-" + revision, "-n", repo_.App("shop-web"), "--replicas=7"});
  std::optional<ReleaseRecord> heal;
  ASSERT_TRUE(testing::WaitUntil(
      [&] {
        for (const auto& r : Releases()) {
          if (r.app == repo_.App("shop-web") && r.env == "prod" &&
              r.kind == journal::ReleaseKind::kSelfHeal && r.outcome == Outcome::kSucceeded) {
            heal = r;
            return true;
          }
        }
        return false;
      },
      15s));
  EXPECT_EQ(heal->trigger, journal::Trigger::kSelfHeal);
  EXPECT_EQ(Kubectl({"get", "deployment", "prod-" + revision, "-n", repo_.App("shop-web"), "-o",
                     "jsonpath={.spec.replicas}"}),
            "4");
}

TEST_F(DaemonTest, RemoteFailuresAndAForcePushKeepTheLoopAlive) {
  StartDaemon();
  std::string head;
  Git(repo_.dir(), {"rev-parse", "HEAD"}, &head);
  ASSERT_TRUE(WaitForRelease("orders", "test", head.substr(0, 40)).has_value());

  // The remote goes away: status says so, the daemon keeps answering.
  const std::string moved = repo_.dir() + ".away";
  std::filesystem::rename(repo_.dir(), moved);
  std::string status;
  EXPECT_TRUE(testing::WaitUntil(
      [&] {
        Cli({"status", "--json"}, &status);
        return status.find("\"error\":\"") != std::string::npos &&
               status.find(repo_.dir()) != std::string::npos;
      },
      10s))
      << status;
  std::filesystem::rename(moved, repo_.dir());

  // History rewritten: the amended tip is released and the record says so.
  repo_.Edit("orders", "deploy/api.yaml", "orders:2.7.0", "orders:2.8.0");
  Git(repo_.dir(), {"add", "-A"});
  Git(repo_.dir(), {"commit", "-q", "--amend", "-m", "initial apps, amended"});
  std::string amended;
  Git(repo_.dir(), {"rev-parse", "HEAD"}, &amended);
  auto r = WaitForRelease("orders", "prod", amended.substr(0, 40), 15s);
  ASSERT_TRUE(r.has_value());
  EXPECT_TRUE(r->history_rewritten);
  EXPECT_EQ(r->outcome, Outcome::kSucceeded);
  EXPECT_EQ(Cli({"status"}, &status), 0) << status;
}

TEST_F(DaemonTest, KilledMidReleaseItFinishesTheSameReleaseAfterARestart) {
  // The daemon talks to the cluster through a proxy that holds every request
  // for two seconds, so that a SIGKILL lands while a release is under way.
  std::string env_text = ReadAll(TestCluster::Get().dir + "/env");
  std::string launcher = env_text.substr(env_text.find("PAGODA_TEST_LAUNCHER=") + 21);
  launcher = launcher.substr(0, launcher.find('\n'));
  std::string faults;
  for (int i = 0; i < 30; ++i) faults += (i ? "," : "") + std::string("delay");
  testing::ChildProcess proxy(
      {launcher, "faultproxy", "--dir", TestCluster::Get().dir, "--faults", faults});
  std::string port = proxy.ReadLine(10s);
  ASSERT_TRUE(port.starts_with("port ")) << port;
  std::string kubeconfig = ReadAll(TestCluster::Get().pagoda_kubeconfig);
  const std::string server = TestCluster::Get().server;
  kubeconfig.replace(kubeconfig.find(server), server.size(), "https://127.0.0.1:" + port.substr(5));
  const std::string slow = state_root_ + "/slow.kubeconfig";
  std::ofstream(slow) << kubeconfig;
  WriteConfig(slow);
  StartDaemon();

  std::optional<ReleaseRecord> started;
  ASSERT_TRUE(testing::WaitUntil(
      [&] {
        for (const auto& r : Releases()) {
          if (r.outcome == Outcome::kInProgress) {
            started = r;
            return true;
          }
        }
        return false;
      },
      60s))
      << "no release started";
  ::kill(daemon_->pid(), SIGKILL);
  daemon_.reset();

  // The journal is intact, the release still in progress.
  journal::JournalReader reader(journal::PosixJournalFs(), StateDir() + "/journal");
  auto open = reader.Release(started->id);
  ASSERT_TRUE(open.ok()) << open.status().ToString();
  EXPECT_EQ(open->outcome, Outcome::kInProgress);

  WriteConfig(TestCluster::Get().pagoda_kubeconfig);
  StartDaemon();
  ASSERT_TRUE(testing::WaitUntil(
      [&] {
        auto r = reader.Release(started->id);
        return r.ok() && r->outcome == Outcome::kSucceeded;
      },
      30s))
      << "the interrupted release was not finished";
  // Every environment released once for the commit: no duplicate record.
  std::map<std::string, int> per_env;
  ASSERT_TRUE(testing::WaitUntil(
      [&] {
        per_env.clear();
        for (const auto& r : Releases()) {
          if (r.outcome == Outcome::kSucceeded) per_env[r.app + "/" + r.env]++;
        }
        return per_env.size() == 4;
      },
      30s));
  for (const auto& r : Releases()) EXPECT_NE(r.outcome, Outcome::kInProgress) << r.id;
  for (const auto& [env, count] : per_env) EXPECT_EQ(count, 1) << env;
  EXPECT_EQ(per_env.size(), 4u);
}

TEST_F(DaemonTest, ABatchedReleaseHoldsAfterTheFirstBatchVisiblyUntilResumed) {
  const GrayRelease held = HeldGrayRelease();
  ASSERT_FALSE(held.id.empty());
  const std::string& id = held.id;
  const std::string& gray = held.commit;
  const std::string& old_revision = held.old_revision;
  std::this_thread::sleep_for(2s);
  std::string status;
  ASSERT_EQ(Cli({"status", "--json"}, &status), 0) << status;
  EXPECT_NE(status.find("\"releasePhase\":\"held\""), std::string::npos) << status;
  EXPECT_NE(status.find("\"batchesDone\":1"), std::string::npos) << status;
  EXPECT_EQ(Cli({"status"}, &status), 0);
  EXPECT_NE(status.find(id + " batch 1/2 held"), std::string::npos) << status;
  // Two instances of each revision, held there.
  const std::string ns = repo_.App("shop-web");
  EXPECT_EQ(Kubectl({"get", "deployment", "prod-" + old_revision, "-n", ns, "-o",
                     "jsonpath={.spec.replicas}"}),
            "2");
  std::string out;
  ASSERT_EQ(Cli({"release", "resume", id}, &out), 0) << out;
  auto done = WaitForRelease("shop-web", "prod", gray, 30s);
  ASSERT_TRUE(done.has_value());
  EXPECT_EQ(done->outcome, Outcome::kSucceeded);
  EXPECT_EQ(done->batches.size(), 2u);
  EXPECT_EQ(Kubectl({"get", "deployment", "prod-" + old_revision, "-n", ns, "-o",
                     "jsonpath={.spec.replicas}"}),
            "0");
  ASSERT_EQ(Cli({"release", "watch", id}, &out), 0) << out;
  EXPECT_NE(out.find("batch 2"), std::string::npos) << out;
}

TEST_F(DaemonTest, ARevertOfAHeldGrayReleaseRollsItBackAtOnce) {
  const GrayRelease held = HeldGrayRelease();
  ASSERT_FALSE(held.id.empty());
  Git(repo_.dir(), {"revert", "--no-edit", held.commit});
  std::string revert;
  Git(repo_.dir(), {"rev-parse", "HEAD"}, &revert);
  const auto pushed = std::chrono::steady_clock::now();
  auto back = WaitForRelease("shop-web", "prod", revert.substr(0, 40), 30s);
  ASSERT_TRUE(back.has_value()) << "the revert waited behind the hold";
  const auto took = std::chrono::steady_clock::now() - pushed;
  EXPECT_EQ(back->outcome, Outcome::kSucceeded);
  EXPECT_EQ(back->kind, journal::ReleaseKind::kRollback);
  EXPECT_EQ(back->trigger, journal::Trigger::kRevert);
  EXPECT_EQ(back->supersedes, held.id);
  EXPECT_EQ(back->to_revision, held.old_revision);
  EXPECT_EQ(back->batches.size(), 1u);  // the two instances of the gray batch, at once
  std::optional<ReleaseRecord> ended;
  for (const auto& r : Releases()) {
    if (r.id == held.id) ended = r;
  }
  ASSERT_TRUE(ended.has_value());
  EXPECT_EQ(ended->outcome, Outcome::kSuperseded);
  EXPECT_EQ(ended->superseded_by, back->id);
  const std::string ns = repo_.App("shop-web");
  EXPECT_EQ(Kubectl({"get", "deployment", "prod-" + held.old_revision, "-n", ns, "-o",
                     "jsonpath={.spec.replicas}"}),
            "4");
  EXPECT_EQ(RunningRevision("shop-web", "prod"), held.old_revision);
  std::string status;
  ASSERT_EQ(Cli({"status"}, &status), 0);
  EXPECT_EQ(status.find("held"), std::string::npos) << status;
  std::cout << "revert of a held gray release: rolled back "
            << std::chrono::duration_cast<std::chrono::milliseconds>(took).count()
            << " ms after the commit\n";
}

// A Freeze window for shop-web/prod from a minute ago until `seconds` from
// now (UTC), as policy/freeze.yaml of the repository.
std::string FreezeFor(const std::string& app, int seconds, int64_t* end_ms) {
  auto format = [](std::chrono::system_clock::time_point t) {
    std::time_t c = std::chrono::system_clock::to_time_t(t);
    std::tm tm{};
    gmtime_r(&c, &tm);
    char out[32];
    std::strftime(out, sizeof out, "%Y-%m-%dT%H:%M:%S", &tm);
    return std::string(out);
  };
  const auto now = std::chrono::system_clock::now();
  const auto end = std::chrono::floor<std::chrono::seconds>(now) + std::chrono::seconds(seconds);
  *end_ms = std::chrono::duration_cast<std::chrono::milliseconds>(end.time_since_epoch()).count();
  return "apiVersion: pagoda.dev/v1\nkind: Freeze\nmetadata: {name: freezes}\nspec:\n"
         "  windows:\n    - name: maintenance\n      start: \"" +
         format(now - std::chrono::minutes(1)) + "\"\n      end: \"" + format(end) +
         "\"\n      apps: [" + app + "]\n      envs: [prod]\n";
}

TEST_F(DaemonTest, AFreezeWindowHoldsACommitUntilItClosesAndAnOverridePassesOne) {
  StartDaemon();
  std::string head;
  Git(repo_.dir(), {"rev-parse", "HEAD"}, &head);
  ASSERT_TRUE(WaitForRelease("shop-web", "prod", head.substr(0, 40)).has_value());
  const std::string app = repo_.App("shop-web");

  int64_t end_ms = 0;
  std::filesystem::create_directories(repo_.dir() + "/policy");
  std::ofstream(repo_.dir() + "/policy/freeze.yaml") << FreezeFor(app, 40, &end_ms);
  repo_.Edit("shop-web", "deploy/web.yaml", "shop/web:1.4.2", "shop/web:1.7.0");
  const std::string first = Commit("shop-web: web 1.7.0 during the freeze");
  // test is not frozen; prod waits, and says so.
  ASSERT_TRUE(WaitForRelease("shop-web", "test", first).has_value());
  std::string status;
  ASSERT_TRUE(testing::WaitUntil(
      [&] {
        return Cli({"status", "--json"}, &status) == 0 &&
               status.find("\"frozen\":{\"window\":\"maintenance\"") != std::string::npos;
      },
      10s))
      << status;
  ASSERT_EQ(Cli({"status"}, &status), 0);
  EXPECT_NE(status.find("frozen until"), std::string::npos) << status;
  EXPECT_FALSE(WaitForRelease("shop-web", "prod", first, 2s).has_value());

  // An override lets that one through, and its record says who and why.
  std::string out;
  ASSERT_EQ(Cli({"release", "override", app + "/prod", "--reason", "the checkout fix"}, &out), 0)
      << out;
  auto through = WaitForRelease("shop-web", "prod", first, 20s);
  ASSERT_TRUE(through.has_value());
  EXPECT_EQ(through->outcome, Outcome::kSucceeded);
  EXPECT_NE(through->freeze.find("freeze window maintenance"), std::string::npos)
      << through->freeze;
  EXPECT_NE(through->freeze.find(": the checkout fix"), std::string::npos) << through->freeze;
  EXPECT_NE(through->freeze.find("let through by "), std::string::npos) << through->freeze;

  // The next commit waits again, until the window closes.
  repo_.Edit("shop-web", "deploy/web.yaml", "shop/web:1.7.0", "shop/web:1.7.1");
  const std::string second = Commit("shop-web: web 1.7.1 during the freeze");
  ASSERT_TRUE(WaitForRelease("shop-web", "test", second).has_value());
  auto after = WaitForRelease("shop-web", "prod", second, 60s);
  ASSERT_TRUE(after.has_value());
  EXPECT_GE(after->start, end_ms) << "released before the window closed";
  EXPECT_TRUE(after->freeze.empty()) << after->freeze;
}

TEST_F(DaemonTest, ABrokenImageIsRolledBackAndRecordedWithTheReason) {
  repo_.Edit("shop-web", "envs/prod.yaml", "batchTimeout: 5m", "batchTimeout: 4s");
  Commit("shorter batch timeout");
  StartDaemon();
  std::string head;
  Git(repo_.dir(), {"rev-parse", "HEAD"}, &head);
  ASSERT_TRUE(WaitForRelease("shop-web", "prod", head.substr(0, 40)).has_value());
  const std::string good = RunningRevision("shop-web", "prod");
  repo_.Edit("shop-web", "deploy/web.yaml", "shop/web:1.4.2", "shop/web:broken");
  const std::string bad = Commit("shop-web: a broken image");
  auto r = WaitForRelease("shop-web", "prod", bad, 60s);
  ASSERT_TRUE(r.has_value());
  EXPECT_EQ(r->outcome, Outcome::kRolledBack);
  ASSERT_FALSE(r->errors.empty());
  EXPECT_NE(r->errors.back().find("Readiness probe failed"), std::string::npos) << r->errors.back();
  EXPECT_EQ(RunningRevision("shop-web", "prod"), good);
  // The same commit is not tried again; status says why.
  std::this_thread::sleep_for(3s);
  int attempts = 0;
  for (const auto& rec : Releases())
    attempts += rec.app == repo_.App("shop-web") && rec.env == "prod" && rec.to.id == bad;
  EXPECT_EQ(attempts, 1);
  std::string status;
  Cli({"status"}, &status);
  EXPECT_NE(status.find("rolled-back"), std::string::npos) << status;
}

TEST_F(DaemonTest, AnInstanceNoNodeCanHoldIsRefusedAndOneThatFitsGoesAhead) {
  // orders/test shares the DeployConfig; at 0 replicas it leaves the nodes to prod.
  repo_.Edit("orders", "envs/orders.yaml", "replicas: 2", "replicas: 0");
  Commit("orders/test at 0");
  StartDaemon();
  std::string head;
  Git(repo_.dir(), {"rev-parse", "HEAD"}, &head);
  ASSERT_TRUE(WaitForRelease("orders", "prod", head.substr(0, 40)).has_value());
  repo_.Edit("orders", "deploy/api.yaml", "cpu: 250m", "cpu: \"8\"");
  const std::string huge = Commit("orders: 8 cpus");
  auto refused = WaitForRelease("orders", "prod", huge, 20s);
  ASSERT_TRUE(refused.has_value());
  EXPECT_EQ(refused->outcome, Outcome::kFailed);
  ASSERT_FALSE(refused->errors.empty());
  EXPECT_NE(refused->errors[0].find("no node can allocate that"), std::string::npos)
      << refused->errors[0];
  EXPECT_NE(refused->errors[0].find("7500m"), std::string::npos) << refused->errors[0];
  // Four cpus fit a node (7.5 allocatable): the release goes ahead and its
  // first batch starts on the fake nodes.
  repo_.Edit("orders", "deploy/api.yaml", "cpu: \"8\"", "cpu: \"4\"");
  const std::string fits = Commit("orders: 4 cpus");
  std::optional<ReleaseRecord> going;
  EXPECT_TRUE(testing::WaitUntil(
      [&] {
        for (const auto& r : Releases()) {
          if (r.app == repo_.App("orders") && r.env == "prod" && r.to.id == fits &&
              !r.batches.empty()) {
            going = r;
            return true;
          }
        }
        return false;
      },
      30s));
  ASSERT_TRUE(going.has_value());
  for (const auto& e : going->errors)
    EXPECT_EQ(e.find("no node can allocate"), std::string::npos) << e;
}

TEST_F(DaemonTest, KilledAfterEachBatchTheReleaseFinishesWithEveryBatchRecordedOnce) {
  StartDaemon();
  std::string head;
  Git(repo_.dir(), {"rev-parse", "HEAD"}, &head);
  ASSERT_TRUE(WaitForRelease("orders", "prod", head.substr(0, 40)).has_value());
  repo_.Edit("orders", "deploy/api.yaml", "orders:2.7.0", "orders:2.9.0");
  const std::string change = Commit("orders: 2.9.0 in three batches");
  // Kill the daemon as soon as each batch is recorded, then start it again.
  for (size_t killed_after = 1; killed_after <= 2; ++killed_after) {
    ASSERT_TRUE(testing::WaitUntil(
        [&] {
          for (const auto& r : Releases()) {
            if (r.app == repo_.App("orders") && r.env == "prod" && r.to.id == change &&
                r.batches.size() >= killed_after) {
              return true;
            }
          }
          return false;
        },
        30s))
        << "batch " << killed_after << " was never recorded";
    ::kill(daemon_->pid(), SIGKILL);
    daemon_.reset();
    StartDaemon();
  }
  auto done = WaitForRelease("orders", "prod", change, 60s);
  ASSERT_TRUE(done.has_value());
  EXPECT_EQ(done->outcome, Outcome::kSucceeded);
  std::vector<int> indices;
  for (const auto& b : done->batches) indices.push_back(b.index);
  EXPECT_EQ(indices, (std::vector<int>{1, 2, 3})) << "a batch was repeated or lost";
  int records = 0;
  for (const auto& r : Releases())
    records += r.app == repo_.App("orders") && r.env == "prod" && r.to.id == change;
  EXPECT_EQ(records, 1);
}

}  // namespace
}  // namespace pagoda
