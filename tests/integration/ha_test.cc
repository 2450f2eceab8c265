// Several replicas on one control plane (docs/architecture.md, "Beyond one
// daemon"): real daemon processes, each with its own state directory and
// clone, each reaching the API server through a proxy of its own that the
// test can cut. The API server's audit log is the judge: every write our
// replicas made in our apps' namespaces came from the holder, at that
// moment, of the Lease of the app's shard. Lease timings are short (6 s
// lease, 4 s renew deadline, 1 s retry) so that the tests are quick; the
// promises are stated in those terms.
#include <gtest/gtest.h>
#include <signal.h>

#include <chrono>
#include <filesystem>
#include <fstream>
#include <map>
#include <regex>
#include <set>
#include <sstream>
#include <thread>

#include "base/clock.h"
#include "base/json.h"
#include "daemon/release_objects.h"
#include "daemon/shards.h"
#include "journal/journal.h"
#include "kube/lease.h"
#include "tests/integration/audit_log.h"
#include "tests/integration/daemon_fixture.h"
#include "tests/servers/api_proxy.h"

namespace pagoda {
namespace {

using namespace std::chrono_literals;
using journal::Outcome;
using journal::ReleaseRecord;
using testing::ChildProcess;
using testing::Git;
using testing::ReadAll;
using testing::TestCluster;
using testing::WaitUntil;

namespace fs = std::filesystem;

constexpr auto kLease = 6s;
constexpr int64_t kLeaseMs = 6000;

int64_t NowMs() { return RealClock().UnixMillis(); }

// The identity in a user agent "pagoda/0.1.0 (r0-ab12cd-x9y8z)"; "" for another's.
std::string IdentityOf(const std::string& user_agent) {
  if (user_agent.rfind("pagoda/", 0) != 0) return "";
  const size_t open = user_agent.rfind('('), close = user_agent.rfind(')');
  if (open == std::string::npos || close == std::string::npos || close < open) return "";
  return user_agent.substr(open + 1, close - open - 1);
}

class HaTest : public ::testing::Test {
 protected:
  struct Replica {
    std::string name;  // ha.identity; the process adds a suffix of its own
    std::string root;  // its state directory and files
    testing::ApiProxy proxy;
    std::unique_ptr<ChildProcess> process;
    std::string StateDir() const { return root + "/state"; }
    std::string Log() const { return root + "/daemon.log"; }
    std::string Config() const { return root + "/config.yaml"; }
  };

  void SetUp() override {
    auto offset = audit_.Size();
    ASSERT_TRUE(offset.ok()) << offset.status().ToString();
    audit_offset_ = *offset;
    suffix_ = repo_.App("x").substr(2);
    lease_ = "ha-" + suffix_;
    Git(repo_.dir(), {"init", "-q", "-b", "main"});
    repo_.ReleaseWithoutHolds();
    auto admin = kube::KubeClient::Connect(TestCluster::Get().Admin());
    ASSERT_TRUE(admin.ok());
    admin_ = std::move(*admin);
    leases_ = kube::NewKubeLeaseStore(*admin_, "pagoda-system");
    const std::string server = TestCluster::Get().server;
    upstream_port_ = std::stoi(server.substr(server.rfind(':') + 1));
  }

  void TearDown() override {
    for (auto& r : replicas_) r->process.reset();
    if (HasFailure()) {
      for (auto& r : replicas_) {
        std::cerr << "---- " << r->name << " ----\n" << ReadAll(r->Log()) << "\n";
      }
    }
    // Our Leases, and the namespaces of generated apps: left behind, they
    // are said, not failed on (another test's run does not read them).
    auto remove = [&](const std::string& path) {
      auto deleted = admin_->Delete(path);
      if (!deleted.ok() && deleted.status().code() != Status::Code::kNotFound) {
        std::cerr << "cleaning up " << path << ": " << deleted.status().ToString() << "\n";
      }
    };
    if (auto ours = leases_->List(lease_); ours.ok()) {
      for (const auto& [name, v] : *ours) {
        remove("/apis/coordination.k8s.io/v1/namespaces/pagoda-system/leases/" + name);
      }
    }
    for (const auto& app : generated_) remove("/api/v1/namespaces/" + app);
    for (auto& r : replicas_) fs::remove_all(r->root);
  }

