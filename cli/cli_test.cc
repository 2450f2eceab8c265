// Runs the built `pagoda` binary on examples/repo and on broken copies.
#include <gtest/gtest.h>
#include <rapidjson/document.h>
#include <sys/wait.h>

#include <array>
#include <cstdio>
#include <filesystem>
#include <fstream>

#include "cli/shell_for_tests.h"

namespace {

namespace fs = std::filesystem;

struct Outcome {
  int code = -1;
  std::string out;
};

// Runs `pagoda ARGS` with stdout captured (stderr to `err_file`).
Outcome Pagoda(const std::string& args, const std::string& err_file = "/dev/null") {
  pagoda::cli::ShellRun run =
      pagoda::cli::RunShell(std::string(PAGODA_BINARY) + " " + args + " 2>" + err_file);
  return {run.code, run.out};
}

std::string Slurp(const fs::path& path) {
  std::ifstream in(path);
  return std::string(std::istreambuf_iterator<char>(in), {});
}

class CliTest : public ::testing::Test {
 protected:
  void SetUp() override {
    examples_ = fs::path(PAGODA_SOURCE_DIR) / "examples/repo";
    scratch_ = fs::temp_directory_path() /
               ("pagoda-cli-test-" + std::to_string(::getpid()) + "-" +
                ::testing::UnitTest::GetInstance()->current_test_info()->name());
    fs::remove_all(scratch_);
    fs::create_directories(scratch_);
    broken_ = scratch_ / "repo";
    fs::copy(examples_, broken_, fs::copy_options::recursive);
    // shop-web/prod: more batches than replicas. orders stays valid.
    fs::path env = broken_ / "apps/shop-web/envs/prod.yaml";
    std::string text = Slurp(env);
    text.replace(text.find("batches: 2"), 10, "batches: 5");
    std::ofstream(env) << text;
  }
  void TearDown() override { fs::remove_all(scratch_); }

  std::string Repo(const fs::path& p) { return "--repo " + p.string(); }

