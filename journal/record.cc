#include "journal/record.h"

#include <array>
#include <cstdio>
#include <ctime>
#include <utility>

#include "base/clock.h"
#include "base/json.h"
#include "journal/record_json.h"

namespace pagoda::journal {
namespace {

using json::Key;
using json::Writer;

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

void OptStr(Writer& w, std::string_view key, std::string_view value) {
  if (!value.empty()) json::String(w, key, value);
}
void Time(Writer& w, std::string_view key, TimeMs time) {
  if (time != 0) json::String(w, key, FormatTime(time));
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
  json::String(w, "id", commit.id);
  OptStr(w, "author", commit.author);
  Time(w, "time", commit.time);
  OptStr(w, "summary", commit.summary);
  w.EndObject();
}

// ---- reading ----

template <typename Enum, size_t N>
Status ReadEnum(const json::Fields& f, std::string_view key,
                const std::array<std::string_view, N>& names, Enum* out) {
  return f.Parsed(
      key, [&](std::string_view text) { return ParseEnum<Enum>(text, names, key); }, out,
      /*required=*/true);
}

Status ReadCommit(const json::Fields& parent, std::string_view key, RecordCommit* out) {
  return parent.Object(key, [&](const json::Fields& f) {
    PAGODA_RETURN_IF_ERROR(f.String("id", &out->id, true));
    PAGODA_RETURN_IF_ERROR(f.String("author", &out->author));
    PAGODA_RETURN_IF_ERROR(f.Parsed("time", ParseTime, &out->time));
    return f.String("summary", &out->summary);
  });
}

Status ReadChange(const json::Fields& f, std::vector<Change>* out) {
  Change change;
  PAGODA_RETURN_IF_ERROR(ReadEnum(f, "action", kActions, &change.action));
  PAGODA_RETURN_IF_ERROR(f.String("key", &change.key, true));
  PAGODA_RETURN_IF_ERROR(f.String("detail", &change.detail));
  PAGODA_RETURN_IF_ERROR(f.Strings("fields", &change.fields));
  out->push_back(std::move(change));
  return Status::Ok();
}

Status ReadBatch(const json::Fields& f, std::vector<BatchRecord>* out) {
  BatchRecord batch;
  PAGODA_RETURN_IF_ERROR(f.Int("index", &batch.index));
  PAGODA_RETURN_IF_ERROR(f.Int("instances", &batch.instances));
  PAGODA_RETURN_IF_ERROR(f.Parsed("start", ParseTime, &batch.start));
  PAGODA_RETURN_IF_ERROR(f.Strings("pods", &batch.pods));
  PAGODA_RETURN_IF_ERROR(f.Parsed("ready", ParseTime, &batch.ready));
  PAGODA_RETURN_IF_ERROR(f.Parsed("end", ParseTime, &batch.end));
  PAGODA_RETURN_IF_ERROR(f.Strings("gates", &batch.gates));
  out->push_back(std::move(batch));
  return Status::Ok();
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

std::string FormatTime(TimeMs time) { return FormatUtcMillis(time); }

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
  json::String(w, "id", r.id);
  json::String(w, "app", r.app);
  json::String(w, "env", r.env);
  json::String(w, "cluster", r.cluster);
  json::String(w, "kind", Name(r.kind));
  json::String(w, "trigger", Name(r.trigger));
  WriteCommit(w, "from", r.from);
  WriteCommit(w, "to", r.to);
  OptStr(w, "fromRevision", r.from_revision);
  OptStr(w, "toRevision", r.to_revision);
  Key(w, "changes");
  w.StartArray();
  for (const Change& c : r.changes) {
    w.StartObject();
    json::String(w, "action", Name(c.action));
    json::String(w, "key", c.key);
    OptStr(w, "detail", c.detail);
    if (!c.fields.empty()) Strings(w, "fields", c.fields);
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
    if (!b.gates.empty()) Strings(w, "gates", b.gates);
    w.EndObject();
  }
  w.EndArray();
  json::String(w, "outcome", Name(r.outcome));
  Strings(w, "errors", r.errors);
  if (!r.warnings.empty()) Strings(w, "warnings", r.warnings);
  Time(w, "start", r.start);
  Time(w, "end", r.end);
  OptStr(w, "restores", r.restores);
  OptStr(w, "supersededBy", r.superseded_by);
  OptStr(w, "supersedes", r.supersedes);
  OptStr(w, "freeze", r.freeze);
  OptStr(w, "follows", r.follows);
  OptStr(w, "promotion", r.promotion);
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
  json::Fields f(value, "");
  PAGODA_RETURN_IF_ERROR(f.String("id", &r.id, true));
  if (ReleaseIdNumber(r.id) < 0) return f.Error("id", "'" + r.id + "' is not like r-000123");
  PAGODA_RETURN_IF_ERROR(f.String("app", &r.app, true));
  PAGODA_RETURN_IF_ERROR(f.String("env", &r.env, true));
  PAGODA_RETURN_IF_ERROR(f.String("cluster", &r.cluster));
  PAGODA_RETURN_IF_ERROR(ReadEnum(f, "kind", kKinds, &r.kind));
  PAGODA_RETURN_IF_ERROR(ReadEnum(f, "trigger", kTriggers, &r.trigger));
  PAGODA_RETURN_IF_ERROR(ReadCommit(f, "from", &r.from));
  PAGODA_RETURN_IF_ERROR(ReadCommit(f, "to", &r.to));
  PAGODA_RETURN_IF_ERROR(f.String("fromRevision", &r.from_revision));
  PAGODA_RETURN_IF_ERROR(f.String("toRevision", &r.to_revision));
  PAGODA_RETURN_IF_ERROR(
      f.Objects("changes", [&](const json::Fields& c) { return ReadChange(c, &r.changes); }));
  PAGODA_RETURN_IF_ERROR(
      f.Objects("batches", [&](const json::Fields& b) { return ReadBatch(b, &r.batches); }));
  PAGODA_RETURN_IF_ERROR(ReadEnum(f, "outcome", kOutcomes, &r.outcome));
  PAGODA_RETURN_IF_ERROR(f.Strings("errors", &r.errors));
  PAGODA_RETURN_IF_ERROR(f.Strings("warnings", &r.warnings));
  PAGODA_RETURN_IF_ERROR(f.Parsed("start", ParseTime, &r.start));
  PAGODA_RETURN_IF_ERROR(f.Parsed("end", ParseTime, &r.end));
  PAGODA_RETURN_IF_ERROR(f.String("restores", &r.restores));
  PAGODA_RETURN_IF_ERROR(f.String("supersededBy", &r.superseded_by));
  PAGODA_RETURN_IF_ERROR(f.String("supersedes", &r.supersedes));
  PAGODA_RETURN_IF_ERROR(f.String("freeze", &r.freeze));
  PAGODA_RETURN_IF_ERROR(f.String("follows", &r.follows));
  PAGODA_RETURN_IF_ERROR(f.String("promotion", &r.promotion));
  PAGODA_RETURN_IF_ERROR(f.Bool("historyRewritten", &r.history_rewritten));
  if (f.Get("hold") != nullptr) PAGODA_RETURN_IF_ERROR(ReadEnum(f, "hold", kHolds, &r.hold));
  PAGODA_RETURN_IF_ERROR(f.Bool("pauseRequested", &r.pause_requested));
  PAGODA_RETURN_IF_ERROR(f.Bool("abortRequested", &r.abort_requested));
  return r;
}

Result<SyncEntry> SyncFromJson(const rapidjson::Value& value) {
  if (!value.IsObject()) return Status::InvalidArgument("a sync entry is a JSON object");
  SyncEntry e;
  json::Fields f(value, "");
  PAGODA_RETURN_IF_ERROR(f.Parsed("time", ParseTime, &e.time));
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
