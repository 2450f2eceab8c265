#include "engine/engine.h"

#include <algorithm>
#include <functional>
#include <initializer_list>
#include <unordered_set>

#include "base/json.h"

namespace pagoda::engine {

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
    bool found = std::any_of(app->model().environments.begin(), app->model().environments.end(),
                             [&](const auto& e) { return e.name.value == env; });
    if (!found && app->valid) {
      return Status::InvalidArgument("app " + app_name + " has no environment \"" + env + "\"");
    }
    envs.insert(env);
  }
  for (const std::string& app : whole_apps) selection.apps[app].clear();
  return selection;
}

// What a RenderCache keeps of one app: its rendering and each object as
// prepared for either prune policy, for as long as its model is the same.
struct RenderCache::App {
  std::shared_ptr<const manifest::AppModel> model;
  std::string commit;  // RenderOptions::commit
  Result<manifest::RenderedApp> rendered = Status::Internal("not rendered");
  std::map<std::pair<const manifest::Object*, bool>, diff::Desired> prepared;
};

namespace {

// The keys of each server's objects so far.
using SeenKeys = std::unordered_set<diff::ObjectKey, diff::ObjectKeyHash>;

Result<diff::Desired> Prepare(const manifest::Object& object, bool prune) {
  auto prepared = diff::PrepareForApply(object.json, prune);
  if (!prepared.ok()) return prepared.status();
  diff::Desired d;
  d.key = {std::string(diff::GroupOf(object.api_version)), object.kind, object.namespace_name,
           object.name};
  d.api_version = object.api_version;
  d.hash = diff::HashJson(*prepared);
  d.json = std::make_shared<const std::string>(std::move(*prepared));
  return d;
}

void AddObject(ServerDesired& server, SeenKeys& seen, const manifest::Object& object, bool prune,
               std::vector<RenderProblem>* problems, const std::string& app, const std::string& env,
               RenderCache::App& kept) {
  auto it = kept.prepared.find({&object, prune});
  if (it == kept.prepared.end()) {
    auto prepared = Prepare(object, prune);
    if (!prepared.ok()) {
      problems->push_back({app, object.Key() + ": " + prepared.status().message()});
      return;
    }
    it = kept.prepared.emplace(std::make_pair(&object, prune), std::move(*prepared)).first;
  }
  const diff::Desired& d = it->second;
  server.kinds.insert({d.key.group, d.key.kind});
  // One object may come from two clusters that lead to one server (the
  // app's Namespace): the first one stands.
  if (!seen.insert(d.key).second) return;
  server.objects.push_back(d);
  server.origins.push_back({app, env, object.source});
}

// Prepares every object of a rendering to be kept, each way a later call
// may ask for it: an environment's objects by its prune policy; the objects
// a cluster gets once both ways, since whether they are pruned depends on
// the environments a call selects. Then the rendered text of each object
// prepared is dropped: the prepared copy is what planning reads, and one
// copy of every object is what the cache should cost. An object that does
// not prepare keeps its text, and AddObject reports it on every call.
void PrepareAll(RenderCache::App& kept) {
  if (!kept.rendered.ok()) return;
  auto prepare = [&](manifest::Object& object, std::initializer_list<bool> prunes) {
    bool all = true;
    for (bool prune : prunes) {
      auto prepared = Prepare(object, prune);
      if (!prepared.ok()) {
        all = false;
        continue;
      }
      kept.prepared.emplace(std::make_pair(&object, prune), std::move(*prepared));
    }
    if (all) std::string().swap(object.json);
  };
  for (manifest::RenderedCluster& cluster : kept.rendered->clusters) {
    for (manifest::Object& object : cluster.objects) prepare(object, {false, true});
  }
  for (manifest::RenderedEnvironment& env : kept.rendered->environments) {
    for (manifest::Object& object : env.objects) prepare(object, {env.sync.prune});
  }
}

// The app's rendering: the cache's while its model is the same, else new.
std::shared_ptr<RenderCache::App> Rendered(const manifest::AppResult& app,
                                           const manifest::RenderOptions& options,
                                           RenderCache* cache, RenderCache* next) {
  if (cache != nullptr) {
    auto it = cache->apps.find(app.name);
    if (it != cache->apps.end() && it->second->model == app.shared_model &&
        it->second->commit == options.commit) {
      ++next->reused;
      return next->apps[app.name] = it->second;
    }
  }
  ++next->rendered;
  auto kept = std::make_shared<RenderCache::App>();
  kept->model = app.shared_model;
  kept->commit = options.commit;
  kept->rendered = manifest::RenderApp(app.model(), options);
  if (cache != nullptr) PrepareAll(*kept);
  return next->apps[app.name] = kept;
}

// `cache` after a call that rendered or reused `next`'s apps: those, and of
// the others the ones whose models stand (apps and the cache are both by name).
void Keep(const manifest::Repository& repo, RenderCache next, RenderCache* cache) {
  for (auto& [name, kept] : next.apps) cache->apps.insert_or_assign(name, std::move(kept));
  auto it = cache->apps.begin();
  for (const manifest::AppResult& app : repo.apps) {
    while (it != cache->apps.end() && it->first < app.name) it = cache->apps.erase(it);
    if (it == cache->apps.end()) break;
    if (it->first == app.name) {
      it = it->second->model == app.shared_model ? std::next(it) : cache->apps.erase(it);
    }
  }
  cache->apps.erase(it, cache->apps.end());
  cache->reused = next.reused;
  cache->rendered = next.rendered;
}

// The repository's claims on public listeners of clusters that lead to `server`.
std::vector<manifest::ListenerClaim> ClaimsOn(const manifest::Repository& repo,
                                              const std::map<std::string, std::string>& server_of,
                                              const std::string& server) {
  std::vector<manifest::ListenerClaim> out;
  for (const manifest::ListenerClaim& claim : repo.ListenerClaims()) {
    auto to = server_of.find(claim.cluster);
    if (to != server_of.end() && to->second == server) out.push_back(claim);
  }
  return out;
}

// Each server's claims: the cache's while the repository's claims and the
// clusters are as they were.
void AddClaims(const manifest::Repository& repo,
               const std::map<std::string, std::string>& server_of,
               std::map<std::string, ServerDesired>* servers, RenderCache* cache) {
  RenderCache::Claims fresh{repo.listener_claims, server_of, {}};
  RenderCache::Claims& kept = cache != nullptr ? cache->claims : fresh;
  if (kept.from != repo.listener_claims || kept.server_of != server_of) kept = std::move(fresh);
  for (auto& [name, server] : *servers) {
    auto& claims = kept.by_server[name];
    if (claims == nullptr) {
      claims =
          std::make_shared<const ServerClaims>(ClaimsOnServer(ClaimsOn(repo, server_of, name)));
    }
    server.claims = claims;
  }
}

}  // namespace

