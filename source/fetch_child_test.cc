// The fetch in a child process: it fetches as in this one, and a silent
// server, one that stalls halfway through a pack, or another thread ends
// it at its deadline with nothing left behind; it ends with the process
// that asked for it.
#include <fcntl.h>
#include <signal.h>
#include <spawn.h>
#include <sys/wait.h>

#include <cstdio>

#include "source/git_test_fixture.h"

extern char** environ;

namespace pagoda::source {
namespace {

bool WaitFor(const std::function<bool()>& condition, std::chrono::milliseconds timeout) {
  auto until = std::chrono::steady_clock::now() + timeout;
  while (!condition()) {
    if (std::chrono::steady_clock::now() > until) return false;
    std::this_thread::sleep_for(std::chrono::milliseconds(20));
  }
  return true;
}

// A fetch request as the daemon writes it, `parent` as given (printf's
// "%d" or a number).
std::string RequestFor(const GitSourceOptions& o, const std::string& parent) {
  return "{\"url\":\"" + o.url + "\",\"ref\":\"" + o.ref.ToString() + "\",\"cloneDir\":\"" +
         o.clone_dir + "\",\"parent\":" + parent + "}";
}

// True when `pid` has exited (gone, or a zombie not reaped yet).
bool Ended(pid_t pid) {
  std::ifstream stat("/proc/" + std::to_string(pid) + "/stat");
  std::string line;
  if (!std::getline(stat, line)) return true;
  const size_t paren = line.rfind(')');
  return paren != std::string::npos && line.size() > paren + 2 && line[paren + 2] == 'Z';
}

// `/bin/sh -c script` with its stdout read here; killed by its PID.
class Asker {
 public:
  explicit Asker(const std::string& script) {
    int fds[2];
    if (::pipe2(fds, O_CLOEXEC) != 0) return;
    posix_spawn_file_actions_t actions;
    posix_spawn_file_actions_init(&actions);
    posix_spawn_file_actions_adddup2(&actions, fds[1], STDOUT_FILENO);
    std::string sh = "/bin/sh", c = "-c", text = script;
    char* argv[] = {sh.data(), c.data(), text.data(), nullptr};
    if (::posix_spawn(&pid_, sh.c_str(), &actions, nullptr, argv, environ) != 0) pid_ = -1;
    posix_spawn_file_actions_destroy(&actions);
    ::close(fds[1]);
    out_ = ::fdopen(fds[0], "r");
  }
  ~Asker() {
    Kill();
    if (out_ != nullptr) std::fclose(out_);
  }
  // The first line the script writes, as a PID; -1 when there is none.
  pid_t ReadPid() {
    char line[32] = {};
    if (out_ == nullptr || std::fgets(line, sizeof line, out_) == nullptr) return -1;
    return static_cast<pid_t>(std::atoi(line));
  }
  void Kill() {
    if (pid_ <= 0) return;
    ::kill(pid_, SIGKILL);
    ::waitpid(pid_, nullptr, 0);
    pid_ = -1;
  }

