#include "cli/history_commands.h"

#include <sys/stat.h>
#include <unistd.h>

#include <CLI/CLI.hpp>
#include <cctype>
#include <chrono>
#include <csignal>
#include <ostream>
#include <thread>
#include <tuple>
#include <vector>

#include "base/json.h"
#include "control/control.h"
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

struct HistoryCommands::Flags {
  std::string config;
  std::string state_dir;
  bool json = false;
  std::string app, env;  // releases
  size_t limit = 50;
  std::string id;  // release show
  bool diff = false;
  std::string since;  // log
  bool follow = false;
  std::string target, to;  // rollback, unpin

  CLI::App* releases = nullptr;
  CLI::App* show = nullptr;
  CLI::App* log = nullptr;
  CLI::App* status = nullptr;
  CLI::App* sync_now = nullptr;
  CLI::App* rollback = nullptr;
  CLI::App* unpin = nullptr;
  CLI::App* pause = nullptr;
  CLI::App* resume = nullptr;
  CLI::App* abort = nullptr;
  CLI::App* watch = nullptr;
};

namespace {

using Flags = HistoryCommands::Flags;

constexpr std::chrono::milliseconds kStatusTimeout{10'000};
constexpr std::chrono::milliseconds kControlTimeout{60'000};  // a rollback renders first
constexpr std::chrono::milliseconds kFollowPoll{500};

volatile std::sig_atomic_t g_stop_following = 0;
extern "C" void StopFollowing(int) { g_stop_following = 1; }

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

// Columns padded to their widest cell, two spaces apart.
class Table {
 public:
  explicit Table(std::vector<std::string> header) { rows_.push_back(std::move(header)); }
  void Add(std::vector<std::string> row) { rows_.push_back(std::move(row)); }
  void Print(std::ostream& out) const {
    std::vector<size_t> widths(rows_[0].size(), 0);
    for (const auto& row : rows_) {
      for (size_t i = 0; i < row.size(); ++i) widths[i] = std::max(widths[i], Width(row[i]));
    }
    for (const auto& row : rows_) {
      std::string line;
      for (size_t i = 0; i < row.size(); ++i) {
        line += row[i];
        if (i + 1 < row.size()) line += std::string(widths[i] - Width(row[i]) + 2, ' ');
      }
      out << line << "\n";
    }
  }

 private:
  std::vector<std::vector<std::string>> rows_;
};

std::string Or(std::string_view text, std::string_view otherwise = "-") {
  return std::string(text.empty() ? otherwise : text);
}

std::string Short(std::string_view commit) { return Or(commit.substr(0, 7)); }

// "2024-05-01T10:00:00Z": RFC 3339 to the second, for tables.
std::string When(TimeMs time) {
  if (time == 0) return "-";
  std::string text = FormatTime(time);
  return text.substr(0, 19) + "Z";
}

std::string Duration(int64_t ms) {
  if (ms < 0) return "-";
  if (ms < 1000) return std::to_string(ms) + "ms";
  int64_t s = ms / 1000;
  char buf[32];
  if (s < 60) {
    std::snprintf(buf, sizeof buf, "%lld.%llds", static_cast<long long>(s),
                  static_cast<long long>(ms % 1000 / 100));
  } else if (s < 3600) {
    std::snprintf(buf, sizeof buf, "%lldm%02llds", static_cast<long long>(s / 60),
                  static_cast<long long>(s % 60));
  } else {
    std::snprintf(buf, sizeof buf, "%lldh%02lldm", static_cast<long long>(s / 3600),
                  static_cast<long long>(s % 3600 / 60));
  }
  return buf;
}

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

int RunReleases(const Flags& flags, std::ostream& out, std::ostream& err) {
  std::optional<DaemonConfig> state = State(flags, err);
  if (!state) return 3;
  journal::JournalReader reader(PosixJournalFs(), state->JournalPath());
  Result<std::vector<ReleaseRecord>> records =
      reader.Releases({.app = flags.app, .env = flags.env, .limit = flags.limit});
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
    err << "pagoda: no releases recorded in " << state->JournalPath() << "\n";
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

// ---- Commands talking to the daemon ----

// "r-000012 batch 1/2 held 1m35s" for a release in flight; "-" without one.
std::string ReleaseCell(const StatusDocument::Environment& e) {
  if (e.release.empty()) return "-";
  std::string cell = e.release;
  if (e.batches_total > 0) {
    cell += " batch " + std::to_string(e.batches_done) + "/" + std::to_string(e.batches_total);
  }
  if (!e.release_phase.empty() && e.release_phase != "running") cell += " " + e.release_phase;
  if (e.held_seconds > 0) {
    cell +=
        " " + std::to_string(e.held_seconds / 60) + "m" + std::to_string(e.held_seconds % 60) + "s";
  }
  return cell;
}

void PrintStatus(std::ostream& out, const StatusDocument& s) {
  if (s.commit.id.empty()) {
    out << "commit  (none fetched yet)\n";
  } else {
    out << "commit  " << Short(s.commit.id) << " " << s.commit.summary << "\n";
  }
  out << "repo    " << Or(s.repo.url) << " (" << Or(s.repo.ref) << "), fetched "
      << (s.repo.last_fetch ? When(s.repo.last_fetch) : "never") << "\n";
  if (!s.repo.error.empty()) out << "error   " << s.repo.error << "\n";
  if (!s.journal_error.empty()) {
    out << "journal " << s.journal_error << " (releases wait until it can be written)\n";
  }
  out << "\n";
  if (s.environments.empty()) {
    out << "no environments\n";
    return;
  }
  Table table({"APP/ENV", "CLUSTER", "REVISION", "COMMIT", "HEALTH", "DRIFT", "RELEASE", "PINNED",
               "ERROR"});
  for (const StatusDocument::Environment& e : s.environments) {
    table.Add({e.app + "/" + e.env, Or(e.cluster), Or(e.revision), Short(e.commit),
               std::string(Name(e.health)) + " " + std::to_string(e.ready) + "/" +
                   std::to_string(e.replicas),
               e.drift ? "yes" : "no", ReleaseCell(e),
               e.pinned ? Short(e.pinned->commit) + " since " + When(e.pinned->since) : "-",
               Or(e.error)});
  }
  table.Print(out);
}

std::string AnswerError(const rapidjson::Document& answer) {
  std::string error = json::StringAt(answer, "error");
  return error.empty() ? "the daemon refused without saying why" : error;
}

bool AnswerOk(const rapidjson::Document& answer) {
  auto ok = answer.FindMember("ok");
  return ok != answer.MemberEnd() && ok->value.IsBool() && ok->value.GetBool();
}

int RunStatus(const Flags& flags, std::ostream& out, std::ostream& err) {
  std::optional<DaemonConfig> state = State(flags, err);
  if (!state) return 3;
  Result<rapidjson::Document> answer =
      ControlCall(state->SocketPath(), ControlRequest("status"), kStatusTimeout);
  if (answer.ok()) {
    if (!AnswerOk(*answer)) {
      err << "pagoda: the daemon refused: " << AnswerError(*answer) << "\n";
      return 1;
    }
    auto member = answer->FindMember("status");
    Result<StatusDocument> status =
        member == answer->MemberEnd()
            ? Result<StatusDocument>(Status::Internal("the daemon's answer has no status"))
            : StatusDocument::FromJson(member->value);
    if (!status.ok()) {
      err << "pagoda: " << status.status().message() << "\n";
      return 3;
    }
    if (flags.json) {
      out << status->ToJson() << "\n";
    } else {
      PrintStatus(out, *status);
    }
    return 0;
  }
  // No daemon to ask: the last state it wrote, said to be that.
  err << "pagoda: " << answer.status().message() << "\n";
  Result<StatusDocument> last = ReadStatusFile(state->StatusPath());
  if (!last.ok()) {
    if (last.status().code() == Status::Code::kNotFound) {
      err << "pagoda: daemon not running; no last known state in " << state->StatusPath() << "\n";
    } else {
      err << "pagoda: " << last.status().message() << "\n";
    }
    return 3;
  }
  std::string note =
      std::string(answer.status().code() == Status::Code::kUnavailable ? "daemon not running"
                                                                       : "daemon unreachable") +
      "; last known state from " + When(last->time);
  if (flags.json) {
    err << "pagoda: " << note << "\n";
    out << last->ToJson() << "\n";
  } else {
    out << note << "\n\n";
    PrintStatus(out, *last);
  }
  return 3;
}

// Sends `request`; prints `done` (or the answer with --json) when the daemon
// agrees.
int Ask(const Flags& flags, const std::string& request,
        const std::function<std::string(const rapidjson::Document&)>& done, std::ostream& out,
        std::ostream& err) {
  std::optional<DaemonConfig> state = State(flags, err);
  if (!state) return 3;
  Result<rapidjson::Document> answer = ControlCall(state->SocketPath(), request, kControlTimeout);
  if (!answer.ok()) {
    err << "pagoda: " << answer.status().message() << "\n";
    return 3;
  }
  bool ok = AnswerOk(*answer);
  if (flags.json) out << json::Compact(*answer) << "\n";
  if (!ok) {
    err << "pagoda: the daemon refused: " << AnswerError(*answer) << "\n";
    return 1;
  }
  if (!flags.json) out << done(*answer) << "\n";
  return 0;
}

// "app/env" → {app, env}; nullopt after a message when it is not one.
std::optional<std::pair<std::string, std::string>> Target(const std::string& text,
                                                          std::ostream& err) {
  size_t slash = text.find('/');
  if (slash == std::string::npos || slash == 0 || slash + 1 == text.size() ||
      text.find('/', slash + 1) != std::string::npos) {
    err << "pagoda: '" << text << "' is not APP/ENV\n";
    return std::nullopt;
  }
  return std::make_pair(text.substr(0, slash), text.substr(slash + 1));
}

int RunRollback(const Flags& flags, std::ostream& out, std::ostream& err) {
  auto target = Target(flags.target, err);
  if (!target) return 2;
  auto [app, env] = *target;
  std::string request = ControlRequest("rollback", {{"app", app}, {"env", env}, {"to", flags.to}});
  return Ask(
      flags, request,
      [&](const rapidjson::Document& answer) {
        std::string id = json::StringAt(answer, "release");
        if (id.empty()) id = "?";
        return "rollback of " + flags.target + " to " + flags.to + ": release " + id + "\n" +
               flags.target +
               " is pinned: auto-sync holds for it until the repository moves past it or `pagoda "
               "unpin " +
               flags.target + "`";
      },
      out, err);
}

int RunUnpin(const Flags& flags, std::ostream& out, std::ostream& err) {
  auto target = Target(flags.target, err);
  if (!target) return 2;
  std::string request = ControlRequest("unpin", {{"app", target->first}, {"env", target->second}});
  return Ask(
      flags, request,
      [&](const rapidjson::Document&) { return flags.target + " unpinned: auto-sync resumes"; },
      out, err);
}

int RunSyncNow(const Flags& flags, std::ostream& out, std::ostream& err) {
  return Ask(
      flags, ControlRequest("sync-now"),
      [](const rapidjson::Document&) {
        return std::string("sync requested: the daemon fetches and reconciles every environment");
      },
      out, err);
}

int RunSteer(const Flags& flags, const char* command, std::ostream& out, std::ostream& err) {
  std::string id = flags.id;
  if (!id.empty() && std::isdigit(static_cast<unsigned char>(id[0])))
    id = ReleaseId(std::stoll(id));
  const std::string what = command;
  return Ask(
      flags, ControlRequest(command, {{"id", id}}),
      [&](const rapidjson::Document&) {
        if (what == "pause") return id + " will hold after the batch in hand";
        if (what == "resume") return id + " goes on";
        return id + " is rolling back, batch by batch";
      },
      out, err);
}

// Follows a release until it ends: a line per batch as it is recorded, and
// the hold state from the daemon. Exit 0 when it succeeded, 1 otherwise.
int RunWatch(const Flags& flags, std::ostream& out, std::ostream& err) {
  std::optional<DaemonConfig> state = State(flags, err);
  if (!state) return 3;
  std::string id = flags.id;
  if (!id.empty() && std::isdigit(static_cast<unsigned char>(id[0])))
    id = ReleaseId(std::stoll(id));
  journal::JournalReader reader(PosixJournalFs(), state->JournalPath());
  const bool terminal = isatty(STDOUT_FILENO) != 0;
  size_t shown = 0;
  std::string last_hold;
  auto start = std::chrono::steady_clock::now();
  for (;;) {
    auto record = reader.Release(id);
    if (!record.ok()) {
      err << "pagoda: " << record.status().message() << "\n";
      return 1;
    }
    for (; shown < record->batches.size(); ++shown) {
      const BatchRecord& b = record->batches[shown];
      if (terminal) out << "\r\033[K";
      out << id << " " << record->app << "/" << record->env << " batch " << b.index << ": "
          << b.instances << " instances Ready in " << (b.ready - b.start) << " ms ("
          << b.pods.size() << " pods)\n";
    }
    if (record->outcome != Outcome::kInProgress) {
      out << id << " " << Name(record->outcome);
      if (!record->errors.empty()) out << ": " << record->errors.back();
      out << "\n";
      return record->outcome == Outcome::kSucceeded ? 0 : 1;
    }
    // Held or not: the daemon knows.
    std::string hold;
    auto answer = ControlCall(state->SocketPath(), ControlRequest("status"), kControlTimeout);
    if (answer.ok() && answer->HasMember("status")) {
      auto doc = StatusDocument::FromJson((*answer)["status"]);
      if (doc.ok()) {
        for (const auto& e : doc->environments) {
          if (e.release == id) hold = e.release_phase == "running" ? "" : ReleaseCell(e);
        }
      }
    }
    if (terminal) {
      auto secs =
          std::chrono::duration_cast<std::chrono::seconds>(std::chrono::steady_clock::now() - start)
              .count();
      out << "\r\033[K" << id << " " << record->batches.size() << " batches done, " << secs << "s"
          << (hold.empty() ? "" : " — " + hold) << std::flush;
    } else if (hold != last_hold) {
      out << (hold.empty() ? id + " running" : hold) << "\n";
    }
    last_hold = hold;
    std::this_thread::sleep_for(std::chrono::milliseconds(500));
  }
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
  if (f.status->parsed()) return RunStatus(f, out, err);
  if (f.sync_now->parsed()) return RunSyncNow(f, out, err);
  if (f.rollback->parsed()) return RunRollback(f, out, err);
  if (f.unpin->parsed()) return RunUnpin(f, out, err);
  if (f.pause->parsed()) return RunSteer(f, "pause", out, err);
  if (f.resume->parsed()) return RunSteer(f, "resume", out, err);
  if (f.abort->parsed()) return RunSteer(f, "abort", out, err);
  if (f.watch->parsed()) return RunWatch(f, out, err);
  return std::nullopt;
}

}  // namespace pagoda::cli
