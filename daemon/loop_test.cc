// The reconcile loop's decisions, driven step by step with a fake clock, a
// Git source of in-memory commits, and an in-memory stand-in for the cluster
// that stores what is applied. What the loop does to a real cluster is
// proven by the integration tests; these prove when and why it acts, and
// what it records.
#include "daemon/loop.h"

#include <gtest/gtest.h>
#include <unistd.h>

#include <atomic>
#include <filesystem>
#include <functional>

#include "daemon/runtime.h"
#include "manifest/json.h"

namespace pagoda::daemon {
namespace {

using namespace std::chrono_literals;

// Commits are maps of files; the tip is whichever was pushed last.
class FakeGit final : public GitSource {
 public:
  void Push(std::map<std::string, std::string> files, std::string summary = "change") {
    std::string id = std::string(40, 'a');
    std::string n = std::to_string(commits_.size() + 1);
    id.replace(40 - n.size(), n.size(), n);
    commits_[id] = {std::move(files), std::move(summary)};
    order_.push_back(id);
    remote_tip_ = id;
  }
  std::string Last() const { return order_.back(); }
  bool fail = false;
  int fetches = 0;

  Result<FetchResult> Fetch() override {
    ++fetches;
    if (fail) return Status::Unavailable("connect to git.example.com: connection refused");
    FetchResult r{remote_tip_, local_tip_, remote_tip_ != local_tip_, false};
    local_tip_ = remote_tip_;
    return r;
  }
  Result<std::string> Tip() const override {
    if (local_tip_.empty()) return Status::NotFound("never fetched");
    return local_tip_;
  }
  Result<std::string> ResolveCommit(std::string_view c) const override {
    for (const auto& id : order_) {
      if (id.starts_with(c)) return id;
    }
    return Status::NotFound("no commit " + std::string(c));
  }
  Result<CommitInfo> Commit(std::string_view id) const override {
    auto it = commits_.find(std::string(id));
    if (it == commits_.end()) return Status::NotFound("no commit");
    CommitInfo info;
    info.id = it->first;
    info.short_id = it->first.substr(0, 7);
    info.author_name = "Dev";
    info.author_email = "dev@example.com";
    info.summary = it->second.second;
    return info;
  }
  Result<bool> IsAncestor(std::string_view, std::string_view) const override { return true; }
  Result<std::unique_ptr<manifest::FileSource>> Files(std::string_view id) const override {
    auto it = commits_.find(std::string(id));
    if (it == commits_.end()) return Status::NotFound("no commit");
    auto source = std::make_unique<manifest::MemorySource>();
    for (const auto& [path, content] : it->second.first) source->Add(path, content);
    return std::unique_ptr<manifest::FileSource>(std::move(source));
  }
  Result<std::string> TreeId(std::string_view, std::string_view) const override {
    return Status::NotFound("not needed");
  }

 private:
  std::map<std::string, std::pair<std::map<std::string, std::string>, std::string>> commits_;
  std::vector<std::string> order_;
  std::string remote_tip_, local_tip_;
};

// The real files, but a disk that can be made full: appends then fail as
// write(2) does with ENOSPC, and work again when it has room.
class FaultyJournalFs final : public journal::JournalFs {
 public:
  std::atomic<bool> full{false};
  Result<std::unique_ptr<journal::JournalFile>> Open(const std::string& path,
                                                     bool writable) override {
    auto file = journal::PosixJournalFs()->Open(path, writable);
    if (!file.ok()) return file.status();
    return std::unique_ptr<journal::JournalFile>(new File(std::move(*file), full));
  }

 private:
  class File final : public journal::JournalFile {
   public:
    File(std::unique_ptr<journal::JournalFile> inner, std::atomic<bool>& full)
        : inner_(std::move(inner)), full_(full) {}
    Result<uint64_t> Size() override { return inner_->Size(); }
    Status ReadAt(uint64_t offset, size_t n, std::string* out) override {
      return inner_->ReadAt(offset, n, out);
    }
    Status Append(std::string_view data) override {
      if (full_) return Status::IOError("journal: No space left on device");
      return inner_->Append(data);
    }
    Status Sync() override { return inner_->Sync(); }
    Status Truncate(uint64_t size) override { return inner_->Truncate(size); }

   private:
    std::unique_ptr<journal::JournalFile> inner_;
    std::atomic<bool>& full_;
  };
};

// Stores applied objects by key, as a cluster would after server-side apply.
// Pods follow a Deployment's replicas at once and are Ready unless the
// image's tag is "broken".
class MemoryCluster final : public ClusterAccess {
 public:
  std::map<diff::ObjectKey, std::string> objects;  // key → JSON
  // Objects someone else made, under names pagoda renders: key → JSON. A
  // plan looks them up as apply::CheckOwnership does.
  std::map<diff::ObjectKey, std::string> foreign;
  std::map<std::string, std::string> warn;  // key → what the API server warns of on apply
  int executes = 0;
  int scales = 0;  // by release orders
  bool fail_execute = false;
  std::vector<manifest::NodeAllocatable> nodes = {{7500, 15LL << 30}};