  fs::path examples_, scratch_, broken_;
};

TEST_F(CliTest, VersionIsTheGitTagOrTheProjectVersionWithItsCommitAndDate) {
  // What the source tree says, asked of Git directly.
  auto git = [](const std::string& args) {
    pagoda::cli::ShellRun run = pagoda::cli::RunShell(
        "TZ=UTC git -C " + std::string(PAGODA_SOURCE_DIR) + " " + args + " 2>/dev/null");
    return run.code == 0 ? run.out : std::string();
  };
  std::string described = git("describe --tags --match 'v[0-9]*' --dirty");
  std::string commit = git("log -1 --format=%H");
  std::string date = git("log -1 --format=%cd --date=format-local:%Y-%m-%dT%H:%M:%SZ");
  if (commit.empty()) GTEST_SKIP() << "not built from a Git tree";
  if (described.empty()) {
    // A clone without tags: the project's version and the commit.
    std::string hash = git("describe --always --dirty");
    ASSERT_FALSE(hash.empty());
    described = std::string("v") + PAGODA_PROJECT_VERSION + "-g" + hash;
  }
  Outcome run = Pagoda("--version");
  EXPECT_EQ(run.code, 0);
  EXPECT_EQ(run.out, "pagoda " + described.substr(1) + "commit " + commit + "built " + date)
      << run.out;
}

TEST_F(CliTest, ValidateExamplesExitsZero) {
  fs::path err = scratch_ / "err";
  Outcome run = Pagoda("validate " + Repo(examples_) + " --cluster test --cluster prod=kind-prod",
                       err.string());
  EXPECT_EQ(run.code, 0);
  EXPECT_EQ(run.out, "");
  EXPECT_EQ(Slurp(err), "pagoda: 2 apps: 0 errors, 0 warnings\n");
}

TEST_F(CliTest, ValidateBrokenRepoPrintsTheErrorAndExitsOne) {
  Outcome run = Pagoda("validate " + Repo(broken_));
  EXPECT_EQ(run.code, 1);
  EXPECT_EQ(run.out,
            "apps/shop-web/envs/prod.yaml:10:14: spec.release.batches: 5 is more than replicas "
            "(4)\n");
  // Another app alone is still valid; the broken app's other environment too is reported clean.
  EXPECT_EQ(Pagoda("validate " + Repo(broken_) + " orders").code, 0);
  EXPECT_EQ(Pagoda("validate " + Repo(broken_) + " shop-web/test").code, 0);
  EXPECT_EQ(Pagoda("validate " + Repo(broken_) + " shop-web/prod").code, 1);
}

TEST_F(CliTest, ValidateJsonIsMachineReadable) {
  Outcome run = Pagoda("validate " + Repo(broken_) + " --json");
  EXPECT_EQ(run.code, 1);
  rapidjson::Document doc;
  doc.Parse(run.out.c_str());
  ASSERT_FALSE(doc.HasParseError()) << run.out;
  EXPECT_FALSE(doc["valid"].GetBool());
  ASSERT_EQ(doc["apps"].Size(), 2u);
  EXPECT_STREQ(doc["apps"][0]["name"].GetString(), "orders");
  EXPECT_TRUE(doc["apps"][0]["valid"].GetBool());
  EXPECT_FALSE(doc["apps"][1]["valid"].GetBool());
  const auto& d = doc["diagnostics"][0];
  EXPECT_STREQ(d["severity"].GetString(), "error");
  EXPECT_STREQ(d["file"].GetString(), "apps/shop-web/envs/prod.yaml");
  EXPECT_EQ(d["line"].GetInt(), 10);
  EXPECT_EQ(d["column"].GetInt(), 14);
  EXPECT_STREQ(d["field"].GetString(), "spec.release.batches");
  EXPECT_EQ(Pagoda("validate -o json " + Repo(broken_)).out, run.out);
}

TEST_F(CliTest, WarningsDoNotFailValidation) {
  fs::path err = scratch_ / "err";
  Outcome run = Pagoda("validate " + Repo(examples_) + " --node-allocatable cpu=0.4,memory=15Gi",
                       err.string());
  EXPECT_EQ(run.code, 0);
  EXPECT_NE(run.out.find("apps/shop-web/deploy/web.yaml:7:8: warning: spec.cpu: one instance "
                         "asks for 500m cpu, more than a node can allocate (400m)"),
            std::string::npos)
      << run.out;
}

TEST_F(CliTest, UsageErrorsExitTwo) {
  EXPECT_EQ(Pagoda("validate --repo /nonexistent/dir").code, 2);
  EXPECT_EQ(Pagoda("validate " + Repo(examples_) + " no-such-app").code, 2);
  EXPECT_EQ(Pagoda("validate " + Repo(examples_) + " orders/staging").code, 2);
  EXPECT_EQ(Pagoda("validate " + Repo(examples_) + " --node-allocatable gpu=1").code, 2);
  EXPECT_EQ(Pagoda("render " + Repo(examples_) + " -o xml").code, 2);
  EXPECT_EQ(Pagoda("validate --no-such-flag").code, 2);
}

TEST_F(CliTest, UnknownClusterIsAnError) {
  Outcome run = Pagoda("validate " + Repo(examples_) + " --cluster prod");
  EXPECT_EQ(run.code, 1);
  EXPECT_NE(run.out.find("spec.cluster: \"test\" is not a known cluster (known: prod)"),
            std::string::npos);
}

TEST_F(CliTest, RenderYamlIsDeterministicAndFiltered) {
  Outcome all = Pagoda("render " + Repo(examples_) + " --commit 1234abcd");
  EXPECT_EQ(all.code, 0);
  EXPECT_EQ(all.out.rfind("---\napiVersion: v1\nkind: Namespace\n", 0), 0u)
      << all.out.substr(0, 200);
  EXPECT_EQ(Pagoda("render " + Repo(examples_) + " --commit 1234abcd").out, all.out);
  EXPECT_NE(all.out.find("pagoda.dev/commit: \"1234abcd\""), std::string::npos);

  Outcome one = Pagoda("render " + Repo(examples_) + " shop-web/prod");
  EXPECT_EQ(one.code, 0);
  EXPECT_NE(one.out.find("name: prod-files-"), std::string::npos);
  EXPECT_EQ(one.out.find("name: test"), std::string::npos);
  EXPECT_EQ(one.out.find("namespace: orders"), std::string::npos);
  // Running from inside the repository: --repo defaults to the current directory.
  EXPECT_EQ(Pagoda("--version >/dev/null; cd " + examples_.string() + " && " + PAGODA_BINARY +
                   " render shop-web/prod")
                .out,
            one.out);
}

TEST_F(CliTest, RenderJsonIsAList) {
  Outcome run = Pagoda("render -o json " + Repo(examples_) + " orders");
  EXPECT_EQ(run.code, 0);
  rapidjson::Document doc;
  doc.Parse(run.out.c_str());
  ASSERT_FALSE(doc.HasParseError());
  EXPECT_STREQ(doc["kind"].GetString(), "List");
  // Namespace + CronJob per cluster, then per environment: ConfigMap, Service, Deployment
  // (+ the LoadBalancer Service in prod).
  EXPECT_EQ(doc["items"].Size(), 2u + 4u + 2u + 3u);
}

TEST_F(CliTest, RenderOfABrokenRepoPrintsTheValidAppsAndExitsOne) {
  fs::path err = scratch_ / "err";
  Outcome run = Pagoda("render " + Repo(broken_), err.string());
  EXPECT_EQ(run.code, 1);
  EXPECT_NE(run.out.find("namespace: orders"), std::string::npos);
  EXPECT_EQ(run.out.find("namespace: shop-web"), std::string::npos);
  EXPECT_NE(Slurp(err).find("spec.release.batches: 5 is more than replicas (4)"),
            std::string::npos);
}

}  // namespace
