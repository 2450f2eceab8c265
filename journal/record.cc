#include "journal/record.h"

#include <rapidjson/document.h>
#include <rapidjson/stringbuffer.h>
#include <rapidjson/writer.h>

#include <array>
#include <cstdio>
#include <ctime>
#include <utility>

#include "journal/record_json.h"

namespace pagoda::journal {
namespace {

using Writer = rapidjson::Writer<rapidjson::StringBuffer>;

template <typename Enum, size_t N>
Result<Enum> ParseEnum(std::string_view name, const std::array<std::string_view, N>& names,
                       std::string_view what) {
  for (size_t i = 0; i < N; ++i) {
    if (names[i] == name) return static_cast<Enum>(i);
  }
  std::string valid;
  for (std::string_view n : names) valid += (valid.empty() ? "" : ", ") + std::string(n);
  return Status::InvalidArgument(std::string(what) + " '" + std::string(name) + "' is not one of " +
                                 valid);
}

constexpr std::array<std::string_view, 6> kKinds = {"rollout",  "scale",     "config",
                                                    "rollback", "self-heal", "prune"};
constexpr std::array<std::string_view, 5> kTriggers = {"commit", "revert", "manual-rollback",
                                                       "self-heal", "manual-sync"};
constexpr std::array<std::string_view, 6> kOutcomes = {"in-progress", "succeeded", "failed",
                                                       "rolled-back", "aborted",   "superseded"};
constexpr std::array<std::string_view, 4> kHolds = {"", "policy", "operator", "failed"};
constexpr std::array<std::string_view, 6> kActions = {"created", "configured", "unchanged",
                                                      "deleted", "skipped",    "adopted"};

void Key(Writer& w, std::string_view key) {
  w.Key(key.data(), static_cast<rapidjson::SizeType>(key.size()));
}
void Str(Writer& w, std::string_view key, std::string_view value) {
  Key(w, key);
  w.String(value.data(), static_cast<rapidjson::SizeType>(value.size()));
}
void OptStr(Writer& w, std::string_view key, std::string_view value) {
  if (!value.empty()) Str(w, key, value);
}
void Time(Writer& w, std::string_view key, TimeMs time) {
  if (time != 0) Str(w, key, FormatTime(time));
}
void Strings(Writer& w, std::string_view key, const std::vector<std::string>& values) {
  Key(w, key);
  w.StartArray();
  for (const std::string& v : values)
    w.String(v.data(), static_cast<rapidjson::SizeType>(v.size()));
  w.EndArray();
}

void WriteCommit(Writer& w, std::string_view key, const RecordCommit& commit) {
  Key(w, key);
  if (commit.id.empty()) {
    w.Null();
    return;
  }
  w.StartObject();
  Str(w, "id", commit.id);
  OptStr(w, "author", commit.author);
  Time(w, "time", commit.time);
  OptStr(w, "summary", commit.summary);
  w.EndObject();
}

// ---- reading ----

class Fields {
 public:
  Fields(const rapidjson::Value& object, std::string where)
      : object_(object), where_(std::move(where)) {}

