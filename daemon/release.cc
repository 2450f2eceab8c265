// The reconcile pass over a loaded commit, and release orders: how the loop
// turns a plan into recorded releases, one per environment.
#include <spdlog/spdlog.h>

#include <algorithm>

#include "daemon/loop_internal.h"
#include "daemon/release_shape.h"
#include "manifest/json.h"

namespace pagoda::daemon {
namespace {

// Why nothing of `app`/`env` may be written this cycle: it is held back,
// or one of its objects (or of its app's own) is in conflict. Empty when it
// may go on.
std::vector<std::string> Refusals(const ServerPlan& planned, const std::string& app,
                                  const std::string& env,
                                  const std::vector<const diff::PlannedChange*>& group) {
  std::vector<std::string> out;
  for (const auto& h : planned.held) {
    if (h.app == app && h.env == env) out.push_back(h.message);
  }
  for (const auto* c : group) {
    if (c->action == diff::Action::kConflict) {
      out.push_back("conflict: " + c->key.ToString() + " " + c->reason);
    }
  }
  if (out.empty()) {
    for (const auto* c : group) {
      if (c->action == diff::Action::kBlocked) out.push_back(c->key.ToString() + ": " + c->reason);
    }
  }
  return out;
}

// What is held back of the app as a whole (a plain manifest the server
// will not take): reported with each of its environments, which go on.
std::vector<std::string> AppRefusals(const ServerPlan& planned, const std::string& app) {
  std::vector<std::string> out;
  for (const auto& h : planned.held) {
    if (h.app == app && h.env.empty()) out.push_back(h.message);
  }
  return out;
}

std::string Join(const std::vector<std::string>& lines) {
  std::string out;
  for (const auto& l : lines) out += (out.empty() ? "" : "; ") + l;
  return out;
}

// The environment's environments on `server`, by app: those selected whose
// cluster leads there.
std::map<std::string, std::vector<const manifest::Environment*>> EnvironmentsOn(
    const manifest::Repository& repo, const Selection& selection,
    const std::map<std::string, std::string>& server_of, const std::string& server) {
  std::map<std::string, std::vector<const manifest::Environment*>> out;
  for (const auto& app : repo.apps) {
    if (!app.valid || !selection.HasApp(app.name)) continue;
    for (const auto& env : app.model.environments) {
      auto it = server_of.find(env.cluster.value);
      if (it == server_of.end() || it->second != server) continue;
      if (selection.HasEnv(app.name, env.name.value)) out[app.name].push_back(&env);
    }
  }
  return out;
}

class RealClusterAccess final : public ClusterAccess {
 public:
  RealClusterAccess(ClusterMapping mapping, kube::ClientOptions options)
      : mapping_(std::move(mapping)), options_(std::move(options)) {}

  Result<std::string> ServerOf(const std::string& cluster) override {
    auto creds = mapping_.Resolve(cluster);
    if (!creds.ok()) return creds.status();
    std::string server = creds->server;
    if (!clients_.count(server)) {
      auto client = kube::KubeClient::Connect(std::move(*creds), options_);
      if (!client.ok()) return client.status();
      clients_[server].client = std::move(*client);
      clients_[server].live = std::make_unique<kube::LiveCache>(*clients_[server].client);
    }
    return server;
  }
  Result<std::unique_ptr<ServerPlan>> Plan(const ServerDesired& desired) override {
    auto it = clients_.find(desired.server);
    if (it == clients_.end()) return Status::Internal("no client for " + desired.server);
    return PlanServer(*it->second.live, desired, &it->second.memo);
  }
  apply::ExecuteResult Execute(const std::string& server, const diff::Plan& plan) override {
    auto it = clients_.find(server);
    if (it == clients_.end()) return {{}, Status::Internal("no client for " + server)};
    return apply::Execute(*it->second.client, plan, {});
  }
  std::map<std::string, kube::RequestStats> RequestStatsByServer() const override {
    std::map<std::string, kube::RequestStats> out;
    for (const auto& [server, c] : clients_) out[server] = c.client->stats();
    return out;
  }
  rollout::Workloads& Workloads(const std::string& server) override {
    auto& w = workloads_[server];
    if (!w) w = std::make_unique<rollout::KubeWorkloads>(*clients_.at(server).client);
    return *w;
  }
  Result<std::vector<manifest::NodeAllocatable>> Nodes(const std::string& server) override {
    auto nodes = clients_.at(server).client->List("/api/v1/nodes");
    if (!nodes.ok()) return nodes.status();
    std::vector<manifest::NodeAllocatable> out;
    for (const auto& n : *nodes) {
      if (n.HasMember("spec") && n["spec"].HasMember("unschedulable") &&
          n["spec"]["unschedulable"].IsTrue()) {
        continue;
      }
      if (!n.HasMember("status") || !n["status"].HasMember("allocatable")) continue;
      const auto& a = n["status"]["allocatable"];
      manifest::NodeAllocatable node;
      if (a.HasMember("cpu") && a["cpu"].IsString()) {
        if (auto m = manifest::ParseCpu(a["cpu"].GetString()); m.ok()) node.millicpu = *m;
      }
      if (a.HasMember("memory") && a["memory"].IsString()) {
        if (auto b = manifest::ParseMemory(a["memory"].GetString()); b.ok()) node.memory_bytes = *b;
      }
      out.push_back(node);
    }
    return out;
  }