ServerClaims ClaimsOnServer(std::vector<manifest::ListenerClaim> claims) {
  ServerClaims out;
  out.all = std::move(claims);
  std::map<std::string, const manifest::ListenerClaim*> first;
  for (const auto& claim : out.all) {
    auto [it, fresh] = first.try_emplace(claim.listener.Identity(), &claim);
    if (!fresh && !it->second->SameClaimant(claim)) out.contested = true;
    out.objects.insert(claim.kind + "/" + claim.app + "/" + claim.name);
  }
  return out;
}

std::map<std::string, ServerDesired> DesiredState(
    const manifest::Repository& repo, const Selection& selection,
    const manifest::RenderOptions& options, const std::map<std::string, std::string>& server_of,
    std::vector<RenderProblem>* problems, RenderCache* cache) {
  std::map<std::string, ServerDesired> servers;
  std::map<std::string, SeenKeys> seen;
  RenderCache next;
  for (const manifest::AppResult& app : repo.apps) {
    if (!selection.HasApp(app.name) || !app.valid) continue;
    std::shared_ptr<RenderCache::App> kept = Rendered(app, options, cache, &next);
    const Result<manifest::RenderedApp>& rendered = kept->rendered;
    if (!rendered.ok()) {
      problems->push_back({app.name, rendered.status().message()});
      continue;
    }
    // Policies of every environment the repository has, selected or not: an
    // object of an environment still in the repository is judged by its policy.
    std::map<std::string, bool> prune;
    std::map<std::string, int> keep;
    std::vector<std::string> all_envs;
    for (const auto& env : app.model().environments) {
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
      for (const auto* env : envs) {
        scope.adopt[env->env] = env->adopt;
        scope.adopt_app_objects = scope.adopt_app_objects || env->adopt;
        server.artifacts[{app.name, env->env}] = env->artifact;
      }
      for (const auto& object : cluster.objects) {
        AddObject(server, seen[server.server], object, scope.prune_app_objects, problems, app.name,
                  "", *kept);
      }
      for (const auto* env : envs) {
        for (const auto& object : env->objects) {
          AddObject(server, seen[server.server], object, env->sync.prune, problems, app.name,
                    env->env, *kept);
        }
      }
    }
  }
  for (auto& [name, server] : servers) {
    std::sort(server.apps.begin(), server.apps.end());
  }
  AddClaims(repo, server_of, &servers, cache);
  if (cache != nullptr) Keep(repo, std::move(next), cache);
  return servers;
}

