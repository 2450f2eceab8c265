// Carrying a diff::Plan out on a cluster, and reading what pagoda owns there.
//
// Objects are written with server-side apply (fieldManager "pagoda"); fields
// another manager took are taken back with force, and the log says whose
// they were. Objects the plan found equal are not written at all. Every run
// yields a ChangeSet naming each object as Kind/namespace/name.
#pragma once

#include <chrono>
#include <set>
#include <string>
#include <utility>
#include <vector>

#include "base/clock.h"
#include "diff/diff.h"
#include "kube/kube.h"
#include "kube/live_cache.h"

namespace pagoda::apply {

// What happened to one object.
enum class ChangeAction { kCreated, kConfigured, kUnchanged, kDeleted, kSkipped, kAdopted };
std::string_view ChangeActionName(ChangeAction action);  // "created", ...

struct ChangeSetEntry {
  ChangeAction action = ChangeAction::kUnchanged;
  std::string key;     // Kind/namespace/name
  std::string detail;  // why, for skipped and retired objects; from whom, for adopted ones
  std::vector<std::string> warnings;  // what the API server warned of when it was written
  std::vector<std::string> fields;    // configured: what changed (diff::FieldLines)
};

struct ChangeSet {
  std::vector<ChangeSetEntry> entries;
  int Count(ChangeAction action) const;
  // "2 created, 1 configured, 5 unchanged, 0 deleted, 1 skipped"
  std::string Summary() const;
  // One line per entry that is not unchanged: "Deployment/shop/prod-abc configured".
  std::string ToString() const;
};

struct ExecuteOptions {
  bool dry_run = false;  // the API server checks every write, and keeps none
  // Set as the annotation pagoda.dev/commit on every object written; "":
  // the objects are written as the plan has them.
  std::string commit;
  // Waits between the retries of a write the API server's admission refused
  // only because it has not yet seen a namespace's new labels (Execute).
  Clock* clock = nullptr;  // nullptr: RealClock()
};

struct ExecuteResult {
  ChangeSet changes;  // what was done, up to the failure if there was one
  Status status;
};

// Carries out `plan` in its order: creates and updates by server-side apply,
// earlier revisions scaled to 0, deletions (in the background, only of the
// object the plan saw: a precondition on its uid). Stops at the first failure.
// Fields another manager took from an object pagoda owns are taken back
// (the log names the manager); an object pagoda did not own is never forced,
// except a kAdopt. Conflicts and blocked changes are skipped, with their reason.
// Admission reads namespaces from a cache that can lag pagoda's own write of
// a Namespace's labels: a write in a namespace this run created, adopted or
// updated that is refused by rule pagoda-namespace (deploy/admission.yaml)
// is retried, with backoff, for up to kLabelsSettle. Any other refusal, and
// that one in a namespace this run did not write, fails at once.
inline constexpr std::chrono::seconds kLabelsSettle{10};
ExecuteResult Execute(kube::KubeClient& client, const diff::Plan& plan,
                      const ExecuteOptions& options);

// Before the first write of an object, pagoda knows whether it exists and
// whose it is. Each kCreate is looked up (none in a namespace that does not
// exist yet: nothing is in it), and so is each kConflict the plan could not
// settle from a listing. An object is pagoda's when it carries pagoda's
// labels for its app and environment, or when pagoda's field manager has
// applied it before (diff::AppliedByPagoda: its labels were edited by hand,
// which is drift to repair, a kUpdate). Any other becomes a kConflict, or a
// kAdopt where `scope` says adopt, naming its managers. Then
// diff::HoldConflicts. A lookup pagoda may not make is a conflict too (it
// cannot tell whose the object is); a server that does not answer is an error.
Status CheckOwnership(kube::KubeClient& client, const diff::Scope& scope, diff::Plan* plan);

// What the object would become if applied now: a server-side apply dry run.
Result<rapidjson::Document> PredictApply(kube::KubeClient& client, const std::string& api_version,
                                         const diff::ObjectKey& key, const std::string& json);

}  // namespace pagoda::apply