  class Pods final : public rollout::Workloads {
   public:
    explicit Pods(MemoryCluster& c) : c_(c) {}
    Result<std::map<std::string, rollout::RevisionState>> Read(const std::string& ns,
                                                               const std::string& env) override {
      std::map<std::string, rollout::RevisionState> out;
      for (const auto& [key, json] : c_.objects) {
        if (key.kind != "Deployment" || key.namespace_name != ns) continue;
        rapidjson::Document d;
        d.Parse(json.c_str());
        if (std::string(d["metadata"]["labels"]["app.kubernetes.io/instance"].GetString()) != env)
          continue;
        auto& s = out[d["metadata"]["labels"]["pagoda.dev/revision"].GetString()];
        s.deployment = key.name;
        s.replicas = d["spec"]["replicas"].GetInt64();
        s.pods = s.replicas;
        bool broken = json.find(":broken") != std::string::npos;
        s.ready = broken ? 0 : s.replicas;
        for (int i = 0; i < s.replicas; ++i) {
          (broken ? s.unready : s.ready_pods).push_back(key.name + "-" + std::to_string(i));
        }
      }
      return out;
    }
    Status Scale(const std::string& ns, const std::string& deployment, int64_t replicas) override {
      ++c_.scales;
      auto& json = c_.objects.at({"apps", "Deployment", ns, deployment});
      rapidjson::Document d;
      d.Parse(json.c_str());
      d["spec"]["replicas"].SetInt64(replicas);
      json = manifest::CanonicalJson(d);
      return Status::Ok();
    }
    std::string LastEvent(const std::string&, const std::vector<std::string>&) override {
      return "";
    }

   private:
    MemoryCluster& c_;
  } pods{*this};

  rollout::Workloads& Workloads(const std::string&) override { return pods; }
  Result<std::vector<manifest::NodeAllocatable>> Nodes(const std::string&) override {
    return nodes;
  }

