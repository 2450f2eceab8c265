#include "tests/integration/example_repo.h"

#include <gtest/gtest.h>
#include <unistd.h>

#include <cstdlib>
#include <filesystem>
#include <fstream>
#include <random>
#include <sstream>

#include "tests/integration/test_cluster.h"

namespace pagoda::testing {
namespace {

namespace fs = std::filesystem;

std::string ReadAll(const std::string& path) {
  std::ifstream in(path);
  std::stringstream ss;
  ss << in.rdbuf();
  return ss.str();
}

}  // namespace

ExampleRepo::ExampleRepo() {
  std::mt19937 rng(std::random_device{}() ^ static_cast<unsigned>(getpid()));
  char buf[16];
  std::snprintf(buf, sizeof buf, "%06x", static_cast<unsigned>(rng() & 0xffffff));
  suffix_ = buf;
  char tmpl[] = "/tmp/pagoda-repo-XXXXXX";
  dir_ = mkdtemp(tmpl);
  const char* source = std::getenv("PAGODA_SOURCE_DIR");
  fs::path examples = fs::path(source != nullptr ? source : ".") / "examples/repo/apps";
  for (const auto& app : fs::directory_iterator(examples)) {
    std::string name = app.path().filename().string();
    fs::path target = fs::path(dir_) / "apps" / App(name);
    fs::create_directories(target.parent_path());
    fs::copy(app.path(), target, fs::copy_options::recursive);
    Edit(name, "app.yaml", "name: " + name, "name: " + App(name));
  }
  // Public listeners are the cluster's, not a namespace's: each copy takes
  // hosts and a load balancer port of its own, or the copies of tests
  // running at the same time would be each other's conflicts.
  for (const char* env : {"envs/prod.yaml", "envs/test.yaml"}) {
    std::string text = ReadAll(Path("shop-web", env));
    for (size_t at; (at = text.find("host: shop.")) != std::string::npos;) {
      text.replace(at, 11, "host: shop-" + suffix_ + ".");
    }
    std::ofstream(Path("shop-web", env)) << text;
  }
  const int port = 20000 + static_cast<int>(rng() % 40000);
  Edit("orders", "envs/orders.yaml", "port: 9443", "port: " + std::to_string(port));
}

ExampleRepo::~ExampleRepo() {
  std::error_code ec;
  fs::remove_all(dir_, ec);
  for (const auto& app : Apps()) {
    std::string out;
    TestCluster::Get().Kubectl({"delete", "namespace", app, "--wait=false", "--ignore-not-found"},
                               &out);
  }
}

std::string ExampleRepo::Path(const std::string& example, const std::string& path) const {
  return dir_ + "/apps/" + App(example) + "/" + path;
}

void ExampleRepo::Write(const std::string& example, const std::string& path,
                        const std::string& content) {
  fs::create_directories(fs::path(Path(example, path)).parent_path());
  std::ofstream(Path(example, path)) << content;
}

void ExampleRepo::Remove(const std::string& example, const std::string& path) {
  ASSERT_TRUE(fs::remove(Path(example, path))) << Path(example, path);
}

void ExampleRepo::ReleaseWithoutHolds() {
  Edit("shop-web", "envs/prod.yaml", "pause: first", "pause: none");
  Edit("shop-web", "envs/prod.yaml", "batchInterval: 30s", "batchInterval: 0s");
  Edit("shop-web", "envs/test.yaml", "batchInterval: 10s", "batchInterval: 0s");
  Edit("orders", "envs/orders.yaml", "pause: every", "pause: none");
}

void ExampleRepo::Edit(const std::string& example, const std::string& path, const std::string& from,
                       const std::string& to) {
  std::string text = ReadAll(Path(example, path));
  auto pos = text.find(from);
  ASSERT_NE(pos, std::string::npos) << "no \"" << from << "\" in " << Path(example, path);
  text.replace(pos, from.size(), to);
  std::ofstream(Path(example, path)) << text;
}

}  // namespace pagoda::testing
