// LoadCache: a load that reuses unchanged apps gives what a load without a
// cache gives, and reads only the apps whose folders changed.
#include <gtest/gtest.h>

#include <map>
#include <random>
#include <string>

#include "manifest/manifest.h"
#include "manifest/test_repo.h"

namespace pagoda::manifest {
namespace {

using Files = std::map<std::string, std::string>;

std::string Replace(std::string text, const std::string& from, const std::string& to) {
  for (size_t at = text.find(from); at != std::string::npos; at = text.find(from, at + to.size()))
    text.replace(at, from.size(), to);
  return text;
}

// testing::BaseRepo() as app `name`.
void AddApp(Files& files, const std::string& name) {
  for (const auto& [path, content] : testing::BaseRepo()) {
    files[Replace(path, "shop", name)] = Replace(content, "shop", name);
  }
}

Files ThreeApps() {
  Files files;
  for (const char* name : {"cart", "shop", "tax"}) AddApp(files, name);
  return files;
}

// Everything a load gives, as text: per app its validity, diagnostics and
// rendered objects; the repository's diagnostics and listener claims.
std::string Describe(const Repository& repo) {
  std::string out;
  for (const AppResult& app : repo.apps) {
    out += app.name + (app.valid ? " valid\n" : " invalid\n");
    for (const Diagnostic& d : app.diagnostics) out += "  " + d.ToString() + "\n";
    if (!app.valid) continue;
    auto rendered = RenderApp(app.model(), {.commit = "c0ffee"});
    out += rendered.ok() ? ToJsonList(rendered->AllObjects()) : rendered.status().ToString();
  }
  for (const Diagnostic& d : repo.diagnostics) out += "repo: " + d.ToString() + "\n";
  for (const ListenerClaim& c : repo.ListenerClaims()) out += c.Claimant() + " " + c.Where() + "\n";
  return out;
}

TEST(LoadCacheTest, AnUnchangedRepositoryIsReadOnce) {
  const Files files = ThreeApps();
  MemorySource source = testing::ToSource(files);
  LoadCache cache;
  Repository first = LoadRepository(source, testing::TestOptions(), &cache);
  EXPECT_EQ(cache.read, 3u);
  EXPECT_EQ(cache.reused, 0u);
  Repository second = LoadRepository(source, testing::TestOptions(), &cache);
  EXPECT_EQ(cache.read, 0u);
  EXPECT_EQ(cache.reused, 3u);
  EXPECT_EQ(Describe(second), Describe(first));
  // The reused model is the one read before, not a copy.
  EXPECT_EQ(second.apps[1].shared_model.get(), first.apps[1].shared_model.get());
}

TEST(LoadCacheTest, OnlyTheChangedAppIsReadAgain) {
  Files files = ThreeApps();
  LoadCache cache;
  ASSERT_TRUE(LoadRepository(testing::ToSource(files), testing::TestOptions(), &cache).ok());
  files["apps/shop/deploy/web.yaml"] =
      Replace(files["apps/shop/deploy/web.yaml"], "1.4.2", "1.5.0");
  Repository next = LoadRepository(testing::ToSource(files), testing::TestOptions(), &cache);
  EXPECT_EQ(cache.read, 1u);
  EXPECT_EQ(cache.reused, 2u);
  EXPECT_EQ(next.FindApp("shop")->model().deploy_configs.at(0).image.value,
            "registry.example.com/shop/web:1.5.0");
  EXPECT_EQ(Describe(next),
            Describe(LoadRepository(testing::ToSource(files), testing::TestOptions())));
}

TEST(LoadCacheTest, RemovedAppsLeaveTheCacheAndNewOnesAreRead) {
  Files files = ThreeApps();
  LoadCache cache;
  ASSERT_TRUE(LoadRepository(testing::ToSource(files), testing::TestOptions(), &cache).ok());
  std::erase_if(files, [](const auto& f) { return f.first.starts_with("apps/tax/"); });
  AddApp(files, "orders");
  Repository next = LoadRepository(testing::ToSource(files), testing::TestOptions(), &cache);
  EXPECT_EQ(cache.read, 1u);
  EXPECT_EQ(cache.reused, 2u);
  EXPECT_EQ(cache.apps.size(), 3u);
  EXPECT_FALSE(cache.apps.contains("tax"));
  EXPECT_NE(next.FindApp("orders"), nullptr);
  EXPECT_EQ(next.FindApp("tax"), nullptr);
}

TEST(LoadCacheTest, AnAppRemovedAloneLeavesTheCache) {
  Files files = ThreeApps();
  LoadCache cache;
  ASSERT_TRUE(LoadRepository(testing::ToSource(files), testing::TestOptions(), &cache).ok());
  std::erase_if(files, [](const auto& f) { return f.first.starts_with("apps/tax/"); });
  Repository next = LoadRepository(testing::ToSource(files), testing::TestOptions(), &cache);
  EXPECT_EQ(cache.read, 0u);
  EXPECT_EQ(cache.reused, 2u);
  EXPECT_EQ(cache.apps.size(), 2u);
  EXPECT_FALSE(cache.apps.contains("tax"));
  EXPECT_EQ(next.FindApp("tax"), nullptr);
}

TEST(LoadCacheTest, AnInvalidAppKeepsItsDiagnosticsWhenReused) {
  Files files = ThreeApps();
  files["apps/cart/envs/prod.yaml"] =
      Replace(files["apps/cart/envs/prod.yaml"], "replicas: 4", "replicas: many");
  MemorySource source = testing::ToSource(files);
  LoadCache cache;
  Repository first = LoadRepository(source, testing::TestOptions(), &cache);
  ASSERT_FALSE(first.FindApp("cart")->valid);
  Repository second = LoadRepository(source, testing::TestOptions(), &cache);
  EXPECT_EQ(cache.reused, 3u);
  EXPECT_FALSE(second.FindApp("cart")->valid);
  EXPECT_EQ(Describe(second), Describe(first));
}

// ThreeApps(), cart's and shop's prod both claiming public host x.example.com.
Files TwoAppsClaimingOneHost() {
  Files files = ThreeApps();
  const std::string public_web =
      "    - {name: web, protocol: http, port: 80, targetPort: 8080, exposure: public, host: "
      "x.example.com}\n";
  for (const char* app : {"cart", "shop"}) {
    std::string& env = files["apps/" + std::string(app) + "/envs/prod.yaml"];
    env =
        Replace(env, "    - {name: web, protocol: http, port: 80, targetPort: 8080}\n", public_web);
  }
  return files;
}

// Two apps claiming one public host are an error of the repository, found
// anew each load even when neither app is read again; a change to one of
// them that ends the clash ends the error.
TEST(LoadCacheTest, ClashesBetweenAppsAreJudgedOnEveryLoad) {
  Files files = TwoAppsClaimingOneHost();
  LoadCache cache;
  Repository first = LoadRepository(testing::ToSource(files), testing::TestOptions(), &cache);
  ASSERT_FALSE(first.diagnostics.empty());
  Repository again = LoadRepository(testing::ToSource(files), testing::TestOptions(), &cache);
  EXPECT_EQ(cache.reused, 3u);
  EXPECT_EQ(Describe(again), Describe(first));
  files["apps/shop/envs/prod.yaml"] =
      Replace(files["apps/shop/envs/prod.yaml"], "x.example.com", "y.example.com");
  Repository apart = LoadRepository(testing::ToSource(files), testing::TestOptions(), &cache);
  EXPECT_TRUE(apart.diagnostics.empty()) << Describe(apart);
}

// The look across apps at their claims is made again only when an app
// claims otherwise: a new image keeps the last load's claims, the very
// same ones; a claim moved down a line, or to another host, is judged anew.
TEST(LoadCacheTest, ClaimsAreJudgedAcrossAppsAgainOnlyWhenAnAppClaimsOtherwise) {
  Files files = TwoAppsClaimingOneHost();
  LoadCache cache;
  Repository first = LoadRepository(testing::ToSource(files), testing::TestOptions(), &cache);
  ASSERT_NE(first.listener_claims, nullptr);
  ASSERT_EQ(first.diagnostics.size(), 2u);
  auto expect_as_uncached = [&](const Repository& repo) {
    EXPECT_EQ(Describe(repo),
              Describe(LoadRepository(testing::ToSource(files), testing::TestOptions())));
  };

  files["apps/shop/deploy/web.yaml"] =
      Replace(files["apps/shop/deploy/web.yaml"], "1.4.2", "1.5.0");
  Repository image = LoadRepository(testing::ToSource(files), testing::TestOptions(), &cache);
  EXPECT_EQ(cache.read, 1u);
  EXPECT_EQ(image.listener_claims.get(), first.listener_claims.get());
  expect_as_uncached(image);

  std::string& shop_prod = files["apps/shop/envs/prod.yaml"];
  shop_prod = "# moved down a line\n" + shop_prod;
  Repository moved = LoadRepository(testing::ToSource(files), testing::TestOptions(), &cache);
  EXPECT_NE(moved.listener_claims.get(), first.listener_claims.get());
  expect_as_uncached(moved);

  shop_prod = Replace(shop_prod, "x.example.com", "y.example.com");
  Repository apart = LoadRepository(testing::ToSource(files), testing::TestOptions(), &cache);
  EXPECT_TRUE(apart.diagnostics.empty()) << Describe(apart);
  EXPECT_EQ(apart.ListenerClaims().size(), 2u);
  expect_as_uncached(apart);
}

// An app the repository's budget turned away is read once the others shrink,
// although its own folder did not change.
TEST(LoadCacheTest, AnAppRefusedByTheRepositoryBudgetIsReadOnceItFits) {
  Files files = ThreeApps();
  LoadOptions options = testing::TestOptions();
  uint64_t total = 0;
  for (const auto& [path, content] : files) total += content.size();
  files["apps/tax/app.yaml"] += "  owners: [" + std::string(200, 'a') + "@example.com]\n";
  options.max_repo_bytes = total + 100;  // all but tax's padding
  LoadCache cache;
  Repository refused = LoadRepository(testing::ToSource(files), options, &cache);
  ASSERT_FALSE(refused.FindApp("tax")->valid);
  // cart leaves: now everything fits.
  std::erase_if(files, [](const auto& f) { return f.first.starts_with("apps/cart/"); });
  Repository fits = LoadRepository(testing::ToSource(files), options, &cache);
  EXPECT_TRUE(fits.FindApp("tax")->valid) << Describe(fits);
  EXPECT_EQ(Describe(fits), Describe(LoadRepository(testing::ToSource(files), options)));
}

// A source that cannot tell tree ids has nothing reused.
class NoTreeIds : public FileSource {
 public:
  explicit NoTreeIds(const MemorySource& inner) : inner_(inner) {}
  Result<Listing> List(std::string_view dir, const ListLimits& limits) const override {
    return inner_.List(dir, limits);
  }
  Result<std::string> ReadFile(std::string_view path, size_t max_bytes) const override {
    return inner_.ReadFile(path, max_bytes);
  }

