// Batched release orders in flight: starting them, stepping them from the
// loop, recording each batch as it happens, and steering them.
#include <spdlog/spdlog.h>

#include <algorithm>

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
  manifest::NodeAllocatable want = Requests(deployment.desired_json);
  if (want.millicpu == 0 && want.memory_bytes == 0) return Status::Ok();
  auto nodes = clusters_.Nodes(server);
  if (!nodes.ok()) return nodes.status().WithContext("reading the nodes' allocatable capacity");
  manifest::NodeAllocatable largest;
  for (const auto& n : *nodes) {
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
  if (Status st = journal_.Append(&record); !st.ok()) {
    errors->push_back("recording a release of " + req.app + "/" + req.env + ": " + st.ToString());
    return "";
  }
  e.in_progress = record.id;
  // Config first, at once: Services, files, Ingress, plain manifests, and the
  // new revision's Deployment at the replicas it has now.
  apply::ExecuteResult result = clusters_.Execute(req.server, now_plan);
  RecordChanges(result.changes, &record);
  if (!result.status.ok()) {
    record.outcome = Outcome::kFailed;
    record.errors.push_back(result.status.ToString());
    record.end = clock_.UnixMillis();
    (void)journal_.Append(&record);
    if (options_.observer != nullptr) options_.observer->ReleaseEnded(record);
    e.in_progress.clear();
    e.status.error = result.status.ToString();
    errors->push_back(req.app + "/" + req.env + ": " + result.status.ToString());
    ++e.failures;
    int64_t backoff =
        std::min<int64_t>(options_.max_backoff_ms, 5000LL << std::min(e.failures - 1, 10));
    e.retry_at = clock_.Now() + std::chrono::milliseconds(backoff);
    return record.id;
  }
  (void)journal_.Append(&record);

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
  if (record.kind == ReleaseKind::kRollback) {
    // Going back to a revision that ran before is no gray release: it
    // neither holds nor waits between batches.
    policy.pause = rollout::OrderPause::kNone;
    policy.batch_interval = std::chrono::milliseconds(0);
  }
  policy.poll = options_.poll;
  ActiveOrder& a = orders_[{req.app, req.env}];
  a.order = std::make_unique<rollout::ReleaseOrder>(clusters_.Workloads(req.server), clock_, req.app,
                                                  req.env, target, policy);
  a.order->SetRecordedBatches(static_cast<int>(record.batches.size()));
  a.record = std::move(record);
  a.server = req.server;
  a.finish = std::move(finish);
  a.next = clock_.Now();
  spdlog::info("release={} app={} env={} revision={} commit={} {}: {} instances in batches of {}",
               a.record.id, req.app, req.env, target, req.commit.substr(0, 12), Name(a.record.kind),
               policy.replicas, a.order->k());
  return a.record.id;
}

