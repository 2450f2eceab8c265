// What ReadLive and LiveCache share: which kinds to read, how one kind is
// listed, and which listed objects are pagoda's.
#pragma once

#include <memory>
#include <set>
#include <string>
#include <utility>
#include <vector>

#include "diff/diff.h"
#include "kube/kube.h"

namespace pagoda::kube::internal {

inline constexpr char kOwnedSelector[] = "labelSelector=app.kubernetes.io%2Fmanaged-by%3Dpagoda";

// The kinds to read, one version each (discovery lists a group's preferred
// version first): those wanted, Namespaces, and every namespaced kind pagoda
// could have created (controllers' kinds excepted) that it may list, patch
// and delete.
std::vector<ResourceInfo> KindsToRead(const std::vector<ResourceInfo>& resources,
                                      const std::set<std::pair<std::string, std::string>>& wanted);

// True when an owner reference with controller=true names another object:
// then it is that controller's, whatever labels it copied.
bool ControlledByAnother(const rapidjson::Value& object);

// True when the object carries app.kubernetes.io/managed-by=pagoda.
bool Owned(const rapidjson::Value& object);

// The objects of one LIST of one kind, in one pool.
struct Listing {
  std::shared_ptr<rapidjson::MemoryPoolAllocator<>> pool =
      std::make_shared<rapidjson::MemoryPoolAllocator<>>();
  std::vector<rapidjson::Document> items;
  std::string resource_version;  // of a cluster-wide list; "" when listed per namespace
  bool cluster_wide = true;
  bool denied = false;  // not ours to list cluster-wide (403), or no longer served (404)
};

// One kind's owned objects: cluster-wide, or, when `wanted` and RBAC grants
// only namespaces, per namespace of `apps`. Other kinds pagoda may not list
// cluster-wide come back empty and denied: it cannot have created them
// across namespaces either, and asking each namespace would cost a request
// per app for nothing.
Result<Listing> ListKind(KubeClient& client, const ResourceInfo& resource,
                         const std::vector<std::string>& apps, bool wanted);

// The items of `listing` that are pagoda's, as Live objects sharing the
// listing's pool. Objects controlled by another are left out.
std::vector<diff::Live> OwnedObjects(std::shared_ptr<Listing> listing,
                                     const ResourceInfo& resource);

// The object's app: its name for a Namespace, else its namespace.
inline const std::string& AppOf(const diff::ObjectKey& key) {
  return key.kind == "Namespace" ? key.name : key.namespace_name;
}

}  // namespace pagoda::kube::internal
