// The commands that talk to the running daemon over its control socket:
// status, sync-now, rollback, unpin, pause, resume, abort, watch.
#include <pwd.h>
#include <unistd.h>

#include <chrono>
#include <cstdlib>
#include <ostream>
#include <thread>
#include <tuple>

#include "base/clock.h"
#include "base/json.h"
#include "cli/history_internal.h"
#include "control/control.h"
#include "journal/journal.h"

namespace pagoda::cli::history {

using control::ControlCall;
using control::ControlRequest;
using control::ReadStatusFile;
using control::StatusDocument;
using journal::PosixJournalFs;

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

// What holds an environment's next release back, and its error: "frozen
// until … (window)", "waiting for test: soaked 12m00s of 30m00s".
std::string Waits(const StatusDocument::Environment& e) {
  std::vector<std::string> parts;
  if (e.frozen) {
    parts.push_back("frozen until " +
                    (e.frozen->until != 0 ? When(e.frozen->until) : "the freeze file loads") +
                    " (" + e.frozen->window + ")");
  }
  if (e.waiting) {
    parts.push_back("waiting for " + e.waiting->after + ": " +
                    (e.waiting->reason == "soaking"
                         ? "soaked " +
                               pagoda::FormatDurationMs(e.waiting->soaked_seconds * 1000LL) +
                               " of " + pagoda::FormatDurationMs(e.waiting->soak_seconds * 1000LL)
                         : e.waiting->reason));
  }
  if (!e.error.empty()) parts.push_back(e.error);
  std::string out;
  for (const auto& p : parts) out += (out.empty() ? "" : "; ") + p;
  return out.empty() ? "-" : out;
}

// "replica pagoda-0-x1y2z of 2 (pagoda-0-x1y2z, pagoda-1-a9b8c)", then who
// holds each shard since when.
void PrintLeadership(std::ostream& out, const StatusDocument::Leadership& l) {
  out << "replica " << l.identity << " of " << l.replicas.size() << " (" << Join(l.replicas, ", ")
      << ")\n";
  if (!l.error.empty()) out << "error   " << l.error << "\n";
  for (const auto& shard : l.shards) {
    out << "shard   " << shard.index << " " << shard.lease << ": ";
    if (shard.holder.empty()) {
      out << "nobody holds it\n";
      continue;
    }
    out << "held by " << shard.holder << (shard.mine ? " (this replica)" : "")
        << (shard.since != 0 ? " since " + When(shard.since) : "") << "\n";
  }
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
  if (s.mirror && (s.mirror->waiting > 0 || !s.mirror->error.empty())) {
    out << "mirror  " << s.mirror->waiting << " release records not yet in the clusters"
        << (s.mirror->oldest != 0 ? ", the oldest since " + When(s.mirror->oldest) : "")
        << (s.mirror->error.empty() ? "" : ": " + s.mirror->error) << "\n";
  }
  if (s.leadership) PrintLeadership(out, *s.leadership);
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
               e.drift ? "yes" : "no", e.standby ? "(another replica leads it)" : ReleaseCell(e),
               e.pinned ? Short(e.pinned->commit) + " since " + When(e.pinned->since) : "-",
               Waits(e)});
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

// The user who asks: the one sudo ran for, else the effective one.
std::string Asker() {
  if (const char* sudo = std::getenv("SUDO_USER"); sudo != nullptr && *sudo != '\0') return sudo;
  if (const passwd* pw = getpwuid(geteuid()); pw != nullptr) return pw->pw_name;
  return "uid " + std::to_string(geteuid());
}

int RunLetThrough(const Flags& flags, const std::string& command, std::ostream& out,
                  std::ostream& err) {
  auto target = Target(flags.target, err);
  if (!target) return 2;
  std::string request = ControlRequest(
      command,
      {{"app", target->first}, {"env", target->second}, {"by", Asker()}, {"reason", flags.reason}});
  return Ask(
      flags, request,
      [&](const rapidjson::Document&) {
        return flags.target + (command == "promote"
                                   ? ": its next release goes without waiting for its promotion"
                                   : ": its next release goes through the freeze window");
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

}  // namespace pagoda::cli::history
