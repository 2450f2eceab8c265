// The history commands (releases, release show, log) and how they find the
// state directory, run as the built `pagoda` binary against a journal
// written with Journal in a temporary state directory.
#include "cli/history_test_fixture.h"

namespace pagoda::cli::test {
namespace {

TEST_F(HistoryTest, ReleasesTableNewestFirst) {
  WriteHistory();
  Invocation run = Pagoda("releases");
  EXPECT_EQ(run.code, 0) << run.err;
  EXPECT_EQ(
      run.out,
      "ID        APP/ENV        KIND     TRIGGER      REVISION               COMMIT           "
      "                                 OUTCOME      STARTED               DURATION\n"
      "r-000003  shop-web/test  scale    self-heal    7d9f8c2b1a→7d9f8c2b1a  -                "
      "                                 in-progress  2024-05-01T10:08:20Z  -\n"
      "r-000002  orders/prod    rollout  manual-sync  -→0123456789           3333333 orders: "
      "first                             failed       2024-05-01T10:02:00Z  5m00s\n"
      "r-000001  shop-web/prod  rollout  commit       5c0ffee001→7d9f8c2b1a  2222222 shop-web: "
      "image 1.4.3 with a summary lo…  succeeded    2024-05-01T10:00:00Z  1m35s\n");
}

TEST_F(HistoryTest, ReleasesJsonFiltersAndLimit) {
  WriteHistory();
  auto ids = [&](const std::string& args) {
    Invocation run = Pagoda("releases --json " + args);
    EXPECT_EQ(run.code, 0) << run.err;
    rapidjson::Document doc;
    doc.Parse(run.out.c_str());
    EXPECT_TRUE(!doc.HasParseError() && doc.IsArray()) << run.out;
    std::string out;
    if (doc.HasParseError() || !doc.IsArray()) return out;
    for (const auto& record : doc.GetArray()) {
      out += (out.empty() ? "" : " ") + std::string(record["id"].GetString());
    }
    return out;
  };
  EXPECT_EQ(ids(""), "r-000003 r-000002 r-000001");
  EXPECT_EQ(ids("--app shop-web"), "r-000003 r-000001");
  EXPECT_EQ(ids("--env prod"), "r-000002 r-000001");
  EXPECT_EQ(ids("--app shop-web --env prod"), "r-000001");
  EXPECT_EQ(ids("--limit 1"), "r-000003");
  EXPECT_EQ(ids("--app shop-web --limit 1"), "r-000003");
  EXPECT_EQ(ids("--app nothing"), "");

  // Each element is the record's own JSON, latest state.
  Invocation run = Pagoda("releases --json --limit 1");
  Result<ReleaseRecord> latest = OpenJournal().reader().Release("r-000003");
  ASSERT_TRUE(latest.ok());
  EXPECT_EQ(run.out, "[" + ToJson(*latest) + "]\n");
  EXPECT_EQ(Pagoda("releases --limit 0").code, 2);
}

TEST_F(HistoryTest, ReleasesOfAnEmptyStateDirectory) {
  Invocation run = Pagoda("releases");
  EXPECT_EQ(run.code, 0);
  EXPECT_EQ(run.out, "");
  EXPECT_EQ(run.err, "pagoda: no releases recorded in " + state_.JournalPath() + "\n");
  EXPECT_EQ(Pagoda("releases --json").out, "[]\n");
}

TEST_F(HistoryTest, StateDirectoryFromConfigOrFlag) {
  WriteHistory();
  fs::path config = dir_ / "config.yaml";
  std::ofstream(config) << "repo: /srv/apps\nstateDir: state\n";  // relative to the file
  Invocation run = Pagoda("releases --json --limit 1 --config " + config.string());
  EXPECT_EQ(run.code, 0) << run.err;
  EXPECT_NE(run.out.find("r-000003"), std::string::npos);

  std::ofstream(config) << "repo: /srv/apps\nstateDir: elsewhere\n";
  run = Pagoda("releases --config " + config.string());
  EXPECT_EQ(run.code, 3);
  EXPECT_EQ(run.err, "pagoda: no state directory at " + (dir_ / "elsewhere").string() + " (from " +
                         config.string() + "); give --config FILE or --state-dir DIR\n");

  std::ofstream(config) << "stateDir: state\nbogus: 1\n";
  run = Pagoda("releases --config " + config.string());
  EXPECT_EQ(run.code, 3);
  EXPECT_NE(run.err.find(config.string()), std::string::npos) << run.err;

  EXPECT_EQ(Pagoda("releases --config " + (dir_ / "missing.yaml").string()).code, 2);
  EXPECT_EQ(Pagoda("releases --config " + config.string() + " --state-dir /tmp").code, 2);
}

TEST(StateDirTest, FlagThenConfigThenSystemConfigThenDefault) {
  fs::path dir = fs::temp_directory_path() / ("pagoda-statedir-" + std::to_string(::getpid()));
  fs::create_directories(dir / "a");
  fs::create_directories(dir / "b");
  std::ofstream(dir / "config.yaml") << "repo: /srv/apps\nstateDir: a\n";
  std::ofstream(dir / "system.yaml") << "repo: /srv/apps\nstateDir: b\n";
  std::string config = (dir / "config.yaml").string(), system = (dir / "system.yaml").string();

  auto resolve = [&](const std::string& c, const std::string& s, const std::string& sys) {
    Result<DaemonConfig> r = ResolveStateDir(c, s, sys);
    return r.ok() ? r->state_dir : "error: " + r.status().message();
  };
  EXPECT_EQ(resolve("", (dir / "b").string() + "/", system), (dir / "b").string());
  EXPECT_EQ(resolve(config, "", system), (dir / "a").string());
  EXPECT_EQ(resolve("", "", system), (dir / "b").string());
  // No system config: /var/lib/pagoda, which must exist to be used.
  std::string fallback = resolve("", "", (dir / "none.yaml").string());
  EXPECT_TRUE(fallback == "/var/lib/pagoda" ||
              fallback ==
                  "error: no state directory at /var/lib/pagoda (from the default); give "
                  "--config FILE or --state-dir DIR")
      << fallback;
  EXPECT_EQ(ResolveStateDir("", "", system)->JournalPath(), (dir / "b/journal").string());
  fs::remove_all(dir);
}

// ---- release show ----

TEST_F(HistoryTest, ReleaseShowInFull) {
  WriteHistory();
  Invocation run = Pagoda("release show r-000001");
  EXPECT_EQ(run.code, 0) << run.err;
  std::string expected =
      "release   r-000001  shop-web/prod on cluster prod\n"
      "kind      rollout (trigger: commit)\n"
      "outcome   succeeded\n"
      "started   2024-05-01T10:00:00Z\n"
      "ended     2024-05-01T10:01:35Z (1m35s)\n"
      "revision  5c0ffee001 → 7d9f8c2b1a\n"
      "from      1111111aaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaa\n"
      "          author Ann <ann@example.com>\n"
      "          date   2024-04-30T10:00:00Z\n"
      "              web 1.4.2\n"
      "to        2222222bbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbb\n"
      "          author Bob <bob@example.com>\n"
      "          date   2024-05-01T09:59:00Z\n"
      "              shop-web: image 1.4.3 with a summary longer than forty characters\n"
      "changes   2 created, 1 configured, 1 unchanged\n";
  std::string batches =
      "batches\n"
      "  1. 2 instances, started 2024-05-01T10:00:01Z, ready 2024-05-01T10:00:31Z, ended "
      "2024-05-01T10:00:32Z\n"
      "     pods: prod-7d9f8c2b1a-aaaaa, prod-7d9f8c2b1a-bbbbb\n"
      "  2. 2 instances, started 2024-05-01T10:00:33Z, ready never, ended 2024-05-01T10:01:35Z\n"
      "     pods: prod-7d9f8c2b1a-ccccc\n";
  EXPECT_EQ(run.out, expected + batches);

  run = Pagoda("release show 1 --diff");
  EXPECT_EQ(run.code, 0) << run.err;
  EXPECT_EQ(run.out, expected +
                         "  created     Deployment/shop-web/prod-7d9f8c2b1a\n"
                         "  configured  Service/shop-web/prod\n"
                         "  unchanged   Namespace//shop-web\n"
                         "  created     ConfigMap/shop-web/prod-files-0a1b2c\n" +
                         batches);
}

TEST_F(HistoryTest, ReleaseShowErrorsAndFirstReleases) {
  WriteHistory();
  Invocation run = Pagoda("release show r-2");
  EXPECT_EQ(run.code, 0) << run.err;
  EXPECT_NE(run.out.find("revision  (none) → 0123456789\nfrom      (none)\n"), std::string::npos)
      << run.out;
  EXPECT_NE(run.out.find("changes   none\nerrors\n  Deployment/orders/prod-0123456789: 0 of 1 "
                         "instances Ready within 5m\n"),
            std::string::npos)
      << run.out;

  run = Pagoda("release show r-000003 --json");
  EXPECT_EQ(run.code, 0);
  Result<ReleaseRecord> parsed = ParseReleaseRecord(run.out.substr(0, run.out.size() - 1));
  ASSERT_TRUE(parsed.ok()) << run.out;
  EXPECT_EQ(parsed->errors, std::vector<std::string>{"still waiting"});

  run = Pagoda("release show r-000009");
  EXPECT_EQ(run.code, 1);
  EXPECT_EQ(run.err, "pagoda: no release r-000009 in " + state_.JournalPath() + "\n");
  EXPECT_EQ(Pagoda("release show banana").code, 2);
  EXPECT_EQ(Pagoda("release show").code, 2);
  EXPECT_EQ(Pagoda("release").code, 2);
}

// ---- log ----

TEST_F(HistoryTest, LogSinceADurationOrATime) {
  TimeMs now = Now();
  Append(SyncEntry{.time = now - 7'200'000,
                   .commit = "2222222bbbb",
                   .environments_checked = 4,
                   .duration_ms = 80});
  Append(SyncEntry{.time = now - 300'000,
                   .commit = "3333333cccc",
                   .environments_checked = 4,
                   .drift = {"shop-web/test", "orders/prod"},
                   .releases = {"r-000002"},
                   .errors = {"apps/orders/app.yaml:1:1: bad"},
                   .duration_ms = 1250});

  Invocation all = Pagoda("log");
  EXPECT_EQ(all.code, 0) << all.err;
  std::string older = FormatTime(now - 7'200'000) +
                      " commit=2222222 checked=4 drift=- releases=- errors=0 took=80ms\n";
  std::string newer = FormatTime(now - 300'000) +
                      " commit=3333333 checked=4 drift=shop-web/test,orders/prod "
                      "releases=r-000002 errors=1 took=1.2s\n"
                      "  error: apps/orders/app.yaml:1:1: bad\n";
  EXPECT_EQ(all.out, older + newer);
  EXPECT_EQ(Pagoda("log --since 10m").out, newer);
  EXPECT_EQ(Pagoda("log --since 1h30m").out, newer);
  EXPECT_EQ(Pagoda("log --since 3h").out, older + newer);
  EXPECT_EQ(Pagoda("log --since 1m").out, "");
  EXPECT_EQ(Pagoda("log --since " + FormatTime(now - 300'000)).out, newer);
  EXPECT_EQ(Pagoda("log --since " + FormatTime(now - 7'200'001)).out, older + newer);

  Invocation json = Pagoda("log --json --since 3h");
  EXPECT_EQ(json.out, ToJson(*OpenJournal().reader().SyncLog(0)->begin()) + "\n" +
                          ToJson(OpenJournal().reader().SyncLog(0)->back()) + "\n");

  Invocation bad = Pagoda("log --since yesterday");
  EXPECT_EQ(bad.code, 2);
  EXPECT_NE(bad.err.find("'yesterday' is neither a duration"), std::string::npos) << bad.err;
}

TEST(ParseSinceTest, DurationsAndTimes) {
  const TimeMs now = kT0;
  EXPECT_EQ(*ParseSince("10m", now), now - 600'000);
  EXPECT_EQ(*ParseSince("1h30m", now), now - 5'400'000);
  EXPECT_EQ(*ParseSince("48h", now), now - 172'800'000);
  EXPECT_EQ(*ParseSince("0", now), now);
  EXPECT_EQ(*ParseSince("45s", now), now - 45'000);
  EXPECT_EQ(*ParseSince("250ms", now), now - 250);
  EXPECT_EQ(*ParseSince("2024-05-01T10:00:00Z", now), kT0);
  EXPECT_EQ(*ParseSince("2024-05-01T10:00:00.250Z", now), kT0 + 250);
  EXPECT_EQ(*ParseSince("2024-05-01T10:00:00.5Z", now), kT0 + 500);
  EXPECT_EQ(*ParseSince("2024-05-01T12:00:00+02:00", now), kT0);
  EXPECT_EQ(*ParseSince("2024-05-01T05:30:00-04:30", now), kT0);
  for (const char* bad :
       {"", "10", "m", "10x", "1h-", "2024-05-01T10:00:00", "2024-13-01T10:00:00Z",
        "2024-05-01T10:00:00+2", "2024-05-01T10:00:00.Z", "2d", "9000h", "99999999999999d",
        "999999999d999999999d999999999d999999999d999999999d999999999d999999999d"
        "999999999d999999999d999999999d999999999d999999999d"}) {
    EXPECT_FALSE(ParseSince(bad, now).ok()) << bad;
  }
}

TEST_F(HistoryTest, LogFollowPrintsNewEntriesUntilTerminated) {
  TimeMs now = Now();
  Append(SyncEntry{.time = now - 1000, .commit = "aaaaaaa", .environments_checked = 1});
  int pipe_fds[2];
  ASSERT_EQ(::pipe(pipe_fds), 0);
  pid_t pid = ::fork();
  ASSERT_GE(pid, 0);
  if (pid == 0) {
    ::dup2(pipe_fds[1], STDOUT_FILENO);
    ::close(pipe_fds[0]);
    ::close(pipe_fds[1]);
    ::execl(PAGODA_BINARY, PAGODA_BINARY, "log", "--follow", "--state-dir",
            state_.state_dir.c_str(), static_cast<char*>(nullptr));
    ::_exit(127);
  }
  ::close(pipe_fds[1]);
  std::string got;
  // Reads until `want` lines arrived or `wait` passed.
  auto read_lines = [&](size_t want, milliseconds wait = milliseconds(10'000)) {
    auto deadline = std::chrono::steady_clock::now() + wait;
    while (static_cast<size_t>(std::count(got.begin(), got.end(), '\n')) < want &&
           std::chrono::steady_clock::now() < deadline) {
      pollfd p{pipe_fds[0], POLLIN, 0};
      if (::poll(&p, 1, 100) <= 0) continue;
      char buf[4096];
      ssize_t n = ::read(pipe_fds[0], buf, sizeof buf);
      if (n <= 0) break;
      got.append(buf, static_cast<size_t>(n));
    }
  };
  read_lines(1);
  EXPECT_NE(got.find("commit=aaaaaaa"), std::string::npos) << got;
  // Two new entries in the same millisecond, then one more: each printed once.
  TimeMs later = Now();
  Append(SyncEntry{.time = later, .commit = "bbbbbbb", .environments_checked = 2});
  Append(SyncEntry{.time = later, .commit = "ccccccc", .environments_checked = 3});
  read_lines(3);
  Append(SyncEntry{.time = later + 1, .commit = "ddddddd", .environments_checked = 4});
  read_lines(4);
  read_lines(5, milliseconds(1200));  // two more polls: nothing repeats
  EXPECT_EQ(std::count(got.begin(), got.end(), '\n'), 4) << got;
  EXPECT_LT(got.find("bbbbbbb"), got.find("ccccccc"));
  EXPECT_LT(got.find("ccccccc"), got.find("ddddddd"));

  ASSERT_EQ(::kill(pid, SIGTERM), 0);
  int status = 0;
  auto deadline = std::chrono::steady_clock::now() + std::chrono::seconds(5);
  pid_t done = 0;
  while ((done = ::waitpid(pid, &status, WNOHANG)) == 0 &&
         std::chrono::steady_clock::now() < deadline) {
    std::this_thread::sleep_for(milliseconds(20));
  }
  if (done == 0) {
    ::kill(pid, SIGKILL);
    ::waitpid(pid, &status, 0);
    ADD_FAILURE() << "pagoda log --follow did not stop on SIGTERM";
  } else {
    EXPECT_TRUE(WIFEXITED(status));
    EXPECT_EQ(WEXITSTATUS(status), 0);
  }
  ::close(pipe_fds[0]);
}

// ---- status ----

}  // namespace
}  // namespace pagoda::cli::test
