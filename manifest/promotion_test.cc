// spec.promotion: parsing, validation, and the artifact it compares.
#include <gtest/gtest.h>

#include <algorithm>

#include "manifest/manifest.h"
#include "manifest/test_repo.h"

namespace pagoda::manifest {
namespace {

using testing::BaseRepo;
using testing::kDeployFile;
using testing::kEnvFile;

constexpr char kTestEnvFile[] = "apps/shop/envs/test.yaml";
constexpr char kStagingEnvFile[] = "apps/shop/envs/staging.yaml";

std::string EnvFile(const std::string& name, const std::string& extra) {
  return "apiVersion: pagoda.dev/v1\n"
         "kind: Environment\n"
         "metadata:\n"
         "  name: " +
         name +
         "\n"
         "spec:\n"
         "  cluster: test\n"
         "  deployConfig: web\n"
         "  replicas: 2\n" +
         extra;
}

// shop with test, and prod promoted after test with `promotion`.
std::map<std::string, std::string> Promoted(const std::string& promotion) {
  auto files = BaseRepo();
  files[kTestEnvFile] = EnvFile("test", "");
  files[kEnvFile] += promotion;
  return files;
}

std::string Errors(const std::map<std::string, std::string>& files) {
  MemorySource source = testing::ToSource(files);
  std::string out;
  for (const Diagnostic& d : LoadRepository(source, testing::TestOptions()).AllDiagnostics()) {
    out += d.ToString() + "\n";
  }
  return out;
}

TEST(Promotion, AfterAndSoakAreRead) {
  MemorySource source = testing::ToSource(Promoted("  promotion: {after: test, soak: 30m}\n"));
  Repository repo = LoadRepository(source, testing::TestOptions());
  ASSERT_TRUE(repo.ok()) << Errors(Promoted("  promotion: {after: test, soak: 30m}\n"));
  const auto& envs = repo.apps.at(0).model().environments;
  auto prod = std::find_if(envs.begin(), envs.end(),
                           [](const Environment& e) { return e.name.value == "prod"; });
  ASSERT_NE(prod, envs.end());
  EXPECT_EQ(prod->promotion.after.value, "test");
  EXPECT_EQ(prod->promotion.soak_ms, 30 * 60 * 1000);
  EXPECT_EQ(prod->promotion.after.pos.line, 13);
  auto test = std::find_if(envs.begin(), envs.end(),
                           [](const Environment& e) { return e.name.value == "test"; });
  EXPECT_TRUE(test->promotion.after.value.empty());
}

TEST(Promotion, EachMistakeNamesItsFileLineAndField) {
  EXPECT_EQ(Errors(Promoted("  promotion: {after: tset, soak: 30m}\n")),
            "apps/shop/envs/prod.yaml:13:22: spec.promotion.after: no Environment \"tset\" in "
            "apps/shop/envs (have: prod, test)\n");
  EXPECT_EQ(Errors(Promoted("  promotion: {after: prod}\n")),
            "apps/shop/envs/prod.yaml:13:22: spec.promotion.after: an environment cannot wait "
            "for itself\n");
  EXPECT_EQ(Errors(Promoted("  promotion: {soak: 30m}\n")),
            "apps/shop/envs/prod.yaml:13:14: spec.promotion.after: is required\n");
  EXPECT_NE(Errors(Promoted("  promotion: {after: test, soak: forever}\n"))
                .find("prod.yaml:13:34: spec.promotion.soak: "),
            std::string::npos);
  EXPECT_EQ(Errors(Promoted("  promotion: {after: test, soak: 721h}\n")),
            "apps/shop/envs/prod.yaml:13:34: spec.promotion.soak: must be at most 30 days "
            "(720h)\n");
  EXPECT_EQ(Errors(Promoted("  promotion: {after: test, soke: 1h}\n")),
            "apps/shop/envs/prod.yaml:13:28: spec.promotion.soke: unknown field; did you mean "
            "\"soak\"?\n");
  EXPECT_NE(Errors(Promoted("  promotion: test\n")).find("prod.yaml:13:14: spec.promotion: "),
            std::string::npos);
}

TEST(Promotion, ACircleIsRefusedWhereverItCloses) {
  auto files = Promoted("  promotion: {after: staging}\n");
  files[kStagingEnvFile] = EnvFile("staging", "  promotion: {after: test}\n");
  files[kTestEnvFile] = EnvFile("test", "  promotion: {after: prod}\n");
  EXPECT_EQ(Errors(files),
            "apps/shop/envs/prod.yaml:13:22: spec.promotion.after: promotion goes round in a "
            "circle: prod -> staging -> test -> prod\n"
            "apps/shop/envs/staging.yaml:9:22: spec.promotion.after: promotion goes round in a "
            "circle: staging -> test -> prod -> staging\n"
            "apps/shop/envs/test.yaml:9:22: spec.promotion.after: promotion goes round in a "
            "circle: test -> prod -> staging -> test\n");
  // The same chain, open at its start, is valid.
  files[kTestEnvFile] = EnvFile("test", "");
  EXPECT_EQ(Errors(files), "");
}

TEST(Promotion, BothEnvironmentsMustRunOneDeployConfig) {
  auto files = Promoted("  promotion: {after: test}\n");
  std::string small = files[kDeployFile];
  small.replace(small.find("name: web"), 9, "name: web-small");
  files["apps/shop/deploy/web-small.yaml"] = small;
  std::string& test = files[kTestEnvFile];
  test.replace(test.find("deployConfig: web"), 17, "deployConfig: web-small");
  EXPECT_EQ(Errors(files),
            "apps/shop/envs/prod.yaml:13:22: spec.promotion.after: test runs DeployConfig "
            "\"web-small\" and this environment \"web\": promotion releases here only what test "
            "ran, so both must run the same DeployConfig\n");
}

// The artifact of one DeployConfig is the same in every environment, while
// their revisions differ; it changes with what the pods run.
TEST(Promotion, TheArtifactIsWhatThePodsRunWhereverTheyRun) {
  auto files = Promoted("  promotion: {after: test}\n");
  std::string& deploy = files[kDeployFile];
  deploy.replace(deploy.find("  ports:"), 8,
                 "  files:\n    - {path: /etc/web.conf, content: a}\n  ports:");
  // prod has session affinity (placement), test not.
  std::string& prod = files[kEnvFile];
  prod.replace(prod.find("targetPort: 8080}"), 17, "targetPort: 8080, sessionAffinity: true}");
  auto render = [](const std::map<std::string, std::string>& f) {
    MemorySource source = testing::ToSource(f);
    Repository repo = LoadRepository(source, testing::TestOptions());
    EXPECT_TRUE(repo.ok());
    Result<RenderedApp> app = RenderApp(repo.apps.at(0).model(), {});
    EXPECT_TRUE(app.ok());
    return app.ok() ? app->environments : std::vector<RenderedEnvironment>{};
  };
  auto envs = render(files);
  ASSERT_EQ(envs.size(), 2u);
  EXPECT_EQ(envs[0].env, "prod");
  EXPECT_NE(envs[0].revision, envs[1].revision);
  EXPECT_EQ(envs[0].artifact.size(), 10u);
  EXPECT_EQ(envs[0].artifact, envs[1].artifact);
  auto edited = files;
  edited[kDeployFile].replace(edited[kDeployFile].find("content: a}"), 11, "content: b}");
  EXPECT_NE(render(edited)[0].artifact, envs[0].artifact);
  edited = files;
  edited[kDeployFile].replace(edited[kDeployFile].find("web:1.4.2"), 9, "web:1.4.3");
  EXPECT_NE(render(edited)[1].artifact, envs[1].artifact);
  edited = files;
  edited[kEnvFile].replace(edited[kEnvFile].find("replicas: 4"), 11, "replicas: 6");
  EXPECT_EQ(render(edited)[0].artifact, envs[0].artifact);
}

}  // namespace
}  // namespace pagoda::manifest
