// The sync engine: one pass from a loaded repository to a cluster that
// matches it. Render the selected apps, gather per cluster what it should
// hold, read what pagoda owns there, plan, and carry the plan out. The
// command line (`pagoda diff`, `pagoda sync`) and the reconcile loop both
// drive it; it keeps no state between passes.
#pragma once

#include <map>
#include <memory>
#include <set>
#include <string>
#include <utility>
#include <vector>

#include "apply/apply.h"
#include "diff/diff.h"
#include "kube/live_cache.h"
#include "manifest/manifest.h"

namespace pagoda::engine {

// Which apps and environments a command speaks for.
struct Selection {
  // app → environments; an empty set means all of the app's environments.
  std::map<std::string, std::set<std::string>> apps;
  bool everything = true;

  bool HasApp(const std::string& app) const;
  bool HasEnv(const std::string& app, const std::string& env) const;
  bool AllEnvironments(const std::string& app) const;
};

// Parses APP and APP/ENV arguments against the repository. An unknown app or
// environment (of a valid app) is InvalidArgument.
Result<Selection> SelectTargets(const manifest::Repository& repo,
                                const std::vector<std::string>& targets);

// The claims on public listeners that lead to one server, and what a plan
// asks of them.
struct ServerClaims {
  std::vector<manifest::ListenerClaim> all;  // in file order
  bool contested = false;         // two claimants of one listener (ListenerKey::Identity)
  std::set<std::string> objects;  // each claim's object, "Kind/app/name"
};
ServerClaims ClaimsOnServer(std::vector<manifest::ListenerClaim> claims);

// What one API server should hold for the selected apps. Several cluster
// names of the repository may lead to one server (--all-clusters-to): their
// objects are planned together, so that one's objects are never taken for
// the other's leftovers.
struct ServerDesired {
  std::string server;                 // where the objects go
  std::vector<std::string> clusters;  // the cluster names that lead there
  std::vector<diff::Desired> objects;
  // Whose each object is, in the order of `objects`.
  struct Origin {
    std::string app;
    std::string env;     // "" for the app's own objects (its Namespace, plain manifests)
    std::string source;  // a plain manifest's file:line:column
  };
  std::vector<Origin> origins;
  diff::Scope scope;
  std::vector<std::string> apps;                        // namespaces in scope
  std::set<std::pair<std::string, std::string>> kinds;  // {group, kind} of the objects
  // The public listeners the repository's valid apps claim on this server,
  // selected or not: who keeps one is decided over all of them. Shared and
  // never changed: kept in the RenderCache while the repository's claims are
  // the same. Never null.
  std::shared_ptr<const ServerClaims> claims = std::make_shared<const ServerClaims>();
  // The artifact each selected environment here renders (RenderedEnvironment::artifact).
  std::map<std::pair<std::string, std::string>, std::string> artifacts;  // by app, env
};

struct RenderProblem {
  std::string app;
  std::string message;
};

// What DesiredState may keep from one call to the next: each app's rendered
// objects as prepared for planning, by the app's model (AppResult::shared_model,
// the same object while the app's folder is unchanged: manifest::LoadCache).
// It holds the apps of the last call's repository, selected or not, as they
// were last rendered, every object prepared for any selection and kept in
// that one copy.
struct RenderCache {
  struct App;                                                     // what is kept of one app
  std::map<std::string, std::shared_ptr<App>, std::less<>> apps;  // by name
  // Each server's claims, for the repository's claims and clusters they were made of.
  struct Claims {
    std::shared_ptr<const std::vector<manifest::ListenerClaim>> from;  // held: its identity
    std::map<std::string, std::string> server_of;
    std::map<std::string, std::shared_ptr<const ServerClaims>> by_server;
  };
  Claims claims;
  size_t reused = 0, rendered = 0;  // apps the last call took from here, and apps it rendered
};

// Renders every valid selected app and groups the objects by server.
// `server_of` maps a cluster name of the repository to a server identity
// (clusters that map to the same string are one server); environments of a
// cluster it lacks are left out, the caller having reported why. Apps that fail to
// render are reported in `problems` and left out, so they keep whatever the
// cluster has.
std::map<std::string, ServerDesired> DesiredState(
    const manifest::Repository& repo, const Selection& selection,
    const manifest::RenderOptions& options, const std::map<std::string, std::string>& server_of,
    std::vector<RenderProblem>* problems, RenderCache* cache = nullptr);

// A plan and the live objects it points into; they stay together.
struct ServerPlan {
  std::vector<diff::Live> live;
  diff::Plan plan;
  // Environments and plain manifests left out of the plan, and why: a
  // public listener another claimant keeps, a kind the server serves
  // cluster-scoped or not at all. Their objects in the cluster are left as they are.
  std::vector<manifest::HeldBack> held;
};

// Reads what pagoda owns on the server for the desired apps and plans:
// holds back what may not go there (ServerPlan::held), looks up each
// object it would create or take for someone else's (apply::CheckOwnership), so that nothing that
// is not pagoda's is taken over unless its environment says adopt.
Result<std::unique_ptr<ServerPlan>> PlanServer(kube::KubeClient& client,
                                               const ServerDesired& desired);
// The same from a standing cache of the server, remembering comparisons in
// `memo` (one per server) for the next plan.
Result<std::unique_ptr<ServerPlan>> PlanServer(kube::LiveCache& cache, const ServerDesired& desired,
                                               diff::PlanMemo* memo);

}  // namespace pagoda::engine