Clock::TimePoint Reconciler::AdvanceOrders(Clock::TimePoint now) {
  Clock::TimePoint next = now + std::chrono::hours(1);
  for (auto it = orders_.begin(); it != orders_.end();) {
    ActiveOrder& a = it->second;
    Env& e = EnvFor(it->first.first, it->first.second);
    // Several steps at once when they are due at once (no waiting between them).
    for (int i = 0; i < 100 && a.next <= clock_.Now(); ++i) {
      a.next = a.order->Step();
      auto phase = a.order->phase();
      if (rollout::Finished(phase) || phase == rollout::OrderPhase::kHeld ||
          phase == rollout::OrderPhase::kFailed) {
        break;
      }
    }
    // Every batch is recorded as it happens.
    auto batches = a.order->TakeBatches();
    for (const auto& b : batches) {
      BatchRecord r;
      r.index = b.index;
      r.instances = static_cast<int>(b.instances);
      r.start = b.start_ms;
      r.pods = b.pods;
      r.ready = b.ready_ms;
      r.end = b.end_ms;
      a.record.batches.push_back(std::move(r));
      spdlog::info("release={} app={} env={} revision={} commit={} batch {}{}: {} instances Ready",
                   a.record.id, a.record.app, a.record.env, a.order->target(),
                   a.record.to.id.substr(0, 12), b.index, b.rollback ? " (back)" : "", b.instances);
    }
    if (!batches.empty()) (void)journal_.Append(&a.record);

    const auto phase = a.order->phase();
    if (phase == rollout::OrderPhase::kFailed && !a.failure_recorded) {
      a.failure_recorded = true;
      a.record.errors.push_back(a.order->error());
      (void)journal_.Append(&a.record);
      e.status.error = "held after a failed batch: " + a.order->error();
      spdlog::warn("release={} app={} env={} held: {}", a.record.id, a.record.app, a.record.env,
                   a.order->error());
    }
    if (!rollout::Finished(phase)) {
      next = std::min(next, a.next);
      ++it;
      continue;
    }
    a.record.outcome = OutcomeOf(phase);
    if (phase == rollout::OrderPhase::kSucceeded) {
      // Earlier revisions beyond those kept go, now that nothing runs on them.
      apply::ExecuteResult done = clusters_.Execute(a.server, a.finish);
      for (const auto& entry : done.changes.entries) {
        if (entry.action == apply::ChangeAction::kDeleted)
          a.record.changes.push_back({ChangeAction::kDeleted, entry.key});
      }
      if (!done.status.ok())
        a.record.errors.push_back("removing earlier revisions: " + done.status.ToString());
      e.status.commit = a.record.to.id;
      e.status.revision = a.order->target();
      e.status.error.clear();
      e.blocked_commit.clear();
    } else {
      a.record.errors.push_back(a.order->error().empty() ? "aborted by request" : a.order->error());
      // The same commit is not released again: a new commit, or a manual
      // sync after a fix, is needed.
      e.blocked_commit = a.record.to.id;
      e.blocked_reason = "release " + a.record.id + " " + std::string(Name(a.record.outcome)) +
                         ": " + a.record.errors.back() + "; the environment waits for a new commit";
      e.status.error = e.blocked_reason;
    }
    a.record.end = clock_.UnixMillis();
    if (Status st = journal_.Append(&a.record); !st.ok()) {
      spdlog::error("release={} recording its end failed: {}", a.record.id, st.ToString());
    } else {
      e.in_progress.clear();
    }
    if (options_.observer != nullptr) options_.observer->ReleaseEnded(a.record);
    auto level = phase == rollout::OrderPhase::kSucceeded ? spdlog::level::info : spdlog::level::warn;
    spdlog::log(level, "release={} app={} env={} revision={} commit={} {} after {} batches{}",
                a.record.id, a.record.app, a.record.env, a.order->target(),
                a.record.to.id.substr(0, 12), Name(a.record.outcome), a.record.batches.size(),
                a.order->error().empty() ? "" : ": " + a.order->error());
    if (!a.waiting.empty()) {
      sync_requested_ = true;  // the newest commit that waited goes next
      next = now;
    }
    it = orders_.erase(it);
  }
  return next;
}

Reconciler::ActiveOrder* Reconciler::FindOrder(const std::string& id) {
  for (auto& [key, a] : orders_) {
    if (a.record.id == id) return &a;
  }
  return nullptr;
}

Status Reconciler::Pause(const std::string& id) {
  std::lock_guard<std::mutex> lock(mu_);
  ActiveOrder* a = FindOrder(id);
  if (a == nullptr) return Status::NotFound("no release " + id + " is in flight");
  a->order->Pause();
  spdlog::info("release={} pause requested: it holds after the batch in hand", id);
  return Status::Ok();
}

Status Reconciler::Resume(const std::string& id) {
  std::lock_guard<std::mutex> lock(mu_);
  ActiveOrder* a = FindOrder(id);
  if (a == nullptr) return Status::NotFound("no release " + id + " is in flight");
  a->order->Resume();
  a->failure_recorded = false;
  a->next = clock_.Now();
  spdlog::info("release={} resumed", id);
  return Status::Ok();
}

Status Reconciler::Abort(const std::string& id) {
  std::lock_guard<std::mutex> lock(mu_);
  ActiveOrder* a = FindOrder(id);
  if (a == nullptr) return Status::NotFound("no release " + id + " is in flight");
  a->order->Abort();
  a->next = clock_.Now();
  spdlog::info("release={} aborted: rolling back batch by batch", id);
  return Status::Ok();
}

}  // namespace pagoda::daemon
