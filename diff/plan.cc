// MakePlan(): desired and live objects paired into what to do.
#include <algorithm>
#include <functional>
#include <optional>
#include <set>
#include <string_view>
#include <tuple>
#include <unordered_map>
#include <unordered_set>

#include "base/json.h"
#include "diff/diff.h"

namespace pagoda::diff {
namespace {

using rapidjson::Value;

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
    std::string name = json::StringAt(vol, {"configMap", "name"});
    if (!name.empty()) names.insert(name);
  }
  return names;
}

struct KeyPtrHash {
  size_t operator()(const ObjectKey* key) const { return ObjectKeyHash{}(*key); }
};
struct KeyPtrEq {
  bool operator()(const ObjectKey* a, const ObjectKey* b) const { return *a == *b; }
};

// The changes' indexes in apply order (`reverse`: the opposite).
std::vector<size_t> ApplyOrder(const std::vector<PlannedChange>& changes, bool reverse) {
  std::vector<std::pair<int, size_t>> ranked;
  ranked.reserve(changes.size());
  for (size_t i = 0; i < changes.size(); ++i) ranked.push_back({KindRank(changes[i].key.kind), i});
  auto before = [&](const std::pair<int, size_t>& a, const std::pair<int, size_t>& b) {
    const ObjectKey& x = changes[a.second].key;
    const ObjectKey& y = changes[b.second].key;
    return std::tie(a.first, x.kind, x.namespace_name, x.name) <
           std::tie(b.first, y.kind, y.namespace_name, y.name);
  };
  std::sort(ranked.begin(), ranked.end(),
            [&](const auto& a, const auto& b) { return reverse ? before(b, a) : before(a, b); });
  std::vector<size_t> order;
  order.reserve(ranked.size());
  for (const auto& [rank, i] : ranked) order.push_back(i);
  return order;
}

// The app an object belongs to: its namespace, or a Namespace's name.
std::string AppOf(const ObjectKey& key) {
  return key.kind == "Namespace" ? key.name : key.namespace_name;
}

// Why a live object under a desired key is not pagoda's to write.
std::string ForeignReason(const Value& live, const std::string& app, const std::string& instance) {
  std::string says;
  for (const char* label : {kManagedByLabel, kNameLabel, kInstanceLabel}) {
    std::string value = Label(live, label);
    if (!value.empty()) says += (says.empty() ? "" : ", ") + std::string(label) + "=" + value;
  }
  return "exists without pagoda's labels for app " + app +
         (instance.empty() ? "" : ", environment " + instance) + " (" +
         (says.empty() ? "it has none of them" : "it says " + says) + ")";
}

bool ToWrite(Action action) {
  return action == Action::kCreate || action == Action::kUpdate || action == Action::kAdopt ||
         action == Action::kRetire || action == Action::kDelete;
}

}  // namespace

bool AdoptionAllowed(const PlannedChange& change, const Scope& scope) {
  auto app = scope.apps.find(AppOf(change.key));
  if (app == scope.apps.end()) return false;
  if (change.instance.empty()) return app->second.adopt_app_objects;
  auto env = app->second.adopt.find(change.instance);
  return env != app->second.adopt.end() && env->second;
}

void MarkForeign(PlannedChange* change, const Value& live, const Scope& scope) {
  change->reason = ForeignReason(live, AppOf(change->key), change->instance);
  change->owner = ManagersOf(live);
  if (!change->owner.empty()) change->reason += ", managed by " + change->owner;
  if (AdoptionAllowed(*change, scope)) {
    change->action = Action::kAdopt;
  } else {
    change->action = Action::kConflict;
    change->reason += "; left alone (adopt: true on the environment takes it over)";
  }
}

int HoldConflicts(Plan* plan) {
  std::map<std::pair<std::string, std::string>, std::string> conflicted;  // (app, env) → key
  for (const PlannedChange& c : plan->changes) {
    if (c.action == Action::kConflict)
      conflicted.try_emplace({AppOf(c.key), c.instance}, c.key.ToString());
  }
  int blocked = 0;
  for (PlannedChange& c : plan->changes) {
    if (!ToWrite(c.action)) continue;
    const std::string app = AppOf(c.key);
    auto it = conflicted.find({app, ""});  // the app's own objects hold everything back
    if (it == conflicted.end()) it = conflicted.find({app, c.instance});
    if (it == conflicted.end()) continue;
    c.action = Action::kBlocked;
    c.reason = "not written while " + it->second + " is in conflict";
    ++blocked;
  }
  return blocked;
}

int Plan::Count(Action action) const {
  return static_cast<int>(std::count_if(
      changes.begin(), changes.end(), [&](const PlannedChange& c) { return c.action == action; }));
}

bool Plan::InSync() const {
  return Count(Action::kCreate) + Count(Action::kUpdate) + Count(Action::kRetire) +
             Count(Action::kDelete) + Count(Action::kAdopt) ==
         0;
}

