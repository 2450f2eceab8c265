// The status document of control.h: its JSON and its file.
#include <fcntl.h>
#include <rapidjson/error/en.h>
#include <rapidjson/stringbuffer.h>
#include <rapidjson/writer.h>
#include <unistd.h>

#include <algorithm>
#include <array>
#include <cerrno>
#include <cstring>
#include <tuple>

#include "base/file.h"
#include "control/control.h"

namespace pagoda::control {
namespace {

using Writer = rapidjson::Writer<rapidjson::StringBuffer>;

constexpr std::array<std::string_view, 4> kHealth = {"healthy", "progressing", "degraded",
                                                     "unknown"};

void Key(Writer& w, std::string_view key) {
  w.Key(key.data(), static_cast<rapidjson::SizeType>(key.size()));
}
void Str(Writer& w, std::string_view key, std::string_view value) {
  Key(w, key);
  w.String(value.data(), static_cast<rapidjson::SizeType>(value.size()));
}
void StrOrNull(Writer& w, std::string_view key, std::string_view value) {
  if (value.empty()) {
    Key(w, key);
    w.Null();
  } else {
    Str(w, key, value);
  }
}

// "https://user:secret@host/x" → "https://user:***@host/x"; a bare http(s)
// userinfo is a token and goes whole. scp-style and ssh users stay.
std::string RedactUrl(const std::string& url) {
  size_t scheme = url.find("://");
  if (scheme == std::string::npos) return url;
  size_t start = scheme + 3;
  size_t end = url.find_first_of("/?#", start);
  size_t at = url.rfind('@', end == std::string::npos ? std::string::npos : end);
  if (at == std::string::npos || at < start) return url;
  std::string userinfo = url.substr(start, at - start);
  size_t colon = userinfo.find(':');
  bool http = url.starts_with("http://") || url.starts_with("https://");
  if (colon != std::string::npos) {
    userinfo = userinfo.substr(0, colon) + ":***";
  } else if (http) {
    userinfo = "***";
  }
  return url.substr(0, start) + userinfo + url.substr(at);
}

// Reads the fields of one JSON object, naming the path in errors.
class Fields {
 public:
  Fields(const rapidjson::Value& object, std::string where)
      : object_(object), where_(std::move(where)) {}

  Status Error(std::string_view key, std::string_view what) const {
    return Status::InvalidArgument("status document: " + where_ + std::string(key) + ": " +
                                   std::string(what));
  }
  const rapidjson::Value* Get(std::string_view key) const {
    auto it = object_.FindMember(rapidjson::Value(rapidjson::StringRef(key.data(), key.size())));
    if (it == object_.MemberEnd() || it->value.IsNull()) return nullptr;
    return &it->value;
  }
  Status String(std::string_view key, std::string* out, bool required = false) const {
    const rapidjson::Value* v = Get(key);
    if (v == nullptr) return required ? Error(key, "missing") : Status::Ok();
    if (!v->IsString()) return Error(key, "not a string");
    out->assign(v->GetString(), v->GetStringLength());
    return Status::Ok();
  }
  Status Time(std::string_view key, TimeMs* out) const {
    std::string text;
    PAGODA_RETURN_IF_ERROR(String(key, &text));
    if (text.empty()) return Status::Ok();
    Result<TimeMs> time = ParseTime(text);
    if (!time.ok()) return Error(key, time.status().message());
    *out = *time;
    return Status::Ok();
  }
  Status Int(std::string_view key, int* out) const {
    const rapidjson::Value* v = Get(key);
    if (v == nullptr) return Status::Ok();
    if (!v->IsInt()) return Error(key, "not an integer");
    *out = v->GetInt();
    return Status::Ok();
  }
  Status Bool(std::string_view key, bool* out) const {
    const rapidjson::Value* v = Get(key);
    if (v == nullptr) return Status::Ok();
    if (!v->IsBool()) return Error(key, "not a boolean");
    *out = v->GetBool();
    return Status::Ok();
  }
  // The object at `key`, or nullptr when absent; an error when not an object.
  Result<const rapidjson::Value*> Object(std::string_view key) const {
    const rapidjson::Value* v = Get(key);
    if (v != nullptr && !v->IsObject()) return Error(key, "not an object");
    return v;
  }
  const std::string& where() const { return where_; }