namespace {

using ReadLive = std::function<Result<std::vector<diff::Live>>()>;

// Plain manifests of a kind the server serves cluster-scoped, or not at
// all, are held back: discovery decides, not a list of names.
void HoldKindsOutOfPlace(kube::KubeClient& client, const ServerDesired& desired,
                         std::vector<manifest::HeldBack>* held) {
  for (size_t i = 0; i < desired.objects.size(); ++i) {
    const ServerDesired::Origin& origin = desired.origins[i];
    const diff::Desired& d = desired.objects[i];
    if (origin.source.empty()) continue;  // pagoda's own rendering: namespaced kinds
    auto resource = client.Resource(d.api_version, d.key.kind);
    std::string why;
    if (!resource.ok()) {
      why = "the server does not serve " + d.key.kind + " in " + d.api_version;
    } else if (!resource->namespaced) {
      why = d.key.kind + " (" + d.api_version +
            ") is cluster-scoped on this server; an app's manifests must be namespaced objects in "
            "its own namespace";
    } else {
      continue;
    }
    held->push_back({origin.app, "", d.key.kind, d.key.name, origin.source + ": " + why});
  }
}

// Whether who keeps a public listener needs asking the cluster: two
// claimants of one, or a claim whose object is about to be written.
bool ListenersNeedChecking(const ServerDesired& desired, const diff::Plan& plan) {
  if (desired.claims->contested) return true;
  for (const auto& c : plan.changes) {
    if ((c.action == diff::Action::kCreate || c.action == diff::Action::kUpdate ||
         c.action == diff::Action::kAdopt) &&
        desired.claims->objects.count(c.key.ToString())) {
      return true;
    }
  }
  return false;
}

// What takes public listeners on the server now: every Ingress, and every
// Service of type LoadBalancer, whoever made it.
Result<std::vector<manifest::ListenerHolder>> ListenerHolders(kube::KubeClient& client) {
  std::vector<manifest::ListenerHolder> holders;
  for (const char* path : {"/apis/networking.k8s.io/v1/ingresses", "/api/v1/services"}) {
    auto items = client.List(path);
    if (!items.ok()) return items.status().WithContext("listing who holds public listeners");
    for (const auto& item : *items) {
      auto key = diff::KeyOf(item);
      if (!key.ok()) continue;
      for (const auto& l : manifest::ListenersOf(json::Compact(item))) {
        holders.push_back({key->namespace_name, key->kind, key->name, l.key});
      }
    }
  }
  return holders;
}

// `desired` without what is held back: its objects out, and its live
// objects left as they are.
ServerDesired Without(const ServerDesired& desired, const std::vector<manifest::HeldBack>& held) {
  ServerDesired out = desired;
  out.objects.clear();
  out.origins.clear();
  for (const auto& h : held) {
    auto app = out.scope.apps.find(h.app);
    if (app == out.scope.apps.end()) continue;
    if (h.env.empty()) {
      app->second.held_objects.insert(h.kind + "/" + h.app + "/" + h.name);
    } else {
      app->second.held_environments.insert(h.env);
    }
  }
  for (size_t i = 0; i < desired.objects.size(); ++i) {
    const auto& origin = desired.origins[i];
    const auto& key = desired.objects[i].key;
    const bool gone = std::any_of(held.begin(), held.end(), [&](const manifest::HeldBack& h) {
      if (h.app != origin.app) return false;
      return h.env.empty() ? origin.env.empty() && h.kind == key.kind && h.name == key.name
                           : h.env == origin.env;
    });
    if (gone) continue;
    out.objects.push_back(desired.objects[i]);
    out.origins.push_back(origin);
  }
  return out;
}

Result<std::unique_ptr<ServerPlan>> Plan(kube::KubeClient& client, const ReadLive& read,
                                         const ServerDesired& desired, diff::PlanMemo* memo) {
  auto plan = std::make_unique<ServerPlan>();
  HoldKindsOutOfPlace(client, desired, &plan->held);
  auto live = read();
  if (!live.ok()) return live.status();
  plan->live = std::move(*live);
  plan->plan = diff::MakePlan(desired.objects, plan->live, desired.scope, memo);
  if (ListenersNeedChecking(desired, plan->plan)) {
    auto holders = ListenerHolders(client);
    if (!holders.ok()) return holders.status();
    for (auto& h : manifest::ResolveListenerClaims(desired.claims->all, *holders)) {
      if (std::find(desired.apps.begin(), desired.apps.end(), h.app) != desired.apps.end()) {
        plan->held.push_back(std::move(h));
      }
    }
  }
  const diff::Scope* scope = &desired.scope;
  ServerDesired reduced;
  if (!plan->held.empty()) {
    reduced = Without(desired, plan->held);
    scope = &reduced.scope;
    plan->plan = diff::MakePlan(reduced.objects, plan->live, reduced.scope, memo);
  }
  PAGODA_RETURN_IF_ERROR(apply::CheckOwnership(client, *scope, &plan->plan));
  return plan;
}

}  // namespace

Result<std::unique_ptr<ServerPlan>> PlanServer(kube::KubeClient& client,
                                               const ServerDesired& desired) {
  return Plan(
      client, [&] { return kube::ReadLive(client, desired.apps, desired.kinds); }, desired,
      nullptr);
}

Result<std::unique_ptr<ServerPlan>> PlanServer(kube::LiveCache& cache, const ServerDesired& desired,
                                               diff::PlanMemo* memo) {
  return Plan(
      cache.client(), [&] { return cache.Read(desired.apps, desired.kinds); }, desired, memo);
}

}  // namespace pagoda::engine