namespace {

using LiveIndex = std::unordered_map<const ObjectKey*, const Live*, KeyPtrHash, KeyPtrEq>;
using NsName = std::pair<std::string, std::string>;  // (namespace, name or environment)

// What the desired side of a plan says of the cluster's other objects.
struct DesiredFacts {
  std::unordered_set<const ObjectKey*, KeyPtrHash, KeyPtrEq> keys;
  std::set<NsName> envs;         // (namespace, env) with a Deployment in this plan
  std::set<NsName> config_maps;  // (namespace, name) those Deployments mount
};

// The memo's entry for `d` and `l`, brought up to date: kept when the pair
// was compared before and neither changed since, worked out afresh
// otherwise. nullptr when the desired JSON does not parse.
const PlanMemo::Entry* Compared(const Desired& d, const Live* l, PlanMemo* memo,
                                int64_t plan_number, PlanMemo::Entry* fresh) {
  const uint64_t hash = d.hash != 0 ? d.hash : HashJson(*d.json);
  PlanMemo::Entry* entry = fresh;
  bool known = false;
  if (memo != nullptr && l != nullptr) {
    auto [m, added] = memo->entries.try_emplace(d.key);
    entry = &m->second;
    if (!added && entry->desired_hash == hash && entry->desired_size == d.json->size()) {
      const LiveFacts& facts = l->object->Facts();
      const std::string& uid = facts.uid;
      const std::string& version = facts.compared_version;
      known = !uid.empty() && !version.empty() && entry->live_uid == uid &&
              entry->live_version == version;
    }
    entry->plan = plan_number;
  }
  if (known) {
    ++memo->hits;
    return entry;
  }
  rapidjson::Document doc;
  doc.Parse(d.json->c_str(), d.json->size());
  if (doc.HasParseError()) return nullptr;
  *entry = PlanMemo::Entry{};
  entry->desired_hash = hash;
  entry->desired_size = d.json->size();
  if (l != nullptr) {
    entry->live_uid = l->object->Facts().uid;
    entry->live_version = l->object->Facts().compared_version;
  }
  entry->plan = plan_number;
  entry->instance = Label(doc, kInstanceLabel);
  if (d.key.kind == "Deployment") {
    for (const auto& cm : MountedConfigMaps(doc)) entry->config_maps.push_back(cm);
  }
  if (l != nullptr) {
    l->object->Peek([&](const Value& live) { entry->comparison = Compare(doc, live); });
  }
  if (memo != nullptr) ++memo->misses;
  return entry;
}

// Each desired object paired with its live one: create, update, unchanged,
// or foreign (conflict or adoption).
std::vector<PlannedChange> PlanDesired(const std::vector<Desired>& desired, const LiveIndex& live,
                                       const Scope& scope, PlanMemo* memo, DesiredFacts* facts) {
  std::vector<PlannedChange> apply;
  apply.reserve(desired.size());
  facts->keys.reserve(desired.size());
  const int64_t plan_number = memo != nullptr ? ++memo->plans : 0;
  for (const Desired& d : desired) {
    facts->keys.insert(&d.key);
    auto it = live.find(&d.key);
    const Live* l = it == live.end() ? nullptr : it->second;
    PlanMemo::Entry fresh;
    const PlanMemo::Entry* entry = Compared(d, l, memo, plan_number, &fresh);
    if (entry == nullptr) continue;
    if (d.key.kind == "Deployment") {
      if (!entry->instance.empty()) facts->envs.insert({d.key.namespace_name, entry->instance});
      for (const auto& cm : entry->config_maps)
        facts->config_maps.insert({d.key.namespace_name, cm});
    }
    PlannedChange change;
    change.key = d.key;
    change.api_version = d.api_version;
    change.instance = entry->instance;
    change.wanted = true;
    if (l == nullptr) {
      change.action = Action::kCreate;
    } else if (!OwnedFor(l->object->Facts(), AppOf(d.key), entry->instance)) {
      change.live = l->object;
      MarkForeign(&change, l->object->Value(), scope);
    } else {
      change.live = l->object;
      change.action = entry->comparison.equal ? Action::kUnchanged : Action::kUpdate;
      change.changes = entry->comparison.changes;
    }
    if (change.action != Action::kUnchanged) change.desired = d.json;
    apply.push_back(std::move(change));
  }
  // Pairs not planned now are not kept: a memo holds one plan's worth.
  if (memo != nullptr) {
    std::erase_if(memo->entries, [&](const auto& e) { return e.second.plan != plan_number; });
  }
  return apply;
}

// pagoda's live objects that nothing desired names, in the selected scope
// and not held back: earlier revisions of environments still deployed here
// (by environment), and the rest.
struct Undesired {
  std::map<NsName, std::vector<const Live*>> earlier;
  std::vector<const Live*> leftovers;
};
Undesired SortUndesired(const std::vector<Live>& live, const DesiredFacts& facts,
                        const Scope& scope) {
  Undesired out;
  for (const Live& l : live) {
    if (facts.keys.count(&l.key)) continue;
    const std::string app = AppOf(l.key);
    auto app_scope = scope.apps.find(app);
    const LiveFacts& labels = l.object->Facts();
    if (app_scope == scope.apps.end() || labels.name != app) continue;
    if (labels.managed_by != kManagedByValue) continue;
    const std::string& env = labels.instance;
    if (app_scope->second.held_environments.count(env) ||
        app_scope->second.held_objects.count(l.key.ToString())) {
      continue;  // held back: left as it is
    }
    const auto& envs = app_scope->second.environments;
    if (env.empty() ? !app_scope->second.all_environments
                    : std::find(envs.begin(), envs.end(), env) == envs.end() &&
                          !app_scope->second.all_environments) {
      continue;  // outside the selected environments
    }
    if (l.key.kind == "Deployment" && !env.empty() &&
        facts.envs.count({l.key.namespace_name, env})) {
      out.earlier[{l.key.namespace_name, env}].push_back(&l);
      continue;
    }
    out.leftovers.push_back(&l);
  }
  return out;
}

// Earlier revisions, newest first: the last keepRevisions are scaled to 0
// and kept (with the ConfigMaps they mount), older ones deleted. Returns the
// ConfigMaps that stay: the desired revisions' and the kept ones'.
std::set<NsName> PlanEarlierRevisions(std::map<NsName, std::vector<const Live*>>& earlier,
                                      const Scope& scope, const std::set<NsName>& used,
                                      std::vector<PlannedChange>* keep,
                                      std::vector<PlannedChange>* remove) {
  std::set<NsName> kept_config_maps = used;
  for (auto& [ns_env, deployments] : earlier) {
    std::sort(deployments.begin(), deployments.end(), [](const Live* a, const Live* b) {
      return std::tuple(json::StringAt(a->object->Value(), {"metadata", "creationTimestamp"}),
                        a->key.name) >
             std::tuple(json::StringAt(b->object->Value(), {"metadata", "creationTimestamp"}),
                        b->key.name);
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
                           .instance = l->object->Facts().instance,
                           .live = l->object};
      if (i >= keep_count) {
        change.action = Action::kDelete;
        change.reason = "earlier revision beyond the " + std::to_string(keep_count) + " kept";
        remove->push_back(std::move(change));
        continue;
      }
      for (const auto& cm : MountedConfigMaps(l->object->Value()))
        kept_config_maps.insert({l->key.namespace_name, cm});
      if (Replicas(l->object->Value()) != 0) {
        change.action = Action::kRetire;
        change.reason = "earlier revision: scaled to 0 and kept for rollback";
      } else {
        change.reason = "earlier revision kept for rollback";
      }
      keep->push_back(std::move(change));
    }
  }
  return kept_config_maps;
}

// A leftover of pagoda's: a revision's files no longer kept are deleted, a
// Namespace never is, anything else as the prune policy in force says (the
// environment's or app's in the repository when it is still there, else the
// one recorded when applied). Nothing for a kept revision's files.
std::optional<PlannedChange> PlanLeftover(const Live& l, const Scope& scope,
                                          const DesiredFacts& facts,
                                          const std::set<NsName>& kept_config_maps) {
  const auto& app_scope = scope.apps.at(AppOf(l.key));
  const std::string env = l.object->Facts().instance;
  PlannedChange change{.action = Action::kOrphan,
                       .key = l.key,
                       .api_version = l.api_version,
                       .instance = env,
                       .live = l.object};
  if (l.key.kind == "ConfigMap" && !env.empty() && facts.envs.count({l.key.namespace_name, env})) {
    if (kept_config_maps.count({l.key.namespace_name, l.key.name})) return std::nullopt;
    change.action = Action::kDelete;
    change.reason = "files of a revision no longer kept";
    return change;
  }
  if (l.key.kind == "Namespace") {
    change.reason = "the app has no environment in this cluster; pagoda never deletes a namespace";
    return change;
  }
  bool prune =
      json::StringAt(l.object->Value(), {"metadata", "annotations", kPruneAnnotation}) == "true";
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
  return change;
}

}  // namespace

