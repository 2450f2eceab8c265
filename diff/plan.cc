// MakePlan(): desired and live objects paired into what to do.
#include <algorithm>
#include <set>

#include "diff/diff.h"

namespace pagoda::diff {
namespace {

using rapidjson::Value;

std::string Field(const Value& obj, std::initializer_list<const char*> path) {
  const Value* v = &obj;
  for (const char* p : path) {
    if (!v->IsObject()) return {};
    auto it = v->FindMember(p);
    if (it == v->MemberEnd()) return {};
    v = &it->value;
  }
  return v->IsString() ? std::string(v->GetString(), v->GetStringLength()) : std::string();
}

std::string Label(const Value& obj, const char* name) { return LabelOf(obj, name); }

int64_t Replicas(const Value& deployment) {
  auto spec = deployment.FindMember("spec");
  if (spec == deployment.MemberEnd() || !spec->value.IsObject()) return 1;
  auto r = spec->value.FindMember("replicas");
  return r != spec->value.MemberEnd() && r->value.IsInt64() ? r->value.GetInt64() : 1;
}

// The ConfigMaps a Deployment's pods mount.
std::set<std::string> MountedConfigMaps(const Value& deployment) {
  std::set<std::string> names;
  const Value* v = &deployment;
  for (const char* p : {"spec", "template", "spec", "volumes"}) {
    if (!v->IsObject() || !v->HasMember(p)) return names;
    v = &(*v)[p];
  }
  if (!v->IsArray()) return names;
  for (const auto& vol : v->GetArray()) {
    std::string name = Field(vol, {"configMap", "name"});
    if (!name.empty()) names.insert(name);
  }
  return names;
}

bool ApplyOrder(const PlannedChange& a, const PlannedChange& b) {
  return std::tuple(KindRank(a.key.kind), a.key.kind, a.key.namespace_name, a.key.name) <
         std::tuple(KindRank(b.key.kind), b.key.kind, b.key.namespace_name, b.key.name);
}

}  // namespace

int Plan::Count(Action action) const {
  return static_cast<int>(std::count_if(
      changes.begin(), changes.end(), [&](const PlannedChange& c) { return c.action == action; }));
}

bool Plan::InSync() const {
  return Count(Action::kCreate) + Count(Action::kUpdate) + Count(Action::kRetire) +
             Count(Action::kDelete) ==
         0;
}

Plan MakePlan(const std::vector<Desired>& desired, const std::vector<Live>& live,
              const Scope& scope) {
  std::map<ObjectKey, const Live*> live_by_key;
  for (const Live& l : live) live_by_key[l.key] = &l;

  Plan plan;
  std::vector<PlannedChange> apply, keep, remove;

  // Environments with a Deployment in this plan, and the ConfigMaps those
  // Deployments mount: (namespace, env) → desired revision's files.
  std::set<std::pair<std::string, std::string>> desired_envs;
  std::set<std::pair<std::string, std::string>> used_config_maps;  // (namespace, name)
  std::set<ObjectKey> desired_keys;
  for (const Desired& d : desired) {
    desired_keys.insert(d.key);
    rapidjson::Document doc;
    doc.Parse(d.json.c_str(), d.json.size());
    if (doc.HasParseError()) continue;
    if (d.key.kind == "Deployment") {
      std::string env = Label(doc, kInstanceLabel);
      if (!env.empty()) desired_envs.insert({d.key.namespace_name, env});
      for (const auto& cm : MountedConfigMaps(doc))
        used_config_maps.insert({d.key.namespace_name, cm});
    }

    PlannedChange change;
    change.key = d.key;
    change.api_version = d.api_version;
    change.desired_json = d.json;
    auto it = live_by_key.find(d.key);
    if (it == live_by_key.end()) {
      change.action = Action::kCreate;
      apply.push_back(std::move(change));
      continue;
    }
    change.live = &it->second->object;
    Comparison cmp = Compare(doc, it->second->object);
    change.action = cmp.equal ? Action::kUnchanged : Action::kUpdate;
    change.changes = std::move(cmp.changes);
    apply.push_back(std::move(change));
  }

  // Earlier revisions of environments still deployed here, newest first.
  std::map<std::pair<std::string, std::string>, std::vector<const Live*>> earlier;
  std::vector<const Live*> leftovers;
  for (const Live& l : live) {
    if (desired_keys.count(l.key)) continue;
    const std::string app = l.key.kind == "Namespace" ? l.key.name : l.key.namespace_name;
    auto app_scope = scope.apps.find(app);
    if (app_scope == scope.apps.end() || Label(l.object, kNameLabel) != app) continue;
    if (Label(l.object, kManagedByLabel) != kManagedByValue) continue;
    const std::string env = Label(l.object, kInstanceLabel);
    const auto& envs = app_scope->second.environments;
    if (env.empty() ? !app_scope->second.all_environments
                    : std::find(envs.begin(), envs.end(), env) == envs.end() &&
                          !app_scope->second.all_environments) {
      continue;  // outside the selected environments
    }
    if (l.key.kind == "Deployment" && !env.empty() &&
        desired_envs.count({l.key.namespace_name, env})) {
      earlier[{l.key.namespace_name, env}].push_back(&l);
      continue;
    }
    leftovers.push_back(&l);
  }

  std::set<std::pair<std::string, std::string>> kept_config_maps = used_config_maps;
  for (auto& [ns_env, deployments] : earlier) {
    std::sort(deployments.begin(), deployments.end(), [](const Live* a, const Live* b) {
      return std::tuple(Field(a->object, {"metadata", "creationTimestamp"}), a->key.name) >
             std::tuple(Field(b->object, {"metadata", "creationTimestamp"}), b->key.name);
    });
    const auto& app_scope = scope.apps.at(ns_env.first);
    auto keep_it = app_scope.keep_revisions.find(ns_env.second);
    size_t keep_count =
        keep_it == app_scope.keep_revisions.end() ? 3 : static_cast<size_t>(keep_it->second);
    for (size_t i = 0; i < deployments.size(); ++i) {
      const Live* l = deployments[i];
      PlannedChange change{.action = Action::kUnchanged,
                           .key = l->key,
                           .api_version = l->api_version,
                           .live = &l->object};
      if (i < keep_count) {
        for (const auto& cm : MountedConfigMaps(l->object))
          kept_config_maps.insert({l->key.namespace_name, cm});
        if (Replicas(l->object) != 0) {
          change.action = Action::kRetire;
          change.reason = "earlier revision: scaled to 0 and kept for rollback";
        } else {
          change.reason = "earlier revision kept for rollback";
        }
        keep.push_back(std::move(change));
      } else {
        change.action = Action::kDelete;
        change.reason = "earlier revision beyond the " + std::to_string(keep_count) + " kept";
        remove.push_back(std::move(change));
      }
    }
  }

  for (const Live* l : leftovers) {
    const auto& app_scope =
        scope.apps.at(l->key.kind == "Namespace" ? l->key.name : l->key.namespace_name);
    const std::string env = Label(l->object, kInstanceLabel);
    PlannedChange change{.action = Action::kOrphan,
                         .key = l->key,
                         .api_version = l->api_version,
                         .live = &l->object};
    if (l->key.kind == "ConfigMap" && !env.empty() &&
        desired_envs.count({l->key.namespace_name, env})) {
      if (kept_config_maps.count({l->key.namespace_name, l->key.name}))
        continue;  // a kept revision's files
      change.action = Action::kDelete;
      change.reason = "files of a revision no longer kept";
      remove.push_back(std::move(change));
      continue;
    }
    if (l->key.kind == "Namespace") {
      change.reason =
          "the app has no environment in this cluster; pagoda never deletes a namespace";
      remove.push_back(std::move(change));
      continue;
    }
    // The prune policy in force: the environment's (or app's) in the
    // repository when it is still there, else the one recorded when applied.
    bool prune = Field(l->object, {"metadata", "annotations", kPruneAnnotation}) == "true";
    if (env.empty()) {
      prune = app_scope.prune_app_objects;
    } else if (auto p = app_scope.prune.find(env); p != app_scope.prune.end()) {
      prune = p->second;
    }
    const std::string what =
        env.empty() ? "no longer in the repository"
                    : (app_scope.prune.count(env) ? "no longer rendered for environment " + env
                                                  : "environment " + env + " was removed");
    change.action = prune ? Action::kDelete : Action::kOrphan;
    change.reason = what + (prune ? "" : "; prune is off, so it stays");
    remove.push_back(std::move(change));
  }

  std::sort(apply.begin(), apply.end(), ApplyOrder);
  std::sort(keep.begin(), keep.end(), ApplyOrder);
  std::sort(remove.begin(), remove.end(),
            [](const PlannedChange& a, const PlannedChange& b) { return ApplyOrder(b, a); });
  for (auto* part : {&apply, &keep, &remove}) {
    for (auto& c : *part) plan.changes.push_back(std::move(c));
  }
  return plan;
}

}  // namespace pagoda::diff
