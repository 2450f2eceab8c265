// What the Git source's tests share: a temporary directory, repositories
// made with the git CLI, and a GitSource over them. Test-only.
#pragma once

#include <gtest/gtest.h>
#include <unistd.h>

#include <algorithm>
#include <cstdlib>
#include <filesystem>
#include <fstream>
#include <functional>
#include <map>
#include <thread>

#include "base/base64.h"
#include "base/file.h"
#include "source/git_internal.h"
#include "source/source.h"
#include "tests/servers/git_servers.h"
#include "tests/servers/stall_server.h"

namespace pagoda::source {

namespace fs = std::filesystem;
using testing::Sh;

inline std::string Q(const fs::path& p) { return "'" + p.string() + "'"; }

// The clone's fetch mark (git::FetchLock): "fetching\n" while a fetch runs
// or after one was killed, empty after one ended.
inline std::string ReadMark(const fs::path& clone_dir) {
  Result<std::string> text = ReadFile((clone_dir / git::kFetchLockFile).string());
  return text.ok() ? *text : "(" + text.status().ToString() + ")";
}

class GitSourceTest : public ::testing::Test {
 protected:
  void SetUp() override {
    ::setenv("GIT_CONFIG_NOSYSTEM", "1", 1);
    ::setenv("GIT_AUTHOR_NAME", "Ada Lovelace", 1);
    ::setenv("GIT_AUTHOR_EMAIL", "ada@example.com", 1);
    ::setenv("GIT_COMMITTER_NAME", "Ada Lovelace", 1);
    ::setenv("GIT_COMMITTER_EMAIL", "ada@example.com", 1);
    dir_ = fs::temp_directory_path() /
           ("pagoda-git-test-" + std::to_string(::getpid()) + "-" +
            ::testing::UnitTest::GetInstance()->current_test_info()->name());
    fs::remove_all(dir_);
    fs::create_directories(dir_ / "srv");
    origin_ = dir_ / "srv/origin";
    ASSERT_TRUE(Sh("git -c init.defaultBranch=main init -q " + Q(origin_)).ok());
  }
  void TearDown() override { fs::remove_all(dir_); }

  std::string Git(const std::string& args) {
    Result<std::string> out = Sh("git -C " + Q(origin_) + " " + args + " 2>&1");
    EXPECT_TRUE(out.ok()) << out.status().ToString();
    std::string text = out.ok() ? *out : "";
    while (!text.empty() && text.back() == '\n') text.pop_back();
    return text;
  }

  // Writes `files` (path → content; "" content deletes) into the origin and
  // commits them. Returns the new commit id.
  std::string Commit(const std::map<std::string, std::string>& files, const std::string& message,
                     const std::string& date = "2024-05-01T12:00:00+02:00") {
    for (const auto& [path, content] : files) {
      fs::path p = origin_ / path;
      if (content.empty()) {
        fs::remove(p);
        continue;
      }
      fs::create_directories(p.parent_path());
      std::ofstream(p) << content;
    }
    ::setenv("GIT_AUTHOR_DATE", date.c_str(), 1);
    ::setenv("GIT_COMMITTER_DATE", date.c_str(), 1);
    Git("add -A");
    Git("commit -q --allow-empty -m " + std::string("'") + message + "'");
    return Git("rev-parse HEAD");
  }

  GitSourceOptions Options(std::string url = "") {
    GitSourceOptions options;
    options.url = url.empty() ? origin_.string() : url;
    options.clone_dir = (dir_ / "state/repo.git").string();
    return options;
  }

  std::unique_ptr<GitSource> Open(GitSourceOptions options) {
    Result<std::unique_ptr<GitSource>> source = OpenGitSource(std::move(options));
    EXPECT_TRUE(source.ok()) << source.status().ToString();
    return source.ok() ? std::move(*source) : nullptr;
  }

  static std::vector<std::string> Sorted(Result<std::vector<std::string>> files) {
    EXPECT_TRUE(files.ok()) << files.status().ToString();
    std::vector<std::string> out = files.ok() ? *files : std::vector<std::string>{};
    std::sort(out.begin(), out.end());
    return out;
  }

  fs::path dir_, origin_;
};

const std::map<std::string, std::string> kTwoApps = {
    {"apps/shop/app.yaml", "kind: App\nmetadata: {name: shop}\n"},
    {"apps/shop/envs/prod.yaml", "kind: Environment\n"},
    {"apps/orders/app.yaml", "kind: App\nmetadata: {name: orders}\n"},
    {"README.md", "the config repository\n"},
};

// ---- refs, URLs, host keys -------------------------------------------------

}  // namespace pagoda::source
