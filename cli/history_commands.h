// The commands that read the daemon's history and state, and those that ask
// the running daemon to act:
//
//   pagoda releases [--app A] [--env E] [--limit N] [--json]   the history, newest first
//   pagoda release show ID [--diff] [--json]                    one record in full
//   pagoda log [--since T] [--follow] [--json]                  the sync log
//   pagoda status [--json]                                      every environment now
//   pagoda sync-now | rollback APP/ENV --to COMMIT|RELEASE-ID | unpin APP/ENV
//
// Each finds the state directory through `--state-dir DIR`, or `--config FILE`
// (its stateDir), or else the system config /etc/pagoda/config.yaml's, or else
// /var/lib/pagoda. They read the journal and status.json (any user who may read
// the state directory) and reach the daemon over its control socket; they never
// write to the state directory.
//
// Output is a table on stdout; with --json it is stable for scripts:
// `releases` prints a JSON array of records (record.h's JSON), `release show`
// one record, `log` one JSON object per line (sync entries, so that --follow
// streams), `status` the StatusDocument (control.h), the control commands the
// daemon's answer. Messages and errors go to stderr.
//
// Exit codes: 0 done; 1 a negative answer (no such release, the daemon refused:
// its message is printed); 2 usage; 3 failures: the state cannot be read, or
// the daemon cannot be reached (`status` then prints the last known state).
#pragma once

#include <iosfwd>
#include <memory>
#include <optional>
#include <string>
#include <string_view>

#include "base/status.h"
#include "daemon/config.h"
#include "journal/record.h"

namespace CLI {
class App;
}

namespace pagoda::cli {

using daemon::DaemonConfig;

// The journal's vocabulary, as this module speaks it.
using journal::BatchRecord;
using journal::Change;
using journal::ChangeAction;
using journal::FormatTime;
using journal::Name;
using journal::Outcome;
using journal::ParseTime;
using journal::RecordCommit;
using journal::ReleaseId;
using journal::ReleaseIdNumber;
using journal::ReleaseKind;
using journal::ReleaseRecord;
using journal::SyncEntry;
using journal::TimeMs;
using journal::Trigger;

inline constexpr const char* kSystemConfig = "/etc/pagoda/config.yaml";

// Where the state is: `state_dir` when set, else the stateDir of `config` when
// set, else that of `system_config` when that file exists, else the default.
// The result carries only the state directory (and `source`). NotFound when
// the directory does not exist.
Result<DaemonConfig> ResolveStateDir(const std::string& config, const std::string& state_dir,
                                     const std::string& system_config = kSystemConfig);

// `--since`: a duration back from `now` in manifest::ParseDuration's grammar
// ("90s", "10m", "1h30m", "48h"; at most a year) or an RFC 3339 time
// ("2024-05-01T10:00:00Z", "2024-05-01T12:00:00.5+02:00").
Result<TimeMs> ParseSince(std::string_view text, TimeMs now);

// The commands on a CLI11 app. Construct before parsing; after parsing, Run()
// runs the one that was given, or returns nullopt when none of them was.
class HistoryCommands {
 public:
  explicit HistoryCommands(CLI::App* app);
  ~HistoryCommands();
  std::optional<int> Run(std::ostream& out, std::ostream& err) const;

  struct Flags;  // the parsed options of all of them

 private:
  std::unique_ptr<Flags> flags_;
};

}  // namespace pagoda::cli
