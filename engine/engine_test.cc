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

}  // namespace
}  // namespace pagoda::engine
