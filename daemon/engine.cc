#include "daemon/engine.h"

#include <rapidjson/document.h>

#include <algorithm>
#include <unordered_set>

namespace pagoda::daemon {

bool Selection::HasApp(const std::string& app) const { return everything || apps.contains(app); }

bool Selection::HasEnv(const std::string& app, const std::string& env) const {
  if (everything) return true;
  auto it = apps.find(app);
  return it != apps.end() && (it->second.empty() || it->second.contains(env));
}

bool Selection::AllEnvironments(const std::string& app) const {
  if (everything) return true;
  auto it = apps.find(app);
  return it != apps.end() && it->second.empty();
}

Result<Selection> SelectTargets(const manifest::Repository& repo,
                                const std::vector<std::string>& targets) {
  Selection selection;
  selection.everything = targets.empty();
  std::set<std::string> whole_apps;
  for (const std::string& target : targets) {
    size_t slash = target.find('/');
    std::string app_name = target.substr(0, slash);
    std::string env = slash == std::string::npos ? "" : target.substr(slash + 1);
    const manifest::AppResult* app = repo.FindApp(app_name);
    if (app_name.empty() || app == nullptr) {
      return Status::InvalidArgument("no app named \"" + app_name + "\" in the repository");
    }
    std::set<std::string>& envs = selection.apps[app_name];
    if (env.empty()) {
      whole_apps.insert(app_name);
      continue;
    }
    bool found = std::any_of(app->model.environments.begin(), app->model.environments.end(),
                             [&](const auto& e) { return e.name.value == env; });
    if (!found && app->valid) {
      return Status::InvalidArgument("app " + app_name + " has no environment \"" + env + "\"");
    }
    envs.insert(env);
  }
  for (const std::string& app : whole_apps) selection.apps[app].clear();
  return selection;
}

namespace {

// The keys of each server's objects so far.
using SeenKeys = std::unordered_set<diff::ObjectKey, diff::ObjectKeyHash>;

void AddObject(ServerDesired& server, SeenKeys& seen, const manifest::Object& object, bool prune,
               std::vector<RenderProblem>* problems, const std::string& app) {
  auto prepared = diff::PrepareForApply(object.json, prune);
  if (!prepared.ok()) {
    problems->push_back({app, object.Key() + ": " + prepared.status().message()});
    return;
  }
  diff::Desired d;
  d.key = {std::string(diff::GroupOf(object.api_version)), object.kind, object.namespace_name,
           object.name};
  d.api_version = object.api_version;
  d.json = std::move(*prepared);
  d.hash = diff::HashJson(d.json);
  server.kinds.insert({d.key.group, d.key.kind});
  // One object may come from two clusters that lead to one server (the
  // app's Namespace): the first one stands.
  if (!seen.insert(d.key).second) return;
  server.objects.push_back(std::move(d));
}

}  // namespace

std::map<std::string, ServerDesired> DesiredState(
    const manifest::Repository& repo, const Selection& selection,
    const manifest::RenderOptions& options, const std::map<std::string, std::string>& server_of,
    std::vector<RenderProblem>* problems) {
  std::map<std::string, ServerDesired> servers;
  std::map<std::string, SeenKeys> seen;
  for (const manifest::AppResult& app : repo.apps) {
    if (!selection.HasApp(app.name) || !app.valid) continue;
    auto rendered = manifest::RenderApp(app.model, options);
    if (!rendered.ok()) {
      problems->push_back({app.name, rendered.status().message()});
      continue;
    }
    // Policies of every environment the repository has, selected or not: an
    // object of an environment still in the repository is judged by its policy.
    std::map<std::string, bool> prune;
    std::map<std::string, int> keep;
    std::vector<std::string> all_envs;
    for (const auto& env : app.model.environments) {
      prune[env.name.value] = env.sync.prune;
      keep[env.name.value] = env.release.keep_revisions;
      all_envs.push_back(env.name.value);
    }
    for (const manifest::RenderedCluster& cluster : rendered->clusters) {
      std::vector<const manifest::RenderedEnvironment*> envs;
      bool app_prune = true;
      for (const auto& env : rendered->environments) {
        if (env.cluster != cluster.cluster) continue;
        app_prune = app_prune && env.sync.prune;
        if (selection.HasEnv(app.name, env.env)) envs.push_back(&env);
      }
      if (envs.empty()) continue;
      // A cluster that did not resolve was reported by whoever resolved it.
      auto server_it = server_of.find(cluster.cluster);
      if (server_it == server_of.end()) continue;
      ServerDesired& server = servers[server_it->second];
      server.server = server_it->second;
      if (std::find(server.clusters.begin(), server.clusters.end(), cluster.cluster) ==
          server.clusters.end()) {
        server.clusters.push_back(cluster.cluster);
      }
      auto [scope_it, fresh] = server.scope.apps.try_emplace(app.name);
      diff::Scope::AppScope& scope = scope_it->second;
      if (fresh) {
        server.apps.push_back(app.name);
        scope.all_environments = selection.AllEnvironments(app.name);
        scope.prune_app_objects = app_prune;
        scope.prune = prune;
        scope.keep_revisions = keep;
        if (scope.all_environments) {
          scope.environments = all_envs;
        } else {
          for (const auto& e : all_envs) {
            if (selection.HasEnv(app.name, e)) scope.environments.push_back(e);
          }
        }
      } else {
        // Plain manifests are pruned only when every environment that
        // shares them agrees.
        scope.prune_app_objects = scope.prune_app_objects && app_prune;
      }
      for (const auto& object : cluster.objects) {
        AddObject(server, seen[server.server], object, scope.prune_app_objects, problems, app.name);
      }
      for (const auto* env : envs) {
        for (const auto& object : env->objects) {
          AddObject(server, seen[server.server], object, env->sync.prune, problems, app.name);
        }
      }
    }
  }
  for (auto& [name, server] : servers) {
    std::sort(server.apps.begin(), server.apps.end());
  }
  return servers;
}

Result<std::unique_ptr<ServerPlan>> PlanServer(apply::KubeClient& client,
                                               const ServerDesired& desired) {
  auto plan = std::make_unique<ServerPlan>();
  auto live = apply::ReadLive(client, desired.apps, desired.kinds);
  if (!live.ok()) return live.status();
  plan->live = std::move(*live);
  plan->plan = diff::MakePlan(desired.objects, plan->live, desired.scope);
  return plan;
}

Result<std::unique_ptr<ServerPlan>> PlanServer(apply::LiveCache& cache,
                                               const ServerDesired& desired, diff::PlanMemo* memo) {
  auto plan = std::make_unique<ServerPlan>();
  auto live = cache.Read(desired.apps, desired.kinds);
  if (!live.ok()) return live.status();
  plan->live = std::move(*live);
  plan->plan = diff::MakePlan(desired.objects, plan->live, desired.scope, memo);
  return plan;
}

}  // namespace pagoda::daemon
