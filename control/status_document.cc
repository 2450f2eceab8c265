// The status document of control.h: its JSON and its file.
#include <fcntl.h>
#include <unistd.h>

#include <algorithm>
#include <array>
#include <cerrno>
#include <cstring>
#include <optional>
#include <tuple>
#include <utility>

#include "base/file.h"
#include "base/json.h"
#include "base/url.h"
#include "control/control.h"

namespace pagoda::control {
namespace {

using json::Key;
using json::Writer;

constexpr std::array<std::string_view, 4> kHealth = {"healthy", "progressing", "degraded",
                                                     "unknown"};

void StrOrNull(Writer& w, std::string_view key, std::string_view value) {
  if (value.empty()) {
    Key(w, key);
    w.Null();
  } else {
    json::String(w, key, value);
  }
}

// `key`: the object `write` fills in from `value`, or null without one.
template <typename T, typename Fill>
void Optional(Writer& w, std::string_view key, const std::optional<T>& value, Fill write) {
  Key(w, key);
  if (!value.has_value()) {
    w.Null();
    return;
  }
  w.StartObject();
  write(*value);
  w.EndObject();
}

Status ReadPin(const json::Fields& f, StatusDocument::Pin* pin) {
  PAGODA_RETURN_IF_ERROR(f.String("commit", &pin->commit, true));
  return f.Parsed("since", ParseTime, &pin->since);
}

Status ReadFreeze(const json::Fields& f, StatusDocument::Freeze* freeze) {
  PAGODA_RETURN_IF_ERROR(f.String("window", &freeze->window, true));
  return f.Parsed("until", ParseTime, &freeze->until);
}

Status ReadWait(const json::Fields& f, StatusDocument::Wait* wait) {
  PAGODA_RETURN_IF_ERROR(f.String("for", &wait->after, true));
  PAGODA_RETURN_IF_ERROR(f.String("reason", &wait->reason));
  PAGODA_RETURN_IF_ERROR(f.Int("soakedSeconds", &wait->soaked_seconds));
  return f.Int("soakSeconds", &wait->soak_seconds);
}

Status ReadEnvironment(const json::Fields& f, StatusDocument::Environment* e) {
  PAGODA_RETURN_IF_ERROR(f.String("app", &e->app, true));
  PAGODA_RETURN_IF_ERROR(f.String("env", &e->env, true));
  PAGODA_RETURN_IF_ERROR(f.String("cluster", &e->cluster));
  PAGODA_RETURN_IF_ERROR(f.String("revision", &e->revision));
  PAGODA_RETURN_IF_ERROR(f.String("commit", &e->commit));
  PAGODA_RETURN_IF_ERROR(f.Parsed("health", ParseHealth, &e->health));
  PAGODA_RETURN_IF_ERROR(f.Int("ready", &e->ready));
  PAGODA_RETURN_IF_ERROR(f.Int("replicas", &e->replicas));
  PAGODA_RETURN_IF_ERROR(f.Bool("drift", &e->drift));
  PAGODA_RETURN_IF_ERROR(f.String("release", &e->release));
  PAGODA_RETURN_IF_ERROR(f.String("releasePhase", &e->release_phase));
  PAGODA_RETURN_IF_ERROR(f.Int("batchesDone", &e->batches_done));
  PAGODA_RETURN_IF_ERROR(f.Int("batches", &e->batches_total));
  PAGODA_RETURN_IF_ERROR(f.Int("heldSeconds", &e->held_seconds));
  PAGODA_RETURN_IF_ERROR(f.Object("pinned", [&](const json::Fields& p) {
    e->pinned.emplace();
    return ReadPin(p, &*e->pinned);
  }));
  PAGODA_RETURN_IF_ERROR(f.Object("frozen", [&](const json::Fields& p) {
    e->frozen.emplace();
    return ReadFreeze(p, &*e->frozen);
  }));
  PAGODA_RETURN_IF_ERROR(f.Object("waiting", [&](const json::Fields& p) {
    e->waiting.emplace();
    return ReadWait(p, &*e->waiting);
  }));
  PAGODA_RETURN_IF_ERROR(f.Bool("standby", &e->standby));
  return f.String("error", &e->error);
}

Status ReadLeadership(const json::Fields& f, StatusDocument::Leadership* l) {
  PAGODA_RETURN_IF_ERROR(f.String("identity", &l->identity, true));
  PAGODA_RETURN_IF_ERROR(f.Strings("replicas", &l->replicas));
  PAGODA_RETURN_IF_ERROR(f.String("error", &l->error));
  return f.Objects("shards", [&](const json::Fields& s) {
    StatusDocument::Leadership::Shard shard;
    PAGODA_RETURN_IF_ERROR(s.Int("index", &shard.index));
    PAGODA_RETURN_IF_ERROR(s.String("lease", &shard.lease, true));
    PAGODA_RETURN_IF_ERROR(s.String("holder", &shard.holder));
    PAGODA_RETURN_IF_ERROR(s.Parsed("since", ParseTime, &shard.since));
    PAGODA_RETURN_IF_ERROR(s.Bool("mine", &shard.mine));
    l->shards.push_back(std::move(shard));
    return Status::Ok();
  });
}

Status ReadMirror(const json::Fields& f, StatusDocument::Mirror* m) {
  PAGODA_RETURN_IF_ERROR(f.Int("waiting", &m->waiting));
  PAGODA_RETURN_IF_ERROR(f.Parsed("oldest", ParseTime, &m->oldest));
  return f.String("error", &m->error);
}

Status ReadCommit(const json::Fields& f, StatusDocument::Commit* commit) {
  PAGODA_RETURN_IF_ERROR(f.String("id", &commit->id, true));
  return f.String("summary", &commit->summary);
}

Status ReadRepo(const json::Fields& f, StatusDocument::Repo* repo) {
  PAGODA_RETURN_IF_ERROR(f.String("url", &repo->url));
  PAGODA_RETURN_IF_ERROR(f.String("ref", &repo->ref));
  PAGODA_RETURN_IF_ERROR(f.Parsed("lastFetch", ParseTime, &repo->last_fetch));
  return f.String("error", &repo->error);
}

Status ReadStatusDocument(const json::Fields& f, StatusDocument* doc) {
  PAGODA_RETURN_IF_ERROR(f.Parsed("time", ParseTime, &doc->time));
  PAGODA_RETURN_IF_ERROR(
      f.Object("commit", [&](const json::Fields& c) { return ReadCommit(c, &doc->commit); }));
  PAGODA_RETURN_IF_ERROR(
      f.Object("repo", [&](const json::Fields& r) { return ReadRepo(r, &doc->repo); }));
  PAGODA_RETURN_IF_ERROR(f.String("journalError", &doc->journal_error));
  PAGODA_RETURN_IF_ERROR(f.Object("leadership", [&](const json::Fields& l) {
    doc->leadership.emplace();
    return ReadLeadership(l, &*doc->leadership);
  }));
  PAGODA_RETURN_IF_ERROR(f.Object("mirror", [&](const json::Fields& m) {
    doc->mirror.emplace();
    return ReadMirror(m, &*doc->mirror);
  }));
  return f.Objects("environments", [&](const json::Fields& e) {
    StatusDocument::Environment environment;
    PAGODA_RETURN_IF_ERROR(ReadEnvironment(e, &environment));
    doc->environments.push_back(std::move(environment));
    return Status::Ok();
  });
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
  json::String(w, "time", FormatTime(time));
  Key(w, "commit");
  if (commit.id.empty()) {
    w.Null();
  } else {
    w.StartObject();
    json::String(w, "id", commit.id);
    json::String(w, "summary", commit.summary);
    w.EndObject();
  }
  Key(w, "repo");
  w.StartObject();
  json::String(w, "url", RedactUrl(repo.url));
  json::String(w, "ref", repo.ref);
  if (repo.last_fetch != 0) json::String(w, "lastFetch", FormatTime(repo.last_fetch));
  if (!repo.error.empty()) json::String(w, "error", repo.error);
  w.EndObject();
  if (!journal_error.empty()) json::String(w, "journalError", journal_error);
  if (leadership) {
    Key(w, "leadership");
    w.StartObject();
    json::String(w, "identity", leadership->identity);
    Key(w, "replicas");
    w.StartArray();
    for (const std::string& r : leadership->replicas)
      w.String(r.data(), static_cast<rapidjson::SizeType>(r.size()));
    w.EndArray();
    Key(w, "shards");
    w.StartArray();
    for (const auto& shard : leadership->shards) {
      w.StartObject();
      Key(w, "index");
      w.Int(shard.index);
      json::String(w, "lease", shard.lease);
      StrOrNull(w, "holder", shard.holder);
      if (shard.since != 0) json::String(w, "since", FormatTime(shard.since));
      Key(w, "mine");
      w.Bool(shard.mine);
      w.EndObject();
    }
    w.EndArray();
    if (!leadership->error.empty()) json::String(w, "error", leadership->error);
    w.EndObject();
  }
  if (mirror) {
    Key(w, "mirror");
    w.StartObject();
    Key(w, "waiting");
    w.Int(mirror->waiting);
    if (mirror->oldest != 0) json::String(w, "oldest", FormatTime(mirror->oldest));
    if (!mirror->error.empty()) json::String(w, "error", mirror->error);
    w.EndObject();
  }
  std::vector<const Environment*> sorted;
  for (const Environment& e : environments) sorted.push_back(&e);
  std::stable_sort(sorted.begin(), sorted.end(), [](const Environment* a, const Environment* b) {
    return std::tie(a->app, a->env) < std::tie(b->app, b->env);
  });
  Key(w, "environments");
  w.StartArray();
  for (const Environment* e : sorted) {
    w.StartObject();
    json::String(w, "app", e->app);
    json::String(w, "env", e->env);
    json::String(w, "cluster", e->cluster);
    json::String(w, "revision", e->revision);
    json::String(w, "commit", e->commit);
    json::String(w, "health", Name(e->health));
    Key(w, "ready");
    w.Int(e->ready);
    Key(w, "replicas");
    w.Int(e->replicas);
    Key(w, "drift");
    w.Bool(e->drift);
    StrOrNull(w, "release", e->release);
    if (!e->release.empty()) {
      json::String(w, "releasePhase", e->release_phase);
      Key(w, "batchesDone");
      w.Int(e->batches_done);
      Key(w, "batches");
      w.Int(e->batches_total);
      Key(w, "heldSeconds");
      w.Int(e->held_seconds);
    }
    Optional(w, "pinned", e->pinned, [&](const StatusDocument::Pin& pin) {
      json::String(w, "commit", pin.commit);
      if (pin.since != 0) json::String(w, "since", FormatTime(pin.since));
    });
    Optional(w, "frozen", e->frozen, [&](const StatusDocument::Freeze& freeze) {
      json::String(w, "window", freeze.window);
      if (freeze.until != 0) json::String(w, "until", FormatTime(freeze.until));
    });
    Optional(w, "waiting", e->waiting, [&](const StatusDocument::Wait& wait) {
      json::String(w, "for", wait.after);
      json::String(w, "reason", wait.reason);
      Key(w, "soakedSeconds");
      w.Int(wait.soaked_seconds);
      Key(w, "soakSeconds");
      w.Int(wait.soak_seconds);
    });
    if (e->standby) {
      Key(w, "standby");
      w.Bool(true);
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
  StatusDocument doc;
  Status read = ReadStatusDocument(json::Fields(value, ""), &doc);
  if (!read.ok()) return read.WithContext("status document");
  return doc;
}

Result<StatusDocument> StatusDocument::Parse(std::string_view text) {
  rapidjson::Document doc;
  if (Status parsed = json::Parse(text, &doc); !parsed.ok()) {
    return Status::InvalidArgument("status document: not JSON: " + parsed.message());
  }
  return FromJson(doc);
}

Status WriteStatusFile(const std::string& path, const StatusDocument& status) {
  return WriteFileAtomically(path, status.ToJson() + "\n", 0600);
}

Status StatusFile::Update(const StatusDocument& doc) {
  if (written_ && doc.time < written_->time + max_age_) {
    const TimeMs time = std::exchange(written_->time, doc.time);  // compared apart from time
    const bool same = *written_ == doc;
    written_->time = time;
    if (same) return Status::Ok();
  }
  written_.reset();
  PAGODA_RETURN_IF_ERROR(WriteStatusFile(path_, doc));
  written_ = doc;
  ++writes_;
  return Status::Ok();
}

Result<StatusDocument> ReadStatusFile(const std::string& path) {
  Result<std::string> text = ReadFile(path);
  if (!text.ok()) return text.status();
  Result<StatusDocument> doc = StatusDocument::Parse(*text);
  if (!doc.ok()) return doc.status().WithContext(path);
  return doc;
}

}  // namespace pagoda::control
