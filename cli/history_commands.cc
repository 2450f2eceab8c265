#include "cli/history_commands.h"

#include <sys/stat.h>
#include <unistd.h>

#include <CLI/CLI.hpp>
#include <algorithm>
#include <cctype>
#include <chrono>
#include <csignal>
#include <map>
#include <ostream>
#include <set>
#include <thread>
#include <tuple>
#include <vector>

#include "base/clock.h"
#include "base/json.h"
#include "cli/history_internal.h"
#include "control/control.h"
#include "daemon/cluster_clients.h"
#include "daemon/release_objects.h"
#include "journal/journal.h"
#include "manifest/manifest.h"

namespace pagoda::cli {

using control::ControlCall;
using control::ControlRequest;
using control::ReadStatusFile;
using control::StatusDocument;
using daemon::LoadDaemonConfig;

using journal::JournalReader;
using journal::PosixJournalFs;
namespace history {

// ---- Text ----

size_t Width(std::string_view text) {  // code points: what a terminal shows
  size_t n = 0;
  for (unsigned char c : text) n += (c & 0xC0) != 0x80;
  return n;
}

std::string Truncate(std::string_view text, size_t width) {
  if (Width(text) <= width) return std::string(text);
  size_t n = 0, i = 0;
  for (; i < text.size(); ++i) {
    if ((static_cast<unsigned char>(text[i]) & 0xC0) != 0x80 && n++ == width - 1) break;
  }
  return std::string(text.substr(0, i)) + "…";
}

std::string Or(std::string_view text, std::string_view otherwise) {
  return std::string(text.empty() ? otherwise : text);
}

std::string Short(std::string_view commit) { return Or(commit.substr(0, 7)); }

// "2024-05-01T10:00:00Z": RFC 3339 to the second, for tables.
std::string When(TimeMs time) {
  if (time == 0) return "-";
  std::string text = FormatTime(time);
  return text.substr(0, 19) + "Z";
}

std::string Duration(int64_t ms) { return pagoda::FormatDurationMs(ms); }

std::string Join(const std::vector<std::string>& items, std::string_view separator) {
  std::string out;
  for (const std::string& item : items) out += (out.empty() ? "" : std::string(separator)) + item;
  return out;
}

// ---- Commands reading the state directory ----

// The state directory, or the exit code after saying why not.
std::optional<DaemonConfig> State(const Flags& flags, std::ostream& err) {
  Result<DaemonConfig> state = ResolveStateDir(flags.config, flags.state_dir);
  if (!state.ok()) {
    err << "pagoda: " << state.status().message() << "\n";
    return std::nullopt;
  }
  return *state;
}

}  // namespace history

namespace {

using history::Duration;
using history::Flags;
using history::Join;
using history::kFollowPoll;
using history::Or;
using history::Short;
using history::State;
using history::Table;
using history::Truncate;
using history::When;

volatile std::sig_atomic_t g_stop_following = 0;
extern "C" void StopFollowing(int) { g_stop_following = 1; }

// The history as the clusters keep it (Release objects), with no local
// state: the clusters of the daemon's config, each API server asked once,
// newest first by start.
Result<std::vector<ReleaseRecord>> ClusterReleases(const Flags& flags) {
  std::string file = flags.config;
  struct stat st {};
  if (file.empty() && ::stat(kSystemConfig, &st) == 0) file = kSystemConfig;
  if (file.empty()) {
    return Status::InvalidArgument(
        "--from-cluster reads the clusters of a daemon config: give "
        "--config FILE");
  }
  Result<DaemonConfig> config = daemon::LoadDaemonConfig(file);
  if (!config.ok()) return config.status();
  const engine::ClusterMapping mapping = daemon::MappingOf(*config);
  daemon::ClusterClients clients(mapping, daemon::ClientOptionsOf(*config));
  auto objects = daemon::NewKubeReleaseObjects(
      [&](const std::string& cluster) { return clients.For(cluster); });
  std::set<std::string> servers;
  // By app and id: another installation sharing a cluster numbers its own.
  std::map<std::pair<std::string, std::string>, ReleaseRecord> found;
  for (const auto& [name, c] : config->clusters) {
    auto creds = mapping.Resolve(name);
    if (!creds.ok()) return creds.status().WithContext("cluster " + name);
    if (!servers.insert(creds->server).second) continue;  // asked already, by another name
    auto listed = objects->List(name, {flags.app, flags.env, false});
    if (!listed.ok()) return listed.status().WithContext("cluster " + name);
    for (auto& m : *listed) found[{m.record.app, m.record.id}] = std::move(m.record);
  }
  std::vector<ReleaseRecord> out;
  for (auto& [key, r] : found) out.push_back(std::move(r));
  std::sort(out.begin(), out.end(), [](const ReleaseRecord& a, const ReleaseRecord& b) {
    return std::make_tuple(a.start, ReleaseIdNumber(a.id)) >
           std::make_tuple(b.start, ReleaseIdNumber(b.id));
  });
  if (out.size() > flags.limit) out.resize(flags.limit);
  return out;
}

int RunReleases(const Flags& flags, std::ostream& out, std::ostream& err) {
  std::string source;
  Result<std::vector<ReleaseRecord>> records = std::vector<ReleaseRecord>{};
  if (flags.from_cluster) {
    records = ClusterReleases(flags);
    source = "the clusters";
  } else {
    std::optional<DaemonConfig> state = State(flags, err);
    if (!state) return 3;
    journal::JournalReader reader(PosixJournalFs(), state->JournalPath());
    records = reader.Releases({.app = flags.app, .env = flags.env, .limit = flags.limit});
    source = state->JournalPath();
  }
  if (!records.ok()) {
    err << "pagoda: " << records.status().message() << "\n";
    return 3;
  }
  if (flags.json) {
    out << "[";
    for (size_t i = 0; i < records->size(); ++i) out << (i ? "," : "") << ToJson((*records)[i]);
    out << "]\n";
    return 0;
  }
  if (records->empty()) {
    err << "pagoda: no releases recorded in " << source << "\n";
    return 0;
  }
  Table table(
      {"ID", "APP/ENV", "KIND", "TRIGGER", "REVISION", "COMMIT", "OUTCOME", "STARTED", "DURATION"});
  for (const ReleaseRecord& r : *records) {
    std::string commit = Short(r.to.id);
    if (!r.to.summary.empty()) commit += " " + Truncate(r.to.summary, 40);
    table.Add({r.id, r.app + "/" + r.env, std::string(Name(r.kind)), std::string(Name(r.trigger)),
               Or(r.from_revision) + "→" + Or(r.to_revision), commit, std::string(Name(r.outcome)),
               When(r.start), r.end != 0 && r.start != 0 ? Duration(r.end - r.start) : "-"});
  }
  table.Print(out);
  return 0;
}

void PrintCommit(std::ostream& out, std::string_view label, const RecordCommit& c) {
  if (c.id.empty()) {
    out << label << "(none)\n";
    return;
  }
  out << label << c.id << "\n";
  std::string pad(label.size(), ' ');
  if (!c.author.empty()) out << pad << "author " << c.author << "\n";
  if (c.time != 0) out << pad << "date   " << When(c.time) << "\n";
  if (!c.summary.empty()) out << pad << "    " << c.summary << "\n";
}

int RunReleaseShow(const Flags& flags, std::ostream& out, std::ostream& err) {
  std::optional<DaemonConfig> state = State(flags, err);
  if (!state) return 3;
  // "12" and "r-12" both name r-000012.
  std::string id = flags.id;
  if (!id.empty() && id.find_first_not_of("0123456789") == std::string::npos && id.size() < 19) {
    id = ReleaseId(std::stoll(id));
  } else if (int64_t number = ReleaseIdNumber(id); number >= 0) {
    id = ReleaseId(number);
  } else {
    err << "pagoda: '" << flags.id << "' is not a release id like r-000012\n";
    return 2;
  }
  journal::JournalReader reader(PosixJournalFs(), state->JournalPath());
  Result<ReleaseRecord> found = reader.Release(id);
  if (!found.ok()) {
    bool missing = found.status().code() == Status::Code::kNotFound;
    err << "pagoda: "
        << (missing ? "no release " + id + " in " + state->JournalPath() : found.status().message())
        << "\n";
    return missing ? 1 : 3;
  }
  const ReleaseRecord& r = *found;
  if (flags.json) {
    out << ToJson(r) << "\n";
    return 0;
  }
  out << "release   " << r.id << "  " << r.app << "/" << r.env << " on cluster " << Or(r.cluster)
      << "\n";
  out << "kind      " << Name(r.kind) << " (trigger: " << Name(r.trigger) << ")\n";
  out << "outcome   " << Name(r.outcome) << "\n";
  out << "started   " << When(r.start) << "\n";
  if (r.end != 0) {
    out << "ended     " << When(r.end) << " (" << Duration(r.end - r.start) << ")\n";
  }
  out << "revision  " << Or(r.from_revision, "(none)") << " → " << Or(r.to_revision) << "\n";
  if (!r.restores.empty()) out << "restores  " << r.restores << "\n";
  if (!r.supersedes.empty()) out << "takes over from " << r.supersedes << "\n";
  if (!r.superseded_by.empty()) out << "superseded by " << r.superseded_by << "\n";
  if (!r.freeze.empty()) out << "freeze    " << r.freeze << "\n";
  if (!r.promotion.empty()) out << "promotion " << r.promotion << "\n";
  if (r.history_rewritten) out << "history   rewritten (the branch was force-pushed)\n";
  PrintCommit(out, "from      ", r.from);
  PrintCommit(out, "to        ", r.to);

  std::array<int, 5> counts{};
  for (const Change& c : r.changes) ++counts[static_cast<size_t>(c.action)];
  std::vector<std::string> summary;
  for (size_t i = 0; i < counts.size(); ++i) {
    if (counts[i] != 0) {
      summary.push_back(std::to_string(counts[i]) + " " +
                        std::string(Name(static_cast<ChangeAction>(i))));
    }
  }
  out << "changes   " << (summary.empty() ? "none" : Join(summary, ", ")) << "\n";
  if (flags.diff) {
    for (const Change& c : r.changes) {
      std::string action(Name(c.action));
      out << "  " << action << std::string(12 - std::min<size_t>(action.size(), 11), ' ') << c.key
          << "\n";
    }
  }
  if (!r.batches.empty()) {
    out << "batches\n";
    for (const BatchRecord& b : r.batches) {
      out << "  " << b.index << ". " << b.instances
          << (b.instances == 1 ? " instance" : " instances") << ", started " << When(b.start)
          << ", ready " << (b.ready ? When(b.ready) : "never") << ", ended " << When(b.end) << "\n";
      if (!b.pods.empty()) out << "     pods: " << Join(b.pods, ", ") << "\n";
    }
  }
  if (!r.errors.empty()) {
    out << "errors\n";
    for (const std::string& e : r.errors) out << "  " << e << "\n";
  }
  return 0;
}

void PrintSync(std::ostream& out, const SyncEntry& e, bool json) {
  if (json) {
    out << ToJson(e) << "\n";
    return;
  }
  out << FormatTime(e.time) << " commit=" << Short(e.commit)
      << " checked=" << e.environments_checked << " drift=" << Or(Join(e.drift, ","))
      << " releases=" << Or(Join(e.releases, ",")) << " errors=" << e.errors.size()
      << " took=" << Duration(e.duration_ms) << "\n";
  for (const std::string& error : e.errors) out << "  error: " << error << "\n";
}

int RunLog(const Flags& flags, std::ostream& out, std::ostream& err) {
  TimeMs now = std::chrono::duration_cast<std::chrono::milliseconds>(
                   std::chrono::system_clock::now().time_since_epoch())
                   .count();
  TimeMs since = 0;
  if (!flags.since.empty()) {
    Result<TimeMs> parsed = ParseSince(flags.since, now);
    if (!parsed.ok()) {
      err << "pagoda: --since: " << parsed.status().message() << "\n";
      return 2;
    }
    since = *parsed;
  }
  std::optional<DaemonConfig> state = State(flags, err);
  if (!state) return 3;
  journal::JournalReader reader(PosixJournalFs(), state->JournalPath());

  struct sigaction stop {
  }, old_int{}, old_term{};
  if (flags.follow) {
    g_stop_following = 0;
    stop.sa_handler = StopFollowing;
    sigemptyset(&stop.sa_mask);
    ::sigaction(SIGINT, &stop, &old_int);
    ::sigaction(SIGTERM, &stop, &old_term);
  }
  // Entries at the newest time printed so far: the next poll asks from that
  // time again (several may share a millisecond) and skips these.
  std::vector<SyncEntry> at_last;
  int code = 0;
  for (;;) {
    Result<std::vector<SyncEntry>> entries = reader.SyncLog(since);
    if (!entries.ok()) {
      err << "pagoda: " << entries.status().message() << "\n";
      code = 3;
      break;
    }
    for (SyncEntry& e : *entries) {
      if (e.time == since && std::find(at_last.begin(), at_last.end(), e) != at_last.end()) {
        continue;
      }
      PrintSync(out, e, flags.json);
      if (e.time != since) at_last.clear();
      since = e.time;
      at_last.push_back(std::move(e));
    }
    out.flush();
    if (!flags.follow) break;
    for (auto slept = std::chrono::milliseconds(0); slept < kFollowPoll && !g_stop_following;
         slept += std::chrono::milliseconds(50)) {
      std::this_thread::sleep_for(std::chrono::milliseconds(50));
    }
    if (g_stop_following) break;
  }
  if (flags.follow) {
    ::sigaction(SIGINT, &old_int, nullptr);
    ::sigaction(SIGTERM, &old_term, nullptr);
  }
  return code;
}

void AddStateOptions(CLI::App* command, Flags* flags, bool json = true) {
  CLI::Option* config =
      command->add_option("--config", flags->config, "the daemon's config file: read its stateDir");
  config->check(CLI::ExistingFile);
  command
      ->add_option("--state-dir", flags->state_dir,
                   std::string("the daemon's state directory (default: the stateDir of ") +
                       kSystemConfig + ", else /var/lib/pagoda)")
      ->excludes(config);
  if (json) command->add_flag("--json", flags->json, "machine-readable output");
}

}  // namespace

// ---- Public ----

Result<DaemonConfig> ResolveStateDir(const std::string& config, const std::string& state_dir,
                                     const std::string& system_config) {
  DaemonConfig state;
  if (!state_dir.empty()) {
    state.state_dir = state_dir;
    state.source = "--state-dir";
  } else {
    std::string file = config;
    struct stat st {};
    if (file.empty() && ::stat(system_config.c_str(), &st) == 0) file = system_config;
    if (!file.empty()) {
      Result<DaemonConfig> loaded = LoadDaemonConfig(file);
      if (!loaded.ok()) return loaded.status();
      state.state_dir = loaded->state_dir;
      state.source = file;
    } else {
      state.source = "the default";
    }
  }
  while (state.state_dir.size() > 1 && state.state_dir.back() == '/') state.state_dir.pop_back();
  struct stat st {};
  if (::stat(state.state_dir.c_str(), &st) != 0 || !S_ISDIR(st.st_mode)) {
    return Status::NotFound("no state directory at " + state.state_dir + " (from " + state.source +
                            "); give --config FILE or --state-dir DIR");
  }
  return state;
}

Result<TimeMs> ParseSince(std::string_view text, TimeMs now) {
  auto bad = [&] {
    return Status::InvalidArgument("'" + std::string(text) +
                                   "' is neither a duration like 10m or 1h30m nor an RFC 3339 "
                                   "time like 2024-05-01T10:00:00Z");
  };
  if (text.empty()) return bad();
  if (text.size() >= 20 && text[4] == '-') {
    // RFC 3339: seconds, an optional fraction, then Z or ±hh:mm.
    std::string_view zone;
    size_t zone_at = text.find_first_of("Zz+-", 19);
    if (zone_at == std::string_view::npos) return bad();
    zone = text.substr(zone_at);
    std::string_view fraction = text.substr(19, zone_at - 19);
    int millis = 0;
    if (!fraction.empty()) {
      if (fraction[0] != '.' || fraction.size() < 2) return bad();
      for (size_t i = 1; i < fraction.size(); ++i) {
        if (fraction[i] < '0' || fraction[i] > '9') return bad();
        if (i <= 3) millis += (fraction[i] - '0') * (i == 1 ? 100 : i == 2 ? 10 : 1);
      }
    }
    std::string base(text.substr(0, 19));
    if (base[10] == 't' || base[10] == ' ') base[10] = 'T';
    Result<TimeMs> time = ParseTime(base + "Z");
    if (!time.ok()) return bad();
    int64_t offset_min = 0;
    if (zone != "Z" && zone != "z") {
      if (zone.size() != 6 || zone[3] != ':') return bad();
      auto digit = [&](size_t i) { return zone[i] >= '0' && zone[i] <= '9'; };
      if (!digit(1) || !digit(2) || !digit(4) || !digit(5)) return bad();
      offset_min =
          ((zone[1] - '0') * 10 + (zone[2] - '0')) * 60 + (zone[4] - '0') * 10 + (zone[5] - '0');
      if (zone[0] == '-') offset_min = -offset_min;
    }
    return *time + millis - offset_min * 60'000;
  }
  // A duration, in the grammar of every other duration pagoda reads.
  if (text[0] < '0' || text[0] > '9') return bad();
  Result<int64_t> ago = manifest::ParseDuration(text);
  if (!ago.ok()) return ago.status();
  return now - *ago;
}

HistoryCommands::HistoryCommands(CLI::App* app) : flags_(std::make_unique<Flags>()) {
  Flags* f = flags_.get();
  f->releases = app->add_subcommand(
      "releases", "The release history, newest first. With --json, a JSON array of records.");
  AddStateOptions(f->releases, f);
  f->releases->add_option("--app", f->app, "only this app's releases");
  f->releases->add_option("--env", f->env, "only releases of environments of this name");
  f->releases->add_option("--limit", f->limit, "at most N releases (default 50)")
      ->check(CLI::PositiveNumber);
  f->releases->add_flag("--from-cluster", f->from_cluster,
                        "read the Release objects of the config's clusters, not the journal: "
                        "the history with no local state");

  CLI::App* release = app->add_subcommand("release", "One release: `pagoda release show ID`.");
  release->require_subcommand(1);
  f->show = release->add_subcommand(
      "show",
      "One release record in full: commits, batches, change set, errors. Exit 1 when there is "
      "no such release.");
  AddStateOptions(f->show, f);
  f->show->add_option("id", f->id, "the release id, e.g. r-000012 or 12")->required();
  f->show->add_flag("--diff", f->diff, "list every object of the change set");

  for (auto [cmd, slot, help] :
       {std::tuple{"pause", &f->pause, "Hold a release in flight after the batch in hand."},
        std::tuple{"resume", &f->resume, "Go on with a held release."},
        std::tuple{"abort", &f->abort, "Roll a release in flight back, batch by batch."},
        std::tuple{
            "watch", &f->watch,
            "Follow a release live: a line per batch, held or not; exit 0 when it succeeds."}}) {
    *slot = release->add_subcommand(cmd, help);
    AddStateOptions(*slot, f, false);
    (*slot)->add_option("id", f->id, "the release id, e.g. r-000012 or 12")->required();
  }

  for (auto [cmd, slot, help] :
       {std::tuple{"override", &f->override_freeze,
                   "Let the next release of APP/ENV through the freeze window it waits for; "
                   "its record says who asked and why. Exit 0 accepted, 1 refused, 3 no "
                   "daemon."},
        std::tuple{"promote", &f->promote,
                   "Let the next release of APP/ENV go without waiting for the environment "
                   "its promotion follows (a soak skipped on purpose); its record says who "
                   "asked and why. Exit 0 accepted, 1 refused, 3 no daemon."}}) {
    *slot = release->add_subcommand(cmd, help);
    AddStateOptions(*slot, f, false);
    (*slot)->add_option("target", f->target, "APP/ENV")->required();
    (*slot)->add_option("--reason", f->reason, "why, for the record")->required();
  }

  f->log = app->add_subcommand(
      "log", "The sync log: one line per reconcile cycle, oldest first. With --json, JSON lines.");
  AddStateOptions(f->log, f);
  f->log->add_option("--since", f->since,
                     "from this long ago (10m, 1h30m, 48h) or this RFC 3339 time on");
  f->log->add_flag("--follow,-f", f->follow,
                   "keep printing new entries until interrupted (SIGINT or SIGTERM)");

  f->status = app->add_subcommand(
      "status",
      "Every environment as the daemon sees it: revision, commit, health, drift, the release in "
      "flight, pins. When the daemon is not running, its last known state and exit 3.");
  AddStateOptions(f->status, f);

  f->sync_now = app->add_subcommand(
      "sync-now",
      "Ask the daemon to fetch and reconcile now. Exit 0 accepted, 1 refused, 3 no daemon.");
  AddStateOptions(f->sync_now, f);

  f->rollback = app->add_subcommand(
      "rollback",
      "Release an environment as it was at an earlier commit or release, and pin it there until "
      "the repository moves past it or `pagoda unpin`. Exit 0 started, 1 refused, 3 no daemon.");
  AddStateOptions(f->rollback, f);
  f->rollback->add_option("target", f->target, "APP/ENV")->required();
  f->rollback->add_option("--to", f->to, "a commit (full or abbreviated) or a release id")
      ->required();

  f->unpin = app->add_subcommand(
      "unpin", "Let auto-sync move a pinned environment again. Exit 0, 1 refused, 3 no daemon.");
  AddStateOptions(f->unpin, f);
  f->unpin->add_option("target", f->target, "APP/ENV")->required();
}

HistoryCommands::~HistoryCommands() = default;

std::optional<int> HistoryCommands::Run(std::ostream& out, std::ostream& err) const {
  const Flags& f = *flags_;
  if (f.releases->parsed()) return RunReleases(f, out, err);
  if (f.show->parsed()) return RunReleaseShow(f, out, err);
  if (f.log->parsed()) return RunLog(f, out, err);
  if (f.status->parsed()) return history::RunStatus(f, out, err);
  if (f.sync_now->parsed()) return history::RunSyncNow(f, out, err);
  if (f.rollback->parsed()) return history::RunRollback(f, out, err);
  if (f.unpin->parsed()) return history::RunUnpin(f, out, err);
  if (f.pause->parsed()) return history::RunSteer(f, "pause", out, err);
  if (f.resume->parsed()) return history::RunSteer(f, "resume", out, err);
  if (f.abort->parsed()) return history::RunSteer(f, "abort", out, err);
  if (f.watch->parsed()) return history::RunWatch(f, out, err);
  if (f.override_freeze->parsed()) return history::RunLetThrough(f, "override", out, err);
  if (f.promote->parsed()) return history::RunLetThrough(f, "promote", out, err);
  return std::nullopt;
}

}  // namespace pagoda::cli
