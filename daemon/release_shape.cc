#include "daemon/release_shape.h"

#include <algorithm>

#include "manifest/json.h"

namespace pagoda::daemon {

using journal::Outcome;
using journal::ReleaseKind;
using journal::ReleaseRecord;

int64_t IntField(const rapidjson::Value& obj, const char* a, const char* b) {
  auto x = obj.FindMember(a);
  if (x == obj.MemberEnd() || !x->value.IsObject()) return 0;
  auto y = x->value.FindMember(b);
  return y != x->value.MemberEnd() && y->value.IsInt64() ? y->value.GetInt64() : 0;
}

rapidjson::Document ParseOrEmpty(const std::string& json) {
  rapidjson::Document doc;
  doc.Parse(json.c_str(), json.size());
  if (doc.HasParseError()) doc.SetObject();
  return doc;
}

std::string DesiredRevision(const diff::PlannedChange& c) {
  if (c.action == diff::Action::kUnchanged && c.live != nullptr) {
    return c.live->Facts().revision;
  }
  return diff::LabelOf(ParseOrEmpty(c.desired_json()), diff::kRevisionLabel);
}

bool ToDo(const diff::PlannedChange& c) {
  return c.action == diff::Action::kCreate || c.action == diff::Action::kUpdate ||
         c.action == diff::Action::kAdopt || c.action == diff::Action::kRetire ||
         c.action == diff::Action::kDelete;
}

namespace {

bool OnlyReplicas(const diff::PlannedChange& c) {
  return c.action == diff::Action::kUpdate && c.key.kind == "Deployment" &&
         std::all_of(c.changes.begin(), c.changes.end(), [](const diff::FieldChange& f) {
           return f.path == "spec.replicas" || f.path == "metadata.annotations.pagoda.dev/applied";
         });
}

}  // namespace

engine::Selection SelectUnpinned(const manifest::Repository& repo,
                                 const std::set<std::pair<std::string, std::string>>& pinned) {
  engine::Selection selection;
  selection.everything = pinned.empty();
  if (selection.everything) return selection;
  for (const auto& app : repo.apps) {
    std::set<std::string> envs;
    bool some_pinned = false;
    for (const auto& env : app.model().environments) {
      if (pinned.count({app.name, env.name.value})) {
        some_pinned = true;
      } else {
        envs.insert(env.name.value);
      }
    }
    if (!some_pinned) {
      selection.apps[app.name] = {};
    } else if (!envs.empty()) {
      selection.apps[app.name] = envs;
    }
  }
  return selection;
}

namespace {

// The environment an app's own objects go with: the first that follows no
// other environment here (spec.promotion), so that a promotion's wait never
// holds back the Namespace of the environment it waits for.
const std::string& CarrierOf(const std::vector<const manifest::Environment*>& list) {
  for (const auto* env : list) {
    const std::string& after = env->promotion.after.value;
    if (after.empty() || std::none_of(list.begin(), list.end(), [&](const auto* other) {
          return other->name.value == after;
        })) {
      return env->name.value;
    }
  }
  return list.front()->name.value;
}

}  // namespace

EnvironmentGroups GroupByEnvironment(
    const diff::Plan& plan,
    const std::map<std::string, std::vector<const manifest::Environment*>>& envs) {
  EnvironmentGroups out;
  for (const auto& change : plan.changes) {
    const std::string app =
        change.key.kind == "Namespace" ? change.key.name : change.key.namespace_name;
    auto list = envs.find(app);
    if (list == envs.end() || list->second.empty()) continue;
    if (change.action == diff::Action::kConflict && change.instance.empty()) {
      out.app_conflicts[app].push_back(&change);
      continue;
    }
    std::string env = change.instance;
    if (env.empty()) env = CarrierOf(list->second);
    out.groups[{app, env}].push_back(&change);
  }
  return out;
}

EnvironmentChanges ChangesOf(const std::vector<const diff::PlannedChange*>& group,
                             const std::set<std::string>& applied_keys, bool keys_known,
                             const std::string& revision) {
  EnvironmentChanges out;
  out.revision = revision;
  int64_t most = 0;
  for (const auto* c : group) {
    if (c->key.kind != "Deployment") continue;
    if (c->live != nullptr && c->live->Facts().replicas > most) {
      const diff::LiveFacts& live = c->live->Facts();
      most = live.replicas;
      out.revision = live.revision;
      out.ready = live.ready_replicas;
    } else if (most == 0 && c->wanted) {
      out.revision = DesiredRevision(*c);
    }
  }
  for (const auto* c : group) {
    if (c->wanted) out.desired_keys.insert(c->key.ToString());
    if (!ToDo(*c)) continue;
    out.todo = true;
    if (c->action == diff::Action::kCreate) {
      out.repo_changed |=
          c->key.kind == "Deployment" || !keys_known || !applied_keys.count(c->key.ToString());
    } else if (c->action == diff::Action::kUpdate) {
      out.repo_changed |= diff::AnnotationOf(ParseOrEmpty(c->desired_json()),
                                             diff::kAppliedAnnotation) != c->live->Facts().applied;
    } else {
      out.repo_changed = true;
    }
  }
  return out;
}

ReleaseShape ShapeOf(const std::vector<const diff::PlannedChange*>& group,
                     const std::string& running_revision) {
  ReleaseShape shape;
  shape.to_revision = running_revision;
  for (const auto* c : group) {
    if (c->key.kind == "Deployment") {
      if (c->wanted) shape.to_revision = DesiredRevision(*c);
      if (c->action == diff::Action::kRetire ||
          (shape.from_revision.empty() && c->live != nullptr && c->wanted)) {
        shape.from_revision = c->live->Facts().revision;
      }
    }
    if (!ToDo(*c)) continue;
    shape.todo.changes.push_back(*c);
    shape.deployment_created |= c->action == diff::Action::kCreate && c->key.kind == "Deployment";
    shape.retired |= c->action == diff::Action::kRetire;
    shape.only_deletes &= c->action == diff::Action::kDelete;
    shape.only_replicas &= OnlyReplicas(*c);
  }
  for (size_t i = 0; i < shape.todo.changes.size(); ++i) {
    const auto& c = shape.todo.changes[i];
    if (c.key.kind == "Deployment" && !c.desired_json().empty()) shape.target = static_cast<int>(i);
  }
  return shape;
}

ReleaseKind KindOf(const ReleaseShape& shape, bool rollback, bool repo_changed) {
  if (rollback) return ReleaseKind::kRollback;
  if (shape.deployment_created || shape.retired) return ReleaseKind::kRollout;
  if (shape.only_deletes) return ReleaseKind::kPrune;
  if (!repo_changed) return ReleaseKind::kSelfHeal;
  if (shape.only_replicas) return ReleaseKind::kScale;
  return ReleaseKind::kConfig;
}

std::string RestoredRelease(const std::vector<ReleaseRecord>& history,
                            const std::string& to_revision) {
  if (history.empty() || history.front().to_revision == to_revision) return "";
  for (const auto& earlier : history) {
    if (earlier.outcome == Outcome::kSucceeded && earlier.to_revision == to_revision) {
      return earlier.id;
    }
  }
  return "";
}

bool TakeUp(const ReleaseRecord& open, const std::string& to_revision, ReleaseRecord* record) {
  record->id = open.id;
  record->start = open.start;
  record->batches = open.batches;
  record->hold = open.hold;
  record->pause_requested = open.pause_requested;
  record->abort_requested = open.abort_requested;
  if (open.hold == journal::Hold::kFailed) record->errors = open.errors;
  if (open.to_revision != to_revision) return false;
  record->kind = open.kind;
  record->trigger = open.trigger;
  record->restores = open.restores;
  record->supersedes = open.supersedes;
  record->from_revision = open.from_revision;
  return open.kind == ReleaseKind::kRollout || open.kind == ReleaseKind::kRollback;
}

bool GoesOutInBatches(const ReleaseShape& shape, ReleaseKind kind, bool resumed_batched) {
  return (shape.deployment_created || shape.retired || resumed_batched) && shape.target >= 0 &&
         (kind == ReleaseKind::kRollout || kind == ReleaseKind::kRollback);
}

BatchedPlan SplitForBatches(const ReleaseShape& shape) {
  BatchedPlan plan;
  for (size_t i = 0; i < shape.todo.changes.size(); ++i) {
    diff::PlannedChange c = shape.todo.changes[i];
    if (c.action == diff::Action::kRetire) continue;
    if (c.action == diff::Action::kDelete) {
      plan.finish.changes.push_back(std::move(c));
      continue;
    }
    if (static_cast<int>(i) == shape.target) {
      rapidjson::Document d = ParseOrEmpty(c.desired_json());
      int64_t now_replicas = c.live != nullptr ? c.live->Facts().replicas : 0;
      if (d.HasMember("spec") && d["spec"].HasMember("replicas")) {
        d["spec"]["replicas"].SetInt64(now_replicas);
      }
      c.desired = std::make_shared<const std::string>(manifest::CanonicalJson(d));
      c.action = c.live != nullptr ? diff::Action::kUpdate : diff::Action::kCreate;
    }
    plan.now.changes.push_back(std::move(c));
  }
  return plan;
}

}  // namespace pagoda::daemon
