// Budgets are per app: an app past one is invalid alone.
#include <gtest/gtest.h>

#include "manifest/manifest.h"
#include "manifest/test_repo.h"

namespace pagoda::manifest {
namespace {

using testing::BaseRepo;

std::string Dump(const std::vector<Diagnostic>& diagnostics) {
  std::string out;
  for (const Diagnostic& d : diagnostics) out += d.ToString() + "\n";
  return out;
}

// BaseRepo's app as apps/<name>.
void AddApp(std::map<std::string, std::string>* files, const std::string& name) {
  for (const auto& [path, content] : BaseRepo()) {
    std::string p = "apps/" + name + path.substr(std::string("apps/shop").size());
    std::string c = content;
    if (p.ends_with("app.yaml")) c.replace(c.find("name: shop"), 10, "name: " + name);
    (*files)[p] = c;
  }
}

TEST(Budgets, AFileOverItsBoundFailsItsAppOnly) {
  std::map<std::string, std::string> files;
  AddApp(&files, "big");
  AddApp(&files, "small");
  files["apps/big/manifests/blob.yaml"] = "data: " + std::string(300, 'x') + "\n";
  MemorySource source = testing::ToSource(files);
  LoadOptions options = testing::TestOptions();
  options.max_file_bytes = 250;
  Repository repo = LoadRepository(source, options);
  EXPECT_FALSE(repo.FindApp("big")->valid);
  EXPECT_TRUE(repo.FindApp("small")->valid) << Dump(repo.AllDiagnostics());
  EXPECT_EQ(Dump(repo.FindApp("big")->diagnostics),
            "apps/big/manifests/blob.yaml: larger than 250 bytes; pagoda reads files up to that "
            "size\n");
}

TEST(Budgets, AnAppOverItsBytesIsRefusedBeforeAnythingIsRead) {
  std::map<std::string, std::string> files;
  AddApp(&files, "big");
  AddApp(&files, "small");
  for (int i = 0; i < 4; ++i) {
    files["apps/big/manifests/m" + std::to_string(i) + ".yaml"] = std::string(200, '#') + "\n";
  }
  MemorySource source = testing::ToSource(files);
  LoadOptions options = testing::TestOptions();
  options.max_app_bytes = 1024;
  Repository repo = LoadRepository(source, options);
  const AppResult* big = repo.FindApp("big");
  ASSERT_EQ(big->diagnostics.size(), 1u) << Dump(big->diagnostics);
  EXPECT_EQ(big->diagnostics[0].ToString(),
            "apps/big: its YAML files hold 1303 bytes, more than the 1 KiB pagoda reads of one "
            "app");
  EXPECT_TRUE(big->model().environments.empty());  // nothing of it was read
  EXPECT_TRUE(repo.FindApp("small")->valid);
}

TEST(Budgets, PastTheRepositoryBudgetTheLargestAppsAreRefused) {
  std::map<std::string, std::string> files;
  AddApp(&files, "a-large");
  AddApp(&files, "b-small");
  AddApp(&files, "c-small");
  files["apps/a-large/manifests/pad.yaml"] = std::string(2000, '#') + "\n";
  MemorySource source = testing::ToSource(files);
  LoadOptions options = testing::TestOptions();
  options.max_repo_bytes = 2500;  // the three apps hold about 3,500 bytes
  Repository repo = LoadRepository(source, options);
  EXPECT_FALSE(repo.FindApp("a-large")->valid);
  EXPECT_TRUE(repo.FindApp("b-small")->valid);
  EXPECT_TRUE(repo.FindApp("c-small")->valid);
  EXPECT_NE(Dump(repo.FindApp("a-large")->diagnostics)
                .find("apps/a-large: the apps' YAML files hold 3510 bytes in all, more than the "
                      "2500 bytes pagoda reads of a repository; the largest apps are refused "
                      "until the rest fit, and this one holds 2504 bytes"),
            std::string::npos)
      << Dump(repo.AllDiagnostics());
}

TEST(Budgets, FilesAndDepthAreBoundedPerApp) {
  std::map<std::string, std::string> files;
  AddApp(&files, "deep");
  AddApp(&files, "many");
  AddApp(&files, "fine");
  files["apps/deep/a/b/c/d/e/f.yaml"] = "x: 1\n";
  for (int i = 0; i < 20; ++i) files["apps/many/notes/" + std::to_string(i) + ".txt"] = "x";
  MemorySource source = testing::ToSource(files);
  LoadOptions options = testing::TestOptions();
  options.max_app_depth = 3;
  options.max_app_files = 10;
  Repository repo = LoadRepository(source, options);
  EXPECT_EQ(Dump(repo.FindApp("deep")->diagnostics),
            "apps/deep/a/b/c/d: directories nested more than 3 levels deep in apps/deep; an app "
            "holds app.yaml, deploy/, envs/ and manifests/\n");
  EXPECT_EQ(Dump(repo.FindApp("many")->diagnostics),
            "apps/many: holds more than 10 files; pagoda reads an app of at most that many\n");
  EXPECT_TRUE(repo.FindApp("fine")->valid);
}

TEST(Budgets, AliasCopiesCountAgainstTheFileAndTheApp) {
  // One long string, named many times: small on disk, large once read.
  std::string bomb = "apiVersion: v1\nkind: ConfigMap\nmetadata: {name: bomb}\ndata:\n  a: &s " +
                     std::string(10000, 'x') + "\n";
  for (int i = 0; i < 50; ++i) bomb += "  k" + std::to_string(i) + ": *s\n";
  std::map<std::string, std::string> files;
  AddApp(&files, "bomb");
  AddApp(&files, "fine");
  files["apps/bomb/manifests/bomb.yaml"] = bomb;
  MemorySource source = testing::ToSource(files);
  LoadOptions options = testing::TestOptions();
  options.max_expanded_bytes_per_file = 100000;
  Repository repo = LoadRepository(source, options);
  EXPECT_EQ(Dump(repo.FindApp("bomb")->diagnostics),
            "apps/bomb/manifests/bomb.yaml:14:7: the file expands to more than 100000 bytes of "
            "text (aliases count each copy); refusing to read it\n");
  EXPECT_TRUE(repo.FindApp("fine")->valid);

  // The app's budget holds across its files.
  files.erase("apps/bomb/manifests/bomb.yaml");
  std::string half = "apiVersion: v1\nkind: ConfigMap\nmetadata: {name: NAME}\ndata:\n  a: &s " +
                     std::string(10000, 'x') + "\n";
  for (int i = 0; i < 4; ++i) half += "  k" + std::to_string(i) + ": *s\n";
  for (int f = 0; f < 3; ++f) {
    std::string text = half;
    text.replace(text.find("NAME"), 4, "cm" + std::to_string(f));
    files["apps/bomb/manifests/m" + std::to_string(f) + ".yaml"] = text;
  }
  MemorySource spread = testing::ToSource(files);
  options.max_app_bytes = 120000;  // each file expands to about 50 KB
  repo = LoadRepository(spread, options);
  EXPECT_NE(Dump(repo.FindApp("bomb")->diagnostics)
                .find("apps/bomb/manifests/m2.yaml:6:7: the app's files expand to more than "
                      "120000 bytes (aliases count each copy); refusing to read more of them"),
            std::string::npos)
      << Dump(repo.FindApp("bomb")->diagnostics);
}

TEST(Budgets, ReservedNamespacesAreRefusedAsAppNames) {
  std::map<std::string, std::string> files;
  AddApp(&files, "kube-system");
  AddApp(&files, "default");
  AddApp(&files, "pagoda-system");
  AddApp(&files, "team-infra");
  AddApp(&files, "shop");
  MemorySource source = testing::ToSource(files);
  LoadOptions options = testing::TestOptions();
  options.reserved_namespaces = {"team-*"};
  Repository repo = LoadRepository(source, options);
  for (const char* name : {"kube-system", "default", "pagoda-system", "team-infra"}) {
    SCOPED_TRACE(name);
    const AppResult* app = repo.FindApp(name);
    EXPECT_FALSE(app->valid);
    EXPECT_NE(Dump(app->diagnostics).find(" is a namespace the platform keeps ("),
              std::string::npos)
        << Dump(app->diagnostics);
  }
  EXPECT_EQ(Dump(repo.FindApp("kube-system")->diagnostics),
            "apps/kube-system/app.yaml:4:9: metadata.name: \"kube-system\" is a namespace the "
            "platform keeps (kube-*); an app's name is its namespace, so choose another\n");
  EXPECT_TRUE(repo.FindApp("shop")->valid);
}

}  // namespace
}  // namespace pagoda::manifest
