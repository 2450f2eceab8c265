// The reconcile pass over a loaded commit: every selected environment's
// plan, and what becomes of it (refused, queued, only reported, released).
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
    for (const auto& env : app.model().environments) {
      auto it = server_of.find(env.cluster.value);
      if (it == server_of.end() || it->second != server) continue;
      if (selection.HasEnv(app.name, env.name.value)) out[app.name].push_back(&env);
    }
  }
  return out;
}

}  // namespace

void Reconciler::ReconcileLoaded(Clock::TimePoint now, SyncEntry* entry,
                                 std::vector<std::string>* errors) {
  const manifest::Repository& repo = loaded_->repo;
  open_windows_ = policy::OpenAt(repo.freeze, clock_.UnixMillis());
  nodes_.clear();  // read again, once, by this pass's first capacity check
  first_gate_ms_ = 0;
  ReportInvalidApps(repo, errors);
  DropStalePins(repo, errors);
  ResumePinnedReleases(errors);

  std::set<EnvKey> pinned;
  for (const auto& [key, pin] : pins_) pinned.insert(key);
  const Selection unpinned = SelectUnpinned(repo, pinned);
  auto server_of = ServersFor(repo, unpinned, errors);
  std::map<std::string, QuietMark> marks;
  const Selection selection =
      LeaveOutQuiet(repo, unpinned, server_of, ClaimDigestsOf(repo, server_of), &marks, entry);
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
          if (options_.hooks->Stopping()) {
            FlushWrites();  // what was recorded as started goes out
            return;
          }
          options_.hooks->Between();
        }
        ReconcileEnvironment(now, server, **planned, grouped, app, *model, entry, errors);
      }
    }
    FlushWrites();  // before `planned`, which the writes point into, goes
  }
  MarkQuiet(repo, std::move(marks));
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
    for (const auto& env : app.model().environments)
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
  DesiredFor wanted{tip_, selection.apps, server_of};
  if (!desired_for_ || *desired_for_ != wanted) {
    desired_problems_.clear();
    // The commit is set on each object when it is written (ClusterAccess::Execute),
    // so an app a commit leaves unchanged renders as before.
    desired_ = DesiredState(repo, selection, {}, server_of, &desired_problems_, &render_cache_);
    desired_for_ = std::move(wanted);
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
  e.status.frozen_by.clear();
  e.status.frozen_until_ms = 0;
  e.status.waiting_for.clear();
  e.status.waiting_reason.clear();
  e.status.soaked_ms = e.status.soak_ms = 0;
  ++entry->environments_checked;
  auto found = grouped.groups.find({app, env});
  const auto& group = found != grouped.groups.end() ? found->second : kNone;
  const EnvironmentChanges changes =
      ChangesOf(group, e.applied_keys, e.keys_known, e.status.revision);
  e.status.revision = changes.revision;
  e.status.ready = changes.ready;
  e.status.drift = changes.todo;
  NoteSettled(e, server, changes, model.replicas.value);
  e.status.standby = !ownership_->Owns(app);
  if (e.status.standby) return;  // another replica leads it: compared here, written there
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
  // A newer commit that wants another revision supersedes the order in
  // flight (at its next step: this is between two of them); one that
  // changes only the rest waits behind it.
  bool supersede = false;
  if (auto order = orders_.find({app, env}); order != orders_.end()) {
    supersede =
        changes.repo_changed && model.sync.automatic && WantsAnotherRevision(order->second, group);
    if (!supersede) {
      if (changes.repo_changed) QueueBehind(order->second, model, entry);
      return;
    }
  }
  const Trigger trigger = changes.repo_changed ? Trigger::kCommit : Trigger::kSelfHeal;
  auto request_of = [&] {
    return ReleaseRequest{
        server, app,   env,   model.cluster.value, group, changes.repo_changed, trigger,
        tip_,   false, &model};
  };
  if (!changes.todo) {
    e.applied_keys = changes.desired_keys;
    e.keys_known = true;
    e.failures = 0;
    if (!e.in_progress.empty() && !ResumeScaledOrder(request_of(), errors)) CompleteLeftRelease(e);
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
  ReleaseRequest request = request_of();
  if (HeldByFreeze(request, &request.freeze)) return;
  if (HeldByPromotion(&request)) return;
  std::optional<ReleaseRecord> superseded;
  if (supersede) {
    superseded = EndSuperseded({app, env}, model.cluster.value, entry);
    if (!superseded) return;  // the journal refused: the order goes on, and this is tried again
    request.supersedes = superseded->id;
  }
  std::string id = Release(request, errors);
  if (!id.empty()) entry->releases.push_back(id);
  if (superseded && !id.empty()) {
    superseded->superseded_by = id;
    if (Status st = Record(&*superseded); !st.ok()) {
      errors->push_back("recording that " + id + " superseded " + superseded->id + ": " +
                        st.ToString());
    }
  }
  AfterWrites([&e, keys = changes.desired_keys] {
    if (e.failures == 0) {
      e.applied_keys = keys;
      e.keys_known = true;
    }
  });
}

// One release order per environment: a newer commit waits behind the one in
// flight, and only the newest waiting one goes next; one it replaces is
// recorded as superseded.
void Reconciler::QueueBehind(ActiveOrder& a, const manifest::Environment& model, SyncEntry* entry) {
  if (tip_ == a.record.to.id || a.waiting == tip_) return;
  if (!a.waiting.empty()) RecordSkipped(a, a.waiting, model.cluster.value, entry);
  a.waiting = tip_;
}

// A commit that waited behind `a` and will never go out: the tip replaced it.
void Reconciler::RecordSkipped(const ActiveOrder& a, const std::string& commit,
                               const std::string& cluster, SyncEntry* entry) {
  ReleaseRecord skipped;
  skipped.app = a.record.app;
  skipped.env = a.record.env;
  skipped.cluster = cluster;
  skipped.to = DescribeCommit(commit);
  skipped.outcome = Outcome::kSuperseded;
  skipped.start = skipped.end = clock_.UnixMillis();
  skipped.errors.push_back("superseded by commit " + tip_.substr(0, 12) + " while " + a.record.id +
                           " was in flight");
  if (Record(&skipped).ok()) entry->releases.push_back(skipped.id);
}

bool Reconciler::WantsAnotherRevision(const ActiveOrder& a,
                                      const std::vector<const diff::PlannedChange*>& group) {
  for (const auto* c : group) {
    if (c->key.kind == "Deployment" && c->wanted) return DesiredRevision(*c) != a.order->target();
  }
  return false;  // no revision wanted: nothing to move the instances to
}

std::optional<ReleaseRecord> Reconciler::EndSuperseded(
    const std::pair<std::string, std::string>& key, const std::string& cluster, SyncEntry* entry) {
  ActiveOrder& a = orders_.at(key);
  ReleaseRecord ended = a.record;
  ended.outcome = Outcome::kSuperseded;
  ended.hold = journal::Hold::kNone;
  ended.pause_requested = false;
  ended.end = clock_.UnixMillis();
  ended.errors.push_back("superseded by commit " + tip_.substr(0, 12) + " after " +
                         std::to_string(ended.batches.size()) + " batches (" +
                         std::string(rollout::OrderPhaseName(a.order->phase())) + ")");
  if (!Record(&ended).ok()) return std::nullopt;
  if (!a.waiting.empty() && a.waiting != tip_) RecordSkipped(a, a.waiting, cluster, entry);
  spdlog::info("release={} app={} env={} revision={} superseded by commit {} after {} batches",
               ended.id, ended.app, ended.env, a.order->target(), tip_.substr(0, 12),
               ended.batches.size());
  orders_.erase(key);
  Env& e = EnvFor(key.first, key.second);
  e.in_progress.clear();
  e.blocked_commit.clear();
  if (options_.observer != nullptr) options_.observer->ReleaseEnded(ended);
  return ended;
}

bool Reconciler::HeldByFreeze(const ReleaseRequest& req, std::string* note) {
  Env& e = EnvFor(req.app, req.env);
  std::string window;
  int64_t until = 0;
  bool allow_rollback = false, allow_self_heal = false;
  if (!loaded_->repo.freeze_error.empty()) {
    window = "policy/freeze.yaml does not load";  // a typo must not open a window
  } else if (auto open = policy::FreezeOf(open_windows_, req.app, req.env, req.cluster)) {
    window = open->window->name;
    until = open->until_ms;
    allow_rollback = open->window->allow_rollback;
    allow_self_heal = open->window->allow_self_heal;
  } else {
    return false;
  }
  const std::string named =
      "freeze window " + window + (until != 0 ? " (until " + journal::FormatTime(until) + ")" : "");
  if (!e.freeze_pass.by.empty()) {
    const Pass pass = TakePass(&e.freeze_pass);
    *note = named + ": let through by " + pass.by + ": " + pass.reason;
    return false;
  }
  if (allow_self_heal && req.trigger == Trigger::kSelfHeal) {
    *note = named + ": a self-heal, which it allows";
    return false;
  }
  if (allow_rollback && RestoresEarlierRelease(req)) {
    *note = named + ": a rollback, which it allows";
    return false;
  }
  e.status.frozen_by = window;
  e.status.frozen_until_ms = until;
  if (until != 0) WakeAt(until);
  if (e.frozen_logged != window + "\n" + tip_) {
    e.frozen_logged = window + "\n" + tip_;
    spdlog::info("app={} env={} commit={} waits: {} is open{}", req.app, req.env,
                 tip_.substr(0, 12), named,
                 loaded_->repo.freeze_error.empty() ? "" : ": " + loaded_->repo.freeze_error);
  }
  return true;
}

// Whether `req` puts a revision back that an earlier release put out.
bool Reconciler::RestoresEarlierRelease(const ReleaseRequest& req) {
  if (req.rollback) return true;
  const ReleaseShape shape = ShapeOf(req.group, EnvFor(req.app, req.env).status.revision);
  if (!shape.deployment_created && !shape.retired) return false;
  auto history = journal_.reader().Releases({.app = req.app, .env = req.env, .limit = 200});
  return history.ok() && !RestoredRelease(*history, shape.to_revision).empty();
}

// A batched release a stopped process (or a replica that led the app before)
// left in flight with all its instances scaled, the last batch not yet
// recorded: an order takes it up where the cluster stands, records that
// batch once its instances are Ready, and ends it. False when there is none.
bool Reconciler::ResumeScaledOrder(const ReleaseRequest& req, std::vector<std::string>* errors) {
  Env& e = EnvFor(req.app, req.env);
  if (e.in_progress.empty() || orders_.count({req.app, req.env})) return false;
  auto open = journal_.reader().Release(e.in_progress);
  if (!open.ok() || open->outcome != Outcome::kInProgress || open->batches.empty()) return false;
  if (open->kind != ReleaseKind::kRollout && open->kind != ReleaseKind::kRollback) return false;
  const ReleaseShape shape = ShapeOf(req.group, e.status.revision);
  if (open->to_revision != shape.to_revision) return false;
  spdlog::info(
      "release={} app={} env={} left with its instances scaled after {} batches recorded; "
      "the rest is recorded as the cluster has it",
      open->id, req.app, req.env, open->batches.size());
  OrderStarted(req, std::move(*open), diff::Plan{}, shape.to_revision, apply::ExecuteResult{},
               errors);
  return true;
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

}  // namespace pagoda::daemon