 private:
  const MemorySource& inner_;
};

TEST(LoadCacheTest, WithoutTreeIdsEveryAppIsRead) {
  MemorySource source = testing::ToSource(ThreeApps());
  NoTreeIds blind(source);
  LoadCache cache;
  Repository first = LoadRepository(blind, testing::TestOptions(), &cache);
  Repository second = LoadRepository(blind, testing::TestOptions(), &cache);
  EXPECT_EQ(Describe(second), Describe(first));
  EXPECT_EQ(cache.read, 3u);
  EXPECT_EQ(cache.reused, 0u);
  EXPECT_TRUE(cache.apps.empty());
}

// Random edits, one load after another: with a cache, every load equals the
// same load without one.
TEST(LoadCacheTest, RandomEditsGiveWhatAFreshLoadGives) {
  std::mt19937 rng(7);
  Files files = ThreeApps();
  const std::vector<std::pair<std::string, std::string>> edits = {
      {"1.4.2", "1.4.3"},
      {"replicas: 4", "replicas: 2"},
      {"replicas: 2", "replicas: x"},
      {"replicas: x", "replicas: 4"},
      {"cpu: \"0.5\"", "cpu: 2"},
      {"port: 80,", "port: 81,"},
  };
  const std::vector<std::string> apps = {"cart", "shop", "tax"};
  const std::vector<std::string> kinds = {"/deploy/web.yaml", "/envs/prod.yaml"};
  LoadCache cache;
  for (int round = 0; round < 60; ++round) {
    const std::string path = "apps/" + apps[rng() % apps.size()] + kinds[rng() % kinds.size()];
    const auto& [from, to] = edits[rng() % edits.size()];
    files[path] = Replace(files[path], from, to);
    if (rng() % 9 == 0) AddApp(files, "extra" + std::to_string(round));
    MemorySource source = testing::ToSource(files);
    Repository cached = LoadRepository(source, testing::TestOptions(), &cache);
    ASSERT_EQ(Describe(cached), Describe(LoadRepository(source, testing::TestOptions())))
        << "round " << round;
  }
}

}  // namespace
}  // namespace pagoda::manifest
