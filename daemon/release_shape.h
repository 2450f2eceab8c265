// What a release is, decided from an environment's planned changes and its
// release history alone: which changes it carries out, which revision it
// puts out and which it replaces, its kind, whether it goes back to an
// earlier release, what it takes over from a release a stopped process
// left, and how a batched one splits its plan. Pure: no journal, no
// cluster, no clock, no logging. Internal to daemon/.
#pragma once

#include <rapidjson/document.h>

#include <cstdint>
#include <map>
#include <set>
#include <string>
#include <utility>
#include <vector>

#include "diff/diff.h"
#include "engine/engine.h"
#include "journal/record.h"
#include "manifest/manifest.h"

namespace pagoda::daemon {

// `obj`.a.b as an integer; 0 when absent or not one.
int64_t IntField(const rapidjson::Value& obj, const char* a, const char* b);

// `json` parsed; an empty object when it does not parse.
rapidjson::Document ParseOrEmpty(const std::string& json);

// The revision a wanted Deployment carries: the live one's when they are
// equal, else the one to apply.
std::string DesiredRevision(const diff::PlannedChange& c);

// Whether a planned change writes anything.
bool ToDo(const diff::PlannedChange& c);

// The apps and environments a reconcile covers: all of them but the pinned
// (an app with a pinned environment, its other environments).
engine::Selection SelectUnpinned(const manifest::Repository& repo,
                                 const std::set<std::pair<std::string, std::string>>& pinned);

// A cluster's planned changes by environment. Each change goes to its
// environment; app-level objects (the Namespace, plain manifests) go with
// the app's first environment here that follows no other one here. Conflicts of an app's own
// objects hold every one of its environments and are kept apart. Changes of apps that have no
// environment here are left out.
using EnvKey = std::pair<std::string, std::string>;  // app, env
struct EnvironmentGroups {
  std::map<EnvKey, std::vector<const diff::PlannedChange*>> groups;
  std::map<std::string, std::vector<const diff::PlannedChange*>> app_conflicts;
};
EnvironmentGroups GroupByEnvironment(
    const diff::Plan& plan,
    const std::map<std::string, std::vector<const manifest::Environment*>>& envs);

// Where an environment stands, and whether what differs came from the
// repository or from the cluster (drift).
struct EnvironmentChanges {
  // The revision live: the one running the most instances; else the desired
  // one; else the one it had.
  std::string revision;
  int64_t ready = 0;
  bool todo = false;  // something to write
  // A new revision, an object the environment did not have, a changed
  // applied hash, a retirement or a deletion come from the repository.
  bool repo_changed = false;
  std::set<std::string> desired_keys;  // what the repository renders for it
};
EnvironmentChanges ChangesOf(const std::vector<const diff::PlannedChange*>& group,
                             const std::set<std::string>& applied_keys, bool keys_known,
                             const std::string& revision);

// An environment's planned changes, as a release sees them.
struct ReleaseShape {
  diff::Plan todo;            // the changes that write something, in plan order
  std::string to_revision;    // what it puts out ("running" when no Deployment is wanted)
  std::string from_revision;  // what ran before: retired, or updated in place
  bool deployment_created = false;
  bool retired = false;       // an earlier revision is scaled down
  bool only_deletes = true;   // every change is a prune
  bool only_replicas = true;  // every change is a Deployment's replica count
  int target = -1;            // index in todo of the Deployment to scale up, or -1
};
ReleaseShape ShapeOf(const std::vector<const diff::PlannedChange*>& group,
                     const std::string& running_revision);

// The kind of release a shape is: a rollback when asked for; a rollout when
// it brings a new revision; else a prune, a self-heal (the repository did
// not change), a scale or a config change.
journal::ReleaseKind KindOf(const ReleaseShape& shape, bool rollback, bool repo_changed);

// The release a rollout goes back to: among `history` (newest first), the
// latest that succeeded in putting out `to_revision`, when the newest one
// put out something else. "" when it is a new revision.
std::string RestoredRelease(const std::vector<journal::ReleaseRecord>& history,
                            const std::string& to_revision);

// A release taken up from `open`, the record a stopped process left in
// progress: its id, start, batches and decisions (a hold, a pause or an
// abort asked for) carry over into `record`; when it was putting out
// `to_revision` too, so do its kind, trigger, restores and from-revision.
// Returns true when it goes on as a batched release.
bool TakeUp(const journal::ReleaseRecord& open, const std::string& to_revision,
            journal::ReleaseRecord* record);

// Whether a release goes out as a batched order: a rollout or rollback that
// brings a new revision (or goes on with one), with a Deployment to scale.
bool GoesOutInBatches(const ReleaseShape& shape, journal::ReleaseKind kind, bool resumed_batched);

// A batched release's plan: `now` before the first batch (the target at the
// replicas it has now: the order scales it), `finish` once it succeeded
// (prunes). Retirements are left out: the order scales them down.
struct BatchedPlan {
  diff::Plan now, finish;
};
BatchedPlan SplitForBatches(const ReleaseShape& shape);

}  // namespace pagoda::daemon
