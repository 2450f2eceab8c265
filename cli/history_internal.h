// What the history commands (history_commands.cc: the journal's) and the
// daemon commands (daemon_commands.cc: status and what asks the daemon to
// act) share: their flags, text helpers and timeouts. Internal to cli/.
#pragma once

#include <CLI/CLI.hpp>
#include <algorithm>
#include <chrono>
#include <cstdint>
#include <iosfwd>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include "cli/history_commands.h"

namespace pagoda::cli {

struct HistoryCommands::Flags {
  std::string config;
  std::string state_dir;
  bool json = false;
  std::string app, env;  // releases
  size_t limit = 50;
  bool from_cluster = false;  // releases: the clusters' Release objects
  std::string id;             // release show
  bool diff = false;
  std::string since;  // log
  bool follow = false;
  std::string target, to;  // rollback, unpin
  std::string reason;      // release override, release promote

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
  CLI::App* override_freeze = nullptr;
  CLI::App* promote = nullptr;
};

namespace history {

using Flags = HistoryCommands::Flags;

inline constexpr std::chrono::milliseconds kStatusTimeout{10'000};
inline constexpr std::chrono::milliseconds kControlTimeout{60'000};  // a rollback renders first
inline constexpr std::chrono::milliseconds kFollowPoll{500};

size_t Width(std::string_view text);  // code points: what a terminal shows
std::string Truncate(std::string_view text, size_t width);
std::string Or(std::string_view text, std::string_view otherwise = "-");
std::string Short(std::string_view commit);  // 7 hex digits, or "-"
std::string When(TimeMs time);
std::string Duration(int64_t ms);
std::string Join(const std::vector<std::string>& items, std::string_view separator);

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

// The state directory the flags name; nullopt with a message on `err`.
std::optional<DaemonConfig> State(const Flags& flags, std::ostream& err);

// The commands that talk to the daemon (daemon_commands.cc).
int RunStatus(const Flags& flags, std::ostream& out, std::ostream& err);
int RunRollback(const Flags& flags, std::ostream& out, std::ostream& err);
int RunUnpin(const Flags& flags, std::ostream& out, std::ostream& err);
int RunSyncNow(const Flags& flags, std::ostream& out, std::ostream& err);
int RunSteer(const Flags& flags, const char* command, std::ostream& out, std::ostream& err);
// `pagoda release override|promote APP/ENV --reason`: `command` is the
// control command of the same name.
int RunLetThrough(const Flags& flags, const std::string& command, std::ostream& out,
                  std::ostream& err);
int RunWatch(const Flags& flags, std::ostream& out, std::ostream& err);

}  // namespace history
}  // namespace pagoda::cli
