// The fixture of the journal's tests on real files: a directory of its own
// per test (tmpfs when there is one), and a started release to append.
#pragma once

#include <gtest/gtest.h>
#include <unistd.h>

#include <filesystem>
#include <memory>
#include <string>

#include "base/file.h"
#include "journal/journal.h"

namespace pagoda::journal {

class JournalTest : public ::testing::Test {
 protected:
  void SetUp() override {
    // tmpfs when there is one: the every-offset test fsyncs thousands of times.
    std::filesystem::path base = std::filesystem::exists("/dev/shm")
                                     ? std::filesystem::path("/dev/shm")
                                     : std::filesystem::temp_directory_path();
    dir_ = base / ("pagoda-journal-test-" + std::to_string(::getpid()) + "-" +
                   ::testing::UnitTest::GetInstance()->current_test_info()->name());
    std::filesystem::remove_all(dir_);
    std::filesystem::create_directories(dir_);
    path_ = (dir_ / "journal").string();
  }
  void TearDown() override { std::filesystem::remove_all(dir_); }

  std::unique_ptr<Journal> Open(const std::string& path = "") {
    Result<std::unique_ptr<Journal>> j = Journal::Open(path.empty() ? path_ : path);
    EXPECT_TRUE(j.ok()) << j.status().ToString();
    return j.ok() ? std::move(*j) : nullptr;
  }

  static ReleaseRecord Started(const std::string& app, const std::string& env, TimeMs t) {
    ReleaseRecord r;
    r.app = app;
    r.env = env;
    r.cluster = "test";
    r.to = {"2222222222222222222222222222222222222222", "Ada <ada@example.com>", t, "change"};
    r.to_revision = "9e8d7c6b5a";
    r.start = t;
    return r;
  }

  std::string Content() { return *pagoda::ReadFile(path_); }

  std::filesystem::path dir_;
  std::string path_;
};

}  // namespace pagoda::journal
