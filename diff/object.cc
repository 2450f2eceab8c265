// Object identity, preparation for apply, and display normalisation.
#include <rapidjson/document.h>

#include <algorithm>

#include "base/json.h"
#include "diff/diff.h"
#include "manifest/json.h"

namespace pagoda::diff {
namespace {

using rapidjson::Value;

Value& EnsureObject(Value& parent, const char* name, rapidjson::Document::AllocatorType& alloc) {
  auto it = parent.FindMember(name);
  if (it == parent.MemberEnd()) {
    parent.AddMember(Value(name, alloc), Value(rapidjson::kObjectType), alloc);
    return parent[name];
  }
  if (!it->value.IsObject()) it->value.SetObject();
  return it->value;
}

void SetString(Value& obj, const char* name, std::string_view value,
               rapidjson::Document::AllocatorType& alloc) {
  obj.RemoveMember(name);
  obj.AddMember(Value(name, alloc),
                Value(value.data(), static_cast<rapidjson::SizeType>(value.size()), alloc), alloc);
}

}  // namespace

std::string LabelOf(const Value& object, std::string_view name) {
  return json::StringAt(object, {"metadata", "labels", name});
}

std::string AnnotationOf(const Value& object, std::string_view name) {
  return json::StringAt(object, {"metadata", "annotations", name});
}

bool OwnedFor(const Value& live, std::string_view app, std::string_view instance) {
  return LabelOf(live, kManagedByLabel) == kManagedByValue && LabelOf(live, kNameLabel) == app &&
         LabelOf(live, kInstanceLabel) == instance;
}

bool OwnedFor(const LiveFacts& live, std::string_view app, std::string_view instance) {
  return live.managed_by == kManagedByValue && live.name == app && live.instance == instance;
}

bool AppliedByPagoda(const Value& object) {
  const Value* fields = json::At(object, {"metadata", "managedFields"});
  if (fields == nullptr || !fields->IsArray()) return false;
  for (const auto& entry : fields->GetArray()) {
    if (json::StringAt(entry, "manager") == "pagoda") return true;
  }
  return false;
}

std::string ManagersOf(const Value& object) {
  std::vector<std::string> managers;
  const Value* fields = json::At(object, {"metadata", "managedFields"});
  if (fields == nullptr || !fields->IsArray()) return "";
  for (const auto& entry : fields->GetArray()) {
    std::string name = json::StringAt(entry, "manager");
    if (name.empty()) continue;
    if (std::find(managers.begin(), managers.end(), name) == managers.end()) {
      managers.push_back(std::move(name));
    }
  }
  std::string out;
  for (const std::string& m : managers) out += (out.empty() ? "" : ", ") + m;
  return out;
}

std::string ObjectKey::ToString() const {
  std::string out = kind + "/";
  if (!namespace_name.empty()) out += namespace_name + "/";
  return out + name;
}

std::string_view GroupOf(std::string_view api_version) {
  auto slash = api_version.find('/');
  return slash == std::string_view::npos ? std::string_view() : api_version.substr(0, slash);
}

Result<ObjectKey> KeyOf(const Value& object) {
  std::string api_version = json::StringAt(object, "apiVersion");
  std::string kind = json::StringAt(object, "kind");
  const Value* meta = json::Member(object, "metadata");
  if (api_version.empty() || kind.empty() || meta == nullptr) {
    return Status::InvalidArgument("object without apiVersion, kind or metadata");
  }
  ObjectKey key{std::string(GroupOf(api_version)), kind, json::StringAt(*meta, "namespace"),
                json::StringAt(*meta, "name")};
  if (key.name.empty()) return Status::InvalidArgument(kind + " without metadata.name");
  return key;
}

Result<Live> LiveFromDocument(rapidjson::Document object) {
  auto key = KeyOf(object);
  if (!key.ok()) return key.status();
  Live live;
  live.key = std::move(*key);
  live.api_version = json::StringAt(object, "apiVersion");
  live.object = std::make_shared<const LiveObject>(
      std::make_shared<const rapidjson::Document>(std::move(object)));
  return live;
}

namespace {

// `json` (an object) as canonical JSON, its metadata.annotations changed by
// `edit(doc, annotations, allocator)`; InvalidArgument naming `what` when it
// is not an object.
template <typename Edit>
Result<std::string> EditAnnotations(std::string_view json, const char* what, Edit edit) {
  rapidjson::Document doc;
  doc.Parse(json.data(), json.size());
  if (doc.HasParseError() || !doc.IsObject()) {
    return Status::InvalidArgument(std::string(what) + " is not a JSON object");
  }
  auto& alloc = doc.GetAllocator();
  Value& annotations = EnsureObject(EnsureObject(doc, "metadata", alloc), "annotations", alloc);
  edit(doc, annotations, alloc);
  return manifest::CanonicalJson(doc);
}

}  // namespace

Result<std::string> PrepareForApply(std::string_view rendered_json, bool prune) {
  return EditAnnotations(
      rendered_json, "rendered object", [&](auto& doc, Value& annotations, auto& alloc) {
        SetString(annotations, kPruneAnnotation, prune ? "true" : "false", alloc);
        annotations.RemoveMember(kAppliedAnnotation);
        // The hash covers what pagoda sets, except the commit (which changes
        // without anything else changing) and the hash itself.
        Value commit;
        if (auto it = annotations.FindMember(kCommitAnnotation); it != annotations.MemberEnd()) {
          commit = Value(it->value, alloc);
          annotations.RemoveMember(it);
        }
        std::string hash = manifest::Sha256Hex(manifest::CanonicalJson(doc), 16);
        SetString(annotations, kAppliedAnnotation, hash, alloc);
        if (!commit.IsNull()) annotations.AddMember(Value(kCommitAnnotation, alloc), commit, alloc);
      });
}

Result<std::string> WithCommit(std::string_view json, std::string_view commit) {
  return EditAnnotations(json, "the object to write", [&](auto&, Value& annotations, auto& alloc) {
    annotations.RemoveMember(kCommitAnnotation);
    annotations.AddMember(
        Value(kCommitAnnotation, alloc),
        Value(commit.data(), static_cast<rapidjson::SizeType>(commit.size()), alloc), alloc);
  });
}

std::string ForDisplay(const Value& object) {
  rapidjson::Document doc;
  doc.CopyFrom(object, doc.GetAllocator());
  if (!doc.IsObject()) return manifest::CanonicalJson(doc);
  doc.RemoveMember("status");
  if (auto meta = doc.FindMember("metadata"); meta != doc.MemberEnd() && meta->value.IsObject()) {
    for (const char* noise : {"managedFields", "resourceVersion", "uid", "generation",
                              "creationTimestamp", "selfLink"}) {
      meta->value.RemoveMember(noise);
    }
    if (auto ann = meta->value.FindMember("annotations");
        ann != meta->value.MemberEnd() && ann->value.IsObject()) {
      ann->value.RemoveMember(kAppliedAnnotation);
      ann->value.RemoveMember("deployment.kubernetes.io/revision");
      if (ann->value.MemberCount() == 0) meta->value.RemoveMember("annotations");
    }
  }
  return manifest::CanonicalJson(doc);
}

size_t ObjectKeyHash::operator()(const ObjectKey& key) const {
  std::hash<std::string_view> h;
  size_t out = h(key.name);
  for (std::string_view part : {std::string_view(key.namespace_name), std::string_view(key.kind),
                                std::string_view(key.group)}) {
    out = out * 1099511628211u ^ h(part);
  }
  return out;
}

std::string_view MetadataString(const Value& object, const char* name) {
  const Value* v = json::At(object, {"metadata", name});
  if (v == nullptr || !v->IsString()) return {};
  return {v->GetString(), v->GetStringLength()};
}

uint64_t HashJson(std::string_view json) {
  const uint64_t hash = std::hash<std::string_view>{}(json);
  return hash == 0 ? 1 : hash;
}

int KindRank(std::string_view kind) {
  static constexpr std::string_view kOrder[] = {"Namespace", "ConfigMap",  "Secret",
                                                "Service",   "Deployment", "Ingress"};
  for (int i = 0; i < static_cast<int>(std::size(kOrder)); ++i) {
    if (kOrder[i] == kind) return i;
  }
  return static_cast<int>(std::size(kOrder));
}

std::string_view ActionName(Action action) {
  switch (action) {
    case Action::kCreate:
      return "create";
    case Action::kUpdate:
      return "update";
    case Action::kUnchanged:
      return "unchanged";
    case Action::kRetire:
      return "retire";
    case Action::kDelete:
      return "delete";
    case Action::kOrphan:
      return "orphan";
    case Action::kConflict:
      return "conflict";
    case Action::kAdopt:
      return "adopt";
    case Action::kBlocked:
      return "blocked";
  }
  return "unknown";
}

}  // namespace pagoda::diff