 private:
  const rapidjson::Value& object_;
  std::string where_;
};

Result<StatusDocument::Environment> EnvironmentFromJson(const rapidjson::Value& value,
                                                        const std::string& where) {
  if (!value.IsObject()) {
    return Status::InvalidArgument("status document: " + where + ": not an object");
  }
  Fields f(value, where + ".");
  StatusDocument::Environment e;
  PAGODA_RETURN_IF_ERROR(f.String("app", &e.app, true));
  PAGODA_RETURN_IF_ERROR(f.String("env", &e.env, true));
  PAGODA_RETURN_IF_ERROR(f.String("cluster", &e.cluster));
  PAGODA_RETURN_IF_ERROR(f.String("revision", &e.revision));
  PAGODA_RETURN_IF_ERROR(f.String("commit", &e.commit));
  std::string health = "unknown";
  PAGODA_RETURN_IF_ERROR(f.String("health", &health));
  Result<StatusDocument::Health> parsed = ParseHealth(health);
  if (!parsed.ok()) return f.Error("health", parsed.status().message());
  e.health = *parsed;
  PAGODA_RETURN_IF_ERROR(f.Int("ready", &e.ready));
  PAGODA_RETURN_IF_ERROR(f.Int("replicas", &e.replicas));
  PAGODA_RETURN_IF_ERROR(f.Bool("drift", &e.drift));
  PAGODA_RETURN_IF_ERROR(f.String("release", &e.release));
  PAGODA_RETURN_IF_ERROR(f.String("releasePhase", &e.release_phase));
  PAGODA_RETURN_IF_ERROR(f.Int("batchesDone", &e.batches_done));
  PAGODA_RETURN_IF_ERROR(f.Int("batches", &e.batches_total));
  PAGODA_RETURN_IF_ERROR(f.Int("heldSeconds", &e.held_seconds));
  Result<const rapidjson::Value*> pinned = f.Object("pinned");
  if (!pinned.ok()) return pinned.status();
  if (*pinned != nullptr) {
    Fields p(**pinned, f.where() + "pinned.");
    StatusDocument::Pin pin;
    PAGODA_RETURN_IF_ERROR(p.String("commit", &pin.commit, true));
    PAGODA_RETURN_IF_ERROR(p.Time("since", &pin.since));
    e.pinned = pin;
  }
  PAGODA_RETURN_IF_ERROR(f.String("error", &e.error));
  return e;
}

}  // namespace

// ---- StatusDocument ----

std::string_view Name(StatusDocument::Health health) {
  return kHealth[static_cast<size_t>(health)];
}

Result<StatusDocument::Health> ParseHealth(std::string_view name) {
  for (size_t i = 0; i < kHealth.size(); ++i) {
    if (kHealth[i] == name) return static_cast<StatusDocument::Health>(i);
  }
  return Status::InvalidArgument("health '" + std::string(name) +
                                 "' is not one of healthy, progressing, degraded, unknown");
}

std::string StatusDocument::ToJson() const {
  rapidjson::StringBuffer buffer;
  Writer w(buffer);
  w.StartObject();
  Str(w, "time", FormatTime(time));
  Key(w, "commit");
  if (commit.id.empty()) {
    w.Null();
  } else {
    w.StartObject();
    Str(w, "id", commit.id);
    Str(w, "summary", commit.summary);
    w.EndObject();
  }
  Key(w, "repo");
  w.StartObject();
  Str(w, "url", RedactUrl(repo.url));
  Str(w, "ref", repo.ref);
  if (repo.last_fetch != 0) Str(w, "lastFetch", FormatTime(repo.last_fetch));
  if (!repo.error.empty()) Str(w, "error", repo.error);
  w.EndObject();
  if (!journal_error.empty()) Str(w, "journalError", journal_error);
  std::vector<const Environment*> sorted;
  for (const Environment& e : environments) sorted.push_back(&e);
  std::stable_sort(sorted.begin(), sorted.end(), [](const Environment* a, const Environment* b) {
    return std::tie(a->app, a->env) < std::tie(b->app, b->env);
  });
  Key(w, "environments");
  w.StartArray();
  for (const Environment* e : sorted) {
    w.StartObject();
    Str(w, "app", e->app);
    Str(w, "env", e->env);
    Str(w, "cluster", e->cluster);
    Str(w, "revision", e->revision);
    Str(w, "commit", e->commit);
    Str(w, "health", Name(e->health));
    Key(w, "ready");
    w.Int(e->ready);
    Key(w, "replicas");
    w.Int(e->replicas);
    Key(w, "drift");
    w.Bool(e->drift);
    StrOrNull(w, "release", e->release);
    if (!e->release.empty()) {
      Str(w, "releasePhase", e->release_phase);
      Key(w, "batchesDone");
      w.Int(e->batches_done);
      Key(w, "batches");
      w.Int(e->batches_total);
      Key(w, "heldSeconds");
      w.Int(e->held_seconds);
    }
    Key(w, "pinned");
    if (e->pinned.has_value()) {
      w.StartObject();
      Str(w, "commit", e->pinned->commit);
      if (e->pinned->since != 0) Str(w, "since", FormatTime(e->pinned->since));
      w.EndObject();
    } else {
      w.Null();
    }
    StrOrNull(w, "error", e->error);
    w.EndObject();
  }
  w.EndArray();
  w.EndObject();
  return std::string(buffer.GetString(), buffer.GetSize());
}

Result<StatusDocument> StatusDocument::FromJson(const rapidjson::Value& value) {
  if (!value.IsObject()) return Status::InvalidArgument("status document: not a JSON object");
  Fields f(value, "");
  StatusDocument doc;
  PAGODA_RETURN_IF_ERROR(f.Time("time", &doc.time));
  Result<const rapidjson::Value*> commit = f.Object("commit");
  if (!commit.ok()) return commit.status();
  if (*commit != nullptr) {
    Fields c(**commit, "commit.");
    PAGODA_RETURN_IF_ERROR(c.String("id", &doc.commit.id, true));
    PAGODA_RETURN_IF_ERROR(c.String("summary", &doc.commit.summary));
  }
  Result<const rapidjson::Value*> repo = f.Object("repo");
  if (!repo.ok()) return repo.status();
  if (*repo != nullptr) {
    Fields r(**repo, "repo.");
    PAGODA_RETURN_IF_ERROR(r.String("url", &doc.repo.url));
    PAGODA_RETURN_IF_ERROR(r.String("ref", &doc.repo.ref));
    PAGODA_RETURN_IF_ERROR(r.Time("lastFetch", &doc.repo.last_fetch));
    PAGODA_RETURN_IF_ERROR(r.String("error", &doc.repo.error));
  }
  PAGODA_RETURN_IF_ERROR(f.String("journalError", &doc.journal_error));
  if (const rapidjson::Value* envs = f.Get("environments")) {
    if (!envs->IsArray()) return f.Error("environments", "not a list");
    for (rapidjson::SizeType i = 0; i < envs->Size(); ++i) {
      Result<Environment> e =
          EnvironmentFromJson((*envs)[i], "environments[" + std::to_string(i) + "]");
      if (!e.ok()) return e.status();
      doc.environments.push_back(std::move(*e));
    }
  }
  return doc;
}

Result<StatusDocument> StatusDocument::Parse(std::string_view json) {
  rapidjson::Document doc;
  doc.Parse(json.data(), json.size());
  if (doc.HasParseError()) {
    return Status::InvalidArgument(std::string("status document: not JSON: ") +
                                   rapidjson::GetParseError_En(doc.GetParseError()) +
                                   " at offset " + std::to_string(doc.GetErrorOffset()));
  }
  return FromJson(doc);
}

Status WriteStatusFile(const std::string& path, const StatusDocument& status) {
  return WriteFileAtomically(path, status.ToJson() + "\n", 0600);
}

Result<StatusDocument> ReadStatusFile(const std::string& path) {
  Result<std::string> text = ReadFile(path);
  if (!text.ok()) return text.status();
  Result<StatusDocument> doc = StatusDocument::Parse(*text);
  if (!doc.ok()) return doc.status().WithContext(path);
  return doc;
}

}  // namespace pagoda::control
