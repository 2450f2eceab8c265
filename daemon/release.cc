// Release orders: how the loop turns an environment's plan into a recorded
// release, batched or at once; rollbacks and the pins they leave.
#include <spdlog/spdlog.h>

#include <algorithm>

#include "daemon/loop_internal.h"
#include "daemon/release_shape.h"
#include "manifest/json.h"

namespace pagoda::daemon {

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
    record->changes.push_back({RecordAction(entry.action), entry.key, entry.detail, entry.fields});
    for (const auto& w : entry.warnings) record->warnings.push_back(entry.key + ": " + w);
  }
}

Result<std::string> Reconciler::EnvDigest(const manifest::Repository& repo, const std::string& app,
                                          const std::string& env) {
  Selection selection;
  selection.everything = false;
  selection.apps[app] = {env};
  std::map<std::string, std::string> any_server;
  if (const auto* a = repo.FindApp(app)) {
    for (const auto& e : a->model().environments) any_server[e.cluster.value] = "digest";
  }
  std::vector<RenderProblem> problems;
  auto servers = DesiredState(repo, selection, {}, any_server, &problems);
  if (!problems.empty()) return Status::InvalidArgument(problems.front().message);
  std::string all;
  for (const auto& [server, desired] : servers) {
    for (const auto& object : desired.objects) all += *object.json + "\n";
  }
  if (all.empty()) return Status::NotFound(app + "/" + env + " renders nothing");
  return manifest::Sha256Hex(all, 16);
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
  record.supersedes = req.supersedes;
  record.freeze = req.freeze;
  record.follows = req.follows;
  record.promotion = req.promotion;
  for (const auto& c : shape.todo.changes) {
    ChangeAction planned = c.action == diff::Action::kCreate   ? ChangeAction::kCreated
                           : c.action == diff::Action::kDelete ? ChangeAction::kDeleted
                                                               : ChangeAction::kConfigured;
    record.changes.push_back({planned, c.key.ToString(), "",
                              c.action == diff::Action::kUpdate ? diff::FieldLines(c.key, c.changes)
                                                                : std::vector<std::string>{}});
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

  const std::string id = record.id;
  QueueWrite({req.server, req.app, req.commit, shape.todo,
              [this, record = std::move(record), revision = shape.to_revision,
               errors](apply::ExecuteResult result) mutable {
                AtOnceDone(std::move(record), revision, std::move(result), errors);
              }});
  return id;
}

void Reconciler::AtOnceDone(ReleaseRecord record, const std::string& revision,
                            apply::ExecuteResult result, std::vector<std::string>* errors) {
  Env& e = EnvFor(record.app, record.env);
  record.changes.clear();
  RecordChanges(result.changes, &record);
  record.end = clock_.UnixMillis();
  if (result.status.ok()) {
    record.outcome = Outcome::kSucceeded;
    e.failures = 0;
    e.status.commit = record.to.id;
    e.status.revision = revision;
    e.status.drift = false;
  } else {
    record.outcome = Outcome::kFailed;
    record.errors.push_back(result.status.ToString());
    errors->push_back(record.app + "/" + record.env + ": " + result.status.ToString());
    e.status.error = result.status.ToString();
    Backoff(e);
  }
  auto log = result.status.ok() ? spdlog::level::info : spdlog::level::warn;
  spdlog::log(log, "release={} app={} env={} revision={} commit={} {}: {}", record.id, record.app,
              record.env, revision, record.to.id.substr(0, 12), Name(record.outcome),
              result.status.ok() ? result.changes.Summary() : result.status.ToString());
  // Still in progress in the journal until this is written: a later step
  // writes it, or the next process finishes it.
  EndRecord(std::move(record));
}

Result<std::string> Reconciler::Rollback(const std::string& app, const std::string& env,
                                         const std::string& to) {
  PAGODA_RETURN_IF_ERROR(CheckLeads(app));
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
  for (const auto& e : a->model().environments) {
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
  auto servers = DesiredState(repo, selection, {}, server_of, &problems);
  if (!problems.empty()) return Status::InvalidArgument(problems.front().message);
  if (servers.size() != 1) return Status::Internal("expected one server for " + app + "/" + env);
  const auto& [server, desired] = *servers.begin();
  auto planned = clusters_.Plan(desired);
  if (!planned.ok()) return planned.status();
  std::vector<const diff::PlannedChange*> group;
  for (const auto& c : (*planned)->plan.changes) group.push_back(&c);

  EnvFor(app, env).status.cluster = model->cluster.value;
  nodes_.clear();
  ReleaseRequest request{
      server, app,  env,  model->cluster.value, group, true, Trigger::kManualRollback,
      commit, true, model};
  std::string id = Release(request, errors);
  FlushWrites();  // before `planned`, which the writes point into, goes
  if (id.empty())
    return Status::IOError(errors->empty() ? "the release was not recorded" : errors->front());
  return id;
}

// A pinned environment is left out of the reconcile; a rollback to it that
// an earlier process or loop left in flight is taken up here, at the pin.
void Reconciler::ResumePinnedReleases(std::vector<std::string>* errors) {
  for (const auto& [key, pin] : pins_) {
    auto it = envs_.find(key);
    if (it == envs_.end() || it->second->in_progress.empty() || orders_.count(key) ||
        !ownership_->Owns(key.first)) {
      continue;
    }
    const auto& [app, env] = key;
    if (auto id = ReleaseAt(app, env, pin.commit, errors); !id.ok()) {
      errors->push_back(app + "/" + env + ": resuming " + it->second->in_progress + ": " +
                        id.status().ToString());
    }
  }
}

}  // namespace pagoda::daemon