  Result<std::string> ServerOf(const std::string&) override { return std::string("memory"); }
  Result<std::unique_ptr<ServerPlan>> Plan(const ServerDesired& desired) override {
    auto plan = std::make_unique<ServerPlan>();
    for (const auto& [key, json] : objects) {
      rapidjson::Document doc;
      doc.Parse(json.c_str());
      auto l = diff::LiveFromDocument(std::move(doc));
      if (!l.ok()) return l.status();
      plan->live.push_back(std::move(*l));
    }
    plan->plan = diff::MakePlan(desired.objects, plan->live, desired.scope);
    for (auto& c : plan->plan.changes) {
      auto it = foreign.find(c.key);
      if (c.action != diff::Action::kCreate || it == foreign.end()) continue;
      auto live = std::make_shared<rapidjson::Document>();
      live->Parse(it->second.c_str());
      diff::MarkForeign(&c, *live, desired.scope);
      c.live = std::move(live);
    }
    diff::HoldConflicts(&plan->plan);
    return plan;
  }
  apply::ExecuteResult Execute(const std::string&, const diff::Plan& plan) override {
    ++executes;
    apply::ExecuteResult result;
    if (fail_execute) {
      result.status = Status::Unavailable("the API server is down");
      return result;
    }
    for (const auto& c : plan.changes) {
      switch (c.action) {
        case diff::Action::kCreate:
        case diff::Action::kUpdate:
        case diff::Action::kAdopt: {
          objects[c.key] = c.desired_json;
          foreign.erase(c.key);
          apply::ChangeSetEntry entry{
              c.action == diff::Action::kCreate  ? apply::ChangeAction::kCreated
              : c.action == diff::Action::kAdopt ? apply::ChangeAction::kAdopted
                                                 : apply::ChangeAction::kConfigured,
              c.key.ToString(),
              c.action == diff::Action::kAdopt ? "taken over from " + c.owner : ""};
          if (auto w = warn.find(c.key.ToString()); w != warn.end()) entry.warnings = {w->second};
          result.changes.entries.push_back(std::move(entry));
          break;
        }
        case diff::Action::kRetire: {
          rapidjson::Document d;
          d.Parse(objects[c.key].c_str());
          d["spec"]["replicas"].SetInt(0);
          objects[c.key] = manifest::CanonicalJson(d);
          result.changes.entries.push_back(
              {apply::ChangeAction::kConfigured, c.key.ToString(), ""});
          break;
        }
        case diff::Action::kDelete:
          objects.erase(c.key);
          result.changes.entries.push_back({apply::ChangeAction::kDeleted, c.key.ToString(), ""});
          break;
        default:
          break;
      }
    }
    return result;
  }
  // Someone edits a field by hand.
  void Scale(const std::string& ns, const std::string& prefix, int replicas) {
    for (auto& [key, json] : objects) {
      if (key.kind == "Deployment" && key.namespace_name == ns && key.name.starts_with(prefix)) {
        rapidjson::Document d;
        d.Parse(json.c_str());
        if (d["spec"]["replicas"].GetInt() == 0) continue;
        d["spec"]["replicas"].SetInt(replicas);
        json = manifest::CanonicalJson(d);
      }
    }
  }
  int Replicas(const std::string& ns, const std::string& deployment) {
    rapidjson::Document d;
    d.Parse(objects.at({"apps", "Deployment", ns, deployment}).c_str());
    return d["spec"]["replicas"].GetInt();
  }
};

std::map<std::string, std::string> Repo(const std::string& image = "example.com/web:1",
                                        bool self_heal = true, const std::string& extra_app = "") {
  std::map<std::string, std::string> files = {
      {"apps/shop/app.yaml",
       "apiVersion: pagoda.dev/v1\nkind: App\nmetadata: {name: shop}\nspec: {}\n"},
      {"apps/shop/deploy/web.yaml",
       "apiVersion: pagoda.dev/v1\nkind: DeployConfig\nmetadata: {name: web}\nspec:\n  image: " +
           image + "\n  cpu: 100m\n  memory: 64Mi\n  ports: [{name: http, port: 8080}]\n"},
      {"apps/shop/envs/prod.yaml",
       "apiVersion: pagoda.dev/v1\nkind: Environment\nmetadata: {name: prod}\nspec:\n  cluster: "
       "prod\n"
       "  deployConfig: web\n  replicas: 3\n  sync: {auto: true, selfHeal: " +
           std::string(self_heal ? "true" : "false") +
           ", prune: true}\n  traffic: [{name: http, protocol: http, port: 80, targetPort: "
           "8080}]\n"},
  };
  if (!extra_app.empty()) {
    files["apps/" + extra_app + "/app.yaml"] =
        "apiVersion: pagoda.dev/v1\nkind: App\nmetadata: {name: " + extra_app + "}\nspec: {}\n";
    files["apps/" + extra_app + "/deploy/api.yaml"] =
        "apiVersion: pagoda.dev/v1\nkind: DeployConfig\nmetadata: {name: api}\nspec:\n  image: "
        "example.com/api:1\n"
        "  cpu: 100m\n  memory: 64Mi\n";
    files["apps/" + extra_app + "/envs/prod.yaml"] =
        "apiVersion: pagoda.dev/v1\nkind: Environment\nmetadata: {name: prod}\nspec:\n  cluster: "
        "prod\n"
        "  deployConfig: api\n  replicas: 2\n";
  }
  return files;
}

class LoopTest : public ::testing::Test {
 protected:
  void SetUp() override {
    char tmpl[] = "/tmp/pagoda-loop-XXXXXX";
    dir_ = mkdtemp(tmpl);
    OpenJournal();
  }
  void TearDown() override {
    reconciler_.reset();
    journal_.reset();
    std::filesystem::remove_all(dir_);
  }
  void OpenJournal() {
    reconciler_.reset();
    journal_.reset();
    auto j = Journal::Open(dir_ + "/journal", fs_);
    ASSERT_TRUE(j.ok()) << j.status().ToString();
    journal_ = std::move(*j);
    LoopOptions options;
    options.interval_ms = 30'000;
    options.drift_interval_ms = 300'000;
    reconciler_ = std::make_unique<Reconciler>(options, git_, *journal_, cluster_, clock_,
                                               dir_ + "/pins.json");
  }
  // Steps until no release is in flight, moving the fake clock as asked.
  Clock::TimePoint Step() {
    Clock::TimePoint next{};
    for (int i = 0; i < 2000; ++i) {
      next = reconciler_->Step();
      bool busy = false;
      for (const auto& e : reconciler_->Snapshot().environments) busy |= !e.release.empty();
      if (!busy) return next;
      if (next > clock_.Now()) clock_.Advance(next - clock_.Now());
    }
    ADD_FAILURE() << "a release never finished";
    return next;
  }
  // Steps, moving the fake clock as asked, until `done` holds; false after
  // `steps` steps.
  bool StepUntil(const std::function<bool()>& done, int steps = 2000) {
    for (int i = 0; i < steps; ++i) {
      auto next = reconciler_->Step();
      if (done()) return true;
      if (next > clock_.Now())
        clock_.Advance(
            std::min<Clock::TimePoint::duration>(next - clock_.Now(), std::chrono::seconds(5)));
    }
    return done();
  }
  const EnvironmentStatus* Shop() {
    snapshot_ = reconciler_->Snapshot();
    for (const auto& e : snapshot_.environments) {
      if (e.app == "shop" && e.env == "prod") return &e;
    }
    return nullptr;
  }
  std::string Phase() {
    const EnvironmentStatus* e = Shop();
    return e == nullptr ? "" : e->release_phase;
  }
  // The release's batch indexes as its record holds them.
  std::vector<int> BatchesOf(const std::string& id) {
    std::vector<int> out;
    for (const auto& r : Releases()) {
      if (r.id != id) continue;
      for (const auto& b : r.batches) out.push_back(b.index);
    }
    return out;
  }
  // shop/prod released once at web:1, then web:2 pushed with `release` policy.
  std::string BatchedRelease(const std::string& release) {
    git_.Push(Repo(), "first");
    Step();
    auto files = Repo("example.com/web:2");
    files["apps/shop/envs/prod.yaml"] += "  release: " + release + "\n";
    git_.Push(files, "web 2");
    clock_.Advance(31s);
    std::string id;
    EXPECT_TRUE(StepUntil([&] {
      const EnvironmentStatus* e = Shop();
      id = e != nullptr ? e->release : "";
      return !id.empty() && e->batches_done == 1;
    }));
    return id;
  }
  LoopStatus snapshot_;

