// Reading what pagoda owns on a server: one LIST per kind, the kinds and
// objects that are pagoda's (shared with the LiveCache).
#include <algorithm>
#include <future>
#include <set>

#include "kube/live_internal.h"

namespace pagoda::kube {
namespace {

// Kinds whose objects controllers make from pagoda's objects, copying their
// labels; pagoda never renders them and never lists them.
bool ControllerMadeKind(const ResourceInfo& r) {
  static const std::set<std::pair<std::string, std::string>> kKinds = {
      {"", "Pod"},
      {"", "Event"},
      {"", "Endpoints"},
      {"events.k8s.io", "Event"},
      {"discovery.k8s.io", "EndpointSlice"},
      {"apps", "ReplicaSet"},
      {"apps", "ControllerRevision"},
      {"coordination.k8s.io", "Lease"},
  };
  return kKinds.count({r.group, r.kind}) > 0;
}

bool Denied(const Status& status) {
  return status.code() == Status::Code::kPermissionDenied ||
         status.code() == Status::Code::kNotFound;
}

}  // namespace

namespace internal {

std::vector<ResourceInfo> KindsToRead(const std::vector<ResourceInfo>& resources,
                                      const std::set<std::pair<std::string, std::string>>& wanted) {
  std::vector<ResourceInfo> kinds;
  std::set<std::pair<std::string, std::string>> seen;
  for (const auto& r : resources) {
    bool is_namespace = r.group.empty() && r.kind == "Namespace";
    bool is_wanted = wanted.count({r.group, r.kind}) > 0;
    if (!is_wanted && !is_namespace && (!r.namespaced || ControllerMadeKind(r))) continue;
    if (!r.Supports("list") || !r.Supports("patch") || !r.Supports("delete")) continue;
    if (!seen.insert({r.group, r.kind}).second) continue;
    kinds.push_back(r);
  }
  return kinds;
}

bool ControlledByAnother(const rapidjson::Value& object) {
  auto meta = object.FindMember("metadata");
  if (meta == object.MemberEnd()) return false;
  auto refs = meta->value.FindMember("ownerReferences");
  if (refs == meta->value.MemberEnd() || !refs->value.IsArray()) return false;
  for (const auto& ref : refs->value.GetArray()) {
    auto controller = ref.FindMember("controller");
    if (controller != ref.MemberEnd() && controller->value.IsBool() &&
        controller->value.GetBool()) {
      return true;
    }
  }
  return false;
}

bool Owned(const rapidjson::Value& object) {
  return diff::LabelOf(object, diff::kManagedByLabel) == diff::kManagedByValue;
}

Result<Listing> ListKind(KubeClient& client, const ResourceInfo& resource,
                         const std::vector<std::string>& apps, bool wanted) {
  Listing out;
  auto all = client.List(resource.CollectionPath("") + "?" + kOwnedSelector, out.pool.get(),
                         &out.resource_version);
  if (all.ok()) {
    out.items = std::move(*all);
    return out;
  }
  if (!Denied(all.status())) return all.status();
  out.denied = true;
  out.resource_version.clear();
  if (all.status().code() != Status::Code::kPermissionDenied || !resource.namespaced || !wanted) {
    return out;  // not ours to see, or no longer served
  }
  out.cluster_wide = false;
  for (const auto& ns : apps) {
    auto page = client.List(resource.CollectionPath(ns) + "?" + kOwnedSelector, out.pool.get());
    if (!page.ok()) {
      if (Denied(page.status())) continue;
      return page.status();
    }
    for (auto& item : *page) out.items.push_back(std::move(item));
  }
  return out;
}

std::vector<diff::Live> OwnedObjects(std::shared_ptr<Listing> listing,
                                     const ResourceInfo& resource) {
  std::vector<diff::Live> live;
  for (const auto& item : listing->items) {
    auto key = diff::KeyOf(item);
    if (!key.ok() || ControlledByAnother(item)) continue;
    diff::Live l;
    l.key = std::move(*key);
    l.api_version = resource.ApiVersion();
    l.object = std::make_shared<const diff::LiveObject>(
        std::shared_ptr<const rapidjson::Value>(listing, &item));
    live.push_back(std::move(l));
  }
  return live;
}

}  // namespace internal

Result<std::vector<diff::Live>> ReadLive(
    KubeClient& client, const std::vector<std::string>& apps,
    const std::set<std::pair<std::string, std::string>>& kinds_wanted) {
  auto resources = client.Resources();
  if (!resources.ok()) return resources.status();
  const std::set<std::string> in_scope(apps.begin(), apps.end());
  const std::vector<ResourceInfo> kinds = internal::KindsToRead(*resources, kinds_wanted);

  // A few kinds at a time: the client keeps several connections.
  std::vector<diff::Live> live;
  constexpr size_t kParallel = 4;
  for (size_t i = 0; i < kinds.size(); i += kParallel) {
    std::vector<std::future<Result<internal::Listing>>> batch;
    for (size_t j = i; j < std::min(kinds.size(), i + kParallel); ++j) {
      batch.push_back(std::async(std::launch::async, [&, j] {
        return internal::ListKind(client, kinds[j], apps,
                                  kinds_wanted.count({kinds[j].group, kinds[j].kind}) > 0);
      }));
    }
    for (size_t j = i; j < std::min(kinds.size(), i + kParallel); ++j) {
      auto listing = batch[j - i].get();
      if (!listing.ok()) return listing.status().WithContext("listing " + kinds[j].kind);
      auto shared = std::make_shared<internal::Listing>(std::move(*listing));
      for (auto& l : internal::OwnedObjects(shared, kinds[j])) {
        if (in_scope.count(internal::AppOf(l.key))) live.push_back(std::move(l));
      }
    }
  }
  std::sort(live.begin(), live.end(),
            [](const diff::Live& a, const diff::Live& b) { return a.key < b.key; });
  return live;
}

}  // namespace pagoda::kube