  std::string Commit(const std::string& message) {
    Git(repo_.dir(), {"add", "-A"});
    Git(repo_.dir(), {"commit", "-q", "-m", message});
    std::string id;
    Git(repo_.dir(), {"rev-parse", "HEAD"}, &id);
    return id.substr(0, 40);
  }

  // A replica with its own state, proxy and config; not started.
  Replica& AddReplica(int shards) {
    auto r = std::make_unique<Replica>();
    r->name = "r" + std::to_string(replicas_.size()) + "-" + suffix_;
    char tmpl[] = "/tmp/pagoda-ha-XXXXXX";
    r->root = mkdtemp(tmpl);
    EXPECT_TRUE(r->proxy.Start(upstream_port_).ok());
    // pagoda's own kubeconfig, through the proxy.
    std::string kubeconfig = ReadAll(TestCluster::Get().pagoda_kubeconfig);
    const std::string server = TestCluster::Get().server;
    for (size_t at; (at = kubeconfig.find(server)) != std::string::npos;) {
      kubeconfig.replace(at, server.size(), "https://127.0.0.1:" + std::to_string(r->proxy.port()));
    }
    std::ofstream(r->root + "/kubeconfig") << kubeconfig;
    std::ofstream(r->Config()) << "repo: " << repo_.dir() << "\n"
                               << "interval: 1s\ndriftInterval: 4s\n"
                               << "stateDir: " << r->StateDir() << "\n"
                               << "http: {listen: \"127.0.0.1:0\"}\n"
                               << "clusters:\n"
                               << "  test: {kubeconfig: " << r->root << "/kubeconfig}\n"
                               << "  prod: {kubeconfig: " << r->root << "/kubeconfig}\n"
                               << "ha:\n"
                               << "  lease: {cluster: prod, name: " << lease_
                               << ", leaseDuration: 6s, renewDeadline: 4s, retryPeriod: 1s}\n"
                               << "  shards: " << shards << "\n"
                               << "  identity: " << r->name << "\n";
    replicas_.push_back(std::move(r));
    shards_ = shards;
    return *replicas_.back();
  }

  void Start(Replica& r) {
    r.process = std::make_unique<ChildProcess>(
        std::vector<std::string>{"/bin/sh", "-c",
                                 std::string("exec '") + PAGODA_BINARY + "' daemon --config '" +
                                     r.Config() + "' 2>>'" + r.Log() + "'"});
  }

  // Ends the replica with `sig`; true when it exited within 10 s.
  bool Stop(Replica& r, int sig) {
    ::kill(r.process->pid(), sig);
    const bool gone = r.process->WaitForExit(10s);
    r.process.reset();
    return gone;
  }

  std::string LeaseOf(int shard) const {
    return shards_ > 1 ? lease_ + "-shard-" + std::to_string(shard) : lease_;
  }
  // The holder of a shard's Lease now; "" for none.
  std::string HolderOf(int shard) {
    auto got = leases_->Get(LeaseOf(shard));
    return got.ok() ? got->record.holder : "";
  }
  // The replica whose process goes by `identity`.
  Replica* ReplicaOf(const std::string& identity) {
    for (auto& r : replicas_) {
      if (identity.rfind(r->name + "-", 0) == 0) return r.get();
    }
    return nullptr;
  }

  // Every Release object of our apps, by id.
  std::map<std::string, ReleaseRecord> ClusterReleases() {
    std::map<std::string, ReleaseRecord> out;
    auto items = admin_->List("/apis/pagoda.dev/v1/releases");
    EXPECT_TRUE(items.ok()) << items.status().ToString();
    if (!items.ok()) return out;
    for (const auto& item : *items) {
      auto release = daemon::ReleaseOfObject(item);
      EXPECT_TRUE(release.ok()) << release.status().ToString();
      if (release.ok() && Ours(release->record.app)) out[release->record.id] = release->record;
    }
    return out;
  }
  bool Ours(const std::string& app) const {
    return app.size() > suffix_.size() &&
           app.compare(app.size() - suffix_.size(), suffix_.size(), suffix_) == 0;
  }

