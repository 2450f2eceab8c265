// DesiredState's claims on public listeners: what a plan asks of them, and
// that a cache keeps them while the repository's claims stand.
#include "engine/engine.h"

#include <gtest/gtest.h>

#include "manifest/test_repo.h"

namespace pagoda::engine {
namespace {

manifest::ListenerClaim Claim(std::string app, std::string env, std::string host) {
  manifest::ListenerClaim c;
  c.cluster = "prod";
  c.app = std::move(app);
  c.env = std::move(env);
  c.kind = "Ingress";
  c.name = c.env;
  c.listener = {"http", 80, std::move(host)};
  return c;
}

TEST(ClaimsOnServerTest, TwoClaimantsOfOneListenerContestItAndOneClaimingTwiceDoesNot) {
  ServerClaims apart = ClaimsOnServer({Claim("shop", "prod", "a.example.com"),
                                       Claim("cart", "prod", "b.example.com"),
                                       Claim("shop", "prod", "a.example.com")});
  EXPECT_FALSE(apart.contested);
  EXPECT_EQ(apart.objects, (std::set<std::string>{"Ingress/cart/prod", "Ingress/shop/prod"}));
  EXPECT_EQ(apart.all.size(), 3u);
  ServerClaims clash = ClaimsOnServer(
      {Claim("shop", "prod", "a.example.com"), Claim("cart", "prod", "a.example.com")});
  EXPECT_TRUE(clash.contested);
}

manifest::Repository PublicRepo(const std::string& host) {
  auto files = manifest::testing::BaseRepo();
  std::string& env = files[manifest::testing::kEnvFile];
  const std::string from = "targetPort: 8080}";
  env.replace(env.find(from), from.size(),
              "targetPort: 8080, exposure: public, host: " + host + "}");
  return manifest::LoadRepository(manifest::testing::ToSource(files),
                                  manifest::testing::TestOptions(), nullptr);
}

TEST(DesiredStateTest, AServersClaimsAreKeptWhileTheRepositorysClaimsAndClustersStand) {
  const manifest::Repository repo = PublicRepo("shop.example.com");
  ASSERT_TRUE(repo.ok());
  ASSERT_EQ(repo.ListenerClaims().size(), 1u);
  const std::map<std::string, std::string> server_of = {{"prod", "https://a"},
                                                        {"test", "https://a"}};
  RenderCache cache;
  std::vector<RenderProblem> problems;
  auto first = DesiredState(repo, {}, {}, server_of, &problems, &cache);
  ASSERT_EQ(first.count("https://a"), 1u);
  const auto claims = first.at("https://a").claims;
  EXPECT_EQ(claims->objects, std::set<std::string>{"Ingress/shop/prod"});
  EXPECT_FALSE(claims->contested);

  auto again = DesiredState(repo, {}, {}, server_of, &problems, &cache);
  EXPECT_EQ(again.at("https://a").claims.get(), claims.get());

  auto elsewhere =
      DesiredState(repo, {}, {}, {{"prod", "https://b"}, {"test", "https://b"}}, &problems, &cache);
  EXPECT_EQ(elsewhere.at("https://b").claims->all.size(), 1u);
  EXPECT_NE(elsewhere.at("https://b").claims.get(), claims.get());

  const manifest::Repository moved = PublicRepo("www.example.com");
  auto renamed = DesiredState(moved, {}, {}, server_of, &problems, &cache);
  ASSERT_EQ(renamed.at("https://a").claims->all.size(), 1u);
  EXPECT_EQ(renamed.at("https://a").claims->all[0].listener.host, "www.example.com");
  EXPECT_TRUE(problems.empty());
}

// Each object of each server, as planning reads it: key, hash and text.
std::vector<std::string> Objects(const std::map<std::string, ServerDesired>& servers) {
  std::vector<std::string> out;
  for (const auto& [name, server] : servers) {
    for (const diff::Desired& d : server.objects) {
      out.push_back(name + " " + d.key.kind + "/" + d.key.name + " " + std::to_string(d.hash) +
                    " " + *d.json);
    }
  }
  return out;
}

// The cache keeps one prepared copy of each object and drops the rendered
// text: whatever a later call selects, and so however it prunes the objects
// a cluster gets once, it gets what a fresh rendering gives.
TEST(DesiredStateTest, ACachedAppGivesWhatAFreshRenderingGivesWhateverIsSelected) {
  auto files = manifest::testing::BaseRepo();
  std::string test_env = files[manifest::testing::kEnvFile];
  for (auto [from, to] : {std::pair<std::string, std::string>{"name: prod", "name: test"},
                          {"cluster: prod", "cluster: test"}}) {
    test_env.replace(test_env.find(from), from.size(), to);
  }
  files["apps/shop/envs/test.yaml"] = test_env + "  sync: {prune: false}\n";
  const manifest::Repository repo = manifest::LoadRepository(
      manifest::testing::ToSource(files), manifest::testing::TestOptions(), nullptr);
  ASSERT_TRUE(repo.ok());
  const std::map<std::string, std::string> one_server = {{"prod", "https://a"},
                                                         {"test", "https://a"}};
  RenderCache cache;
  std::vector<RenderProblem> problems;
  for (const std::vector<std::string>& targets :
       std::vector<std::vector<std::string>>{{"shop/prod"}, {}, {"shop/test"}, {"shop/prod"}}) {
    auto selection = SelectTargets(repo, targets);
    ASSERT_TRUE(selection.ok()) << selection.status().ToString();
    const auto cached = DesiredState(repo, *selection, {}, one_server, &problems, &cache);
    const auto fresh = DesiredState(repo, *selection, {}, one_server, &problems);
    EXPECT_FALSE(Objects(fresh).empty());
    EXPECT_EQ(Objects(cached), Objects(fresh)) << "selecting " << targets.size() << " targets";
  }
  EXPECT_EQ(cache.reused, 1u) << "the last call took the app from the cache";
  for (const auto& p : problems) ADD_FAILURE() << p.app << ": " << p.message;
}

}  // namespace
}  // namespace pagoda::engine
