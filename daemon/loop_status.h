// What the loop shows of itself and of each environment
// (Reconciler::Snapshot): plain data, copied out of the loop, that never
// refers back into it.
#pragma once

#include <cstddef>
#include <cstdint>
#include <string>
#include <vector>

namespace pagoda::daemon {

// What `pagoda status` shows of one environment.
struct EnvironmentStatus {
  std::string app, env, cluster;
  std::string revision;  // the desired revision; "" when the app does not load
  std::string commit;    // the commit pagoda last released to it
  int64_t replicas = 0;  // desired
  int64_t ready = 0;     // Ready instances of the desired revision, as last read
  bool drift = false;    // the cluster differed at the last check
  bool automatic = true;
  std::string release;        // a release in flight; "" when none
  std::string release_phase;  // "running", "at gate", "held", "rolling back", "failed"
  int batches_done = 0;       // of the release in flight
  int batches_total = 0;
  int64_t held_ms = 0;        // how long it has been held
  std::string pinned_commit;  // set while a rollback pins it
  int64_t pinned_since_ms = 0;
  // A freeze window its automatic releases wait for ("" = none), and when it
  // closes (0: when the freeze file loads again).
  std::string frozen_by;
  int64_t frozen_until_ms = 0;
  // The environment a new revision waits for (spec.promotion), and why:
  // "test runs another revision", "test is not settled", or soaking, with
  // how long it has soaked of how long it must ("" = it waits for nothing).
  std::string waiting_for;
  std::string waiting_reason;
  int64_t soaked_ms = 0;
  int64_t soak_ms = 0;
  // Another replica leads its app (daemon/leadership.h): it is read,
  // rendered and compared here, and written there.
  bool standby = false;
  std::string error;  // why it is not in sync, if it is not
};

struct LoopStatus {
  int64_t time_ms = 0;
  std::string commit;
  std::string commit_summary;
  std::string repo_url;
  int64_t last_fetch_ms = 0;
  std::string repo_error;
  int64_t last_reconcile_ms = 0;                  // 0: none yet in this process
  std::vector<std::string> unreachable_clusters;  // at the last reconcile
  // Why the journal, or the pins beside it, cannot be written now; releases
  // that need them wait. "" when they can.
  std::string journal_error;
  bool fetching = false;  // a fetch is in hand
  // Of the last commit loaded and the last desired state rendered: apps read
  // (or rendered) anew, and apps whose folder did not change, taken as they were.
  size_t apps_read = 0, apps_unchanged = 0;
  size_t apps_rendered = 0, apps_render_reused = 0;
  // Apps the last pass did not plan: in sync at the pass before, and
  // neither their files nor what pagoda owns of them changed since.
  size_t apps_quiet = 0;
  std::vector<EnvironmentStatus> environments;
};

}  // namespace pagoda::daemon
