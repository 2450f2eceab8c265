// Apps a pass leaves out of planning: in sync at the last pass, and with
// nothing since that could change what a plan of them finds.
#include "daemon/loop_internal.h"

namespace pagoda::daemon {
namespace {

// The servers the app's selected environments are on; false when one of
// them is on none (its cluster did not resolve).
bool ServersOfApp(const manifest::AppResult& app, const Selection& selection,
                  const std::map<std::string, std::string>& server_of,
                  std::set<std::string>* servers) {
  for (const auto& env : app.model().environments) {
    if (!selection.HasEnv(app.name, env.name.value)) continue;
    auto it = server_of.find(env.cluster.value);
    if (it == server_of.end()) return false;
    servers->insert(it->second);
  }
  return true;
}

}  // namespace

std::map<std::string, uint64_t> ClaimDigests(const manifest::Repository& repo,
                                             const std::map<std::string, std::string>& server_of) {
  std::map<std::string, std::string> text;
  for (const manifest::ListenerClaim& claim : repo.ListenerClaims()) {
    auto to = server_of.find(claim.cluster);
    if (to == server_of.end()) continue;
    text[to->second] += claim.app + "\n" + claim.env + "\n" + claim.kind + "\n" + claim.name +
                        "\n" + claim.listener.Identity() + "\n";
  }
  std::map<std::string, uint64_t> out;
  for (const auto& [server, t] : text) out[server] = diff::HashJson(t);
  return out;
}

const std::map<std::string, uint64_t>& Reconciler::ClaimDigestsOf(
    const manifest::Repository& repo, const std::map<std::string, std::string>& server_of) {
  ClaimDigestMemo& memo = claim_digests_;
  if (!memo.valid || memo.claims != repo.listener_claims || memo.server_of != server_of) {
    memo = {repo.listener_claims, server_of, ClaimDigests(repo, server_of), true};
  }
  return memo.digests;
}

bool Reconciler::Quiet(const Env& e) const {
  return (orders_.empty() || !orders_.count({e.app, e.env})) && e.in_progress.empty() &&
         e.keys_known && e.settled && !e.status.drift && e.status.error.empty() &&
         e.failures == 0 && e.blocked_commit.empty() && e.refused.empty() &&
         e.status.frozen_by.empty() && e.status.waiting_for.empty();
}

bool Reconciler::StillQuiet(const manifest::AppResult& app, const Selection& selection,
                            const std::map<std::string, std::string>& server_of,
                            const std::map<std::string, uint64_t>& claims, const QuietMark& mark,
                            bool unmoved) {
  if (mark.model != app.shared_model || mark.all_envs != selection.AllEnvironments(app.name) ||
      (!mark.all_envs && mark.envs != selection.apps.at(app.name))) {
    return false;
  }
  // The same model and selection select the same environments, in the
  // same order, as when the mark was kept.
  for (const Env* e : mark.selected) {
    if (!Quiet(*e)) return false;
  }
  if (unmoved) return true;
  for (const auto& env : app.model().environments) {
    if (!selection.HasEnv(app.name, env.name.value)) continue;
    auto server = server_of.find(env.cluster.value);
    if (server == server_of.end() || !mark.live.count(server->second)) return false;
  }
  for (const auto& [server, version] : mark.live) {
    auto digest = claims.find(server);
    if (clusters_.LiveVersion(server, app.name) != version ||
        (digest != claims.end() ? digest->second : 0) != mark.claims.at(server)) {
      return false;
    }
  }
  return true;
}

std::unordered_set<std::string> Reconciler::MovedSinceLastPass(
    const std::map<std::string, std::string>& server_of,
    const std::map<std::string, uint64_t>& claims, bool* steady) {
  QuietBasis& basis = quiet_basis_;
  *steady = basis.server_of == server_of && basis.claims == claims;
  std::set<std::string> servers;
  for (const auto& [cluster, server] : server_of) servers.insert(server);
  std::unordered_set<std::string> moved;
  for (const auto& server : servers) {
    auto seen = basis.seen.find(server);
    kube::LiveChanges changes =
        clusters_.LiveChangedSince(server, seen != basis.seen.end() ? seen->second : 0);
    *steady = *steady && seen != basis.seen.end() && !changes.all;
    moved.insert(changes.apps.begin(), changes.apps.end());
    basis.seen[server] = changes.now;
  }
  basis.server_of = server_of;
  basis.claims = claims;
  return moved;
}

Selection Reconciler::LeaveOutQuiet(const manifest::Repository& repo, const Selection& selection,
                                    const std::map<std::string, std::string>& server_of,
                                    const std::map<std::string, uint64_t>& claims,
                                    std::map<std::string, QuietMark>* planned, SyncEntry* entry) {
  bool steady = false;
  const std::unordered_set<std::string> moved = MovedSinceLastPass(server_of, claims, &steady);
  Selection out;
  out.everything = false;
  quiet_apps_ = 0;
  // Both are in name order: one walk finds each app's mark, and drops the
  // marks of apps the repository no longer has.
  auto was = quiet_.begin();
  for (const manifest::AppResult& app : repo.apps) {
    while (was != quiet_.end() && was->first < app.name) was = quiet_.erase(was);
    const bool marked = was != quiet_.end() && was->first == app.name;
    if (!selection.HasApp(app.name) || !app.valid) {  // an invalid app is reported, not planned
      if (marked) was = quiet_.erase(was);
      continue;
    }
    const bool unmoved = steady && (moved.empty() || !moved.count(app.name));
    if (marked && StillQuiet(app, selection, server_of, claims, was->second, unmoved)) {
      ++quiet_apps_;
      entry->environments_checked += was->second.selected.size();
      ++was;
      continue;
    }
    if (marked) was = quiet_.erase(was);
    QuietMark mark;
    mark.model = app.shared_model;
    mark.all_envs = selection.AllEnvironments(app.name);
    if (!mark.all_envs) mark.envs = selection.apps.at(app.name);
    out.apps[app.name] = mark.envs;
    std::set<std::string> servers;
    bool known = ServersOfApp(app, selection, server_of, &servers);
    for (const auto& server : servers) {
      auto version = clusters_.LiveVersion(server, app.name);
      known = known && version.has_value();
      mark.live[server] = version.value_or(0);
      auto digest = claims.find(server);
      mark.claims[server] = digest != claims.end() ? digest->second : 0;
    }
    if (known) planned->emplace(app.name, std::move(mark));
  }
  quiet_.erase(was, quiet_.end());
  return out;
}

void Reconciler::MarkQuiet(const manifest::Repository& repo,
                           std::map<std::string, QuietMark> planned) {
  std::set<std::string> problems;
  for (const auto& p : desired_problems_) problems.insert(p.app);
  for (auto& [name, mark] : planned) {
    const manifest::AppResult* app = repo.FindApp(name);
    if (app == nullptr || problems.count(name)) continue;
    bool quiet = true;
    for (const auto& env : app->model().environments) {
      if (!mark.all_envs && !mark.envs.count(env.name.value)) continue;
      auto e = envs_.find({name, env.name.value});
      quiet = quiet && e != envs_.end() && Quiet(*e->second);
      if (!quiet) break;
      mark.selected.push_back(e->second.get());
    }
    if (quiet) quiet_[name] = std::move(mark);
  }
}

}  // namespace pagoda::daemon