 private:
  ClusterMapping mapping_;
  kube::ClientOptions options_;
  // Per server: its client, the standing copy of what pagoda owns there
  // (declared after the client, so destroyed before it), and the
  // comparisons of its last plan.
  struct Server {
    std::unique_ptr<kube::KubeClient> client;
    std::unique_ptr<kube::LiveCache> live;
    diff::PlanMemo memo;
  };
  std::map<std::string, Server> clients_;
  std::map<std::string, std::unique_ptr<rollout::KubeWorkloads>> workloads_;
};

}  // namespace

ChangeAction RecordAction(apply::ChangeAction a) {
  switch (a) {
    case apply::ChangeAction::kCreated:
      return ChangeAction::kCreated;
    case apply::ChangeAction::kConfigured:
      return ChangeAction::kConfigured;
    case apply::ChangeAction::kUnchanged:
      return ChangeAction::kUnchanged;
    case apply::ChangeAction::kDeleted:
      return ChangeAction::kDeleted;
    case apply::ChangeAction::kSkipped:
      return ChangeAction::kSkipped;
    case apply::ChangeAction::kAdopted:
      return ChangeAction::kAdopted;
  }
  return ChangeAction::kUnchanged;
}

void RecordChanges(const apply::ChangeSet& changes, ReleaseRecord* record) {
  for (const auto& entry : changes.entries) {
    record->changes.push_back({RecordAction(entry.action), entry.key, entry.detail});
    for (const auto& w : entry.warnings) record->warnings.push_back(entry.key + ": " + w);
  }
}

std::unique_ptr<ClusterAccess> NewClusterAccess(ClusterMapping mapping,
                                                kube::ClientOptions options) {
  return std::make_unique<RealClusterAccess>(std::move(mapping), std::move(options));
}

Result<std::string> Reconciler::EnvDigest(const manifest::Repository& repo, const std::string& app,
                                          const std::string& env) {
  Selection selection;
  selection.everything = false;
  selection.apps[app] = {env};
  std::map<std::string, std::string> any_server;
  if (const auto* a = repo.FindApp(app)) {
    for (const auto& e : a->model.environments) any_server[e.cluster.value] = "digest";
  }
  std::vector<RenderProblem> problems;
  auto servers = DesiredState(repo, selection, {}, any_server, &problems);
  if (!problems.empty()) return Status::InvalidArgument(problems.front().message);
  std::string all;
  for (const auto& [server, desired] : servers) {
    for (const auto& object : desired.objects) all += object.json + "\n";
  }
  if (all.empty()) return Status::NotFound(app + "/" + env + " renders nothing");
  return manifest::Sha256Hex(all, 16);
}

void Reconciler::ReconcileLoaded(Clock::TimePoint now, SyncEntry* entry,
                                 std::vector<std::string>* errors) {
  const manifest::Repository& repo = loaded_->repo;
  ReportInvalidApps(repo, errors);
  DropStalePins(repo, errors);
  ResumePinnedReleases(errors);

  std::set<EnvKey> pinned;
  for (const auto& [key, pin] : pins_) pinned.insert(key);
  const Selection selection = SelectUnpinned(repo, pinned);
  auto server_of = ServersFor(repo, selection, errors);
  RefreshDesired(repo, selection, server_of, errors);
  for (const auto& [server, desired] : desired_) {
    auto envs = EnvironmentsOn(repo, selection, server_of, server);
    auto planned = clusters_.Plan(desired);
    if (!planned.ok()) {
      errors->push_back(planned.status().message());
      for (const auto& [cluster, to] : server_of) {
        if (to == server) unreachable_.insert(cluster);
      }
      for (const auto& [app, list] : envs) {
        for (const auto* env : list)
          EnvFor(app, env->name.value).status.error = planned.status().message();
      }
      continue;
    }
    const EnvironmentGroups grouped = GroupByEnvironment((*planned)->plan, envs);
    for (const auto& [app, list] : envs) {
      for (const auto* model : list) {
        // Between environments: a SIGTERM ends the pass here, and quick
        // requests (a pause, an abort) are answered without waiting for it.
        if (options_.hooks != nullptr) {
          if (options_.hooks->Stopping()) return;
          options_.hooks->Between();
        }
        ReconcileEnvironment(now, server, **planned, grouped, app, *model, entry, errors);
      }
    }
  }
}

// An app whose files do not load keeps what the cluster has; its
// environments, as this commit names them and as earlier ones did, say why.
void Reconciler::ReportInvalidApps(const manifest::Repository& repo,
                                   std::vector<std::string>* errors) {
  for (const auto& d : repo.diagnostics) {
    if (d.severity == manifest::Severity::kError) errors->push_back(d.ToString());
  }
  for (const auto& app : repo.apps) {
    if (app.valid) continue;
    std::string first;
    for (const auto& d : app.diagnostics) {
      if (d.severity != manifest::Severity::kError) continue;
      errors->push_back(d.ToString());
      if (first.empty()) first = d.ToString();
    }
    const std::string error =
        "the app's files have errors; the cluster keeps the last good state: " + first;
    for (const auto& env : app.model.environments)
      EnvFor(app.name, env.name.value).status.error = error;
    for (auto& [key, e] : envs_) {
      if (key.first == app.name) e->status.error = error;
    }
  }
}

// Pins hold until the repository changes what it asks of the environment.
void Reconciler::DropStalePins(const manifest::Repository& repo, std::vector<std::string>* errors) {
  for (auto it = pins_.begin(); it != pins_.end();) {
    const auto& [app, env] = it->first;
    auto digest = EnvDigest(repo, app, env);
    if (digest.ok() && it->second.tip_digest.empty()) {
      it->second.tip_digest = *digest;  // pinned before any tip was known: this one
      if (Status saved = SavePins(); !saved.ok()) errors->push_back(saved.ToString());
    }
    if (digest.ok() && *digest == it->second.tip_digest) {
      ++it;
      continue;
    }
    spdlog::info("app={} env={} commit={} unpinned: the repository changed the environment", app,
                 env, tip_.substr(0, 12));
    it = pins_.erase(it);
    // The pin is gone from memory either way; a file that cannot be written
    // is in the sync log, /readyz and status, and the next save writes it whole.
    if (Status saved = SavePins(); !saved.ok()) errors->push_back(saved.ToString());
  }
}

// The desired state of a commit does not change between cycles: a cycle
// without a new commit reuses it and only reads and compares.
void Reconciler::RefreshDesired(const manifest::Repository& repo, const Selection& selection,
                                const std::map<std::string, std::string>& server_of,
                                std::vector<std::string>* errors) {
  std::string key = tip_;
  for (const auto& [app, envs] : selection.apps) {
    key += "|" + app;
    for (const auto& env : envs) key += "," + env;
  }
  for (const auto& [cluster, server] : server_of) key += "|" + cluster + "=" + server;
  if (key != desired_key_) {
    desired_problems_.clear();
    manifest::RenderOptions render;
    render.commit = tip_;
    desired_ = DesiredState(repo, selection, render, server_of, &desired_problems_);
    desired_key_ = key;
  }
  for (const auto& p : desired_problems_) {
    errors->push_back("app " + p.app + ": " + p.message);
  }
}

// One environment of a reconcile: its status, then what happens to what
// differs: refused, queued behind its order in flight, a release left
// unfinished completed, only reported, or released.
void Reconciler::ReconcileEnvironment(Clock::TimePoint now, const std::string& server,
                                      const ServerPlan& planned, const EnvironmentGroups& grouped,
                                      const std::string& app, const manifest::Environment& model,
                                      SyncEntry* entry, std::vector<std::string>* errors) {
  static const std::vector<const diff::PlannedChange*> kNone;
  const std::string& env = model.name.value;
  Env& e = EnvFor(app, env);
  e.status.cluster = model.cluster.value;
  e.status.automatic = model.sync.automatic;
  e.status.replicas = model.replicas.value;
  e.status.error.clear();
  ++entry->environments_checked;
  auto found = grouped.groups.find({app, env});
  const auto& group = found != grouped.groups.end() ? found->second : kNone;
  const EnvironmentChanges changes =
      ChangesOf(group, e.applied_keys, e.keys_known, e.status.revision);
  e.status.revision = changes.revision;
  e.status.ready = changes.ready;
  e.status.drift = changes.todo;
  // Held back or in conflict: nothing of it is written, and the record says
  // so once per commit and reason.
  std::vector<std::string> refusals = Refusals(planned, app, env, group);
  if (auto conflicts = grouped.app_conflicts.find(app); conflicts != grouped.app_conflicts.end()) {
    for (const auto* c : conflicts->second) {
      refusals.push_back("conflict: " + c->key.ToString() + " " + c->reason);
    }
  }
  if (!refusals.empty() && !orders_.count({app, env})) {
    RecordRefusal(model, app, env, tip_, refusals, group, entry, errors);
    return;
  }
  e.refused.clear();
  if (auto held = AppRefusals(planned, app); !held.empty()) {
    errors->push_back(app + "/" + env + ": " + Join(held));
    e.status.error = Join(held);
  }
  if (auto order = orders_.find({app, env}); order != orders_.end()) {
    if (changes.repo_changed) QueueBehind(order->second, model, entry);
    return;
  }
  if (!changes.todo) {
    e.applied_keys = changes.desired_keys;
    e.keys_known = true;
    e.failures = 0;
    CompleteLeftRelease(e);
    return;
  }
  if (!e.blocked_commit.empty() && e.blocked_commit == tip_) {
    e.status.error = e.blocked_reason;  // the same commit is not tried again
    return;
  }
  if (!changes.repo_changed) entry->drift.push_back(app + "/" + env);
  if (!model.sync.automatic || (!changes.repo_changed && !model.sync.self_heal)) {
    spdlog::info("app={} env={} differs from the repository; {} so it is only reported", app, env,
                 model.sync.automatic ? "selfHeal is off" : "sync is manual");
    return;
  }
  if (e.failures > 0 && now < e.retry_at) return;  // backing off
  const Trigger trigger = changes.repo_changed ? Trigger::kCommit : Trigger::kSelfHeal;
  ReleaseRequest request{
      server, app,   env,   model.cluster.value, group, changes.repo_changed, trigger,
      tip_,   false, &model};
  std::string id = Release(request, errors);
  if (!id.empty()) entry->releases.push_back(id);
  if (e.failures == 0) {
    e.applied_keys = changes.desired_keys;
    e.keys_known = true;
  }
}

// One release order per environment: a newer commit waits behind the one in
// flight, and only the newest waiting one goes next; one it replaces is
// recorded as superseded.
void Reconciler::QueueBehind(ActiveOrder& a, const manifest::Environment& model, SyncEntry* entry) {
  if (tip_ == a.record.to.id || a.waiting == tip_) return;
  if (!a.waiting.empty()) {
    ReleaseRecord skipped;
    skipped.app = a.record.app;
    skipped.env = a.record.env;
    skipped.cluster = model.cluster.value;
    skipped.to = DescribeCommit(a.waiting);
    skipped.outcome = Outcome::kSuperseded;
    skipped.start = skipped.end = clock_.UnixMillis();
    skipped.errors.push_back("superseded by commit " + tip_.substr(0, 12) + " while " +
                             a.record.id + " was in flight");
    if (Record(&skipped).ok()) entry->releases.push_back(skipped.id);
  }
  a.waiting = tip_;
}

// A release a stopped process left unfinished, whose changes are all in:
// it succeeded.
void Reconciler::CompleteLeftRelease(Env& e) {
  if (e.in_progress.empty()) return;
  auto record = journal_.reader().Release(e.in_progress);
  if (record.ok()) {
    record->outcome = Outcome::kSucceeded;
    record->end = clock_.UnixMillis();
    if (Record(&*record).ok()) {
      spdlog::info("release={} app={} env={} completed (resumed after a restart)", record->id,
                   e.app, e.env);
      e.status.commit = record->to.id;
    }
  }
  e.in_progress.clear();
}

void Reconciler::RecordRefusal(const manifest::Environment& model, const std::string& app,
                               const std::string& env, const std::string& commit,
                               const std::vector<std::string>& refusals,
                               const std::vector<const diff::PlannedChange*>& group,
                               SyncEntry* entry, std::vector<std::string>* errors) {
  Env& e = EnvFor(app, env);
  const std::string why = Join(refusals);
  e.status.error = why;
  errors->push_back(app + "/" + env + ": " + why);
  const std::string digest = manifest::Sha256Hex(commit + "\n" + why, 16);
  if (e.refused == digest) return;  // recorded already
  ReleaseRecord record;
  record.app = app;
  record.env = env;
  record.cluster = model.cluster.value;
  record.kind = ReleaseKind::kConfig;
  for (const auto* c : group) {
    if (c->key.kind == "Deployment" && c->wanted && c->live == nullptr) {
      record.kind = ReleaseKind::kRollout;
    }
    if (c->action == diff::Action::kConflict || c->action == diff::Action::kBlocked) {
      record.changes.push_back({ChangeAction::kSkipped, c->key.ToString(), c->reason});
    }
  }
  record.from = DescribeCommit(e.status.commit);
  record.to = DescribeCommit(commit);
  record.outcome = Outcome::kFailed;
  record.errors = refusals;
  record.start = record.end = clock_.UnixMillis();
  if (Status st = Record(&record); !st.ok()) {
    errors->push_back("recording the refusal of " + app + "/" + env + ": " + st.ToString());
    return;
  }
  e.refused = digest;
  entry->releases.push_back(record.id);
  if (options_.observer != nullptr) options_.observer->ReleaseEnded(record);
  spdlog::warn("release={} app={} env={} commit={} refused: {}", record.id, app, env,
               commit.substr(0, 12), why);
}

std::string Reconciler::Release(const ReleaseRequest& req, std::vector<std::string>* errors) {
  Env& e = EnvFor(req.app, req.env);
  ReleaseShape shape = ShapeOf(req.group, e.status.revision);
  ReleaseRecord record = NewRecord(req, shape);
  bool resumed_batched = false;
  if (!e.in_progress.empty()) {
    // Finish the release a stopped process started, under its id.
    if (auto open = journal_.reader().Release(e.in_progress); open.ok()) {
      resumed_batched = TakeUp(*open, shape.to_revision, &record);
    }
  }
  if (req.model == nullptr || !GoesOutInBatches(shape, record.kind, resumed_batched)) {
    return ReleaseAtOnce(req, std::move(record), shape, errors);
  }
  if (Status st = CheckCapacity(req.server, shape.todo.changes[shape.target]); !st.ok()) {
    return RefuseRelease(req, std::move(record), st, errors);
  }
  BatchedPlan plan = SplitForBatches(shape);
  record.changes.clear();
  return StartOrder(req, std::move(record), std::move(plan.now), std::move(plan.finish),
                    shape.to_revision, errors);
}

ReleaseRecord Reconciler::NewRecord(const ReleaseRequest& req, const ReleaseShape& shape) {
  ReleaseRecord record;
  record.app = req.app;
  record.env = req.env;
  record.cluster = req.cluster;
  record.trigger = req.trigger;
  record.kind = KindOf(shape, req.rollback, req.repo_changed);
  if (record.kind == ReleaseKind::kRollout || record.kind == ReleaseKind::kRollback) {
    auto history = journal_.reader().Releases({.app = req.app, .env = req.env, .limit = 200});
    std::string restored = history.ok() ? RestoredRelease(*history, shape.to_revision) : "";
    if (!restored.empty()) {
      record.kind = ReleaseKind::kRollback;
      record.restores = restored;
      if (record.trigger == Trigger::kCommit) record.trigger = Trigger::kRevert;
    }
  }
  record.from = DescribeCommit(EnvFor(req.app, req.env).status.commit);
  record.to = DescribeCommit(req.commit);
  record.from_revision = shape.from_revision;
  record.to_revision = shape.to_revision;
  record.history_rewritten = !rewritten_tip_.empty() && req.commit == rewritten_tip_;
  for (const auto& c : shape.todo.changes) {
    ChangeAction planned = c.action == diff::Action::kCreate   ? ChangeAction::kCreated
                           : c.action == diff::Action::kDelete ? ChangeAction::kDeleted
                                                               : ChangeAction::kConfigured;
    record.changes.push_back({planned, c.key.ToString()});
  }
  record.start = clock_.UnixMillis();
  return record;
}

std::string Reconciler::RefuseRelease(const ReleaseRequest& req, ReleaseRecord record,
                                      const Status& why, std::vector<std::string>* errors) {
  record.outcome = Outcome::kFailed;
  record.errors.push_back(why.message());
  record.end = record.start;
  record.changes.clear();
  if (Status st = Record(&record); !st.ok()) {
    errors->push_back("recording a release of " + req.app + "/" + req.env + ": " + st.ToString());
    return "";
  }
  if (options_.observer != nullptr) options_.observer->ReleaseEnded(record);
  Env& e = EnvFor(req.app, req.env);
  e.in_progress.clear();
  e.blocked_commit = req.commit;
  e.blocked_reason = "release " + record.id + " refused: " + why.message();
  e.status.error = e.blocked_reason;
  errors->push_back(req.app + "/" + req.env + ": " + why.message());
  spdlog::warn("release={} app={} env={} revision={} commit={} refused: {}", record.id, req.app,
               req.env, record.to_revision, req.commit.substr(0, 12), why.message());
  return record.id;
}

std::string Reconciler::ReleaseAtOnce(const ReleaseRequest& req, ReleaseRecord record,
                                      const ReleaseShape& shape, std::vector<std::string>* errors) {
  // Durable before anything is applied: a crash from here on is found and
  // finished by the next process.
  if (Status st = Record(&record); !st.ok()) {
    errors->push_back("recording a release of " + req.app + "/" + req.env + ": " + st.ToString());
    return "";
  }
  Env& e = EnvFor(req.app, req.env);
  e.in_progress = record.id;
  spdlog::info("release={} app={} env={} revision={} commit={} {} started ({} changes)", record.id,
               req.app, req.env, shape.to_revision, req.commit.substr(0, 12), Name(record.kind),
               shape.todo.changes.size());

  apply::ExecuteResult result = clusters_.Execute(req.server, shape.todo);
  record.changes.clear();
  RecordChanges(result.changes, &record);
  record.end = clock_.UnixMillis();
  if (result.status.ok()) {
    record.outcome = Outcome::kSucceeded;
    e.failures = 0;
    e.status.commit = req.commit;
    e.status.revision = shape.to_revision;
    e.status.drift = false;
  } else {
    record.outcome = Outcome::kFailed;
    record.errors.push_back(result.status.ToString());
    errors->push_back(req.app + "/" + req.env + ": " + result.status.ToString());
    e.status.error = result.status.ToString();
    Backoff(e);
  }
  const std::string id = record.id;
  auto log = result.status.ok() ? spdlog::level::info : spdlog::level::warn;
  spdlog::log(log, "release={} app={} env={} revision={} commit={} {}: {}", record.id, req.app,
              req.env, shape.to_revision, req.commit.substr(0, 12), Name(record.outcome),
              result.status.ok() ? result.changes.Summary() : result.status.ToString());
  // Still in progress in the journal until this is written: a later step
  // writes it, or the next process finishes it.
  EndRecord(std::move(record));
  return id;
}

Result<std::string> Reconciler::Rollback(const std::string& app, const std::string& env,
                                         const std::string& to) {
  std::string commit;
  if (ReleaseIdNumber(to) >= 0) {
    auto earlier = journal_.reader().Release(to);
    if (!earlier.ok()) return earlier.status();
    if (earlier->app != app || earlier->env != env) {
      return Status::InvalidArgument(to + " released " + earlier->app + "/" + earlier->env +
                                     ", not " + app + "/" + env);
    }
    commit = earlier->to.id;
  } else {
    auto resolved = git_.ResolveCommit(to);
    if (!resolved.ok()) return resolved.status();
    commit = *resolved;
  }
  if (commit.empty()) return Status::InvalidArgument(to + " names no commit");
  std::vector<std::string> errors;
  auto id = ReleaseAt(app, env, commit, &errors);
  if (!id.ok()) return id.status();
  // The pin: held until the tip asks something else of the environment. A
  // Reconciler that has not reconciled yet (just started or reloaded) reads
  // the tip itself; with no tip at all, the first reconcile sets the digest.
  std::string tip = tip_;
  if (tip.empty()) {
    if (auto t = git_.Tip(); t.ok()) tip = *t;
  }
  std::string digest;
  if (auto at_tip = tip.empty() ? Result<std::shared_ptr<const Loaded>>(Status::NotFound("no tip"))
                                : Load(tip);
      at_tip.ok()) {
    if (auto d = EnvDigest((*at_tip)->repo, app, env); d.ok()) digest = *d;
  }
  pins_[{app, env}] = {commit, digest, clock_.UnixMillis()};
  if (Status st = SavePins(); !st.ok()) {
    errors.push_back("the pin is not written, so a restart would not keep it: " + st.ToString());
  }
  spdlog::info("app={} env={} commit={} release={} pinned by a rollback; auto-sync holds for it",
               app, env, commit.substr(0, 12), *id);
  if (!errors.empty()) return Status::Unavailable(*id + ": " + errors.back());
  return *id;
}

Result<std::string> Reconciler::ReleaseAt(const std::string& app, const std::string& env,
                                          const std::string& commit,
                                          std::vector<std::string>* errors) {
  auto loaded = Load(commit);
  if (!loaded.ok()) return loaded.status();
  pinned_loads_[commit] = *loaded;
  const manifest::Repository& repo = (*loaded)->repo;
  const manifest::AppResult* a = repo.FindApp(app);
  if (a == nullptr || !a->valid) {
    return Status::InvalidArgument("app " + app + " does not load at commit " +
                                   commit.substr(0, 12));
  }
  const manifest::Environment* model = nullptr;
  for (const auto& e : a->model.environments) {
    if (e.name.value == env) model = &e;
  }
  if (model == nullptr) {
    return Status::NotFound("app " + app + " has no environment " + env + " at commit " +
                            commit.substr(0, 12));
  }
  Selection selection;
  selection.everything = false;
  selection.apps[app] = {env};
  std::vector<std::string> unreachable;
  auto server_of = ServersFor(repo, selection, &unreachable);
  if (!unreachable.empty()) return Status::Unavailable(unreachable.front());
  std::vector<RenderProblem> problems;
  auto servers = DesiredState(repo, selection, {.commit = commit}, server_of, &problems);
  if (!problems.empty()) return Status::InvalidArgument(problems.front().message);
  if (servers.size() != 1) return Status::Internal("expected one server for " + app + "/" + env);
  const auto& [server, desired] = *servers.begin();
  auto planned = clusters_.Plan(desired);
  if (!planned.ok()) return planned.status();
  std::vector<const diff::PlannedChange*> group;
  for (const auto& c : (*planned)->plan.changes) group.push_back(&c);

  EnvFor(app, env).status.cluster = model->cluster.value;
  ReleaseRequest request{
      server, app,  env,  model->cluster.value, group, true, Trigger::kManualRollback,
      commit, true, model};
  std::string id = Release(request, errors);
  if (id.empty())
    return Status::IOError(errors->empty() ? "the release was not recorded" : errors->front());
  return id;
}

// A pinned environment is left out of the reconcile; a rollback to it that
// an earlier process or loop left in flight is taken up here, at the pin.
void Reconciler::ResumePinnedReleases(std::vector<std::string>* errors) {
  for (const auto& [key, pin] : pins_) {
    auto it = envs_.find(key);
    if (it == envs_.end() || it->second->in_progress.empty() || orders_.count(key)) continue;
    const auto& [app, env] = key;
    if (auto id = ReleaseAt(app, env, pin.commit, errors); !id.ok()) {
      errors->push_back(app + "/" + env + ": resuming " + it->second->in_progress + ": " +
                        id.status().ToString());
    }
  }
}

}  // namespace pagoda::daemon
