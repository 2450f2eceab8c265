// What the Reconciler's unit tests share: a Git source of in-memory
// commits, a journal file system that fails on demand, an in-memory stand-in
// for the cluster that stores what is applied, and a fixture that drives the
// loop step by step with a fake clock. Test-only.
#pragma once

#include <gtest/gtest.h>
#include <unistd.h>

#include <atomic>
#include <filesystem>
#include <functional>

#include "daemon/loop.h"
#include "daemon/runtime.h"
#include "manifest/json.h"

namespace pagoda::daemon::test {

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
  // The order objects were created in, as creationTimestamp orders them.
  std::map<diff::ObjectKey, int> created;
  bool fail_execute = false;
  std::mutex execute_mu;          // Execute() and the pods' Read() and Scale() take turns
  std::set<std::string> fail_in;  // namespaces whose plans fail before any write
  std::vector<manifest::NodeAllocatable> nodes = {{7500, 15LL << 30}};

  class Pods final : public rollout::Workloads {
   public:
    explicit Pods(MemoryCluster& c) : c_(c) {}
    Result<std::map<std::string, rollout::RevisionState>> Read(const std::string& ns,
                                                               const std::string& env) override {
      std::lock_guard lock(c_.execute_mu);
      std::map<std::string, rollout::RevisionState> out;
      for (const auto& [key, json] : c_.objects) {
        if (key.kind != "Deployment" || key.namespace_name != ns) continue;
        rapidjson::Document d;
        d.Parse(json.c_str());
        if (std::string(d["metadata"]["labels"]["app.kubernetes.io/instance"].GetString()) != env)
          continue;
        auto& s = out[d["metadata"]["labels"]["pagoda.dev/revision"].GetString()];
        s.deployment = key.name;
        s.created = std::to_string(1'000'000 + c_.created[key]);
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
      std::lock_guard lock(c_.execute_mu);
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
  int node_reads = 0;
  Result<std::vector<manifest::NodeAllocatable>> Nodes(const std::string&) override {
    ++node_reads;
    return nodes;
  }

  Result<std::string> ServerOf(const std::string&) override { return std::string("memory"); }
  // A digest of what is stored of the app, made by pagoda or not: it
  // changes with every change there, however made.
  bool versions_known = true;  // false: LiveVersion() cannot tell
  int version_reads = 0;
  std::optional<uint64_t> LiveVersion(const std::string&, const std::string& app) override {
    if (!versions_known) return std::nullopt;
    ++version_reads;
    return DigestOf(app);
  }
  uint64_t DigestOf(const std::string& app) const {
    std::string all;
    for (const auto* store : {&objects, &foreign}) {
      for (const auto& [key, json] : *store) {
        if (key.namespace_name == app || (key.kind == "Namespace" && key.name == app)) {
          all += key.ToString() + "\n" + json + "\n";
        }
      }
    }
    return diff::HashJson(all);
  }
  // What moved since `since`: each app's LiveVersion() against the one last
  // seen here; those that differ are stamped with a new change number.
  bool changes_known = true;  // false: LiveChangedSince() cannot tell
  std::map<std::string, std::pair<uint64_t, uint64_t>> stamped;  // app -> {version, change}
  uint64_t changes = 0;
  kube::LiveChanges LiveChangedSince(const std::string&, uint64_t since) override {
    if (!versions_known || !changes_known) return {};
    for (const auto* store : {&objects, &foreign}) {
      for (const auto& [key, json] : *store) {
        stamped.try_emplace(key.kind == "Namespace" ? key.name : key.namespace_name);
      }
    }
    kube::LiveChanges out;
    out.all = false;
    for (auto& [app, stamp] : stamped) {
      const uint64_t version = DigestOf(app);
      if (stamp.second == 0 || stamp.first != version) stamp = {version, ++changes};
    }
    for (const auto& [app, stamp] : stamped) {
      if (stamp.second > since) out.apps.push_back(app);
    }
    out.now = changes;
    return out;
  }
  std::vector<std::vector<std::string>> planned;  // the apps of each Plan()
  Result<std::unique_ptr<ServerPlan>> Plan(const ServerDesired& desired) override {
    planned.push_back(desired.apps);
    auto plan = std::make_unique<ServerPlan>();
    for (const auto& [key, json] : objects) {
      rapidjson::Document doc;
      doc.Parse(json.c_str());
      if (key.kind == "Deployment") ReportReady(doc, json.find(":broken") == std::string::npos);
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
      c.live = std::make_shared<const diff::LiveObject>(
          std::shared_ptr<const rapidjson::Value>(std::move(live)));
    }
    diff::HoldConflicts(&plan->plan);
    return plan;
  }
  // How many Execute() calls ExecuteAll() may make at once, from threads
  // of its own; they take turns at the store.
  int concurrency = 1;
  int Concurrency() const override { return concurrency; }
  apply::ExecuteResult Execute(const std::string&, const diff::Plan& plan,
                               const std::string& commit) override {
    std::lock_guard lock(execute_mu);
    ++executes;
    apply::ExecuteResult result;
    if (fail_execute) {
      result.status = Status::Unavailable("the API server is down");
      return result;
    }
    for (const auto& c : plan.changes) {
      if (fail_in.count(c.key.namespace_name)) {
        result.status =
            Status::Unavailable("namespace " + c.key.namespace_name + " refuses writes");
        return result;
      }
    }
    for (const auto& c : plan.changes) {
      switch (c.action) {
        case diff::Action::kCreate:
        case diff::Action::kUpdate:
        case diff::Action::kAdopt: {
          objects[c.key] =
              commit.empty() ? c.desired_json() : *diff::WithCommit(c.desired_json(), commit);
          created.emplace(c.key, static_cast<int>(created.size()) + 1);
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
  // What a Deployment's status says: all its instances Ready, or none.
  static void ReportReady(rapidjson::Document& d, bool ready) {
    rapidjson::Value status(rapidjson::kObjectType);
    status.AddMember("readyReplicas", ready ? d["spec"]["replicas"].GetInt64() : 0,
                     d.GetAllocator());
    d.RemoveMember("status");
    d.AddMember("status", status, d.GetAllocator());
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

inline std::map<std::string, std::string> Repo(const std::string& image = "example.com/web:1",
                                               bool self_heal = true,
                                               const std::string& extra_app = "") {
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
  void OpenJournal(const std::function<void(LoopOptions&)>& adjust = nullptr) {
    reconciler_.reset();
    journal_.reset();
    auto j = Journal::Open(dir_ + "/journal", fs_);
    ASSERT_TRUE(j.ok()) << j.status().ToString();
    journal_ = std::move(*j);
    LoopOptions options;
    options.interval_ms = 30'000;
    options.drift_interval_ms = 300'000;
    if (adjust) adjust(options);
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

}  // namespace pagoda::daemon::test
