// Runs every invalid repository under tests/data/manifest/ and compares its
// diagnostics with the case's expected.txt.
#include <gtest/gtest.h>

#include <filesystem>
#include <fstream>
#include <sstream>

#include "manifest/manifest.h"
#include "manifest/test_repo.h"
#include "source/source.h"

namespace pagoda::manifest {
namespace {

using source::NewDirectorySource;

namespace fs = std::filesystem;

std::vector<fs::path> Cases() {
  std::vector<fs::path> out;
  for (const auto& entry :
       fs::directory_iterator(fs::path(PAGODA_SOURCE_DIR) / "tests/data/manifest")) {
    if (entry.is_directory()) out.push_back(entry.path());
  }
  std::sort(out.begin(), out.end());
  return out;
}

std::string ReadText(const fs::path& path) {
  std::ifstream in(path);
  std::stringstream text;
  text << in.rdbuf();
  return text.str();
}

TEST(Cases, AtLeastFortyInvalidInputs) { EXPECT_GE(Cases().size(), 40u); }

TEST(Cases, EachGivesItsExpectedDiagnostics) {
  for (const fs::path& dir : Cases()) {
    SCOPED_TRACE(dir.filename().string());
    std::unique_ptr<FileSource> source = NewDirectorySource(dir.string());
    Repository repo = LoadRepository(*source, testing::TestOptions());
    std::string actual;
    for (const Diagnostic& d : repo.AllDiagnostics()) actual += d.ToString() + "\n";
    std::string expected = ReadText(dir / "expected.txt");
    ASSERT_FALSE(expected.empty()) << "a case must expect at least one diagnostic";
    EXPECT_EQ(actual, expected);
  }
}

TEST(Cases, OneBadAppDoesNotHideTheOther) {
  std::unique_ptr<FileSource> source = NewDirectorySource(
      (fs::path(PAGODA_SOURCE_DIR) / "tests/data/manifest/one-bad-app-of-two").string());
  Repository repo = LoadRepository(*source, testing::TestOptions());
  ASSERT_EQ(repo.apps.size(), 2u);
  EXPECT_EQ(repo.apps[0].name, "shop");
  EXPECT_FALSE(repo.apps[0].valid);
  EXPECT_EQ(repo.apps[1].name, "store");
  EXPECT_TRUE(repo.apps[1].valid);
  EXPECT_TRUE(RenderApp(repo.apps[1].model()).ok());
}

TEST(DirectorySource, ListsRecursivelyAndRefusesPathsOutOfTheRoot) {
  std::unique_ptr<FileSource> source =
      NewDirectorySource(std::string(PAGODA_SOURCE_DIR) + "/examples/repo");
  Result<std::vector<std::string>> files = source->ListFiles("apps/orders");
  ASSERT_TRUE(files.ok());
  std::sort(files->begin(), files->end());
  EXPECT_EQ(*files, (std::vector<std::string>{"apps/orders/app.yaml", "apps/orders/deploy/api.yaml",
                                              "apps/orders/envs/orders.yaml",
                                              "apps/orders/manifests/cleanup.yaml"}));
  EXPECT_EQ(source->ListFiles("nope").status().code(), Status::Code::kNotFound);
  EXPECT_TRUE(source->ReadFile("apps/orders/app.yaml", 1 << 20).ok());
  EXPECT_EQ(source->ReadFile("apps/orders/app.yaml", 10).status().code(),
            Status::Code::kInvalidArgument);
  EXPECT_FALSE(source->ReadFile("apps/../../README.md", 1 << 20).ok());
  EXPECT_FALSE(source->ReadFile("/etc/hostname", 1 << 20).ok());
  std::unique_ptr<FileSource> cases = NewDirectorySource(
      std::string(PAGODA_SOURCE_DIR) + "/tests/data/manifest/symlink-out-of-repo");
  EXPECT_EQ(cases->ReadFile("apps/shop/envs/prod.yaml", 1 << 20).status().code(),
            Status::Code::kPermissionDenied);
}

}  // namespace
}  // namespace pagoda::manifest