  Status Error(std::string_view key, std::string_view what) const {
    return Status::InvalidArgument(where_ + std::string(key) + ": " + std::string(what));
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

  Status Int(std::string_view key, int64_t* out) const {
    const rapidjson::Value* v = Get(key);
    if (v == nullptr) return Status::Ok();
    if (!v->IsInt64()) return Error(key, "not an integer");
    *out = v->GetInt64();
    return Status::Ok();
  }

  Status Int(std::string_view key, int* out) const {
    int64_t value = *out;
    PAGODA_RETURN_IF_ERROR(Int(key, &value));
    if (value < INT32_MIN || value > INT32_MAX) return Error(key, "out of range");
    *out = static_cast<int>(value);
    return Status::Ok();
  }

  Status Bool(std::string_view key, bool* out) const {
    const rapidjson::Value* v = Get(key);
    if (v == nullptr) return Status::Ok();
    if (!v->IsBool()) return Error(key, "not a boolean");
    *out = v->GetBool();
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

  Status Strings(std::string_view key, std::vector<std::string>* out) const {
    const rapidjson::Value* v = Get(key);
    if (v == nullptr) return Status::Ok();
    if (!v->IsArray()) return Error(key, "not a list");
    for (const rapidjson::Value& item : v->GetArray()) {
      if (!item.IsString()) return Error(key, "holds something other than a string");
      out->emplace_back(item.GetString(), item.GetStringLength());
    }
    return Status::Ok();
  }

  template <typename Enum, size_t N>
  Status Enumeration(std::string_view key, const std::array<std::string_view, N>& names,
                     Enum* out) const {
    std::string text;
    PAGODA_RETURN_IF_ERROR(String(key, &text, /*required=*/true));
    Result<Enum> value = ParseEnum<Enum>(text, names, key);
    if (!value.ok()) return Error(key, value.status().message());
    *out = *value;
    return Status::Ok();
  }

  const std::string& where() const { return where_; }

 private:
  const rapidjson::Value& object_;
  std::string where_;
};

Status ReadCommit(const Fields& parent, std::string_view key, RecordCommit* out) {
  const rapidjson::Value* v = parent.Get(key);
  if (v == nullptr) return Status::Ok();
  if (!v->IsObject()) return parent.Error(key, "not an object");
  Fields f(*v, parent.where() + std::string(key) + ".");
  PAGODA_RETURN_IF_ERROR(f.String("id", &out->id, true));
  PAGODA_RETURN_IF_ERROR(f.String("author", &out->author));
  PAGODA_RETURN_IF_ERROR(f.Time("time", &out->time));
  return f.String("summary", &out->summary);
}

}  // namespace

std::string_view Name(ReleaseKind kind) { return kKinds[static_cast<size_t>(kind)]; }
std::string_view Name(Trigger trigger) { return kTriggers[static_cast<size_t>(trigger)]; }
std::string_view Name(Outcome outcome) { return kOutcomes[static_cast<size_t>(outcome)]; }
std::string_view Name(Hold hold) { return kHolds[static_cast<size_t>(hold)]; }
std::string_view Name(ChangeAction action) { return kActions[static_cast<size_t>(action)]; }
Result<ReleaseKind> ParseReleaseKind(std::string_view name) {
  return ParseEnum<ReleaseKind>(name, kKinds, "release kind");
}
Result<Trigger> ParseTrigger(std::string_view name) {
  return ParseEnum<Trigger>(name, kTriggers, "trigger");
}
Result<Outcome> ParseOutcome(std::string_view name) {
  return ParseEnum<Outcome>(name, kOutcomes, "outcome");
}
Result<ChangeAction> ParseChangeAction(std::string_view name) {
  return ParseEnum<ChangeAction>(name, kActions, "change action");
}

std::string FormatTime(TimeMs time) {
  int64_t seconds = time / 1000;
  int64_t millis = time % 1000;
  if (millis < 0) {
    millis += 1000;
    --seconds;
  }
  std::time_t t = static_cast<std::time_t>(seconds);
  std::tm tm{};
  ::gmtime_r(&t, &tm);
  char buf[48];
  std::snprintf(buf, sizeof buf, "%04d-%02d-%02dT%02d:%02d:%02d.%03dZ", tm.tm_year + 1900,
                tm.tm_mon + 1, tm.tm_mday, tm.tm_hour, tm.tm_min, tm.tm_sec,
                static_cast<int>(millis));
  return buf;
}

Result<TimeMs> ParseTime(std::string_view text) {
  // Exactly the form FormatTime writes, milliseconds optional.
  auto bad = [&] {
    return Status::InvalidArgument("'" + std::string(text) +
                                   "' is not a UTC time like 2024-05-01T10:00:00.000Z");
  };
  if (text.size() != 20 && text.size() != 24) return bad();
  auto digits = [&](size_t at, size_t n, int* out) {
    int v = 0;
    for (size_t i = at; i < at + n; ++i) {
      if (text[i] < '0' || text[i] > '9') return false;
      v = v * 10 + (text[i] - '0');
    }
    *out = v;
    return true;
  };
  std::tm tm{};
  int year = 0, month = 0, millis = 0;
  if (!digits(0, 4, &year) || text[4] != '-' || !digits(5, 2, &month) || text[7] != '-' ||
      !digits(8, 2, &tm.tm_mday) || text[10] != 'T' || !digits(11, 2, &tm.tm_hour) ||
      text[13] != ':' || !digits(14, 2, &tm.tm_min) || text[16] != ':' ||
      !digits(17, 2, &tm.tm_sec) || text.back() != 'Z') {
    return bad();
  }
  if (text.size() == 24 && (text[19] != '.' || !digits(20, 3, &millis))) return bad();
  if (month < 1 || month > 12 || tm.tm_mday < 1 || tm.tm_mday > 31 || tm.tm_hour > 23 ||
      tm.tm_min > 59 || tm.tm_sec > 60) {
    return bad();
  }
  tm.tm_year = year - 1900;
  tm.tm_mon = month - 1;
  return static_cast<TimeMs>(::timegm(&tm)) * 1000 + millis;
}

std::string ReleaseId(int64_t number) {
  char buf[32];
  std::snprintf(buf, sizeof buf, "r-%06lld", static_cast<long long>(number));
  return buf;
}

int64_t ReleaseIdNumber(std::string_view id) {
  if (!id.starts_with("r-") || id.size() < 3 || id.size() > 20) return -1;
  int64_t n = 0;
  for (char c : id.substr(2)) {
    if (c < '0' || c > '9') return -1;
    n = n * 10 + (c - '0');
  }
  return n;
}

std::string ToJson(const ReleaseRecord& r) {
  rapidjson::StringBuffer buffer;
  Writer w(buffer);
  w.StartObject();
  Str(w, "id", r.id);
  Str(w, "app", r.app);
  Str(w, "env", r.env);
  Str(w, "cluster", r.cluster);
  Str(w, "kind", Name(r.kind));
  Str(w, "trigger", Name(r.trigger));
  WriteCommit(w, "from", r.from);
  WriteCommit(w, "to", r.to);
  OptStr(w, "fromRevision", r.from_revision);
  OptStr(w, "toRevision", r.to_revision);
  Key(w, "changes");
  w.StartArray();
  for (const Change& c : r.changes) {
    w.StartObject();
    Str(w, "action", Name(c.action));
    Str(w, "key", c.key);
    OptStr(w, "detail", c.detail);
    w.EndObject();
  }
  w.EndArray();
  Key(w, "batches");
  w.StartArray();
  for (const BatchRecord& b : r.batches) {
    w.StartObject();
    Key(w, "index");
    w.Int(b.index);
    Key(w, "instances");
    w.Int(b.instances);
    Time(w, "start", b.start);
    Strings(w, "pods", b.pods);
    Time(w, "ready", b.ready);
    Time(w, "end", b.end);
    w.EndObject();
  }
  w.EndArray();
  Str(w, "outcome", Name(r.outcome));
  Strings(w, "errors", r.errors);
  if (!r.warnings.empty()) Strings(w, "warnings", r.warnings);
  Time(w, "start", r.start);
  Time(w, "end", r.end);
  OptStr(w, "restores", r.restores);
  Key(w, "historyRewritten");
  w.Bool(r.history_rewritten);
  OptStr(w, "hold", Name(r.hold));
  if (r.pause_requested) {
    Key(w, "pauseRequested");
    w.Bool(true);
  }
  if (r.abort_requested) {
    Key(w, "abortRequested");
    w.Bool(true);
  }
  w.EndObject();
  return std::string(buffer.GetString(), buffer.GetSize());
}

std::string ToJson(const SyncEntry& e) {
  rapidjson::StringBuffer buffer;
  Writer w(buffer);
  w.StartObject();
  Time(w, "time", e.time);
  OptStr(w, "commit", e.commit);
  Key(w, "environmentsChecked");
  w.Int(e.environments_checked);
  Strings(w, "drift", e.drift);
  Strings(w, "releases", e.releases);
  Strings(w, "errors", e.errors);
  Key(w, "durationMs");
  w.Int64(e.duration_ms);
  w.EndObject();
  return std::string(buffer.GetString(), buffer.GetSize());
}

Result<ReleaseRecord> ReleaseFromJson(const rapidjson::Value& value) {
  if (!value.IsObject()) return Status::InvalidArgument("a release record is a JSON object");
  ReleaseRecord r;
  Fields f(value, "");
  PAGODA_RETURN_IF_ERROR(f.String("id", &r.id, true));
  if (ReleaseIdNumber(r.id) < 0) return f.Error("id", "'" + r.id + "' is not like r-000123");
  PAGODA_RETURN_IF_ERROR(f.String("app", &r.app, true));
  PAGODA_RETURN_IF_ERROR(f.String("env", &r.env, true));
  PAGODA_RETURN_IF_ERROR(f.String("cluster", &r.cluster));
  PAGODA_RETURN_IF_ERROR(f.Enumeration("kind", kKinds, &r.kind));
  PAGODA_RETURN_IF_ERROR(f.Enumeration("trigger", kTriggers, &r.trigger));
  PAGODA_RETURN_IF_ERROR(ReadCommit(f, "from", &r.from));
  PAGODA_RETURN_IF_ERROR(ReadCommit(f, "to", &r.to));
  PAGODA_RETURN_IF_ERROR(f.String("fromRevision", &r.from_revision));
  PAGODA_RETURN_IF_ERROR(f.String("toRevision", &r.to_revision));
  if (const rapidjson::Value* changes = f.Get("changes")) {
    if (!changes->IsArray()) return f.Error("changes", "not a list");
    for (const rapidjson::Value& item : changes->GetArray()) {
      if (!item.IsObject()) return f.Error("changes", "holds something other than an object");
      Fields c(item, "changes[].");
      Change change;
      PAGODA_RETURN_IF_ERROR(c.Enumeration("action", kActions, &change.action));
      PAGODA_RETURN_IF_ERROR(c.String("key", &change.key, true));
      PAGODA_RETURN_IF_ERROR(c.String("detail", &change.detail));
      r.changes.push_back(std::move(change));
    }
  }
  if (const rapidjson::Value* batches = f.Get("batches")) {
    if (!batches->IsArray()) return f.Error("batches", "not a list");
    for (const rapidjson::Value& item : batches->GetArray()) {
      if (!item.IsObject()) return f.Error("batches", "holds something other than an object");
      Fields b(item, "batches[].");
      BatchRecord batch;
      PAGODA_RETURN_IF_ERROR(b.Int("index", &batch.index));
      PAGODA_RETURN_IF_ERROR(b.Int("instances", &batch.instances));
      PAGODA_RETURN_IF_ERROR(b.Time("start", &batch.start));
      PAGODA_RETURN_IF_ERROR(b.Strings("pods", &batch.pods));
      PAGODA_RETURN_IF_ERROR(b.Time("ready", &batch.ready));
      PAGODA_RETURN_IF_ERROR(b.Time("end", &batch.end));
      r.batches.push_back(std::move(batch));
    }
  }
  PAGODA_RETURN_IF_ERROR(f.Enumeration("outcome", kOutcomes, &r.outcome));
  PAGODA_RETURN_IF_ERROR(f.Strings("errors", &r.errors));
  PAGODA_RETURN_IF_ERROR(f.Strings("warnings", &r.warnings));
  PAGODA_RETURN_IF_ERROR(f.Time("start", &r.start));
  PAGODA_RETURN_IF_ERROR(f.Time("end", &r.end));
  PAGODA_RETURN_IF_ERROR(f.String("restores", &r.restores));
  PAGODA_RETURN_IF_ERROR(f.Bool("historyRewritten", &r.history_rewritten));
  if (f.Get("hold") != nullptr) PAGODA_RETURN_IF_ERROR(f.Enumeration("hold", kHolds, &r.hold));
  PAGODA_RETURN_IF_ERROR(f.Bool("pauseRequested", &r.pause_requested));
  PAGODA_RETURN_IF_ERROR(f.Bool("abortRequested", &r.abort_requested));
  return r;
}

Result<SyncEntry> SyncFromJson(const rapidjson::Value& value) {
  if (!value.IsObject()) return Status::InvalidArgument("a sync entry is a JSON object");
  SyncEntry e;
  Fields f(value, "");
  PAGODA_RETURN_IF_ERROR(f.Time("time", &e.time));
  PAGODA_RETURN_IF_ERROR(f.String("commit", &e.commit));
  PAGODA_RETURN_IF_ERROR(f.Int("environmentsChecked", &e.environments_checked));
  PAGODA_RETURN_IF_ERROR(f.Strings("drift", &e.drift));
  PAGODA_RETURN_IF_ERROR(f.Strings("releases", &e.releases));
  PAGODA_RETURN_IF_ERROR(f.Strings("errors", &e.errors));
  PAGODA_RETURN_IF_ERROR(f.Int("durationMs", &e.duration_ms));
  return e;
}

Result<ReleaseRecord> ParseReleaseRecord(std::string_view json) {
  rapidjson::Document doc;
  doc.Parse(json.data(), json.size());
  if (doc.HasParseError()) return Status::InvalidArgument("a release record is not valid JSON");
  return ReleaseFromJson(doc);
}

Result<SyncEntry> ParseSyncEntry(std::string_view json) {
  rapidjson::Document doc;
  doc.Parse(json.data(), json.size());
  if (doc.HasParseError()) return Status::InvalidArgument("a sync entry is not valid JSON");
  return SyncFromJson(doc);
}

}  // namespace pagoda::journal