  // The release of shop-web/prod to `commit`, as the cluster has it, once
  // `done` holds of it.
  std::optional<ReleaseRecord> WaitForProd(const std::string& commit,
                                           const std::function<bool(const ReleaseRecord&)>& done,
                                           std::chrono::milliseconds timeout) {
    std::optional<ReleaseRecord> found;
    WaitUntil(
        [&] {
          for (const auto& [id, r] : ClusterReleases()) {
            if (r.app == repo_.App("shop-web") && r.env == "prod" && r.to.id == commit && done(r)) {
              found = r;
              return true;
            }
          }
          return false;
        },
        timeout);
    return found;
  }

  // Waits until the first releases of the example apps have all ended.
  void WaitForFirstReleases(const std::string& commit) {
    ASSERT_TRUE(WaitUntil(
        [&] {
          int ended = 0;
          for (const auto& [id, r] : ClusterReleases()) {
            ended += r.to.id == commit && r.outcome == Outcome::kSucceeded;
          }
          return ended == 4;
        },
        120s))
        << "the example apps' four environments were not all released";
  }

  // shop-web/prod to a new image, 3 instances in 3 batches `interval` apart.
  std::string PushBatchedRelease(const std::string& image, const std::string& interval) {
    repo_.Edit("shop-web", "envs/prod.yaml", "replicas: 4", "replicas: 3");
    repo_.Edit("shop-web", "envs/prod.yaml", "batches: 2 ", "batches: 3 ");
    repo_.Edit("shop-web", "envs/prod.yaml", "batchInterval: 0s", "batchInterval: " + interval);
    repo_.Edit("shop-web", "deploy/web.yaml", "shop/web:1.4.2", image);
    return Commit("shop-web: " + image + " in 3 batches");
  }

  static std::vector<int> Batches(const ReleaseRecord& r) {
    std::vector<int> out;
    for (const auto& b : r.batches) out.push_back(b.index);
    return out;
  }

  std::vector<testing::AuditEvent> AuditEvents() {
    auto events = audit_.Read(audit_offset_);
    EXPECT_TRUE(events.ok()) << events.status().ToString();
    return events.ok() ? *events : std::vector<testing::AuditEvent>{};
  }

  // A write of one of our replicas in one of our apps' namespaces.
  bool AppWrite(const testing::AuditEvent& e) const {
    if (IdentityOf(e.user_agent).empty() || ReplicaOfConst(IdentityOf(e.user_agent)) == nullptr) {
      return false;
    }
    const std::string ns = e.resource == "namespaces" && e.api_group.empty() ? e.name : e.ns;
    return Ours(ns);
  }
  const Replica* ReplicaOfConst(const std::string& identity) const {
    for (const auto& r : replicas_) {
      if (identity.rfind(r->name + "-", 0) == 0) return r.get();
    }
    return nullptr;
  }

  // The proof of one writer: every write our replicas made in our apps'
  // namespaces was made by the holder of the app's shard Lease at that
  // moment, as the Lease's last successful write before it said. Returns
  // the writes checked.
  std::vector<testing::AuditEvent> ExpectOnlyHoldersWrote() {
    const std::vector<testing::AuditEvent> events = AuditEvents();
    std::map<std::string, std::vector<std::pair<int64_t, std::string>>> holders;  // by Lease
    for (const auto& e : events) {
      if (e.resource != "leases" || e.ns != "pagoda-system" || e.code >= 300 || !e.response_lease ||
          !e.response_lease->holder_identity) {
        continue;
      }
      holders[e.name].push_back({e.received_us, *e.response_lease->holder_identity});
    }
    for (auto& [lease, timeline] : holders) std::sort(timeline.begin(), timeline.end());
    std::vector<testing::AuditEvent> writes;
    for (const auto& e : events) {
      if (!AppWrite(e)) continue;
      const std::string ns = e.resource == "namespaces" ? e.name : e.ns;
      const auto& timeline = holders[LeaseOf(daemon::ShardOf(ns, shards_))];
      std::string holder;
      for (const auto& [at, who] : timeline) {
        if (at > e.received_us) break;
        holder = who;
      }
      EXPECT_EQ(holder, IdentityOf(e.user_agent))
          << "a write by a replica that did not hold the Lease: " << e.ToString();
      writes.push_back(e);
    }
    EXPECT_FALSE(writes.empty()) << "no write of ours in the audit log";
    return writes;
  }

