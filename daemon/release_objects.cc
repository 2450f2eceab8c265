#include "daemon/release_objects.h"

#include <charconv>

#include "base/json.h"

namespace pagoda::daemon {
namespace {

constexpr const char* kWriterAnnotation = "pagoda.dev/written-by";
constexpr const char* kEpochAnnotation = "pagoda.dev/epoch";
constexpr const char* kTrimmedAnnotation = "pagoda.dev/trimmed";

std::string Collection(const std::string& app) {
  return std::string(kReleaseApi) + (app.empty() ? "" : "/namespaces/" + app) + "/releases";
}

// The record's JSON within `max` bytes, and what had to go for it.
std::string SpecWithin(journal::ReleaseRecord record, size_t max, std::string* trimmed) {
  std::string spec = journal::ToJson(record);
  if (spec.size() <= max) return spec;
  for (auto& c : record.changes) c.fields.clear();
  spec = journal::ToJson(record);
  *trimmed = "the changes' field lines";
  if (spec.size() <= max) return spec;
  const size_t changes = record.changes.size();
  record.changes.clear();
  *trimmed = "its " + std::to_string(changes) + " changes";
  return journal::ToJson(record);
}

class KubeReleaseObjects final : public ReleaseObjects {
 public:
  explicit KubeReleaseObjects(ClientFor client_for) : client_for_(std::move(client_for)) {}

  Status Put(const std::string& cluster, const journal::ReleaseRecord& record,
             const ReleaseWriter& writer) override {
    auto client = client_for_(cluster);
    if (!client.ok()) return client.status();
    const std::string path =
        Collection(record.app) + "/" + record.id + "?fieldManager=pagoda&force=true";
    return (*client)
        ->Patch(path, "application/apply-patch+yaml", ReleaseObjectJson(record, writer))
        .status();
  }

  Result<std::vector<MirroredRelease>> List(const std::string& cluster,
                                            const ReleaseQuery& query) override {
    auto client = client_for_(cluster);
    if (!client.ok()) return client.status();
    std::string selector;
    auto add = [&](const char* label, const std::string& value) {
      if (!value.empty()) selector += (selector.empty() ? "" : ",") + (label + ("=" + value));
    };
    add(kReleaseAppLabel, query.app);
    add(kReleaseEnvLabel, query.env);
    add(kReleaseOutcomeLabel, query.in_progress_only ? "in-progress" : "");
    add(kReleaseTriggerLabel, query.trigger);
    add(kReleaseGroupLabel, query.group);
    auto items = (*client)->List(Collection(query.app) +
                                 (selector.empty() ? "" : "?labelSelector=" + selector));
    if (!items.ok()) return items.status();
    std::vector<MirroredRelease> out;
    for (const auto& item : *items) {
      // One that is not a record of pagoda's (written by hand, by a newer
      // pagoda with another shape) is not part of the history read here.
      auto release = ReleaseOfObject(item);
      if (release.ok()) out.push_back(std::move(*release));
    }
    return out;
  }

  Status Delete(const std::string& cluster, const std::string& app,
                const std::string& id) override {
    auto client = client_for_(cluster);
    if (!client.ok()) return client.status();
    Status st = (*client)->Delete(Collection(app) + "/" + id).status();
    return st.code() == Status::Code::kNotFound ? Status::Ok() : st;
  }

 private:
  ClientFor client_for_;
};

}  // namespace

std::string ReleaseObjectJson(const journal::ReleaseRecord& record, const ReleaseWriter& writer,
                              size_t max_spec_bytes) {
  std::string trimmed;
  const std::string spec = SpecWithin(record, max_spec_bytes, &trimmed);
  rapidjson::StringBuffer buffer;
  json::Writer w(buffer);
  w.StartObject();
  json::String(w, "apiVersion", "pagoda.dev/v1");
  json::String(w, "kind", "Release");
  json::Key(w, "metadata");
  w.StartObject();
  json::String(w, "name", record.id);
  json::String(w, "namespace", record.app);
  json::Key(w, "labels");
  w.StartObject();
  json::String(w, "app.kubernetes.io/managed-by", "pagoda");
  json::String(w, kReleaseAppLabel, record.app);
  json::String(w, kReleaseEnvLabel, record.env);
  json::String(w, kReleaseKindLabel, journal::Name(record.kind));
  json::String(w, kReleaseOutcomeLabel, journal::Name(record.outcome));
  json::String(w, kReleaseTriggerLabel, journal::Name(record.trigger));
  if (!writer.group.empty()) json::String(w, kReleaseGroupLabel, writer.group);
  w.EndObject();
  json::Key(w, "annotations");
  w.StartObject();
  json::String(w, kWriterAnnotation, writer.identity);
  json::String(w, kEpochAnnotation, std::to_string(writer.epoch));
  if (!trimmed.empty()) json::String(w, kTrimmedAnnotation, trimmed + " left out: too large");
  w.EndObject();
  w.EndObject();
  json::Key(w, "spec");
  w.RawValue(spec.data(), spec.size(), rapidjson::kObjectType);
  w.EndObject();
  return buffer.GetString();
}

Result<MirroredRelease> ReleaseOfObject(const rapidjson::Value& object) {
  const std::string name = json::StringAt(object, {"metadata", "name"});
  const std::string ns = json::StringAt(object, {"metadata", "namespace"});
  const rapidjson::Value* spec = json::Member(object, "spec");
  if (spec == nullptr || !spec->IsObject()) {
    return Status::InvalidArgument("Release " + ns + "/" + name + ": no spec");
  }
  auto record = journal::ParseReleaseRecord(json::Compact(*spec));
  if (!record.ok()) {
    return record.status().WithContext("Release " + ns + "/" + name + " (its spec)");
  }
  if (record->id != name || record->app != ns) {
    return Status::InvalidArgument("Release " + ns + "/" + name + ": its spec is of release " +
                                   record->id + " of app " + record->app);
  }
  MirroredRelease out{std::move(*record), {}};
  out.writer.identity = json::StringAt(object, {"metadata", "annotations", kWriterAnnotation});
  out.writer.group = json::StringAt(object, {"metadata", "labels", kReleaseGroupLabel});
  const std::string epoch = json::StringAt(object, {"metadata", "annotations", kEpochAnnotation});
  std::from_chars(epoch.data(), epoch.data() + epoch.size(), out.writer.epoch);
  return out;
}

std::unique_ptr<ReleaseObjects> NewKubeReleaseObjects(ClientFor client_for) {
  return std::make_unique<KubeReleaseObjects>(std::move(client_for));
}

}  // namespace pagoda::daemon
