// The hostile repositories of tests/data/hostile, each through the built
// `pagoda validate`: every case's diagnostics exactly as expected.txt has
// them, and the apps beside a hostile one still valid.
#include <gtest/gtest.h>
#include <rapidjson/document.h>
#include <sys/wait.h>

#include <array>
#include <cstdio>
#include <filesystem>
#include <fstream>
#include <map>

namespace {

namespace fs = std::filesystem;

fs::path Root() { return fs::path(PAGODA_SOURCE_DIR) / "tests/data/hostile"; }

std::vector<fs::path> Cases() {
  std::vector<fs::path> out;
  for (const auto& entry : fs::directory_iterator(Root())) {
    if (entry.is_directory()) out.push_back(entry.path());
  }
  std::sort(out.begin(), out.end());
  return out;
}

std::string Slurp(const fs::path& path) {
  std::ifstream in(path);
  return std::string(std::istreambuf_iterator<char>(in), {});
}

// `pagoda validate` of a case, as tests/data/hostile/README.md says it is run.
std::string Validate(const fs::path& dir, const std::string& extra = "") {
  std::string command = std::string(PAGODA_BINARY) + " validate --repo " + dir.string() +
                        " --cluster test --cluster prod";
  if (fs::exists(dir / "config.yaml")) command += " --config " + (dir / "config.yaml").string();
  command += " " + extra + " 2>/dev/null";
  std::string out;
  FILE* pipe = ::popen(command.c_str(), "r");
  if (pipe == nullptr) return out;
  std::array<char, 4096> buffer;
  size_t n;
  while ((n = std::fread(buffer.data(), 1, buffer.size(), pipe)) > 0) out.append(buffer.data(), n);
  ::pclose(pipe);
  return out;
}

TEST(HostileRepositories, AtLeastThirtyCasesAreRefused) {
  int refused = 0;
  for (const fs::path& dir : Cases()) refused += Slurp(dir / "expected.txt").empty() ? 0 : 1;
  EXPECT_GE(refused, 30);
}

TEST(HostileRepositories, EachGivesItsExactDiagnostics) {
  for (const fs::path& dir : Cases()) {
    SCOPED_TRACE(dir.filename().string());
    ASSERT_TRUE(fs::exists(dir / "README")) << "every case says what it tries";
    EXPECT_EQ(Validate(dir), Slurp(dir / "expected.txt"));
  }
}

// A hostile app is invalid alone: the app beside it loads.
TEST(HostileRepositories, TheAppsBesideAHostileOneStayValid) {
  const std::map<std::string, std::string> bystanders = {
      {"alias-bomb-bytes", "shop"},
      {"aliases-by-the-ten-thousand", "shop"},
      {"app-folder-too-deep", "shop"},
      {"app-too-many-bytes", "shop"},
      {"app-too-many-files", "shop"},
      {"file-too-large", "shop"},
      {"repository-budget-refuses-the-largest", "b-small"},
      {"reserved-by-config", "shop"},
      {"privileged-granted-by-config", "infra-x"},
      {"service-account-of-its-own", "tool"},
      // Two claimants of one listener: neither app is invalid.
      {"listener-taken-by-a-name-that-sorts-first", "a-shop"},
  };
  for (const auto& [name, app] : bystanders) {
    SCOPED_TRACE(name);
    rapidjson::Document doc;
    doc.Parse(Validate(Root() / name, "-o json").c_str());
    ASSERT_TRUE(doc.IsObject());
    bool found = false;
    for (const auto& a : doc["apps"].GetArray()) {
      if (a["name"].GetString() != app) continue;
      found = true;
      EXPECT_TRUE(a["valid"].GetBool()) << app;
    }
    EXPECT_TRUE(found) << app;
  }
}

}  // namespace
