// What loop.cc and release.cc share inside the Reconciler.
#pragma once

#include <rapidjson/document.h>

#include <functional>
#include <optional>
#include <set>
#include <string>

#include "daemon/loop.h"

namespace pagoda::daemon {

// An apply's change set into a release record: each entry with its detail,
// and what the API server warned of.
ChangeAction RecordAction(apply::ChangeAction a);
void RecordChanges(const apply::ChangeSet& changes, ReleaseRecord* record);

// A digest of the listener claims the repository makes on each server:
// when it changes, who keeps a listener may too.
std::map<std::string, uint64_t> ClaimDigests(const manifest::Repository& repo,
                                             const std::map<std::string, std::string>& server_of);

// Calls fn(0) ... fn(n - 1), on up to `concurrency` threads (the calling
// one among them); returns when all have returned.
void ForEachAtOnce(size_t n, int concurrency, const std::function<void(size_t)>& fn);

// What an order's release reads and scales: its workloads on its server,
// with a read made for it just before it steps (Reconciler::AdvanceOrders
// reads for every order due at once) answered once in place of its next Read.
class PrefetchedWorkloads final : public rollout::Workloads {
 public:
  explicit PrefetchedWorkloads(rollout::Workloads& inner) : inner_(inner) {}
  // Reads now what the next Read of `ns`/`env` would; safe to call from any
  // thread when the inner workloads are.
  void Prefetch(const std::string& ns, const std::string& env) {
    prefetched_.emplace(inner_.Read(ns, env));
  }
  void Forget() { prefetched_.reset(); }
  Result<std::map<std::string, rollout::RevisionState>> Read(const std::string& ns,
                                                             const std::string& env) override {
    if (prefetched_) {
      auto out = std::move(*prefetched_);
      prefetched_.reset();
      return out;
    }
    return inner_.Read(ns, env);
  }
  Status Scale(const std::string& ns, const std::string& deployment, int64_t replicas) override {
    return inner_.Scale(ns, deployment, replicas);
  }
  std::string LastEvent(const std::string& ns, const std::vector<std::string>& pods) override {
    return inner_.LastEvent(ns, pods);
  }

 private:
  rollout::Workloads& inner_;
  std::optional<Result<std::map<std::string, rollout::RevisionState>>> prefetched_;
};

struct Reconciler::Loaded {
  std::string commit;
  manifest::Repository repo;
};

struct Reconciler::Env {
  std::string app, env;
  EnvironmentStatus status;
  int failures = 0;
  Clock::TimePoint retry_at{};
  std::string in_progress;             // a release started and not finished
  std::set<std::string> applied_keys;  // the keys the environment last had in sync
  bool keys_known = false;
  std::string blocked_commit;  // a release of this commit failed or was aborted: not again
  std::string blocked_reason;
  std::string refused;  // the commit and reasons last recorded as refused, hashed
  // An operator's pass through the freeze window (override) or past the
  // promotion wait (promote): by whom and why; the next release takes it.
  Pass freeze_pass, promotion_pass;
  std::string frozen_logged;   // the window and commit last logged as frozen
  std::string waiting_logged;  // the promotion wait and commit last logged
  // What the repository renders for it at the last reconcile (the artifact
  // its pods would run), and whether it then ran that revision on all its
  // instances, Ready, with nothing to write and no release in flight. In
  // this process: when it was last seen otherwise (0: never).
  std::string artifact;
  bool settled = false;
  int64_t unsettled_ms = 0;
  int64_t settled_since_ms = 0;  // when it was first seen settled, this time
};

}  // namespace pagoda::daemon
