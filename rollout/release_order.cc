#include <algorithm>

#include "base/json.h"
#include "rollout/rollout.h"

namespace pagoda::rollout {
namespace {

constexpr auto kFar = std::chrono::hours(1);

}  // namespace

std::string_view OrderPhaseName(OrderPhase phase) {
  switch (phase) {
    case OrderPhase::kRunning:
      return "running";
    case OrderPhase::kHeld:
      return "held";
    case OrderPhase::kRollingBack:
      return "rolling back";
    case OrderPhase::kSucceeded:
      return "succeeded";
    case OrderPhase::kFailed:
      return "failed";
    case OrderPhase::kRolledBack:
      return "rolled back";
    case OrderPhase::kAborted:
      return "aborted";
  }
  return "unknown";
}

bool Finished(OrderPhase phase) {
  return phase == OrderPhase::kSucceeded || phase == OrderPhase::kRolledBack ||
         phase == OrderPhase::kAborted;
}

// ---- The cluster side ------------------------------------------------------------

Result<std::map<std::string, RevisionState>> KubeWorkloads::Read(const std::string& ns,
                                                                 const std::string& env) {
  const std::string selector =
      "?labelSelector=app.kubernetes.io%2Fmanaged-by%3Dpagoda%2Capp.kubernetes.io%2Finstance%3D" +
      env;
  auto deployments = client_.List("/apis/apps/v1/namespaces/" + ns + "/deployments" + selector);
  if (!deployments.ok()) return deployments.status();
  std::map<std::string, RevisionState> out;
  for (const auto& d : *deployments) {
    std::string revision = json::StringAt(d, {"metadata", "labels", "pagoda.dev/revision"});
    if (revision.empty()) continue;
    RevisionState& s = out[revision];
    s.deployment = json::StringAt(d, {"metadata", "name"});
    s.created = json::StringAt(d, {"metadata", "creationTimestamp"});
    if (d.HasMember("spec") && d["spec"].HasMember("replicas") && d["spec"]["replicas"].IsInt64()) {
      s.replicas = d["spec"]["replicas"].GetInt64();
    }
  }
  auto pods = client_.List("/api/v1/namespaces/" + ns + "/pods" + selector);
  if (!pods.ok()) return pods.status();
  for (const auto& p : *pods) {
    std::string revision = json::StringAt(p, {"metadata", "labels", "pagoda.dev/revision"});
    auto it = out.find(revision);
    if (it == out.end()) continue;
    RevisionState& s = it->second;
    ++s.pods;
    const std::string name = json::StringAt(p, {"metadata", "name"});
    const bool terminating = !json::StringAt(p, {"metadata", "deletionTimestamp"}).empty();
    bool ready = false;
    std::string why = json::StringAt(p, {"status", "phase"});
    if (p.HasMember("status") && p["status"].HasMember("conditions") &&
        p["status"]["conditions"].IsArray()) {
      for (const auto& c : p["status"]["conditions"].GetArray()) {
        if (json::StringAt(c, {"type"}) != "Ready") continue;
        ready = json::StringAt(c, {"status"}) == "True";
        std::string reason = json::StringAt(c, {"reason"});
        std::string message = json::StringAt(c, {"message"});
        if (!reason.empty())
          why = "Ready=" + json::StringAt(c, {"status"}) + " (" + reason +
                (message.empty() ? "" : ": " + message) + ")";
      }
    }
    if (ready && !terminating) {
      ++s.ready;
      s.ready_pods.push_back(name);
    } else if (!terminating) {
      s.unready.push_back(name + ": " + (why.empty() ? "not Ready" : why));
    }
  }
  return out;
}

Status KubeWorkloads::Scale(const std::string& ns, const std::string& deployment,
                            int64_t replicas) {
  auto scaled = client_.Patch("/apis/apps/v1/namespaces/" + ns + "/deployments/" + deployment +
                                  "/scale?fieldManager=pagoda",
                              "application/merge-patch+json",
                              R"({"spec":{"replicas":)" + std::to_string(replicas) + "}}");
  return scaled.ok() ? Status::Ok()
                     : scaled.status().WithContext("Deployment/" + ns + "/" + deployment);
}

std::string KubeWorkloads::LastEvent(const std::string& ns, const std::vector<std::string>& pods) {
  auto events =
      client_.List("/api/v1/namespaces/" + ns + "/events?fieldSelector=involvedObject.kind%3DPod");
  if (!events.ok()) return "";
  std::string best_time, best;
  for (const auto& e : *events) {
    const std::string pod = json::StringAt(e, {"involvedObject", "name"});
    if (std::find(pods.begin(), pods.end(), pod) == pods.end()) continue;
    std::string when = json::StringAt(e, {"lastTimestamp"});
    if (when.empty()) when = json::StringAt(e, {"eventTime"});
    if (when.empty()) when = json::StringAt(e, {"metadata", "creationTimestamp"});
    if (when >= best_time) {
      best_time = when;
      best = pod + ": " + json::StringAt(e, {"reason"}) + ": " + json::StringAt(e, {"message"});
    }
  }
  return best;
}

// ---- The order ---------------------------------------------------------------------

ReleaseOrder::ReleaseOrder(Workloads& workloads, Clock& clock, std::string ns, std::string env,
                           std::string target, OrderPolicy policy)
    : workloads_(workloads),
      clock_(clock),
      ns_(std::move(ns)),
      env_(std::move(env)),
      target_(std::move(target)),
      policy_(policy) {
  const int64_t batches = std::max<int64_t>(
      1, std::min<int64_t>(policy_.batches, std::max<int64_t>(1, policy_.replicas)));
  k_ = std::max<int64_t>(1, (policy_.replicas + batches - 1) / batches);
}

std::vector<BatchEvent> ReleaseOrder::TakeBatches() {
  std::vector<BatchEvent> out;
  out.swap(new_batches_);
  return out;
}

std::chrono::milliseconds ReleaseOrder::held_for() const {
  if (phase_ != OrderPhase::kHeld && phase_ != OrderPhase::kFailed)
    return std::chrono::milliseconds(0);
  return std::chrono::duration_cast<std::chrono::milliseconds>(clock_.Now() - held_since_);
}

void ReleaseOrder::Pause() {
  if (phase_ != OrderPhase::kRunning) return;
  if (stage_ == Stage::kBetween || (stage_ == Stage::kIdle && forward_batches_ > 0)) {
    // Between two batches: held before the next one begins.
    phase_ = OrderPhase::kHeld;
    held_since_ = clock_.Now();
    stage_ = Stage::kIdle;
    return;
  }
  pause_requested_ = true;  // a batch is in hand: held once it is done
}

void ReleaseOrder::Resume() {
  pause_requested_ = false;
  if (phase_ == OrderPhase::kHeld || phase_ == OrderPhase::kFailed) {
    phase_ = aborted_ ? OrderPhase::kRollingBack : OrderPhase::kRunning;
    if (stage_ == Stage::kUp) deadline_ = clock_.Now() + policy_.batch_timeout;
    error_.clear();
  }
}

void ReleaseOrder::HoldNow() {
  if (phase_ != OrderPhase::kRunning) return;
  phase_ = OrderPhase::kHeld;
  held_since_ = clock_.Now();
}

void ReleaseOrder::HaltNow(const std::string& error) {
  if (Finished(phase_)) return;
  error_ = error;
  stage_ = Stage::kIdle;
  phase_ = OrderPhase::kFailed;
  held_since_ = clock_.Now();
}

void ReleaseOrder::Abort() {
  if (Finished(phase_)) return;
  aborted_ = true;
  phase_ = OrderPhase::kRollingBack;
  stage_ = Stage::kIdle;
}

Clock::TimePoint ReleaseOrder::AfterBatch(Clock::TimePoint now) {
  bool hold = pause_requested_ || policy_.pause == OrderPause::kEvery ||
              (policy_.pause == OrderPause::kFirst && forward_batches_ == 1);
  if (hold) {
    pause_requested_ = false;
    phase_ = OrderPhase::kHeld;
    held_since_ = now;
    return now + kFar;
  }
  if (policy_.batch_interval.count() > 0) {
    stage_ = Stage::kBetween;
    between_until_ = now + policy_.batch_interval;
    return between_until_;
  }
  return now;
}

bool ReleaseOrder::AtGate() const {
  return phase_ == OrderPhase::kRunning && stage_ == Stage::kGated;
}

void ReleaseOrder::GateNow() {
  if (phase_ == OrderPhase::kRunning && !aborted_ && forward_batches_ > 0 &&
      forward_batches_ * k_ < policy_.replicas) {
    stage_ = Stage::kGated;
  }
}

void ReleaseOrder::PassGate() {
  if (!AtGate()) return;
  stage_ = Stage::kIdle;
  AfterBatch(clock_.Now());
}

void ReleaseOrder::FailGate(const std::string& reason) {
  if (AtGate()) Fail(reason);
}

void ReleaseOrder::Fail(const std::string& reason) {
  error_ = reason;
  stage_ = Stage::kIdle;
  if (phase_ == OrderPhase::kRollingBack) {
    phase_ = OrderPhase::kFailed;  // even the way back is blocked: a person must look
    held_since_ = clock_.Now();
  } else if (policy_.on_failure == OrderFailure::kRollback) {
    phase_ = OrderPhase::kRollingBack;
  } else {
    phase_ = OrderPhase::kFailed;
    held_since_ = clock_.Now();
  }
}

Clock::TimePoint ReleaseOrder::Step() {
  const auto now = clock_.Now();
  if (Finished(phase_) || phase_ == OrderPhase::kHeld || phase_ == OrderPhase::kFailed)
    return now + kFar;
  auto state = workloads_.Read(ns_, env_);
  if (!state.ok()) {
    error_ = state.status().ToString();  // transient: try again
    return now + policy_.poll * 10;
  }
  if (auto target = state->find(target_); target != state->end()) ready_ = target->second.ready;
  if (previous_.empty()) {
    // Where a rollback returns: the revision running most instances, the
    // newest on a tie.
    int64_t most = 0;
    std::string created;
    for (const auto& [rev, s] : *state) {
      if (rev == target_ || s.replicas <= 0) continue;
      if (s.replicas > most || (s.replicas == most && s.created > created)) {
        previous_ = rev;
        most = s.replicas;
        created = s.created;
      }
    }
  }
  if (phase_ == OrderPhase::kRollingBack) return Move(*state, previous_, true);
  return Move(*state, target_, false);
}

Clock::TimePoint ReleaseOrder::Move(const std::map<std::string, RevisionState>& state,
                                    const std::string& to, bool back) {
  const auto now = clock_.Now();
  const int64_t R = policy_.replicas;
  const RevisionState none;
  auto it = state.find(to);
  const RevisionState& dest = it == state.end() ? none : it->second;
  int64_t others_replicas = 0, others_pods = 0;
  for (const auto& [rev, s] : state) {
    if (rev == to) continue;
    others_replicas += s.replicas;
    others_pods += s.pods;
  }
  // A first release that fails has nowhere to return: its instances stop.
  if (back && to.empty()) {
    auto target = state.find(target_);
    if (target != state.end() && target->second.replicas > 0) {
      if (Status st = workloads_.Scale(ns_, target->second.deployment, 0); !st.ok()) {
        error_ = st.ToString();
        return now + policy_.poll * 10;
      }
    }
    phase_ = aborted_ ? OrderPhase::kAborted : OrderPhase::kRolledBack;
    return now;
  }
  int& count = back ? back_batches_ : forward_batches_;

  if (stage_ == Stage::kGated) return now + kFar;
  if (stage_ == Stage::kBetween) {
    if (now < between_until_) return between_until_;
    stage_ = Stage::kIdle;
  }
  if (stage_ == Stage::kIdle) {
    // Batches scaled up by an earlier process and not recorded yet are
    // finished and recorded first (forward only: the way back starts anew).
    const int reached = static_cast<int>((dest.replicas + k_ - 1) / k_);
    if (!back && policy_.adopt_scaled && count < reached && dest.replicas + others_replicas <= R) {
      goal_ = dest.replicas;
      batch_ = BatchEvent{};
      batch_.index = reached;
      batch_.instances = dest.replicas - (reached - 1) * k_;
      batch_.start_ms = clock_.UnixMillis();
      count = reached;
      stage_ = Stage::kUp;
      deadline_ = now + policy_.batch_timeout;
    } else if (dest.replicas >= R && others_replicas == 0) {
      if (dest.ready >= R) {
        phase_ = back ? (aborted_ ? OrderPhase::kAborted : OrderPhase::kRolledBack)
                      : OrderPhase::kSucceeded;
        return now;
      }
      goal_ = R;  // all scaled: waiting for the last instances
      stage_ = Stage::kUp;
      deadline_ = now + policy_.batch_timeout;
    } else {
      // The next batch. After a restart between scaling the old revisions
      // down and the new one up, that batch's way up is finished first.
      goal_ = others_replicas > 0 && dest.replicas + others_replicas < R
                  ? R - others_replicas
                  : std::min(R, dest.replicas + k_);
      if (goal_ <= dest.replicas) goal_ = std::min(R, dest.replicas + k_);
      batch_ = BatchEvent{};
      batch_.index = ++count;
      batch_.instances = goal_ - dest.replicas;
      batch_.start_ms = clock_.UnixMillis();
      batch_.rollback = back;
      // Old before new: the others give up what the new batch takes, the
      // oldest revisions first.
      int64_t excess = others_replicas + goal_ - R;
      std::vector<const RevisionState*> others;
      for (const auto& [rev, s] : state) {
        if (rev != to && s.replicas > 0) others.push_back(&s);
      }
      std::sort(others.begin(), others.end(), [](const RevisionState* a, const RevisionState* b) {
        return a->created < b->created;
      });
      bool scaled = false;
      for (const RevisionState* s : others) {
        if (excess <= 0) break;
        int64_t cut = std::min(excess, s->replicas);
        if (Status st = workloads_.Scale(ns_, s->deployment, s->replicas - cut); !st.ok()) {
          error_ = st.ToString();
          --count;
          return now + policy_.poll * 10;
        }
        excess -= cut;
        scaled = true;
      }
      stage_ = Stage::kDown;
      deadline_ = now + policy_.batch_timeout;
      if (scaled) return now;  // their pods take a moment to go
    }
  }

  if (stage_ == Stage::kDown) {
    // The old pods must be gone, not just terminating, before new ones start.
    if (others_pods + goal_ > R) {
      if (now > deadline_) {
        Fail("batch " + std::to_string(batch_.index) + ": old instances did not stop within " +
             std::to_string(policy_.batch_timeout.count() / 1000) + "s");
        return now;
      }
      return now + policy_.poll;
    }
    if (dest.deployment.empty()) {
      Fail("the Deployment of revision " + to + " does not exist");
      return now;
    }
    if (Status st = workloads_.Scale(ns_, dest.deployment, goal_); !st.ok()) {
      error_ = st.ToString();
      return now + policy_.poll * 10;
    }
    stage_ = Stage::kUp;
    deadline_ = now + policy_.batch_timeout;
    return now + policy_.poll;
  }

  // kUp: the batch's new instances must become Ready within the deadline.
  if (dest.ready >= goal_ && dest.replicas >= goal_) {
    batch_.ready_ms = clock_.UnixMillis();
    batch_.end_ms = batch_.ready_ms;
    batch_.pods = dest.ready_pods;
    new_batches_.push_back(batch_);
    all_batches_.push_back(batch_);
    stage_ = Stage::kIdle;
    if (goal_ >= R) return now;  // the next step sees it finished
    if (back) return now;
    if (policy_.gated) {
      stage_ = Stage::kGated;  // until PassGate() or FailGate()
      return now + kFar;
    }
    return AfterBatch(now);
  }
  if (now > deadline_) {
    std::string reason = "batch " + std::to_string(batch_.index) + ": " +
                         std::to_string(dest.ready) + " of " + std::to_string(goal_) +
                         " instances of revision " + to + " Ready after " +
                         std::to_string(policy_.batch_timeout.count() / 1000) + "s";
    if (!dest.unready.empty()) {
      reason += "; not Ready:";
      for (size_t i = 0; i < dest.unready.size() && i < 5; ++i)
        reason += " " + dest.unready[i] + ";";
      std::vector<std::string> names;
      for (const auto& u : dest.unready) names.push_back(u.substr(0, u.find(':')));
      std::string event = workloads_.LastEvent(ns_, names);
      if (!event.empty()) reason += " last event: " + event;
    }
    Fail(reason);
    return now;
  }
  return now + policy_.poll;
}

void ReleaseOrder::SetRecordedBatches(int batches) { forward_batches_ = batches; }

}  // namespace pagoda::rollout
