// Batched release orders in flight: starting them, stepping them from the
// loop, recording each batch as it happens, and steering them.
#include <spdlog/spdlog.h>

#include <algorithm>

#include "base/backoff.h"
#include "daemon/loop_internal.h"
#include "manifest/json.h"

namespace pagoda::daemon {
namespace {

// The cpu and memory one instance of a Deployment asks for.
manifest::NodeAllocatable Requests(const std::string& deployment_json) {
  manifest::NodeAllocatable want;
  rapidjson::Document d;
  d.Parse(deployment_json.c_str());
  if (d.HasParseError()) return want;
  const rapidjson::Value* v = &d;
  for (const char* p : {"spec", "template", "spec", "containers"}) {
    if (!v->IsObject() || !v->HasMember(p)) return want;
    v = &(*v)[p];
  }
  if (!v->IsArray()) return want;
  for (const auto& c : v->GetArray()) {
    if (!c.HasMember("resources") || !c["resources"].HasMember("requests")) continue;
    const auto& r = c["resources"]["requests"];
    if (r.HasMember("cpu") && r["cpu"].IsString()) {
      if (auto m = manifest::ParseCpu(r["cpu"].GetString()); m.ok()) want.millicpu += *m;
    }
    if (r.HasMember("memory") && r["memory"].IsString()) {
      if (auto b = manifest::ParseMemory(r["memory"].GetString()); b.ok()) want.memory_bytes += *b;
    }
  }
  return want;
}

Outcome OutcomeOf(rollout::OrderPhase phase) {
  switch (phase) {
    case rollout::OrderPhase::kSucceeded:
      return Outcome::kSucceeded;
    case rollout::OrderPhase::kRolledBack:
      return Outcome::kRolledBack;
    case rollout::OrderPhase::kAborted:
      return Outcome::kAborted;
    default:
      return Outcome::kInProgress;
  }
}

}  // namespace

Status Reconciler::CheckCapacity(const std::string& server, const diff::PlannedChange& deployment) {
  manifest::NodeAllocatable want = Requests(deployment.desired_json());
  if (want.millicpu == 0 && want.memory_bytes == 0) return Status::Ok();
  auto read = nodes_.find(server);
  if (read == nodes_.end()) {
    auto listed = clusters_.Nodes(server);
    if (!listed.ok()) return listed.status().WithContext("reading the nodes' allocatable capacity");
    read = nodes_.emplace(server, std::move(*listed)).first;  // a failure is not kept
  }
  const std::vector<manifest::NodeAllocatable>& nodes = read->second;
  manifest::NodeAllocatable largest;
  for (const auto& n : nodes) {
    if (n.millicpu >= want.millicpu && n.memory_bytes >= want.memory_bytes) return Status::Ok();
    largest.millicpu = std::max(largest.millicpu, n.millicpu);
    largest.memory_bytes = std::max(largest.memory_bytes, n.memory_bytes);
  }
  return Status::InvalidArgument(
      "one instance asks for cpu " + manifest::FormatCpu(want.millicpu) + " and memory " +
      manifest::FormatMemory(want.memory_bytes) +
      ", but no node can allocate that (the most any node offers is cpu " +
      manifest::FormatCpu(largest.millicpu) + ", memory " +
      manifest::FormatMemory(largest.memory_bytes) +
      "; nodes keep part of their capacity for their own components): lower cpu or memory in the "
      "DeployConfig");
}

std::string Reconciler::StartOrder(const ReleaseRequest& req, ReleaseRecord record,
                                   diff::Plan now_plan, diff::Plan finish,
                                   const std::string& target, std::vector<std::string>* errors) {
  Env& e = EnvFor(req.app, req.env);
  if (Status st = Record(&record); !st.ok()) {
    errors->push_back("recording a release of " + req.app + "/" + req.env + ": " + st.ToString());
    return "";
  }
  e.in_progress = record.id;
  // Config first, at once: Services, files, Ingress, plain manifests, and the
  // new revision's Deployment at the replicas it has now.
  const std::string id = record.id;
  ReleaseRequest later = req;
  later.group.clear();  // gone by the time the write is done
  QueueWrite({req.server, req.app, req.commit, std::move(now_plan),
              [this, later = std::move(later), record = std::move(record),
               finish = std::move(finish), target, errors](apply::ExecuteResult result) mutable {
                OrderStarted(later, std::move(record), std::move(finish), target, std::move(result),
                             errors);
              }});
  return id;
}

void Reconciler::OrderStarted(const ReleaseRequest& req, ReleaseRecord record, diff::Plan finish,
                              const std::string& target, apply::ExecuteResult result,
                              std::vector<std::string>* errors) {
  Env& e = EnvFor(req.app, req.env);
  RecordChanges(result.changes, &record);
  if (!result.status.ok()) {
    record.outcome = Outcome::kFailed;
    record.errors.push_back(result.status.ToString());
    record.end = clock_.UnixMillis();
    EndRecord(std::move(record));
    e.status.error = result.status.ToString();
    errors->push_back(req.app + "/" + req.env + ": " + result.status.ToString());
    Backoff(e);
    return;
  }
  ActiveOrder& a = orders_[{req.app, req.env}];
  a.workloads = std::make_shared<PrefetchedWorkloads>(clusters_.Workloads(req.server));
  a.order = std::make_unique<rollout::ReleaseOrder>(*a.workloads, clock_, req.app, req.env, target,
                                                    PolicyFor(req, record));
  a.order->SetRecordedBatches(static_cast<int>(record.batches.size()));
  TakeDecisionsAgain(record, *a.order);
  a.revision = target;
  if (PolicyFor(req, record).gated) {
    a.gates = req.model->release.gates;
    a.gate_timeout_ms = req.model->release.batch_timeout_ms;
    // A batch recorded before a restart whose gates had not all answered
    // waits at them again.
    if (!record.batches.empty() && record.batches.back().gates.empty()) a.order->GateNow();
  }
  a.record = std::move(record);
  a.server = req.server;
  a.finish = std::move(finish);
  a.next = clock_.Now();
  a.unsaved = !Record(&a.record).ok();  // the changes applied; the order waits if not written
  spdlog::info("release={} app={} env={} revision={} commit={} {}: {} instances in batches of {}{}",
               a.record.id, req.app, req.env, target, req.commit.substr(0, 12), Name(a.record.kind),
               req.model->replicas.value, a.order->k(),
               a.record.hold == journal::Hold::kNone
                   ? ""
                   : std::string(", held (") + std::string(Name(a.record.hold)) + ")");
}

rollout::OrderPolicy Reconciler::PolicyFor(const ReleaseRequest& req,
                                           const ReleaseRecord& record) const {
  rollout::OrderPolicy policy;
  const auto& release = req.model->release;
  policy.replicas = req.model->replicas.value;
  policy.batches = release.batches;
  policy.pause = release.pause == manifest::Pause::kFirst   ? rollout::OrderPause::kFirst
                 : release.pause == manifest::Pause::kEvery ? rollout::OrderPause::kEvery
                                                            : rollout::OrderPause::kNone;
  policy.batch_interval = std::chrono::milliseconds(release.batch_interval_ms);
  policy.batch_timeout = std::chrono::milliseconds(release.batch_timeout_ms);
  policy.on_failure = release.on_failure == manifest::OnFailure::kHalt
                          ? rollout::OrderFailure::kHalt
                          : rollout::OrderFailure::kRollback;
  // Instances the target runs were put there by the order this one took
  // over from, not by batches of its own.
  policy.adopt_scaled = record.supersedes.empty();
  policy.gated = !release.gates.empty();
  if (record.kind == ReleaseKind::kRollback) {
    // Going back to a revision that ran before is no gray release: it
    // neither holds nor waits between batches.
    policy.pause = rollout::OrderPause::kNone;
    policy.batch_interval = std::chrono::milliseconds(0);
    policy.gated = false;
  }
  policy.poll = options_.poll;
  return policy;
}

// A release a stopped process (or a reload) left in flight takes the
// decisions its record holds: an abort asked for, a hold, a pause asked for.
void Reconciler::TakeDecisionsAgain(const ReleaseRecord& record, rollout::ReleaseOrder& order) {
  if (record.abort_requested) {
    order.Abort();
    return;
  }
  switch (record.hold) {
    case journal::Hold::kPolicy:
    case journal::Hold::kOperator:
      order.HoldNow();
      break;
    case journal::Hold::kFailed:
      order.HaltNow(record.errors.empty() ? "a batch failed" : record.errors.back());
      break;
    case journal::Hold::kNone:
      break;
  }
  if (record.pause_requested) order.Pause();
}

void Reconciler::Backoff(Env& e) {
  ++e.failures;
  e.retry_at = clock_.Now() + pagoda::Backoff(std::chrono::milliseconds(5000), e.failures,
                                              std::chrono::milliseconds(options_.max_backoff_ms));
}

// The final state of a release: written now if the journal takes it, else
// kept and written by a later step. The environment stays in progress (and
// is not released again) until it is written.
void Reconciler::EndRecord(ReleaseRecord record) {
  Env& e = EnvFor(record.app, record.env);
  if (!Record(&record).ok()) {
    unsaved_records_.push_back(std::move(record));
    return;
  }
  if (e.in_progress == record.id) e.in_progress.clear();
  if (options_.observer != nullptr) options_.observer->ReleaseEnded(record);
}

Clock::TimePoint Reconciler::AdvanceOrders(Clock::TimePoint now) {
  Clock::TimePoint next = now + std::chrono::hours(1);
  PrefetchDue();
  for (auto it = orders_.begin(); it != orders_.end();) {
    if (options_.hooks != nullptr) {
      if (options_.hooks->Stopping()) break;
      options_.hooks->Between();
    }
    ActiveOrder& a = it->second;
    if (a.unsaved) {
      a.unsaved = !Record(&a.record).ok();
      if (a.unsaved) {  // nothing more happens until what happened is written
        next = std::min(next, now + std::chrono::seconds(5));
        ++it;
        continue;
      }
    }
    StepOrder(a);
    if (!rollout::Finished(a.order->phase())) {
      next = std::min(next, a.unsaved ? now + std::chrono::seconds(5) : a.next);
      ++it;
      continue;
    }
    if (a.unsaved) {
      ++it;
      continue;
    }
    FinishOrder(it->first, a);
    if (!a.waiting.empty()) {
      sync_requested_ = true;  // the newest commit that waited goes next
      next = now;
    }
    it = orders_.erase(it);
  }
  for (auto& [key, a] : orders_) a.workloads->Forget();  // those not stepped: read again
  return next;
}

void Reconciler::PrefetchDue() {
  std::vector<ActiveOrder*> due;
  for (auto& [key, a] : orders_) {
    const auto phase = a.order->phase();
    if (a.next <= clock_.Now() && !a.unsaved && !rollout::Finished(phase) &&
        phase != rollout::OrderPhase::kHeld && phase != rollout::OrderPhase::kFailed) {
      due.push_back(&a);
    }
  }
  if (due.size() < 2) return;  // nothing to gain
  ForEachAtOnce(due.size(), clusters_.Concurrency(), [&](size_t i) {
    due[i]->workloads->Prefetch(due[i]->record.app, due[i]->record.env);
  });
}

// Steps one order while it has something to do now, and journals what
// happened (batches, a hold, a failure) before it does anything more.
void Reconciler::StepOrder(ActiveOrder& a) {
  for (int i = 0; i < 100 && a.next <= clock_.Now(); ++i) {
    a.next = a.order->Step();
    auto phase = a.order->phase();
    if (rollout::Finished(phase) || phase == rollout::OrderPhase::kHeld ||
        phase == rollout::OrderPhase::kFailed) {
      break;
    }
  }
  a.workloads->Forget();  // a read it did not take is not kept for later
  bool changed = false;
  for (const auto& b : a.order->TakeBatches()) {
    a.record.batches.push_back(
        {b.index, static_cast<int>(b.instances), b.start_ms, b.pods, b.ready_ms, b.end_ms, {}});
    changed = true;
    spdlog::info("release={} app={} env={} revision={} commit={} batch {}{}: {} instances Ready",
                 a.record.id, a.record.app, a.record.env, a.order->target(),
                 a.record.to.id.substr(0, 12), b.index, b.rollback ? " (back)" : "", b.instances);
  }
  // The gates' verdict first, so that a hold or a failure it leads to is
  // journalled with it.
  if (a.order->AtGate() && !a.record.batches.empty()) {
    changed |= StepGates(a);
    if (a.next <= clock_.Now()) a.next = a.order->Step();  // passed: on at once
  }
  const auto phase = a.order->phase();
  if (phase == rollout::OrderPhase::kHeld && a.record.hold == journal::Hold::kNone) {
    a.record.hold = a.record.pause_requested ? journal::Hold::kOperator : journal::Hold::kPolicy;
    a.record.pause_requested = false;
    changed = true;
    spdlog::info("release={} app={} env={} held after batch {} ({})", a.record.id, a.record.app,
                 a.record.env, a.record.batches.size(), Name(a.record.hold));
  }
  if (phase == rollout::OrderPhase::kFailed && a.record.hold != journal::Hold::kFailed) {
    a.record.hold = journal::Hold::kFailed;
    a.record.errors.push_back(a.order->error());
    changed = true;
    Env& e = EnvFor(a.record.app, a.record.env);
    e.status.error = "held after a failed batch: " + a.order->error();
    spdlog::warn("release={} app={} env={} held: {}", a.record.id, a.record.app, a.record.env,
                 a.order->error());
  }
  if (changed) a.unsaved = !Record(&a.record).ok();
}

// A finished order: earlier revisions beyond those kept go, the
// environment's status says where it stands, the record ends.
void Reconciler::FinishOrder(const std::pair<std::string, std::string>& key, ActiveOrder& a) {
  Env& e = EnvFor(key.first, key.second);
  const auto phase = a.order->phase();
  a.record.outcome = OutcomeOf(phase);
  a.record.hold = journal::Hold::kNone;
  if (phase == rollout::OrderPhase::kSucceeded) {
    apply::ExecuteResult done = clusters_.Execute(a.server, a.finish, a.record.to.id);
    for (const auto& entry : done.changes.entries) {
      if (entry.action == apply::ChangeAction::kDeleted)
        a.record.changes.push_back({ChangeAction::kDeleted, entry.key});
    }
    if (!done.status.ok())
      a.record.errors.push_back("removing earlier revisions: " + done.status.ToString());
    e.status.commit = a.record.to.id;
    e.status.revision = a.order->target();
    e.status.ready = a.order->ready();
    e.status.drift = false;
    e.status.error.clear();
    e.blocked_commit.clear();
  } else {
    a.record.errors.push_back(a.order->error().empty() ? "aborted by request" : a.order->error());
    // The same commit is not released again: a new commit, or a manual
    // sync after a fix, is needed.
    e.blocked_commit = a.record.to.id;
    e.blocked_reason = "release " + a.record.id + " " + std::string(Name(a.record.outcome)) + ": " +
                       a.record.errors.back() + "; the environment waits for a new commit";
    e.status.error = e.blocked_reason;
  }
  a.record.end = clock_.UnixMillis();
  // A promotion waiting for this environment decides again at once.
  if (awaited_.count(key)) next_reconcile_ = clock_.Now();
  auto level = phase == rollout::OrderPhase::kSucceeded ? spdlog::level::info : spdlog::level::warn;
  spdlog::log(level, "release={} app={} env={} revision={} commit={} {} after {} batches{}",
              a.record.id, a.record.app, a.record.env, a.order->target(),
              a.record.to.id.substr(0, 12), Name(a.record.outcome), a.record.batches.size(),
              a.order->error().empty() ? "" : ": " + a.order->error());
  EndRecord(a.record);
}

Reconciler::ActiveOrder* Reconciler::FindOrder(const std::string& id) {
  for (auto& [key, a] : orders_) {
    if (a.record.id == id) return &a;
  }
  return nullptr;
}

Status Reconciler::NotInFlight(const std::string& id) const {
  if (ownership_->everything) return Status::NotFound("no release " + id + " is in flight");
  return Status::NotFound("no release " + id +
                          " is in flight on this replica; another may lead its app "
                          "(pagoda status shows who holds each shard)");
}

Status Reconciler::CheckLeads(const std::string& app) const {
  if (ownership_->Owns(app)) return Status::Ok();
  return Status::Unavailable("this replica does not lead app " + app + " (" +
                             ownership_->ShardName(app) +
                             "); ask the replica that does (pagoda status shows who holds it)");
}

// Writes a decision about `a` into its record, and only then lets `act`
// carry it out; nothing changes when the journal refuses it.
Status Reconciler::Decide(ActiveOrder& a, const std::function<void(ReleaseRecord&)>& decide,
                          const std::function<void()>& act) {
  ReleaseRecord next = a.record;
  decide(next);
  if (Status st = Record(&next); !st.ok()) return st.WithContext("the journal cannot be written");
  a.record = std::move(next);
  a.unsaved = false;
  act();
  return Status::Ok();
}

Status Reconciler::Pause(const std::string& id) {
  ActiveOrder* a = FindOrder(id);
  if (a == nullptr) return NotInFlight(id);
  if (a->record.hold != journal::Hold::kNone || a->record.pause_requested) return Status::Ok();
  PAGODA_RETURN_IF_ERROR(Decide(
      *a, [](ReleaseRecord& r) { r.pause_requested = true; }, [a] { a->order->Pause(); }));
  spdlog::info("release={} pause requested: it holds after the batch in hand", id);
  return Status::Ok();
}

Status Reconciler::Resume(const std::string& id) {
  ActiveOrder* a = FindOrder(id);
  if (a == nullptr) return NotInFlight(id);
  PAGODA_RETURN_IF_ERROR(Decide(
      *a,
      [](ReleaseRecord& r) {
        r.hold = journal::Hold::kNone;
        r.pause_requested = false;
      },
      [&] {
        a->order->Resume();
        a->next = clock_.Now();
      }));
  spdlog::info("release={} resumed", id);
  return Status::Ok();
}

Status Reconciler::Override(const std::string& app, const std::string& env, const std::string& by,
                            const std::string& reason) {
  return LetThrough(app, env, by, reason, "freeze override", &Env::freeze_pass);
}

Status Reconciler::Promote(const std::string& app, const std::string& env, const std::string& by,
                           const std::string& reason) {
  return LetThrough(app, env, by, reason, "promotion", &Env::promotion_pass);
}

Status Reconciler::LetThrough(const std::string& app, const std::string& env, const std::string& by,
                              const std::string& reason, const char* what, Pass Env::*pass) {
  PAGODA_RETURN_IF_ERROR(CheckLeads(app));
  if (reason.empty())
    return Status::InvalidArgument(std::string("a ") + what + " needs a reason (--reason)");
  auto it = envs_.find({app, env});
  if (it == envs_.end()) return Status::NotFound("no environment " + app + "/" + env);
  Pass& p = (*it->second).*pass;
  const Pass before = p;
  p.by = by.empty() ? "an operator" : by;
  p.reason = reason;
  if (Status st = SavePins(); !st.ok()) {
    p = before;  // a decision that would not outlive a restart is refused
    return st;
  }
  spdlog::info("app={} env={} {} by {}: {}", app, env, what, p.by, reason);
  RequestSync();
  return Status::Ok();
}

Status Reconciler::Abort(const std::string& id) {
  ActiveOrder* a = FindOrder(id);
  if (a == nullptr) return NotInFlight(id);
  PAGODA_RETURN_IF_ERROR(Decide(
      *a,
      [](ReleaseRecord& r) {
        r.abort_requested = true;
        r.hold = journal::Hold::kNone;
      },
      [&] {
        a->order->Abort();
        a->next = clock_.Now();
      }));
  spdlog::info("release={} aborted: rolling back batch by batch", id);
  return Status::Ok();
}

}  // namespace pagoda::daemon
