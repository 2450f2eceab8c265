#include "apply/apply.h"

#include <spdlog/spdlog.h>

#include <algorithm>
#include <functional>
#include <set>

#include "base/backoff.h"

namespace pagoda::apply {
namespace {

using namespace std::chrono_literals;

// The refusal of rule pagoda-namespace of deploy/admission.yaml.
bool RefusedForNamespaceLabels(const Status& status) {
  return status.code() == Status::Code::kPermissionDenied &&
         status.message().find("rule pagoda-namespace:") != std::string::npos;
}

// Runs `write` again while admission refuses it for labels of its namespace
// that this run wrote (`labelled`) and admission has not seen yet; for up to
// kLabelsSettle. Any other answer is returned at once.
Status WhileLabelsSettle(Clock& clock, bool labelled, const std::string& key,
                         const std::function<Status()>& write) {
  const Clock::TimePoint deadline = clock.Now() + kLabelsSettle;
  for (int failures = 1;; ++failures) {
    Status status = write();
    if (status.ok() || !labelled || !RefusedForNamespaceLabels(status) || clock.Now() >= deadline) {
      return status;
    }
    spdlog::info("{}: admission has not seen its namespace's new labels yet; retrying", key);
    clock.SleepFor(Backoff(50ms, failures, 1s));
  }
}

// Server-side apply of one create, update or adoption. Fields another
// manager took from an object pagoda owns (kubectl scale, kubectl edit) are
// taken back, and the log says whose they were. An object pagoda believed
// new that turns out to exist is never forced: someone made it since it was
// looked up. An adoption is forced from the start, and says from whom.
Status ApplyOne(kube::KubeClient& client, const diff::PlannedChange& change,
                const std::string& apply, const std::string& commit, ChangeSetEntry* entry) {
  entry->key = change.key.ToString();
  const bool adopt = change.action == diff::Action::kAdopt;
  Result<std::string> stamped = std::string();
  if (!commit.empty()) {
    stamped = diff::WithCommit(change.desired_json(), commit);
    if (!stamped.ok()) return stamped.status();
  }
  const std::string& body = commit.empty() ? change.desired_json() : *stamped;
  auto applied = client.Patch(apply + (adopt ? "&force=true" : ""), "application/apply-patch+yaml",
                              body, &entry->warnings);
  if (!applied.ok() && applied.status().code() == Status::Code::kConflict) {
    if (change.action == diff::Action::kCreate) {
      return Status::Conflict(
          "it appeared in the cluster after pagoda looked it up, and it is not pagoda's to take "
          "over; left alone: " +
          applied.status().message());
    }
    spdlog::warn("{}: taking fields back from another manager: {}", entry->key,
                 applied.status().message());
    applied =
        client.Patch(apply + "&force=true", "application/apply-patch+yaml", body, &entry->warnings);
  }
  if (!applied.ok()) return applied.status();
  for (const std::string& w : entry->warnings) {
    spdlog::warn("{}: the API server warns: {}", entry->key, w);
  }
  if (adopt) {
    entry->action = ChangeAction::kAdopted;
    entry->detail = "taken over" + (change.owner.empty() ? "" : " from " + change.owner);
    spdlog::warn("{}: adopted: {}; {}", entry->key, change.reason, entry->detail);
  } else {
    entry->action =
        change.action == diff::Action::kCreate ? ChangeAction::kCreated : ChangeAction::kConfigured;
    if (change.action == diff::Action::kUpdate)
      entry->fields = diff::FieldLines(change.key, change.changes);
  }
  return Status::Ok();
}

// `live` was found under the key of `change`: pagoda's (by its labels, or
// because pagoda applied it before and someone edited its labels since) is
// an update of it; anyone else's a conflict or an adoption.
void SettleOwner(diff::PlannedChange* change, std::shared_ptr<rapidjson::Document> live,
                 const diff::Scope& scope) {
  const std::string app =
      change->key.kind == "Namespace" ? change->key.name : change->key.namespace_name;
  if (diff::OwnedFor(*live, app, change->instance) || diff::AppliedByPagoda(*live)) {
    rapidjson::Document desired;
    desired.Parse(change->desired_json().c_str(), change->desired_json().size());
    diff::Comparison comparison = diff::Compare(desired, *live);
    change->action = comparison.equal ? diff::Action::kUnchanged : diff::Action::kUpdate;
    change->changes = std::move(comparison.changes);
    change->reason.clear();
  } else {
    diff::MarkForeign(change, *live, scope);
  }
  change->live = std::make_shared<const diff::LiveObject>(
      std::shared_ptr<const rapidjson::Value>(std::move(live)));
}

}  // namespace

std::string_view ChangeActionName(ChangeAction action) {
  switch (action) {
    case ChangeAction::kCreated:
      return "created";
    case ChangeAction::kConfigured:
      return "configured";
    case ChangeAction::kUnchanged:
      return "unchanged";
    case ChangeAction::kDeleted:
      return "deleted";
    case ChangeAction::kSkipped:
      return "skipped";
    case ChangeAction::kAdopted:
      return "adopted";
  }
  return "unknown";
}

int ChangeSet::Count(ChangeAction action) const {
  return static_cast<int>(std::count_if(
      entries.begin(), entries.end(), [&](const ChangeSetEntry& e) { return e.action == action; }));
}

std::string ChangeSet::Summary() const {
  std::string out;
  for (auto action : {ChangeAction::kCreated, ChangeAction::kConfigured, ChangeAction::kUnchanged,
                      ChangeAction::kDeleted, ChangeAction::kSkipped, ChangeAction::kAdopted}) {
    if (action == ChangeAction::kAdopted && Count(action) == 0) continue;
    if (!out.empty()) out += ", ";
    out += std::to_string(Count(action)) + " " + std::string(ChangeActionName(action));
  }
  return out;
}

std::string ChangeSet::ToString() const {
  std::string out;
  for (const auto& e : entries) {
    if (e.action == ChangeAction::kUnchanged) continue;
    out += e.key + " " + std::string(ChangeActionName(e.action));
    if (!e.detail.empty()) out += " (" + e.detail + ")";
    out += "\n";
  }
  return out;
}

Result<rapidjson::Document> PredictApply(kube::KubeClient& client, const std::string& api_version,
                                         const diff::ObjectKey& key, const std::string& json) {
  auto resource = client.Resource(api_version, key.kind);
  if (!resource.ok()) return resource.status().WithContext(key.ToString());
  std::string path = resource->ObjectPath(key.namespace_name, key.name) +
                     "?fieldManager=pagoda&force=true&dryRun=All";
  auto predicted = client.Patch(path, "application/apply-patch+yaml", json);
  if (!predicted.ok()) return predicted.status().WithContext(key.ToString());
  return predicted;
}

Status CheckOwnership(kube::KubeClient& client, const diff::Scope& scope, diff::Plan* plan) {
  std::set<std::string> absent, foreign;  // namespaces that do not exist, or are not pagoda's
  for (diff::PlannedChange& c : plan->changes) {  // Namespaces come first in a plan
    const bool is_namespace = c.key.kind == "Namespace";
    const bool unsettled = c.action == diff::Action::kConflict && c.live != nullptr &&
                           !diff::AppliedByPagoda(c.live->Value()) &&
                           diff::ManagersOf(c.live->Value()).empty();
    if (c.action != diff::Action::kCreate && !unsettled) {
      if (is_namespace && c.action == diff::Action::kConflict) foreign.insert(c.key.name);
      continue;
    }
    if (!is_namespace &&
        (absent.count(c.key.namespace_name) || foreign.count(c.key.namespace_name)))
      continue;
    auto resource = client.Resource(c.api_version, c.key.kind);
    if (!resource.ok()) continue;  // Execute says so, for this object alone
    auto found = client.Get(resource->ObjectPath(c.key.namespace_name, c.key.name));
    if (found.ok()) {
      auto live = std::make_shared<rapidjson::Document>(std::move(*found));
      SettleOwner(&c, live, scope);
      if (is_namespace && c.action == diff::Action::kConflict) foreign.insert(c.key.name);
      continue;
    }
    switch (found.status().code()) {
      case Status::Code::kNotFound:
        if (is_namespace) absent.insert(c.key.name);
        if (unsettled) c.action = diff::Action::kCreate;  // gone since it was listed
        break;
      case Status::Code::kPermissionDenied:
        c.action = diff::Action::kConflict;
        c.reason = "pagoda may not look it up to see whose it is, so it writes nothing there: " +
                   found.status().message();
        break;
      default:
        return found.status().WithContext("looking up " + c.key.ToString());
    }
  }
  diff::HoldConflicts(plan);
  return Status::Ok();
}

ExecuteResult Execute(kube::KubeClient& client, const diff::Plan& plan,
                      const ExecuteOptions& options) {
  ExecuteResult result;
  const std::string dry = options.dry_run ? "&dryRun=All" : "";
  auto fail = [&](const diff::PlannedChange& change, Status status) {
    result.status = status.WithContext(change.key.ToString());
    return result;
  };
  Clock& clock = options.clock != nullptr ? *options.clock : RealClock();
  // A dry run cannot check objects inside a namespace it only pretended to create.
  std::set<std::string> new_namespaces;
  std::set<std::string> labelled;  // Namespaces this run wrote
  for (const auto& change : plan.changes) {
    const std::string key = change.key.ToString();
    if (options.dry_run && change.action == diff::Action::kCreate &&
        new_namespaces.count(change.key.namespace_name)) {
      result.changes.entries.push_back(
          {ChangeAction::kCreated, key, "not checked: its namespace does not exist yet"});
      continue;
    }
    switch (change.action) {
      case diff::Action::kUnchanged:
        result.changes.entries.push_back({ChangeAction::kUnchanged, key, change.reason});
        continue;
      case diff::Action::kOrphan:
      case diff::Action::kConflict:
      case diff::Action::kBlocked:
        result.changes.entries.push_back({ChangeAction::kSkipped, key, change.reason});
        continue;
      default:
        break;
    }
    auto resource = client.Resource(change.api_version, change.key.kind);
    if (!resource.ok()) return fail(change, resource.status());
    const std::string path = resource->ObjectPath(change.key.namespace_name, change.key.name);
    const bool is_namespace = change.key.kind == "Namespace";
    auto settled = [&](const std::function<Status()>& write) {
      return WhileLabelsSettle(clock, !is_namespace && labelled.count(change.key.namespace_name),
                               key, write);
    };

    if (change.action == diff::Action::kCreate || change.action == diff::Action::kUpdate ||
        change.action == diff::Action::kAdopt) {
      ChangeSetEntry entry;
      Status st = settled([&] {
        return ApplyOne(client, change, path + "?fieldManager=pagoda" + dry, options.commit,
                        &entry);
      });
      if (!st.ok()) return fail(change, st);
      if (is_namespace) labelled.insert(change.key.name);
      if (is_namespace && change.action == diff::Action::kCreate) {
        new_namespaces.insert(change.key.name);
      }
      result.changes.entries.push_back(std::move(entry));
      continue;
    }
    if (change.action == diff::Action::kRetire) {
      Status st = settled([&] {
        return client
            .Patch(path + "/scale?fieldManager=pagoda" + dry, "application/merge-patch+json",
                   R"({"spec":{"replicas":0}})")
            .status();
      });
      if (!st.ok()) return fail(change, st);
      result.changes.entries.push_back({ChangeAction::kConfigured, key, change.reason});
      continue;
    }
    // kDelete: only the object the plan saw, and its dependents in the background.
    std::string body =
        R"({"kind":"DeleteOptions","apiVersion":"v1","propagationPolicy":"Background")";
    const std::string_view uid =
        change.live != nullptr ? std::string_view(change.live->Facts().uid) : "";
    if (!uid.empty()) body += R"(,"preconditions":{"uid":")" + std::string(uid) + R"("})";
    body += "}";
    Status deleted = settled([&] {
      return client.Delete(path + (options.dry_run ? "?dryRun=All" : ""), body).status();
    });
    if (!deleted.ok() && deleted.code() != Status::Code::kNotFound) return fail(change, deleted);
    result.changes.entries.push_back({ChangeAction::kDeleted, key, change.reason});
  }
  return result;
}

}  // namespace pagoda::apply