 private:
  pid_t pid_ = -1;
  FILE* out_ = nullptr;
};

GitSourceOptions InChild(GitSourceOptions options, std::chrono::milliseconds timeout) {
  options.fetch_program = PAGODA_BINARY;
  options.fetch_timeout = timeout;
  return options;
}

TEST_F(GitSourceTest, AFetchInAChildProcessFetchesAsInThisOne) {
  std::string first = Commit(kTwoApps, "first");
  auto source = Open(InChild(Options(), std::chrono::seconds(60)));
  Result<FetchResult> fetched = source->Fetch();
  ASSERT_TRUE(fetched.ok()) << fetched.status().ToString();
  EXPECT_EQ(fetched->commit, first);
  EXPECT_TRUE(fetched->moved);
  // This process sees what the child fetched: the tip and the objects.
  EXPECT_EQ(*source->Tip(), first);
  EXPECT_EQ(*(*source->Files(first))->ReadFile("apps/shop/app.yaml", 100),
            "kind: App\nmetadata: {name: shop}\n");
  std::string second = Commit({{"apps/shop/app.yaml", "2\n"}}, "second");
  fetched = source->Fetch();
  ASSERT_TRUE(fetched.ok()) << fetched.status().ToString();
  EXPECT_EQ(fetched->previous, first);
  EXPECT_EQ(fetched->commit, second);
  EXPECT_EQ(*(*source->Files(second))->ReadFile("apps/shop/app.yaml", 10), "2\n");
  // Errors come back with their kind and message.
  GitSourceOptions missing = InChild(Options(), std::chrono::seconds(60));
  missing.ref = *GitRef::Parse("refs/heads/nope");
  missing.clone_dir = (dir_ / "state/missing.git").string();
  EXPECT_EQ(Open(missing)->Fetch().status().code(), Status::Code::kNotFound);
}

TEST_F(GitSourceTest, ASilentServerIsGivenUpOnAtTheDeadlineAndNothingWaitsForIt) {
  std::string first = Commit(kTwoApps, "first");
  ASSERT_TRUE(Open(Options())->Fetch().ok());  // the clone has a tip already
  pagoda::testing::StallingServer silent;
  ASSERT_TRUE(silent.Start(0, 0).ok());
  std::string url = "http://127.0.0.1:" + std::to_string(silent.port()) + "/origin";
  auto source = Open(InChild(Options(url), std::chrono::milliseconds(1500)));

  auto start = std::chrono::steady_clock::now();
  std::thread fetching([&] {
    Result<FetchResult> fetched = source->Fetch();
    EXPECT_EQ(fetched.status().code(), Status::Code::kDeadlineExceeded)
        << fetched.status().ToString();
    EXPECT_NE(fetched.status().message().find("did not finish within 1500ms"), std::string::npos)
        << fetched.status().ToString();
  });
  // Meanwhile the clone answers at once: the fetch holds no lock of it.
  ASSERT_TRUE(WaitFor([&] { return silent.accepted() > 0; }, std::chrono::seconds(10)));
  auto asked = std::chrono::steady_clock::now();
  EXPECT_EQ(*source->Tip(), first);
  EXPECT_TRUE(source->Files(first).ok());
  EXPECT_LT(std::chrono::steady_clock::now() - asked, std::chrono::milliseconds(500));
  fetching.join();
  auto took = std::chrono::steady_clock::now() - start;
  EXPECT_GE(took, std::chrono::milliseconds(1400));
  EXPECT_LT(took, std::chrono::seconds(5));
}

TEST_F(GitSourceTest, AServerThatStallsHalfwayThroughAPackIsGivenUpOnAndLeavesNothingBehind) {
  // A commit with enough in it for a pack of a few hundred KiB.
  std::string noise;
  uint64_t x = 88172645463325252ull;
  for (int i = 0; i < 400000; ++i) {
    x ^= x << 13, x ^= x >> 7, x ^= x << 17;
    noise += static_cast<char>('!' + x % 90);
  }
  std::string first =
      Commit({{"apps/shop/app.yaml", "1\n"}, {"apps/shop/blob.txt", noise}}, "first");
  testing::GitHttpServer http;
  ASSERT_TRUE(http.Start((dir_ / "srv").string(), "", "").ok());
  pagoda::testing::StallingServer stalling;
  ASSERT_TRUE(stalling.Start(http.port(), 64 * 1024).ok());
  std::string url = "http://127.0.0.1:" + std::to_string(stalling.port()) + "/origin";
  GitSourceOptions options = InChild(Options(url), std::chrono::milliseconds(2000));
  auto source = Open(options);
  Result<FetchResult> fetched = source->Fetch();
  EXPECT_EQ(fetched.status().code(), Status::Code::kDeadlineExceeded)
      << fetched.status().ToString();
  EXPECT_GT(stalling.passed(), 16u * 1024) << "the pack had begun to arrive";
  // The clone is marked as left by a killed fetch; the next fetch (from a
  // server that answers) removes what it left, and works.
  EXPECT_EQ(ReadMark(options.clone_dir), "fetching\n");
  options.url = "http://127.0.0.1:" + std::to_string(http.port()) + "/origin";
  fetched = Open(options)->Fetch();
  ASSERT_TRUE(fetched.ok()) << fetched.status().ToString();
  EXPECT_EQ(fetched->commit, first);
  for (const auto& entry : fs::recursive_directory_iterator(options.clone_dir)) {
    const std::string name = entry.path().filename().string();
    EXPECT_FALSE(name.ends_with(".lock") || name.starts_with("pack_git2_")) << entry.path();
  }
  EXPECT_EQ(ReadMark(options.clone_dir), "");
}

// A daemon killed while its fetch runs takes the fetch with it: nothing
// goes on writing into a clone that a new daemon takes over.
TEST_F(GitSourceTest, AFetchEndsWithTheProcessThatAskedForIt) {
  Commit(kTwoApps, "first");
  pagoda::testing::StallingServer silent;
  ASSERT_TRUE(silent.Start(0, 0).ok());
  const GitSourceOptions options =
      Options("http://127.0.0.1:" + std::to_string(silent.port()) + "/origin");
  // The asker is a shell: it writes its request, starts the fetch, says
  // the fetch's PID and waits.
  const fs::path request = dir_ / "request.json";
  Asker asker("printf '" + RequestFor(options, "%d") + "' $$ > " + Q(request) + "; " +
              PAGODA_BINARY + " internal-fetch < " + Q(request) + " > /dev/null & echo $!; wait");
  const pid_t fetch = asker.ReadPid();
  ASSERT_GT(fetch, 0);
  ASSERT_TRUE(WaitFor([&] { return silent.accepted() > 0; }, std::chrono::seconds(10)))
      << "the fetch did not reach the server";
  asker.Kill();
  const bool ended = WaitFor([&] { return Ended(fetch); }, std::chrono::seconds(10));
  if (!ended) ::kill(fetch, SIGKILL);
  EXPECT_TRUE(ended) << "the fetch (PID " << fetch << ") outlived the process that asked for it";
}

// A fetch whose asker is gone before it could be set to die with it
// fetches nothing: its parent is then another process.
TEST_F(GitSourceTest, AFetchWhoseAskerIsGoneAlreadyFetchesNothing) {
  Commit(kTwoApps, "first");
  const GitSourceOptions options = Options();
  const std::string request = RequestFor(options, std::to_string(::getpid()));
  Result<std::string> answer = testing::Sh("printf '" + request + "' | " + PAGODA_BINARY +
                                           " internal-fetch; echo \"exit $?\"");
  ASSERT_TRUE(answer.ok()) << answer.status().ToString();
  EXPECT_NE(answer->find("\"ok\":false"), std::string::npos) << *answer;
  EXPECT_NE(answer->find("is gone; nothing fetched"), std::string::npos) << *answer;
  EXPECT_NE(answer->find("exit 1"), std::string::npos) << *answer;
  EXPECT_FALSE(fs::exists(options.clone_dir)) << "the clone was made";
}

TEST_F(GitSourceTest, AFetchInHandCanBeEndedFromAnotherThread) {
  Commit(kTwoApps, "first");
  pagoda::testing::StallingServer silent;
  ASSERT_TRUE(silent.Start(0, 0).ok());
  std::string url = "http://127.0.0.1:" + std::to_string(silent.port()) + "/origin";
  auto source = Open(InChild(Options(url), std::chrono::minutes(5)));
  auto start = std::chrono::steady_clock::now();
  std::thread fetching([&] { EXPECT_FALSE(source->Fetch().ok()); });
  ASSERT_TRUE(WaitFor([&] { return silent.accepted() > 0; }, std::chrono::seconds(10)));
  source->CancelFetch();
  fetching.join();
  EXPECT_LT(std::chrono::steady_clock::now() - start, std::chrono::seconds(10));
}

}  // namespace
}  // namespace pagoda::source