  testing::ExampleRepo repo_;
  testing::AuditLog audit_ = testing::AuditLog::OfTestCluster();
  uint64_t audit_offset_ = 0;
  std::string suffix_, lease_;
  int shards_ = 1;
  int upstream_port_ = 0;
  std::unique_ptr<kube::KubeClient> admin_;
  std::unique_ptr<kube::LeaseStore> leases_;
  std::vector<std::unique_ptr<Replica>> replicas_;
  std::vector<std::string> generated_;  // apps made up by a test
};

// Three replicas, one Lease: exactly one writes. The holder is killed after
// batch 1 of a 3-batch release; another finishes it under the same id,
// batches 2 and 3 once each, within a lease (+ 5 s) of the kill.
TEST_F(HaTest, OneWritesAndAKilledHoldersReleaseIsFinishedByAnotherUnderItsId) {
  const std::string first = Commit("initial apps");
  for (int i = 0; i < 3; ++i) Start(AddReplica(1));
  WaitForFirstReleases(first);
  const std::string commit = PushBatchedRelease("shop/web:1.7.0", "8s");
  auto started = WaitForProd(
      commit, [](const ReleaseRecord& r) { return r.batches.size() >= 1; }, 60s);
  ASSERT_TRUE(started.has_value()) << "batch 1 of the release never showed";
  const std::string holder = HolderOf(0);
  Replica* killed = ReplicaOf(holder);
  ASSERT_NE(killed, nullptr) << "held by " << holder;
  ASSERT_EQ(started->batches.size(), 1u);
  const int64_t kill_ms = NowMs();
  ASSERT_TRUE(Stop(*killed, SIGKILL));

  auto done = WaitForProd(
      commit, [](const ReleaseRecord& r) { return r.outcome != Outcome::kInProgress; }, 90s);
  ASSERT_TRUE(done.has_value()) << "the release was not finished";
  EXPECT_EQ(done->id, started->id) << "finished under another id";
  EXPECT_EQ(done->outcome, Outcome::kSucceeded);
  EXPECT_EQ(Batches(*done), (std::vector<int>{1, 2, 3})) << "a batch was done twice or not at all";
  EXPECT_NE(HolderOf(0), holder);

  const auto writes = ExpectOnlyHoldersWrote();
  int64_t last_old = 0, first_new = 0;
  for (const auto& e : writes) {
    const bool old = IdentityOf(e.user_agent) == holder;
    if (old) last_old = std::max(last_old, e.received_ms());
    if (!old && e.received_ms() > kill_ms && first_new == 0) first_new = e.received_ms();
  }
  ASSERT_GT(first_new, 0) << "no write after the kill";
  EXPECT_LE(first_new - kill_ms, kLeaseMs + 5000) << "taken over too late";
  std::cerr << "holder killed: last write of the old holder " << kill_ms - last_old
            << " ms before the kill; first write of the new one " << first_new - kill_ms
            << " ms after it (gap " << first_new - last_old << " ms; lease " << kLeaseMs
            << " ms)\n";
}

// A holder cut off from the API server stops writing before its Lease can
// pass on, and says so; another takes over and finishes the release in
// flight; back on the network, the first does not write while it holds no
// Lease.
TEST_F(HaTest, AHolderCutOffStopsWritingBeforeItsLeaseCanPassAndWaitsForOneWhenBack) {
  const std::string first = Commit("initial apps");
  for (int i = 0; i < 2; ++i) Start(AddReplica(1));
  WaitForFirstReleases(first);
  const std::string commit = PushBatchedRelease("shop/web:1.8.0", "6s");
  auto started = WaitForProd(
      commit, [](const ReleaseRecord& r) { return r.batches.size() >= 1; }, 60s);
  ASSERT_TRUE(started.has_value());
  const std::string holder = HolderOf(0);
  Replica* cut = ReplicaOf(holder);
  ASSERT_NE(cut, nullptr);
  const int64_t cut_ms = NowMs();
  cut->proxy.Cut();

  auto done = WaitForProd(
      commit, [](const ReleaseRecord& r) { return r.outcome != Outcome::kInProgress; }, 90s);
  ASSERT_TRUE(done.has_value()) << "the other replica did not finish the release";
  EXPECT_EQ(done->id, started->id);
  EXPECT_EQ(Batches(*done), (std::vector<int>{1, 2, 3}));
  const std::string successor = HolderOf(0);
  EXPECT_NE(successor, holder);
  // It said it stopped, before the other took the Lease.
  int64_t acquired_ms = 0;
  for (const auto& e : AuditEvents()) {
    if (e.resource == "leases" && e.name == LeaseOf(0) && e.code < 300 && e.response_lease &&
        e.response_lease->holder_identity == successor && e.received_ms() > cut_ms) {
      acquired_ms = e.received_ms();
      break;
    }
  }
  ASSERT_GT(acquired_ms, 0);
  EXPECT_GE(acquired_ms - cut_ms, kLeaseMs - 1000) << "taken over before the lease could pass";
  int64_t said_ms = 0;
  std::istringstream log(ReadAll(cut->Log()));
  for (std::string line; std::getline(log, line);) {
    if (line.find("lost: not renewed within") == std::string::npos) continue;
    rapidjson::Document doc;
    ASSERT_TRUE(json::Parse(line, &doc).ok()) << line;
    auto at = journal::ParseTime(json::StringAt(doc, "time"));
    ASSERT_TRUE(at.ok()) << line;
    said_ms = *at;
    break;
  }
  ASSERT_GT(said_ms, 0) << "the cut-off holder never said it stopped writing";
  EXPECT_LT(said_ms, acquired_ms) << "it stopped only after the other took over";
  std::cerr << "holder cut off: it stopped writing " << said_ms - cut_ms << " ms after the cut; "
            << successor << " took the Lease " << acquired_ms - cut_ms << " ms after it\n";

  // Healed: it may not write again until it holds a Lease, and the other
  // keeps it.
  const int64_t healed_ms = NowMs();
  cut->proxy.Heal();
  std::this_thread::sleep_for(8s);
  EXPECT_EQ(HolderOf(0), successor);
  for (const auto& e : ExpectOnlyHoldersWrote()) {
    EXPECT_FALSE(IdentityOf(e.user_agent) == holder && e.received_ms() > cut_ms)
        << "the cut-off holder wrote after the cut: " << e.ToString() << " (healed at " << healed_ms
        << ")";
  }
}

// Every replica restarted in turn, SIGTERM then start, while a release
// goes out: it finishes, nothing repeated, and each handover is at once.
TEST_F(HaTest, ARollingRestartOfEveryReplicaDuringAReleaseRepeatsNothing) {
  const std::string first = Commit("initial apps");
  for (int i = 0; i < 3; ++i) Start(AddReplica(1));
  WaitForFirstReleases(first);
  const std::string commit = PushBatchedRelease("shop/web:1.9.0", "5s");
  auto started = WaitForProd(
      commit, [](const ReleaseRecord& r) { return r.batches.size() >= 1; }, 60s);
  ASSERT_TRUE(started.has_value());
  for (auto& r : replicas_) {
    ASSERT_TRUE(Stop(*r, SIGTERM)) << r->name << " did not stop on SIGTERM";
    Start(*r);
    std::this_thread::sleep_for(3s);  // live again before the next one goes
  }
  auto done = WaitForProd(
      commit, [](const ReleaseRecord& r) { return r.outcome != Outcome::kInProgress; }, 90s);
  ASSERT_TRUE(done.has_value());
  EXPECT_EQ(done->id, started->id);
  EXPECT_EQ(done->outcome, Outcome::kSucceeded);
  EXPECT_EQ(Batches(*done), (std::vector<int>{1, 2, 3}));
  ExpectOnlyHoldersWrote();
  // No second order for the environment: one release of this commit there.
  int of_commit = 0;
  for (const auto& [id, r] : ClusterReleases()) {
    of_commit += r.app == repo_.App("shop-web") && r.env == "prod" && r.to.id == commit;
  }
  EXPECT_EQ(of_commit, 1);
}

// 3 replicas, 4 shards, 200 apps: shards spread 2/1/1; one replica killed,
// its shards are taken within a lease (+ 5 s); back, they spread again.
TEST_F(HaTest, FourShardsSpreadOverThreeReplicasAndFollowThemComingAndGoing) {
  for (int i = 0; i < 200; ++i) {
    const std::string app = "a" + std::to_string(i) + "-" + suffix_;
    generated_.push_back(app);
    const std::string dir = repo_.dir() + "/apps/" + app;
    fs::create_directories(dir + "/deploy");
    fs::create_directories(dir + "/envs");
    std::ofstream(dir + "/app.yaml")
        << "apiVersion: pagoda.dev/v1\nkind: App\nmetadata: {name: " << app << "}\nspec: {}\n";
    std::ofstream(dir + "/deploy/api.yaml")
        << "apiVersion: pagoda.dev/v1\nkind: DeployConfig\nmetadata: {name: api}\nspec:\n"
           "  image: registry.example.com/api:1\n  cpu: 10m\n  memory: 16Mi\n";
    std::ofstream(dir + "/envs/prod.yaml")
        << "apiVersion: pagoda.dev/v1\nkind: Environment\nmetadata: {name: prod}\nspec:\n"
           "  cluster: prod\n  deployConfig: api\n  replicas: 1\n";
  }
  Commit("200 apps");
  for (int i = 0; i < 3; ++i) Start(AddReplica(4));
  auto spread = [&](std::map<std::string, int>* by_holder) {
    by_holder->clear();
    for (int k = 0; k < 4; ++k) {
      const std::string h = HolderOf(k);
      if (h.empty()) return false;
      ++(*by_holder)[h];
    }
    return true;
  };
  std::map<std::string, int> by_holder;
  ASSERT_TRUE(WaitUntil([&] { return spread(&by_holder) && by_holder.size() == 3; }, 60s))
      << "the shards did not spread over the three replicas";
  for (const auto& [who, n] : by_holder) EXPECT_LE(n, 2) << who;
  // Every app released, each by the holder of its shard.
  ASSERT_TRUE(WaitUntil(
      [&] {
        std::set<std::string> released;
        for (const auto& [id, r] : ClusterReleases()) {
          if (r.outcome == Outcome::kSucceeded) released.insert(r.app);
        }
        for (const auto& app : generated_) {
          if (!released.count(app)) return false;
        }
        return true;
      },
      240s))
      << "not every app was released";

  // Kill the replica that holds the most.
  std::string victim;
  for (const auto& [who, n] : by_holder) {
    if (victim.empty() || n > by_holder[victim]) victim = who;
  }
  Replica* killed = ReplicaOf(victim);
  ASSERT_NE(killed, nullptr);
  const auto kill_at = std::chrono::steady_clock::now();
  ASSERT_TRUE(Stop(*killed, SIGKILL));
  ASSERT_TRUE(WaitUntil(
      [&] { return spread(&by_holder) && by_holder.size() == 2 && !by_holder.count(victim); },
      kLease + 5s))
      << "its shards were not taken within a lease + 5 s";
  const auto taken_ms = std::chrono::duration_cast<std::chrono::milliseconds>(
                            std::chrono::steady_clock::now() - kill_at)
                            .count();
  for (const auto& [who, n] : by_holder) EXPECT_EQ(n, 2) << who;

  // Back: the shards spread over three again.
  Start(*killed);
  const auto back_at = std::chrono::steady_clock::now();
  ASSERT_TRUE(WaitUntil([&] { return spread(&by_holder) && by_holder.size() == 3; }, 60s))
      << "the shards did not spread again";
  for (const auto& [who, n] : by_holder) EXPECT_LE(n, 2) << who;
  std::cerr << "shards of the killed replica taken in " << taken_ms
            << " ms; spread again over three "
            << std::chrono::duration_cast<std::chrono::milliseconds>(
                   std::chrono::steady_clock::now() - back_at)
                   .count()
            << " ms after it came back\n";
  ExpectOnlyHoldersWrote();
}

// The Release objects are the journal's records, and outlive the host: a
// fresh replica with no state shows the whole history from the cluster,
// and numbers its own releases above it.
TEST_F(HaTest, TheReleaseObjectsAreTheJournalsRecordsAndOutliveTheStateDirectory) {
  const std::string first = Commit("initial apps");
  Replica& r = AddReplica(1);
  Start(r);
  WaitForFirstReleases(first);
  repo_.Edit("shop-web", "deploy/web.yaml", "shop/web:1.4.2", "shop/web:1.5.0");
  const std::string second = Commit("shop-web: web 1.5.0");
  ASSERT_TRUE(WaitUntil(
      [&] {
        int ended = 0;
        for (const auto& [id, rec] : ClusterReleases()) {
          ended += rec.to.id == second && rec.outcome == Outcome::kSucceeded;
        }
        return ended == 2;
      },
      60s));
  // Every record of the journal, as the cluster has it.
  journal::JournalReader reader(journal::PosixJournalFs(), r.StateDir() + "/journal");
  std::map<std::string, ReleaseRecord> journalled;
  auto records = reader.Releases({.app = "", .env = "", .limit = 1000});
  ASSERT_TRUE(records.ok()) << records.status().ToString();
  for (auto& rec : *records) journalled[rec.id] = rec;
  ASSERT_TRUE(WaitUntil([&] { return ClusterReleases() == journalled; }, 20s));
  ASSERT_GE(journalled.size(), 6u);

  // The host is lost: a fresh replica, no state, shows the whole history.
  ASSERT_TRUE(Stop(r, SIGKILL));
  fs::remove_all(r.StateDir());
  std::string out;
  ASSERT_EQ(testing::Run({PAGODA_BINARY, "releases", "--from-cluster", "--config", r.Config(),
                          "--json", "--limit", "1000"},
                         &out),
            0)
      << out;
  rapidjson::Document doc;
  ASSERT_TRUE(json::Parse(out, &doc).ok()) << out;
  std::map<std::string, ReleaseRecord> shown;
  for (const auto& item : doc.GetArray()) {
    auto rec = journal::ParseReleaseRecord(json::Compact(item));
    ASSERT_TRUE(rec.ok()) << rec.status().ToString();
    if (Ours(rec->app)) shown[rec->id] = *rec;
  }
  EXPECT_EQ(shown, journalled);
  EXPECT_FALSE(fs::exists(r.StateDir())) << "the command line made state";

  // Started again on an empty state directory, it takes its releases up
  // and numbers new ones above every id the cluster holds.
  Start(r);
  repo_.Edit("shop-web", "deploy/web.yaml", "shop/web:1.5.0", "shop/web:1.6.0");
  const std::string third = Commit("shop-web: web 1.6.0");
  std::optional<ReleaseRecord> next;
  ASSERT_TRUE(WaitUntil(
      [&] {
        for (const auto& [id, rec] : ClusterReleases()) {
          if (rec.to.id == third && rec.outcome == Outcome::kSucceeded) next = rec;
        }
        return next.has_value();
      },
      60s));
  EXPECT_GT(journal::ReleaseIdNumber(next->id),
            journal::ReleaseIdNumber(journalled.rbegin()->first));
  EXPECT_FALSE(journalled.count(next->id));
}

}  // namespace
}  // namespace pagoda
