// What the command line's history and daemon-command tests share: a
// temporary state directory with a journal, and the built `pagoda` run
// against it. Test-only.
#pragma once

#include <fcntl.h>
#include <gtest/gtest.h>
#include <poll.h>
#include <rapidjson/document.h>
#include <rapidjson/stringbuffer.h>
#include <rapidjson/writer.h>
#include <signal.h>
#include <sys/wait.h>
#include <unistd.h>

#include <array>
#include <chrono>
#include <cstdio>
#include <filesystem>
#include <fstream>
#include <map>
#include <mutex>
#include <thread>

#include "cli/history_commands.h"
#include "cli/shell_for_tests.h"
#include "control/control.h"
#include "journal/journal.h"

namespace pagoda::cli::test {

using control::ControlError;
using control::ControlOk;
using control::ControlServer;
using control::StatusDocument;
using control::WriteStatusFile;
using journal::Journal;
using journal::ParseReleaseRecord;
using journal::ToJson;

namespace fs = std::filesystem;
using std::chrono::milliseconds;

constexpr TimeMs kT0 = 1714557600000;  // 2024-05-01T10:00:00Z

struct Invocation {
  int code = -1;
  std::string out;
  std::string err;
};

inline std::string Slurp(const fs::path& path) {
  std::ifstream in(path);
  return std::string(std::istreambuf_iterator<char>(in), {});
}

inline TimeMs Now() {
  return std::chrono::duration_cast<milliseconds>(
             std::chrono::system_clock::now().time_since_epoch())
      .count();
}

class HistoryTest : public ::testing::Test {
 protected:
  void SetUp() override {
    static int counter = 0;
    dir_ = fs::temp_directory_path() /
           ("pagoda-hist-" + std::to_string(::getpid()) + "-" + std::to_string(counter++));
    fs::remove_all(dir_);
    fs::create_directories(dir_ / "state");
    state_.state_dir = (dir_ / "state").string();
  }
  void TearDown() override { fs::remove_all(dir_); }

  // `pagoda ARGS --state-dir STATE` (the flag is left out when ARGS has --config).
  Invocation Pagoda(const std::string& args) {
    std::string command = std::string(PAGODA_BINARY) + " " + args;
    if (args.find("--config") == std::string::npos) command += " --state-dir " + state_.state_dir;
    command += " 2>" + (dir_ / "err").string();
    ShellRun shell = RunShell(command);
    return {shell.code, shell.out, Slurp(dir_ / "err")};
  }

  Journal& OpenJournal() {
    if (!journal_) {
      auto journal = Journal::Open(state_.JournalPath());
      EXPECT_TRUE(journal.ok()) << journal.status().ToString();
      journal_ = std::move(*journal);
    }
    return *journal_;
  }

  void Append(ReleaseRecord record) { ASSERT_TRUE(OpenJournal().Append(&record).ok()); }
  void Append(const SyncEntry& entry) { ASSERT_TRUE(OpenJournal().Append(entry).ok()); }

  // Three releases: r-000001 shop-web/prod (finished, with batches and a
  // change set), r-000002 orders/prod (a failed first release), r-000003
  // shop-web/test (in progress).
  void WriteHistory() {
    ReleaseRecord a;
    a.app = "shop-web";
    a.env = "prod";
    a.cluster = "prod";
    a.kind = ReleaseKind::kRollout;
    a.trigger = Trigger::kCommit;
    a.from = {"1111111aaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaa", "Ann <ann@example.com>", kT0 - 86'400'000,
              "web 1.4.2"};
    a.to = {"2222222bbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbb", "Bob <bob@example.com>", kT0 - 60'000,
            "shop-web: image 1.4.3 with a summary longer than forty characters"};
    a.from_revision = "5c0ffee001";
    a.to_revision = "7d9f8c2b1a";
    a.changes = {{ChangeAction::kCreated, "Deployment/shop-web/prod-7d9f8c2b1a"},
                 {ChangeAction::kConfigured, "Service/shop-web/prod"},
                 {ChangeAction::kUnchanged, "Namespace//shop-web"},
                 {ChangeAction::kCreated, "ConfigMap/shop-web/prod-files-0a1b2c"}};
    a.batches = {{1,
                  2,
                  kT0 + 1000,
                  {"prod-7d9f8c2b1a-aaaaa", "prod-7d9f8c2b1a-bbbbb"},
                  kT0 + 31000,
                  kT0 + 32000},
                 {2, 2, kT0 + 33000, {"prod-7d9f8c2b1a-ccccc"}, 0, kT0 + 95000}};
    a.outcome = Outcome::kSucceeded;
    a.start = kT0;
    a.end = kT0 + 95'000;
    Append(a);

    ReleaseRecord b;
    b.app = "orders";
    b.env = "prod";
    b.cluster = "prod";
    b.kind = ReleaseKind::kRollout;
    b.trigger = Trigger::kManualSync;
    b.to = {"3333333ccccccccccccccccccccccccccccccccc", "Cy <cy@example.com>", kT0,
            "orders: first"};
    b.to_revision = "0123456789";
    b.outcome = Outcome::kFailed;
    b.errors = {"Deployment/orders/prod-0123456789: 0 of 1 instances Ready within 5m"};
    b.start = kT0 + 120'000;
    b.end = kT0 + 420'000;
    Append(b);

    ReleaseRecord c;
    c.app = "shop-web";
    c.env = "test";
    c.cluster = "test";
    c.kind = ReleaseKind::kScale;
    c.trigger = Trigger::kSelfHeal;
    c.from_revision = "7d9f8c2b1a";
    c.to_revision = "7d9f8c2b1a";
    c.start = kT0 + 500'000;
    Append(c);
    // A later line of r-000003: the listing shows its latest state.
    c.id = "r-000003";
    c.outcome = Outcome::kInProgress;
    c.errors = {"still waiting"};
    Append(c);
  }

  std::string Socket() const { return state_.SocketPath(); }

  fs::path dir_;
  DaemonConfig state_;
  std::unique_ptr<Journal> journal_;
};

// ---- releases ----

}  // namespace pagoda::cli::test
