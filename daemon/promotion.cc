// Staged promotion: a new revision of an environment with spec.promotion
// goes out only once the environment it follows has run the same artifact,
// settled, for its soak, with no failed release since.
#include <spdlog/spdlog.h>

#include <algorithm>

#include "daemon/loop_internal.h"
#include "daemon/release_shape.h"

namespace pagoda::daemon {

Reconciler::Pass Reconciler::TakePass(Pass* pass) {
  Pass taken = std::move(*pass);
  *pass = {};
  if (Status st = SavePins(); !st.ok()) {
    spdlog::warn("the pass by {} is taken, but stays on disk until it can be written: {}", taken.by,
                 st.ToString());
  }
  return taken;
}

void Reconciler::WakeAt(int64_t unix_ms) {
  if (first_gate_ms_ == 0 || unix_ms < first_gate_ms_) first_gate_ms_ = unix_ms;
}

void Reconciler::NoteSettled(Env& e, const std::string& server, const EnvironmentChanges& changes,
                             int64_t replicas) {
  std::string artifact;
  if (auto d = desired_.find(server); d != desired_.end()) {
    if (auto a = d->second.artifacts.find({e.app, e.env}); a != d->second.artifacts.end()) {
      artifact = a->second;
    }
  }
  const bool settled = !changes.todo && !orders_.count({e.app, e.env}) && changes.ready >= replicas;
  const int64_t now = clock_.UnixMillis();
  if (awaited_.count({e.app, e.env}) && (settled != e.settled || artifact != e.artifact)) {
    WakeAt(now);  // a promotion that waits for it decides again at once
  }
  if (!settled) {
    e.unsettled_ms = now;
    e.settled_since_ms = 0;
  } else if (e.settled_since_ms == 0) {
    e.settled_since_ms = now;
  }
  e.settled = settled;
  e.artifact = artifact;
}

int64_t Reconciler::SettledSince(const Env& upstream, std::string* release) {
  int64_t since = 0, failed = 0;
  auto history =
      journal_.reader().Releases({.app = upstream.app, .env = upstream.env, .limit = 200});
  if (history.ok()) {
    // Newest first: the run of succeeded releases that leave its revision
    // running, back to the one that put it out; failures after it.
    bool found = false;
    for (const ReleaseRecord& r : *history) {
      if (r.outcome == Outcome::kSucceeded && r.to_revision == upstream.status.revision) {
        since = r.end;
        *release = r.id;
        found = true;
        continue;
      }
      if (found) break;
      if (r.outcome == Outcome::kFailed || r.outcome == Outcome::kRolledBack ||
          r.outcome == Outcome::kAborted) {
        failed = std::max(failed, r.end);
      }
    }
  }
  if (since == 0) {
    release->clear();
    since = upstream.settled_since_ms;  // seen settled here, with no release of it on record
  }
  if (since == 0) return 0;
  return std::max({since, failed, upstream.unsettled_ms});
}

bool Reconciler::HeldByPromotion(ReleaseRequest* req) {
  const manifest::Promotion& promotion = req->model->promotion;
  if (promotion.after.value.empty()) return false;
  Env& e = EnvFor(req->app, req->env);
  const ReleaseShape shape = ShapeOf(req->group, e.status.revision);
  if (KindOf(shape, req->rollback, req->repo_changed) != ReleaseKind::kRollout) return false;
  const std::string& after = promotion.after.value;
  if (RestoresEarlierRelease(*req)) {
    req->promotion = "a rollback: it does not wait for " + after;
    return false;
  }
  if (!e.promotion_pass.by.empty()) {
    const Pass pass = TakePass(&e.promotion_pass);
    req->promotion =
        "promoted by " + pass.by + " without waiting for " + after + ": " + pass.reason;
    return false;
  }
  awaited_.insert({req->app, after});
  const int64_t now = clock_.UnixMillis();
  auto it = envs_.find({req->app, after});
  const Env* up = it != envs_.end() ? it->second.get() : nullptr;
  std::string why, followed;
  int64_t soaked = 0;
  if (up == nullptr || up->artifact.empty()) {
    why = after + " has not been read yet";
  } else if (up->artifact != e.artifact) {
    why = after + " has not run this revision";
  } else if (auto order = orders_.find({req->app, after}); order != orders_.end()) {
    why = after + " is releasing it (" + order->second.record.id + ")";
  } else if (!up->settled) {
    why = !up->status.error.empty()
              ? after + ": " + up->status.error
              : after + " runs it on " + std::to_string(up->status.ready) + " of " +
                    std::to_string(up->status.replicas) + " instances Ready";
  } else if (const int64_t since = SettledSince(*up, &followed); since == 0) {
    why = after + " has not been seen settled";
  } else if (soaked = now - since; soaked < promotion.soak_ms) {
    why = "soaking";
    WakeAt(since + promotion.soak_ms);
  } else {
    req->follows = followed;
    req->promotion = after + " ran it for " + FormatDurationMs(soaked) +
                     (followed.empty() ? "" : " since " + followed);
    return false;
  }
  e.status.waiting_for = after;
  e.status.waiting_reason = why;
  e.status.soaked_ms = std::max<int64_t>(0, soaked);
  e.status.soak_ms = promotion.soak_ms;
  if (e.waiting_logged != why + "\n" + tip_) {
    e.waiting_logged = why + "\n" + tip_;
    spdlog::info(
        "app={} env={} commit={} waits for {}: {}", req->app, req->env, tip_.substr(0, 12), after,
        why == "soaking"
            ? "soaked " + FormatDurationMs(soaked) + " of " + FormatDurationMs(promotion.soak_ms)
            : why);
  }
  return true;
}

}  // namespace pagoda::daemon
