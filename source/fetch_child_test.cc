// The fetch in a child process: it fetches as in this one, and a silent
// server, one that stalls halfway through a pack, or another thread ends
// it at its deadline with nothing left behind.
#include "source/git_test_fixture.h"

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
  // Nothing half-written stays in the clone, and the next fetch (from a
  // server that answers) works.
  for (const auto& entry : fs::recursive_directory_iterator(options.clone_dir)) {
    const std::string name = entry.path().filename().string();
    EXPECT_FALSE(name.ends_with(".lock") || name.starts_with("pack_git2_")) << entry.path();
  }
  options.url = "http://127.0.0.1:" + std::to_string(http.port()) + "/origin";
  fetched = Open(options)->Fetch();
  ASSERT_TRUE(fetched.ok()) << fetched.status().ToString();
  EXPECT_EQ(fetched->commit, first);
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
