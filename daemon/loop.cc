#include "daemon/loop.h"

#include <rapidjson/document.h>
#include <rapidjson/stringbuffer.h>
#include <rapidjson/writer.h>
#include <spdlog/spdlog.h>

#include <algorithm>
#include <cstdio>
#include <fstream>
#include <optional>
#include <utility>

#include "base/backoff.h"
#include "base/file.h"
#include "base/json.h"
#include "base/memory.h"
#include "daemon/loop_internal.h"
#include "manifest/json.h"

namespace pagoda::daemon {

Reconciler::Reconciler(LoopOptions options, GitSource& git, Journal& journal,
                       ClusterAccess& clusters, Clock& clock, std::string pins_path)
    : options_(std::move(options)),
      git_(git),
      journal_(journal),
      clusters_(clusters),
      clock_(clock),
      pins_path_(std::move(pins_path)),
      rng_(std::random_device{}()) {
  LoadPins();
  // Releases a previous process started and did not finish are finished,
  // under their own ids, by the next cycle.
  auto open = journal_.reader().Releases({.app = "", .env = "", .limit = 1000});
  if (open.ok()) {
    for (const auto& r : *open) {
      Env& e = EnvFor(r.app, r.env);
      if (e.status.commit.empty() && r.outcome == Outcome::kSucceeded) e.status.commit = r.to.id;
      if (r.outcome == Outcome::kInProgress && e.in_progress.empty()) {
        e.in_progress = r.id;
        spdlog::info("release={} app={} env={} is in progress; taken up where it stands", r.id,
                     r.app, r.env);
      }
    }
  }
}

Reconciler::~Reconciler() = default;

Reconciler::Env& Reconciler::EnvFor(const std::string& app, const std::string& env) {
  auto& slot = envs_[{app, env}];
  if (!slot) {
    slot = std::make_unique<Env>();
    slot->app = app;
    slot->env = env;
    slot->status.app = app;
    slot->status.env = env;
  }
  return *slot;
}

void Reconciler::RequestSync() { sync_requested_ = true; }

Clock::TimePoint Reconciler::Step() {
  const auto now = clock_.Now();
  FlushUnsaved();
  const bool requested = sync_requested_;
  sync_requested_ = false;
  if ((requested || now >= next_fetch_) && !fetch_in_flight_) Fetch(now);
  if (!fetched_tip_.empty()) tip_ = std::exchange(fetched_tip_, "");
  if (tip_.empty()) {
    // Not fetched yet in this process: the clone may hold a tip from before.
    if (auto tip = git_.Tip(); tip.ok()) tip_ = *tip;
  }
  bool retry_due = false;
  for (const auto& [key, e] : envs_) {
    retry_due |= e->failures > 0 && now >= e->retry_at;
  }
  const bool new_commit = !tip_.empty() && tip_ != last_reconciled_;
  if (!tip_.empty() && (new_commit || requested || now >= next_reconcile_ || retry_due)) {
    Reconcile(now, new_commit);
    last_reconciled_ = tip_;
    next_reconcile_ = now + std::chrono::milliseconds(options_.drift_interval_ms);
    if (first_gate_ms_ != 0) {
      // What a freeze window or a soak held back goes out when it ends, not
      // a drift interval later.
      const auto open = now + std::chrono::milliseconds(
                                  std::max<int64_t>(0, first_gate_ms_ - clock_.UnixMillis()));
      next_reconcile_ = std::min(next_reconcile_, open);
    }
  }
  Clock::TimePoint next = std::min({next_fetch_, next_reconcile_, AdvanceOrders(clock_.Now())});
  for (const auto& [key, e] : envs_) {
    if (e->failures > 0 && e->retry_at > now) next = std::min(next, e->retry_at);
  }
  if (!unsaved_records_.empty() || !unsaved_entries_.empty()) {
    next = std::min(next, now + std::chrono::seconds(5));  // try the journal again soon
  }
  return next;
}

void Reconciler::Fetch(Clock::TimePoint now) {
  // Until it ends, the next fetch is not due; FetchDone() schedules it.
  next_fetch_ = now + std::chrono::hours(24);
  fetch_in_flight_ = true;
  if (options_.start_fetch) {
    options_.start_fetch();
    return;
  }
  FetchDone(git_.Fetch());
}

void Reconciler::FetchDone(Result<FetchResult> fetched) {
  fetch_in_flight_ = false;
  const auto now = clock_.Now();
  if (!fetched.ok()) {
    ++fetch_failures_;
    if (options_.observer != nullptr) options_.observer->Fetched(false);
    const std::string message = fetched.status().ToString();
    if (message != repo_error_) {  // once per change of state, not every poll
      spdlog::warn("fetching {} failed (retrying with backoff): {}", options_.repo_url, message);
      repo_error_ = message;
    }
    next_fetch_ =
        now + pagoda::Backoff(std::chrono::milliseconds(options_.interval_ms), fetch_failures_,
                              std::chrono::milliseconds(options_.max_backoff_ms));
    return;
  }
  if (!repo_error_.empty()) spdlog::info("fetching {} works again", options_.repo_url);
  repo_error_.clear();
  fetch_failures_ = 0;
  last_fetch_ms_ = clock_.UnixMillis();
  if (options_.observer != nullptr) options_.observer->Fetched(true);
  std::uniform_real_distribution<double> jitter(0.9, 1.1);
  next_fetch_ =
      now + std::chrono::milliseconds(static_cast<int64_t>(options_.interval_ms * jitter(rng_)));
  if (fetched->moved || (tip_.empty() && fetched_tip_.empty())) {
    if (fetched->history_rewritten) {
      spdlog::warn("commit={} history of {} was rewritten: {} is no longer an ancestor",
                   fetched->commit.substr(0, 12), options_.repo_url,
                   fetched->previous.substr(0, 12));
      rewritten_tip_ = fetched->commit;
    }
    if (fetched->moved) spdlog::info("commit={} new commit fetched", fetched->commit.substr(0, 12));
    // Taken up at the next step: a fetch that ends in the middle of a pass
    // (its answer comes between two environments) never changes the commit
    // that pass releases.
    fetched_tip_ = fetched->commit;
  }
}

Status Reconciler::Record(ReleaseRecord* record) {
  Status st = journal_.Append(record);
  if (st.ok()) {
    if (options_.observer != nullptr) options_.observer->ReleaseWritten(*record);
    if (unsaved_records_.empty() && unsaved_entries_.empty()) journal_error_.clear();
    return st;
  }
  if (journal_error_ != st.ToString()) {
    spdlog::error("the journal cannot be written; releases that need it wait: {}", st.ToString());
  }
  journal_error_ = st.ToString();
  return st;
}

void Reconciler::FlushUnsaved() {
  while (!unsaved_records_.empty()) {
    if (!Record(&unsaved_records_.front()).ok()) return;
    const ReleaseRecord& r = unsaved_records_.front();
    if (auto it = envs_.find({r.app, r.env});
        it != envs_.end() && it->second->in_progress == r.id) {
      it->second->in_progress.clear();
    }
    if (options_.observer != nullptr) options_.observer->ReleaseEnded(r);
    unsaved_records_.erase(unsaved_records_.begin());
  }
  while (!unsaved_entries_.empty()) {
    if (Status st = journal_.Append(unsaved_entries_.front()); !st.ok()) {
      journal_error_ = st.ToString();
      return;
    }
    unsaved_entries_.erase(unsaved_entries_.begin());
  }
  journal_error_.clear();
}

void Reconciler::QueueWrite(PendingWrite write) {
  writes_.push_back(std::move(write));
  if (writes_.size() >= kWriteWave) FlushWrites();
}

void Reconciler::AfterWrites(std::function<void()> then) {
  if (writes_.empty()) {
    then();
    return;
  }
  after_writes_.push_back(std::move(then));
}

void Reconciler::FlushWrites() {
  while (!writes_.empty() || !after_writes_.empty()) {
    std::vector<PendingWrite> writes = std::exchange(writes_, {});
    std::vector<std::function<void()>> after = std::exchange(after_writes_, {});
    std::vector<ExecuteJob> jobs;
    jobs.reserve(writes.size());
    for (const auto& w : writes) jobs.push_back({w.server, &w.plan, w.commit, w.app});
    std::vector<apply::ExecuteResult> results = clusters_.ExecuteAll(jobs);
    for (size_t i = 0; i < writes.size(); ++i) writes[i].done(std::move(results[i]));
    for (auto& then : after) then();
  }
}

Result<std::shared_ptr<const Reconciler::Loaded>> Reconciler::Load(const std::string& commit) {
  if (loaded_ && loaded_->commit == commit) return loaded_;
  if (auto it = pinned_loads_.find(commit); it != pinned_loads_.end()) return it->second;
  auto files = git_.Files(commit);
  if (!files.ok()) return files.status();
  auto loaded = std::make_shared<Loaded>();
  loaded->commit = commit;
  loaded->repo = manifest::LoadRepository(**files, options_.load, &load_cache_);
  spdlog::debug("commit={} loaded: {} apps read, {} unchanged", commit.substr(0, 12),
                load_cache_.read, load_cache_.reused);
  return std::shared_ptr<const Loaded>(std::move(loaded));
}

RecordCommit Reconciler::DescribeCommit(const std::string& id) {
  RecordCommit c;
  c.id = id;
  if (id.empty()) return c;
  if (auto info = git_.Commit(id); info.ok()) {
    c.author = info->author_name + " <" + info->author_email + ">";
    c.time = info->time * 1000;
    c.summary = info->summary;
  }
  return c;
}

std::map<std::string, std::string> Reconciler::ServersFor(const manifest::Repository& repo,
                                                          const Selection& selection,
                                                          std::vector<std::string>* errors) {
  std::map<std::string, std::string> server_of;
  std::set<std::string> failed;
  for (const auto& app : repo.apps) {
    if (!app.valid || !selection.HasApp(app.name)) continue;
    for (const auto& env : app.model().environments) {
      const std::string& cluster = env.cluster.value;
      if (!selection.HasEnv(app.name, env.name.value) || server_of.count(cluster)) continue;
      if (failed.count(cluster)) {
        EnvFor(app.name, env.name.value).status.error = "cluster " + cluster + " is not reachable";
        continue;
      }
      auto server = clusters_.ServerOf(cluster);
      if (!server.ok()) {
        failed.insert(cluster);
        unreachable_.insert(cluster);
        errors->push_back(server.status().message());
        EnvFor(app.name, env.name.value).status.error = server.status().message();
        continue;
      }
      server_of[cluster] = *server;
    }
  }
  return server_of;
}

void Reconciler::Reconcile(Clock::TimePoint now, bool new_commit) {
  const auto started = clock_.Now();
  SyncEntry entry;
  entry.time = clock_.UnixMillis();
  entry.commit = tip_;
  std::vector<std::string> errors;
  unreachable_.clear();

  auto loaded = Load(tip_);
  if (!loaded.ok()) {
    errors.push_back("commit " + tip_.substr(0, 12) + ": " + loaded.status().message());
  } else {
    loaded_ = *loaded;
    if (new_commit) spdlog::info("commit={} reconciling", tip_.substr(0, 12));
    ReconcileLoaded(now, &entry, &errors);
  }
  entry.errors = std::move(errors);
  entry.duration_ms =
      std::chrono::duration_cast<std::chrono::milliseconds>(clock_.Now() - started).count();
  if (Status st = journal_.Append(entry); !st.ok()) {
    spdlog::error("writing the sync log failed; it is written when the journal can be: {}",
                  st.ToString());
    journal_error_ = st.ToString();
    constexpr size_t kMaxUnsavedEntries =
        1000;  // the sync log's newest, while it cannot be written
    if (unsaved_entries_.size() >= kMaxUnsavedEntries)
      unsaved_entries_.erase(unsaved_entries_.begin());
    unsaved_entries_.push_back(entry);
  }
  last_reconcile_ms_ = clock_.UnixMillis();
  if (options_.observer != nullptr) options_.observer->Reconciled(entry);
  // A cycle's plans and listings are gone now; what malloc keeps of them
  // need not stay resident until the next one, past what a quiet pass
  // takes again.
  free_memory_.Maybe(clock_.Now());
}

void Reconciler::SetOwnership(std::shared_ptr<const Ownership> ownership) {
  bool gained = ownership->held.size() > ownership_->held.size();
  for (auto& [key, e] : envs_) {
    if (ownership_->Owns(key.first) || !ownership->Owns(key.first)) continue;
    gained = true;
    // What this replica last made of it is stale: another led it since (a
    // release it saw fail may have been one the fence refused). The
    // cluster and the releases taken over say where it stands.
    e->blocked_commit.clear();
    e->blocked_reason.clear();
    e->failures = 0;
  }
  ownership_ = std::move(ownership);
  for (auto it = orders_.begin(); it != orders_.end();) {
    if (ownership_->Owns(it->first.first)) {
      ++it;
      continue;
    }
    spdlog::info("release={} app={} env={} left as it stands to the replica that leads {} now",
                 it->second.record.id, it->first.first, it->first.second,
                 ownership_->ShardName(it->first.first));
    it = orders_.erase(it);
  }
  // What another replica did meanwhile is read again: plan every app.
  quiet_.clear();
  if (gained) sync_requested_ = true;
}

Status Reconciler::Adopt(const std::vector<ReleaseRecord>& in_flight,
                         const std::vector<ReleaseRecord>& pinned,
                         const std::vector<ReleaseRecord>& ended) {
  Status first = AdoptEnded(ended);
  bool pins_changed = false;
  for (const ReleaseRecord& r : pinned) {
    if (pins_.count({r.app, r.env})) continue;
    if (loaded_ != nullptr && loaded_->repo.FindApp(r.app) == nullptr) continue;
    // The tip's digest is taken at the next reconcile (DropStalePins).
    pins_[{r.app, r.env}] = Pin{r.to.id, "", r.start};
    pins_changed = true;
    spdlog::info("app={} env={} pinned at commit {}, as rollback {} left it", r.app, r.env,
                 r.to.id.substr(0, 12), r.id);
  }
  if (pins_changed) {
    if (Status st = SavePins(); !st.ok()) first = st.WithContext("pins taken over");
  }
  for (const ReleaseRecord& r : in_flight) {
    // Not an app of this repository (another installation's): not ours.
    if (loaded_ != nullptr && loaded_->repo.FindApp(r.app) == nullptr) continue;
    auto local = journal_.reader().Release(r.id);
    if (local.ok() && local->outcome != Outcome::kInProgress) {
      // Finished here, and the mirror did not hear of it: tell it again.
      if (options_.observer != nullptr) options_.observer->ReleaseWritten(*local);
      continue;
    }
    if (!local.ok() || *local != r) {
      if (Status st = journal_.Adopt(r); !st.ok()) {
        journal_error_ = st.ToString();
        if (first.ok()) first = st.WithContext("adopting release " + r.id);
        continue;
      }
    }
    Env& e = EnvFor(r.app, r.env);
    if (orders_.count({r.app, r.env})) continue;
    e.in_progress = r.id;
    e.status.cluster = r.cluster;
    spdlog::info("release={} app={} env={} taken over where it stands ({} batches recorded)", r.id,
                 r.app, r.env, r.batches.size());
  }
  sync_requested_ = true;
  return first;
}

// Taken up from this journal when the process started, and finished by
// another replica since: carried on here, it would be recorded again over
// the other's record, without the batches done there.
Status Reconciler::AdoptEnded(const std::vector<ReleaseRecord>& ended) {
  Status first = Status::Ok();
  for (const ReleaseRecord& r : ended) {
    auto local = journal_.reader().Release(r.id);
    if (!local.ok() || local->outcome != Outcome::kInProgress) continue;
    if (orders_.count({r.app, r.env})) continue;  // carried on here already: its word stands
    if (Status st = journal_.Adopt(r); !st.ok()) {
      journal_error_ = st.ToString();
      if (first.ok()) first = st.WithContext("adopting release " + r.id);
      continue;
    }
    Env& e = EnvFor(r.app, r.env);
    if (e.in_progress == r.id) e.in_progress.clear();
    spdlog::info(
        "release={} app={} env={} ended elsewhere ({} after {} batches); taken as the "
        "cluster has it",
        r.id, r.app, r.env, journal::Name(r.outcome), r.batches.size());
  }
  return first;
}

LoopStatus Reconciler::Snapshot() const {
  LoopStatus status;
  status.time_ms = clock_.UnixMillis();
  status.commit = tip_;
  status.repo_url = options_.repo_url;
  status.last_fetch_ms = last_fetch_ms_;
  status.repo_error = repo_error_;
  status.last_reconcile_ms = last_reconcile_ms_;
  status.unreachable_clusters.assign(unreachable_.begin(), unreachable_.end());
  status.journal_error = journal_error_;
  status.fetching = fetch_in_flight_;
  status.apps_read = load_cache_.read;
  status.apps_unchanged = load_cache_.reused;
  status.apps_rendered = render_cache_.rendered;
  status.apps_render_reused = render_cache_.reused;
  status.apps_quiet = quiet_apps_;
  if (!tip_.empty()) {
    if (auto info = git_.Commit(tip_); info.ok()) status.commit_summary = info->summary;
  }
  status.environments.reserve(envs_.size());
  for (const auto& [key, e] : envs_) {
    if (e->status.cluster.empty() && e->status.error.empty() && e->in_progress.empty() &&
        !pins_.count(key)) {
      continue;
    }
    EnvironmentStatus s = e->status;
    s.release = e->status.standby ? "" : e->in_progress;
    if (auto order = orders_.find(key); order != orders_.end()) {
      const auto& o = *order->second.order;
      s.release_phase = o.AtGate() ? "at gate" : std::string(rollout::OrderPhaseName(o.phase()));
      s.batches_done = static_cast<int>(order->second.record.batches.size());
      s.batches_total = static_cast<int>((s.replicas + o.k() - 1) / std::max<int64_t>(1, o.k()));
      s.held_ms = o.held_for().count();
    }
    if (auto pin = pins_.find(key); pin != pins_.end()) {
      s.pinned_commit = pin->second.commit;
      s.pinned_since_ms = pin->second.since_ms;
    }
    status.environments.push_back(std::move(s));
  }
  return status;
}

Status Reconciler::Unpin(const std::string& app, const std::string& env) {
  PAGODA_RETURN_IF_ERROR(CheckLeads(app));
  auto pin = pins_.find({app, env});
  if (pin == pins_.end()) return Status::NotFound(app + "/" + env + " is not pinned");
  Pin kept = pin->second;
  pins_.erase(pin);
  if (Status st = SavePins(); !st.ok()) {
    pins_[{app, env}] = kept;  // not unpinned: a restart would read it pinned
    return st.WithContext("not unpinned");
  }
  spdlog::info("app={} env={} unpinned: auto-sync resumes", app, env);
  sync_requested_ = true;
  return Status::Ok();
}

// pins.json: {"app/env": {"commit": "...", "tipDigest": "...", "since": ms},
// "passes": {"app/env": {"freeze"|"promotion": {"by": "...", "reason": "..."}}}}:
// the operator's decisions that outlive a restart. Replaced whole and
// synced: a crash leaves the old file or the new one.
Status Reconciler::SavePins() {
  if (pins_path_.empty()) return Status::Ok();
  rapidjson::StringBuffer buffer;
  json::Writer w(buffer);
  w.StartObject();
  for (const auto& [key, pin] : pins_) {
    json::Key(w, key.first + "/" + key.second);
    w.StartObject();
    json::String(w, "commit", pin.commit);
    json::String(w, "tipDigest", pin.tip_digest);
    json::Key(w, "since");
    w.Int64(pin.since_ms);
    w.EndObject();
  }
  json::Key(w, "passes");
  w.StartObject();
  for (const auto& [key, e] : envs_) {
    if (e->freeze_pass.by.empty() && e->promotion_pass.by.empty()) continue;
    json::Key(w, key.first + "/" + key.second);
    w.StartObject();
    for (const auto& [gate, pass] :
         {std::pair{"freeze", &e->freeze_pass}, std::pair{"promotion", &e->promotion_pass}}) {
      if (pass->by.empty()) continue;
      json::Key(w, gate);
      w.StartObject();
      json::String(w, "by", pass->by);
      json::String(w, "reason", pass->reason);
      w.EndObject();
    }
    w.EndObject();
  }
  w.EndObject();
  w.EndObject();
  Status st = WriteFileAtomically(pins_path_, std::string(buffer.GetString()) + "\n", 0600);
  if (!st.ok()) {
    spdlog::error("writing {} failed: {}", pins_path_, st.ToString());
    journal_error_ = "the pins cannot be written: " + st.ToString();
  }
  return st;
}

void Reconciler::LoadPins() {
  if (pins_path_.empty()) return;
  auto text = ReadFile(pins_path_, 1 << 20);
  if (!text.ok()) return;  // none yet
  rapidjson::Document doc;
  if (!json::Parse(*text, &doc).ok() || !doc.IsObject()) {
    spdlog::error("{} is not valid JSON; no environment is pinned", pins_path_);
    return;
  }
  auto split = [](const std::string& key) -> std::optional<std::pair<std::string, std::string>> {
    auto slash = key.find('/');
    if (slash == std::string::npos) return std::nullopt;
    return std::pair{key.substr(0, slash), key.substr(slash + 1)};
  };
  for (const auto& m : doc.GetObject()) {
    auto key = split(m.name.GetString());
    if (!key || !m.value.IsObject()) continue;
    Pin pin;
    pin.commit = json::StringAt(m.value, "commit");
    pin.tip_digest = json::StringAt(m.value, "tipDigest");
    if (m.value.HasMember("since") && m.value["since"].IsInt64())
      pin.since_ms = m.value["since"].GetInt64();
    pins_[*key] = pin;
  }
  const rapidjson::Value* passes = json::Member(doc, "passes");
  if (passes == nullptr || !passes->IsObject()) return;
  for (const auto& m : passes->GetObject()) {
    auto key = split(m.name.GetString());
    if (!key || !m.value.IsObject()) continue;
    Env& e = EnvFor(key->first, key->second);
    for (const auto& [gate, pass] :
         {std::pair{"freeze", &e.freeze_pass}, std::pair{"promotion", &e.promotion_pass}}) {
      pass->by = json::StringAt(m.value, {gate, "by"});
      pass->reason = json::StringAt(m.value, {gate, "reason"});
    }
  }
}

}  // namespace pagoda::daemon