  std::vector<ReleaseRecord> Releases() {
    auto r = journal_->reader().Releases({.app = "", .env = "", .limit = 100});
    EXPECT_TRUE(r.ok());
    return r.ok() ? *r : std::vector<ReleaseRecord>{};
  }
  std::string DeploymentName() {
    for (const auto& [key, json] : cluster_.objects) {
      if (key.kind == "Deployment" && key.namespace_name == "shop" &&
          cluster_.Replicas("shop", key.name) > 0) {
        return key.name;
      }
    }
    return "";
  }

  std::string dir_;
  std::shared_ptr<FaultyJournalFs> fs_ = std::make_shared<FaultyJournalFs>();
  FakeClock clock_;
  FakeGit git_;
  MemoryCluster cluster_;
  std::unique_ptr<Journal> journal_;
  std::unique_ptr<Reconciler> reconciler_;
};

TEST_F(LoopTest, FirstStepFetchesReleasesAndRecords) {
  git_.Push(Repo(), "first");
  const auto fetched_at = clock_.Now();  // the fetch is the step's first act
  auto next = Step();
  EXPECT_EQ(git_.fetches, 1);
  auto releases = Releases();
  ASSERT_EQ(releases.size(), 1u);
  const auto& r = releases[0];
  EXPECT_EQ(r.app, "shop");
  EXPECT_EQ(r.env, "prod");
  EXPECT_EQ(r.kind, ReleaseKind::kRollout);
  EXPECT_EQ(r.trigger, Trigger::kCommit);
  EXPECT_EQ(r.outcome, Outcome::kSucceeded);
  EXPECT_EQ(r.to.id, git_.Last());
  EXPECT_EQ(r.to.summary, "first");
  EXPECT_FALSE(r.to_revision.empty());
  EXPECT_GE(r.changes.size(), 3u);  // Namespace, Service, Deployment
  // Next: a fetch within the jittered interval of the first.
  auto wait = std::chrono::duration_cast<std::chrono::milliseconds>(next - fetched_at);
  EXPECT_GE(wait, 27s);
  EXPECT_LE(wait, 33s);
  auto log = journal_->reader().SyncLog(0);
  ASSERT_TRUE(log.ok());
  ASSERT_EQ(log->size(), 1u);
  EXPECT_EQ((*log)[0].environments_checked, 1);
  EXPECT_EQ((*log)[0].releases, std::vector<std::string>{r.id});
}

// A Service someone made by hand under the name pagoda renders for prod.
std::string ForeignService() {
  return R"({"apiVersion":"v1","kind":"Service","metadata":{"name":"prod","namespace":"shop",)"
         R"("labels":{"team":"theirs"},"managedFields":[{"manager":"kubectl-client-side-apply"}]},)"
         R"("spec":{"ports":[{"port":80}]}})";
}

TEST_F(LoopTest, AConflictIsRecordedOnceShownInStatusAndNothingOfTheEnvironmentIsWritten) {
  cluster_.foreign[{"", "Service", "shop", "prod"}] = ForeignService();
  git_.Push(Repo(), "first");
  Step();
  auto releases = Releases();
  ASSERT_EQ(releases.size(), 1u);
  EXPECT_EQ(releases[0].outcome, Outcome::kFailed);
  ASSERT_EQ(releases[0].errors.size(), 1u);
  EXPECT_EQ(releases[0].errors[0],
            "conflict: Service/shop/prod exists without pagoda's labels for app shop, environment "
            "prod (it has none of them), managed by kubectl-client-side-apply; left alone (adopt: "
            "true on the environment takes it over)");
  bool deployment_skipped = false;
  for (const auto& c : releases[0].changes) {
    deployment_skipped |= c.key.starts_with("Deployment/shop/prod-") &&
                          c.action == ChangeAction::kSkipped &&
                          c.detail == "not written while Service/shop/prod is in conflict";
  }
  EXPECT_TRUE(deployment_skipped);
  EXPECT_EQ(DeploymentName(), "");
  EXPECT_FALSE(cluster_.objects.count({"", "Service", "shop", "prod"}));
  auto status = reconciler_->Snapshot().environments;
  ASSERT_EQ(status.size(), 1u);
  EXPECT_EQ(status[0].error, releases[0].errors[0]);

  // The same conflict at the next reconcile: shown, not recorded again.
  clock_.Advance(301s);
  Step();
  EXPECT_EQ(Releases().size(), 1u);
  EXPECT_EQ(reconciler_->Snapshot().environments[0].error, releases[0].errors[0]);

  // Its owner removes it: the environment is released.
  cluster_.foreign.clear();
  clock_.Advance(301s);
  Step();
  releases = Releases();
  ASSERT_EQ(releases.size(), 2u);
  EXPECT_EQ(releases[0].outcome, Outcome::kSucceeded);
  EXPECT_NE(DeploymentName(), "");
  EXPECT_EQ(reconciler_->Snapshot().environments[0].error, "");
}

TEST_F(LoopTest, AdoptionAndTheApiServersWarningsAreRecorded) {
  cluster_.foreign[{"", "Service", "shop", "prod"}] = ForeignService();
  cluster_.warn["Service/shop/prod"] = "spec.ports[0]: a port warning";
  auto files = Repo();
  files["apps/shop/envs/prod.yaml"] += "  adopt: true\n";
  git_.Push(files, "adopt");
  Step();
  auto releases = Releases();
  ASSERT_EQ(releases.size(), 1u);
  EXPECT_EQ(releases[0].outcome, Outcome::kSucceeded);
  bool adopted = false;
  for (const auto& c : releases[0].changes) {
    adopted |= c.key == "Service/shop/prod" && c.action == ChangeAction::kAdopted &&
               c.detail == "taken over from kubectl-client-side-apply";
  }
  EXPECT_TRUE(adopted);
  EXPECT_EQ(releases[0].warnings,
            std::vector<std::string>{"Service/shop/prod: spec.ports[0]: a port warning"});
  EXPECT_NE(DeploymentName(), "");
}

TEST_F(LoopTest, AHoldByPolicyIsStillHeldAfterARestartUntilResumed) {
  const std::string id = BatchedRelease("{batches: 3, pause: first}");
  ASSERT_TRUE(StepUntil([&] { return Phase() == "held"; }));
  EXPECT_EQ(journal_->reader().Release(id)->hold, journal::Hold::kPolicy);
  const int scales = cluster_.scales;

  OpenJournal();  // the next process, as after a SIGKILL
  for (int i = 0; i < 5; ++i) {
    clock_.Advance(60s);
    reconciler_->Step();
  }
  EXPECT_EQ(Phase(), "held");
  EXPECT_EQ(Shop()->release, id);
  EXPECT_EQ(cluster_.scales, scales);  // nothing moved while held

  ASSERT_TRUE(reconciler_->Resume(id).ok());
  ASSERT_TRUE(StepUntil([&] { return Shop()->release.empty(); }));
  EXPECT_EQ(BatchesOf(id), (std::vector<int>{1, 2, 3}));  // none repeated
  EXPECT_EQ(journal_->reader().Release(id)->outcome, Outcome::kSucceeded);
  EXPECT_EQ(journal_->reader().Release(id)->hold, journal::Hold::kNone);
}

TEST_F(LoopTest, AnOperatorsPauseIsJournalledAndHoldsAfterARestart) {
  const std::string id = BatchedRelease("{batches: 3, batchInterval: 30s}");
  ASSERT_TRUE(reconciler_->Pause(id).ok());  // between batch 1 and 2: held at once
  EXPECT_TRUE(journal_->reader().Release(id)->pause_requested);
  ASSERT_TRUE(StepUntil([&] { return Phase() == "held"; }));
  EXPECT_EQ(journal_->reader().Release(id)->hold, journal::Hold::kOperator);
  const int scales = cluster_.scales;

  OpenJournal();
  for (int i = 0; i < 5; ++i) {
    clock_.Advance(60s);
    reconciler_->Step();
  }
  EXPECT_EQ(Phase(), "held");
  EXPECT_EQ(cluster_.scales, scales);
  ASSERT_TRUE(reconciler_->Resume(id).ok());
  ASSERT_TRUE(StepUntil([&] { return Shop()->release.empty(); }));
  EXPECT_EQ(BatchesOf(id), (std::vector<int>{1, 2, 3}));
}

TEST_F(LoopTest, AnAbortAskedForIsCarriedOutAfterARestart) {
  const std::string id = BatchedRelease("{batches: 3, pause: first}");
  ASSERT_TRUE(StepUntil([&] { return Phase() == "held"; }));
  // The abort is written; the process dies before the order moves.
  ReleaseRecord r = *journal_->reader().Release(id);
  r.abort_requested = true;
  ASSERT_TRUE(journal_->Append(&r).ok());
  OpenJournal();
  ASSERT_TRUE(StepUntil([&] { return Shop()->release.empty(); }));
  EXPECT_EQ(journal_->reader().Release(id)->outcome, Outcome::kAborted);
}

TEST_F(LoopTest, AFullDiskHoldsTheOrdersBackAndNothingIsLostOrRecordedTwice) {
  const std::string id = BatchedRelease("{batches: 3, batchInterval: 10s}");
  fs_->full = true;
  // At most the batch in hand ends; then nothing moves until it is written.
  for (int i = 0; i < 20; ++i) {
    clock_.Advance(10s);
    reconciler_->Step();
  }
  const int scales = cluster_.scales;
  for (int i = 0; i < 20; ++i) {
    clock_.Advance(10s);
    reconciler_->Step();
  }
  EXPECT_EQ(cluster_.scales, scales);
  LoopStatus status = reconciler_->Snapshot();
  EXPECT_NE(status.journal_error.find("No space left on device"), std::string::npos);
  auto [ready, why] = Readiness(status);
  EXPECT_FALSE(ready);
  EXPECT_NE(why.find("the journal cannot be written"), std::string::npos) << why;
  EXPECT_FALSE(reconciler_->Pause(id).ok());  // a decision that cannot be written is refused
  EXPECT_FALSE(journal_->reader().Release(id)->pause_requested);

  fs_->full = false;  // space again
  ASSERT_TRUE(StepUntil([&] { return Shop()->release.empty(); }));
  EXPECT_EQ(BatchesOf(id), (std::vector<int>{1, 2, 3}));
  EXPECT_EQ(journal_->reader().Release(id)->outcome, Outcome::kSucceeded);
  EXPECT_EQ(reconciler_->Snapshot().journal_error, "");
  auto log = journal_->reader().SyncLog(0);
  ASSERT_TRUE(log.ok());
  EXPECT_GE(log->size(), 3u);  // the cycles of the full disk too, written once there was room
}

TEST_F(LoopTest, NothingDueNothingDone) {
  git_.Push(Repo());
  Step();
  int executes = cluster_.executes;
  clock_.Advance(40s);  // a fetch, no new commit, drift interval not reached
  Step();
  EXPECT_EQ(git_.fetches, 2);
  EXPECT_EQ(cluster_.executes, executes);
  EXPECT_EQ(Releases().size(), 1u);
}

TEST_F(LoopTest, ANewCommitIsReleasedAndTheOldRevisionRetired) {
  git_.Push(Repo("example.com/web:1"));
  Step();
  std::string old = DeploymentName();
  git_.Push(Repo("example.com/web:2"), "web 2");
  clock_.Advance(34s);  // past the jittered interval (30 s ± 10%)
  Step();
  auto releases = Releases();
  ASSERT_EQ(releases.size(), 2u);
  EXPECT_EQ(releases[0].kind, ReleaseKind::kRollout);
  EXPECT_EQ(releases[0].to.summary, "web 2");
  EXPECT_EQ(releases[0].from.id, releases[1].to.id);
  EXPECT_EQ(releases[0].from_revision, releases[1].to_revision);
  EXPECT_NE(DeploymentName(), old);
  EXPECT_EQ(cluster_.Replicas("shop", old), 0);
}

TEST_F(LoopTest, RevertIsRecordedAsARollbackNamingTheReleaseItRestores) {
  git_.Push(Repo("example.com/web:1"));
  Step();
  std::string first_id = Releases()[0].id;
  git_.Push(Repo("example.com/web:2"));
  reconciler_->RequestSync();
  Step();
  git_.Push(Repo("example.com/web:1"), "Revert \"web 2\"");
  reconciler_->RequestSync();
  Step();
  auto releases = Releases();
  ASSERT_EQ(releases.size(), 3u);
  EXPECT_EQ(releases[0].kind, ReleaseKind::kRollback);
  EXPECT_EQ(releases[0].trigger, Trigger::kRevert);
  EXPECT_EQ(releases[0].restores, first_id);
  EXPECT_EQ(releases[0].to_revision, releases[2].to_revision);
}

TEST_F(LoopTest, DriftIsHealedOnlyWithSelfHealAndRecordedAsSuch) {
  git_.Push(Repo("example.com/web:1", /*self_heal=*/true));
  Step();
  cluster_.Scale("shop", "prod-", 7);
  clock_.Advance(301s);  // drift interval
  Step();
  auto releases = Releases();
  ASSERT_EQ(releases.size(), 2u);
  EXPECT_EQ(releases[0].kind, ReleaseKind::kSelfHeal);
  EXPECT_EQ(releases[0].trigger, Trigger::kSelfHeal);
  EXPECT_EQ(cluster_.Replicas("shop", DeploymentName()), 3);
  auto log = journal_->reader().SyncLog(0);
  EXPECT_EQ(log->back().drift, std::vector<std::string>{"shop/prod"});
}

TEST_F(LoopTest, WithoutSelfHealDriftIsOnlyReported) {
  git_.Push(Repo("example.com/web:1", /*self_heal=*/false));
  Step();
  std::string name = DeploymentName();
  cluster_.Scale("shop", "prod-", 7);
  clock_.Advance(301s);
  Step();
  EXPECT_EQ(Releases().size(), 1u);
  EXPECT_EQ(cluster_.Replicas("shop", name), 7);
  auto status = reconciler_->Snapshot();
  ASSERT_EQ(status.environments.size(), 1u);
  EXPECT_TRUE(status.environments[0].drift);
}

TEST_F(LoopTest, ABrokenAppKeepsItsLastGoodStateWhileOthersRelease) {
  git_.Push(Repo("example.com/web:1", true, "orders"));
  Step();
  auto before = cluster_.objects;
  auto files = Repo("example.com/web:2", true, "orders");
  files["apps/orders/envs/prod.yaml"] += "  replicas: [oops\n";
  git_.Push(files);
  reconciler_->RequestSync();
  Step();
  auto releases = Releases();
  ASSERT_EQ(releases.size(), 3u);  // shop twice, orders once: no release for broken orders
  EXPECT_EQ(releases[0].app, "shop");
  for (const auto& [key, json] : before) {
    if (key.namespace_name == "orders") {
      EXPECT_EQ(cluster_.objects[key], json) << key.ToString();
    }
  }
  auto log = journal_->reader().SyncLog(0);
  ASSERT_FALSE(log->back().errors.empty());
  EXPECT_NE(log->back().errors[0].find("apps/orders/envs/prod.yaml:"), std::string::npos)
      << log->back().errors[0];
  bool reported = false;
  for (const auto& e : reconciler_->Snapshot().environments) {
    if (e.app == "orders")
      reported = e.error.find("apps/orders/envs/prod.yaml:") != std::string::npos;
  }
  EXPECT_TRUE(reported);
}

TEST_F(LoopTest, FetchFailuresBackOffAndNeverStopTheLoop) {
  git_.Push(Repo());
  Step();
  git_.fail = true;
  std::vector<int64_t> waits;
  for (int i = 0; i < 4; ++i) {
    clock_.Advance(std::chrono::hours(1));
    auto next = Step();
    waits.push_back(std::chrono::duration_cast<std::chrono::seconds>(next - clock_.Now()).count());
  }
  EXPECT_EQ(waits, (std::vector<int64_t>{30, 60, 120, 240}));
  EXPECT_NE(reconciler_->Snapshot().repo_error.find("connection refused"), std::string::npos);
  git_.fail = false;
  git_.Push(Repo("example.com/web:3"));
  clock_.Advance(std::chrono::hours(1));
  Step();
  EXPECT_EQ(reconciler_->Snapshot().repo_error, "");
  EXPECT_EQ(Releases().size(), 2u);
}

TEST_F(LoopTest, AFailedReleaseIsRecordedAndRetriedWithBackoff) {
  git_.Push(Repo());
  cluster_.fail_execute = true;
  Step();
  auto releases = Releases();
  ASSERT_EQ(releases.size(), 1u);
  EXPECT_EQ(releases[0].outcome, Outcome::kFailed);
  EXPECT_NE(releases[0].errors[0].find("API server is down"), std::string::npos);
  clock_.Advance(2s);
  Step();  // not yet: backing off 5 s
  EXPECT_EQ(cluster_.executes, 1);
  cluster_.fail_execute = false;
  clock_.Advance(4s);
  Step();
  EXPECT_GT(cluster_.executes, 1);
  EXPECT_EQ(Releases()[0].outcome, Outcome::kSucceeded);
}

TEST_F(LoopTest, AReleaseLeftInProgressIsFinishedUnderItsIdAfterARestart) {
  git_.Push(Repo());
  // A process recorded the start of a release and died before applying it.
  ReleaseRecord started;
  started.app = "shop";
  started.env = "prod";
  started.cluster = "prod";
  started.to.id = git_.Last();
  ASSERT_TRUE(journal_->Append(&started).ok());
  OpenJournal();  // the next process
  Step();
  auto releases = Releases();
  ASSERT_EQ(releases.size(), 1u) << "no duplicate record";
  EXPECT_EQ(releases[0].id, started.id);
  EXPECT_EQ(releases[0].outcome, Outcome::kSucceeded);
  EXPECT_FALSE(DeploymentName().empty());
}

TEST_F(LoopTest, RollbackPinsUntilTheRepositoryChangesTheEnvironment) {
  git_.Push(Repo("example.com/web:1"));
  Step();
  std::string v1 = Releases()[0].id;
  std::string first_rev = DeploymentName();
  git_.Push(Repo("example.com/web:2"));
  reconciler_->RequestSync();
  Step();
  auto id = reconciler_->Rollback("shop", "prod", v1);
  ASSERT_TRUE(id.ok()) << id.status().ToString();
  Step();  // the rollback moves instances back, batch by batch
  EXPECT_EQ(DeploymentName(), first_rev);
  auto releases = Releases();
  EXPECT_EQ(releases[0].kind, ReleaseKind::kRollback);
  EXPECT_EQ(releases[0].trigger, Trigger::kManualRollback);
  EXPECT_EQ(releases[0].restores, v1);
  // Pinned: the next cycles leave it alone although the tip says web:2.
  clock_.Advance(301s);
  Step();
  EXPECT_EQ(DeploymentName(), first_rev);
  EXPECT_EQ(reconciler_->Snapshot().environments[0].pinned_commit, releases[0].to.id);
  // A commit that does not change the environment keeps the pin...
  auto same = Repo("example.com/web:2");
  same["apps/shop/README.md"] = "notes";
  git_.Push(same);
  reconciler_->RequestSync();
  Step();
  EXPECT_EQ(DeploymentName(), first_rev);
  // ...and survives a restart.
  OpenJournal();
  Step();
  EXPECT_EQ(DeploymentName(), first_rev);
  // One that changes it releases the pin and the environment follows the repository.
  git_.Push(Repo("example.com/web:3"));
  reconciler_->RequestSync();
  Step();
  EXPECT_NE(DeploymentName(), first_rev);
  EXPECT_EQ(reconciler_->Snapshot().environments[0].pinned_commit, "");
}

TEST_F(LoopTest, ARollbackInFlightIsTakenUpAtItsPinAfterARestart) {
  const auto batched = [&](const std::string& image) {
    auto files = Repo(image);
    files["apps/shop/envs/prod.yaml"] += "  release: {batches: 3, batchInterval: 30s}\n";
    return files;
  };
  git_.Push(batched("example.com/web:1"), "web 1");
  Step();
  const std::string v1 = Releases()[0].id, first_rev = DeploymentName();
  git_.Push(batched("example.com/web:2"), "web 2");
  reconciler_->RequestSync();
  Step();
  auto id = reconciler_->Rollback("shop", "prod", v1);
  ASSERT_TRUE(id.ok()) << id.status().ToString();
  ASSERT_TRUE(StepUntil([&] { return Shop()->batches_done == 1; }));

  OpenJournal();  // the next process: the environment is pinned, its rollback unfinished
  ASSERT_TRUE(StepUntil([&] { return Shop() != nullptr && Shop()->release.empty(); }));
  const auto done = journal_->reader().Release(*id);
  ASSERT_TRUE(done.ok());
  EXPECT_EQ(done->outcome, Outcome::kSucceeded);
  EXPECT_EQ(done->kind, ReleaseKind::kRollback);
  EXPECT_EQ(BatchesOf(*id), (std::vector<int>{1, 2, 3}));  // none repeated
  EXPECT_EQ(DeploymentName(), first_rev);
  EXPECT_EQ(Shop()->pinned_commit, done->to.id);
}

// A rollback asked of a Reconciler that has not reconciled yet (right after
// a start or a reload) pins against the tip all the same.
TEST_F(LoopTest, ARollbackBeforeTheFirstReconcileStaysPinned) {
  git_.Push(Repo("example.com/web:1"), "web 1");
  Step();
  const std::string v1 = Releases()[0].id, first_rev = DeploymentName();
  git_.Push(Repo("example.com/web:2"), "web 2");
  reconciler_->RequestSync();
  Step();
  ASSERT_NE(DeploymentName(), first_rev);

  OpenJournal();  // a reload: a new Reconciler, nothing loaded yet
  auto id = reconciler_->Rollback("shop", "prod", v1);
  ASSERT_TRUE(id.ok()) << id.status().ToString();
  reconciler_->RequestSync();
  Step();
  Step();
  EXPECT_EQ(DeploymentName(), first_rev) << "the tip did not take the environment back";
  ASSERT_NE(Shop(), nullptr);
  EXPECT_EQ(Shop()->pinned_commit, journal_->reader().Release(v1)->to.id);
}

TEST_F(LoopTest, UnpinResumesAutoSync) {
  git_.Push(Repo("example.com/web:1"));
  Step();
  std::string v1 = Releases()[0].id, first_rev = DeploymentName();
  git_.Push(Repo("example.com/web:2"));
  reconciler_->RequestSync();
  Step();
  ASSERT_TRUE(reconciler_->Rollback("shop", "prod", v1).ok());
  Step();
  EXPECT_FALSE(reconciler_->Unpin("shop", "test").ok());
  ASSERT_TRUE(reconciler_->Unpin("shop", "prod").ok());
  Step();
  EXPECT_NE(DeploymentName(), first_rev);
}

TEST_F(LoopTest, RollbackRefusesWhatItCannotRender) {
  git_.Push(Repo());
  Step();
  EXPECT_EQ(reconciler_->Rollback("shop", "prod", "r-999999").status().code(),
            Status::Code::kNotFound);
  EXPECT_EQ(reconciler_->Rollback("shop", "staging", git_.Last()).status().code(),
            Status::Code::kNotFound);
  EXPECT_FALSE(reconciler_->Rollback("shop", "prod", "nope").ok());
}

}  // namespace
}  // namespace pagoda::daemon