Plan MakePlan(const std::vector<Desired>& desired, const std::vector<Live>& live,
              const Scope& scope, PlanMemo* memo) {
  LiveIndex live_by_key;
  live_by_key.reserve(live.size());
  for (const Live& l : live) live_by_key.emplace(&l.key, &l);

  DesiredFacts facts;
  std::vector<PlannedChange> apply = PlanDesired(desired, live_by_key, scope, memo, &facts);
  std::vector<PlannedChange> keep, remove;
  Undesired undesired = SortUndesired(live, facts, scope);
  const std::set<NsName> kept_config_maps =
      PlanEarlierRevisions(undesired.earlier, scope, facts.config_maps, &keep, &remove);
  for (const Live* l : undesired.leftovers) {
    if (auto change = PlanLeftover(*l, scope, facts, kept_config_maps)) {
      remove.push_back(std::move(*change));
    }
  }

  Plan plan;
  plan.changes.reserve(apply.size() + keep.size() + remove.size());
  for (auto* part : {&apply, &keep, &remove}) {
    for (size_t i : ApplyOrder(*part, part == &remove))
      plan.changes.push_back(std::move((*part)[i]));
  }
  return plan;
}

const std::string& PlannedChange::desired_json() const {
  static const std::string kNone;
  return desired != nullptr ? *desired : kNone;
}

}  // namespace pagoda::diff
