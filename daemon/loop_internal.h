// What loop.cc and release.cc share inside the Reconciler.
#pragma once

#include <rapidjson/document.h>

#include <set>
#include <string>

#include "daemon/loop.h"

namespace pagoda::daemon {

// An apply's change set into a release record: each entry with its detail,
// and what the API server warned of.
ChangeAction RecordAction(apply::ChangeAction a);
void RecordChanges(const apply::ChangeSet& changes, ReleaseRecord* record);

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
  // An operator's override of the freeze window: by whom and why; the next
  // release takes it.
  std::string override_by, override_reason;
  std::string frozen_logged;  // the window and commit last logged as frozen
};

}  // namespace pagoda::daemon
