#include <gtest/gtest.h>

#include "manifest/manifest.h"
#include "manifest/test_repo.h"

namespace pagoda::manifest {
namespace {

using testing::BaseRepo;
using testing::kDeployFile;
using testing::kEnvFile;

// shop/prod and store/prod both ask for host shop.example.com in cluster prod.
std::map<std::string, std::string> TwoClaimants() {
  auto files = BaseRepo();
  std::string& env = files[kEnvFile];
  env.replace(env.find("targetPort: 8080}"), 17,
              "targetPort: 8080, exposure: public, host: shop.example.com}");
  files["apps/store/app.yaml"] = "apiVersion: pagoda.dev/v1\nkind: App\nmetadata: {name: store}\n";
  files["apps/store/deploy/web.yaml"] = files[kDeployFile];
  files["apps/store/envs/prod.yaml"] = env;
  return files;
}

TEST(Listeners, TwoClaimsAreAnErrorOfTheRepositoryNotOfEitherApp) {
  MemorySource source = testing::ToSource(TwoClaimants());
  Repository repo = LoadRepository(source, testing::TestOptions());
  EXPECT_TRUE(repo.FindApp("shop")->valid);
  EXPECT_TRUE(repo.FindApp("store")->valid);
  EXPECT_FALSE(repo.ok());
  ASSERT_EQ(repo.diagnostics.size(), 2u);
  EXPECT_EQ(repo.diagnostics[1].ToString(),
            "apps/store/envs/prod.yaml:12:7: spec.traffic[0]: the public listener http port 80 "
            "host shop.example.com in cluster prod is also claimed by shop/prod "
            "(apps/shop/envs/prod.yaml:12:7); the claimant holding it in the cluster keeps it, "
            "else the first in the repository, and the others are not released");
  ASSERT_EQ(repo.ListenerClaims().size(), 2u);
  EXPECT_EQ(repo.ListenerClaims()[0].Claimant(), "shop/prod");
  EXPECT_EQ(repo.ListenerClaims()[0].kind, "Ingress");
  EXPECT_EQ(repo.ListenerClaims()[0].name, "prod");
}

TEST(Listeners, OneClaimInEachClusterIsNoConflict) {
  auto files = TwoClaimants();
  std::string& other = files["apps/store/envs/prod.yaml"];
  other.replace(other.find("cluster: prod"), 13, "cluster: test");
  MemorySource source = testing::ToSource(files);
  EXPECT_TRUE(LoadRepository(source, testing::TestOptions()).ok());
}

TEST(Listeners, WithoutAHolderTheFirstInTheRepositoryKeepsIt) {
  MemorySource source = testing::ToSource(TwoClaimants());
  Repository repo = LoadRepository(source, testing::TestOptions());
  std::vector<HeldBack> held = ResolveListenerClaims(repo.ListenerClaims(), {});
  ASSERT_EQ(held.size(), 1u);
  EXPECT_EQ(held[0].app, "store");
  EXPECT_EQ(held[0].env, "prod");
  EXPECT_EQ(held[0].message,
            "the public listener http port 80 host shop.example.com in cluster prod "
            "(apps/store/envs/prod.yaml:12:7) is also claimed by shop/prod "
            "(apps/shop/envs/prod.yaml:12:7): shop/prod claims it first in the repository "
            "(apps/shop/envs/prod.yaml:12:7), so store/prod waits until one of them gives it up");
}

TEST(Listeners, TheClaimantHoldingItInTheClusterKeepsIt) {
  // A new app that sorts first ("a-shop") cannot take the host "shop" holds.
  auto files = TwoClaimants();
  for (const char* f : {"app.yaml", "deploy/web.yaml", "envs/prod.yaml"}) {
    files[std::string("apps/a-shop/") + f] = files[std::string("apps/store/") + f];
    files.erase(std::string("apps/store/") + f);
  }
  std::string& app = files["apps/a-shop/app.yaml"];
  app.replace(app.find("store"), 5, "a-shop");
  MemorySource source = testing::ToSource(files);
  Repository repo = LoadRepository(source, testing::TestOptions());
  ASSERT_EQ(repo.ListenerClaims().size(), 2u);
  EXPECT_EQ(repo.ListenerClaims()[0].app, "a-shop");

  ListenerHolder live{"shop", "Ingress", "prod", {"http", 80, "shop.example.com"}};
  std::vector<HeldBack> held = ResolveListenerClaims(repo.ListenerClaims(), {live});
  ASSERT_EQ(held.size(), 1u);
  EXPECT_EQ(held[0].app, "a-shop");
  EXPECT_NE(held[0].message.find("shop/prod holds it in the cluster (Ingress shop/prod)"),
            std::string::npos)
      << held[0].message;
}

TEST(Listeners, AHolderOutsideTheRepositoryKeepsItFromEveryone) {
  MemorySource source = testing::ToSource(TwoClaimants());
  Repository repo = LoadRepository(source, testing::TestOptions());
  ListenerHolder platform{"monitoring", "Ingress", "grafana", {"https", 443, "shop.example.com"}};
  std::vector<HeldBack> held = ResolveListenerClaims(repo.ListenerClaims(), {platform});
  ASSERT_EQ(held.size(), 2u);
  EXPECT_NE(held[0].message.find("is held by Ingress monitoring/grafana, which the repository "
                                 "does not render"),
            std::string::npos)
      << held[0].message;
}

TEST(Listeners, PlainIngressesAndLoadBalancersClaimToo) {
  auto files = BaseRepo();
  files["apps/shop/manifests/edge.yaml"] =
      "apiVersion: networking.k8s.io/v1\n"
      "kind: Ingress\n"
      "metadata: {name: edge}\n"
      "spec:\n"
      "  tls: [{hosts: [pay.example.com]}]\n"
      "  rules:\n"
      "    - host: Pay.Example.com\n"
      "    - http: {paths: []}\n"
      "---\n"
      "apiVersion: v1\n"
      "kind: Service\n"
      "metadata: {name: db}\n"
      "spec:\n"
      "  type: LoadBalancer\n"
      "  ports: [{port: 5432}, {port: 53, protocol: UDP}]\n";
  MemorySource source = testing::ToSource(files);
  Repository repo = LoadRepository(source, testing::TestOptions());
  ASSERT_TRUE(repo.ok());
  std::vector<std::string> claims;
  for (const auto& c : repo.ListenerClaims()) {
    claims.push_back(c.Claimant() + " " + c.listener.ToString() + " " + c.field);
  }
  EXPECT_EQ(claims,
            (std::vector<std::string>{
                "shop's Ingress edge https port 443 host pay.example.com spec.rules[0].host",
                "shop's Ingress edge http port 80 host (any) spec.rules[1].host",
                "shop's Service db tcp port 5432 spec.ports[0].port",
                "shop's Service db udp port 53 spec.ports[1].port",
            }));
}

TEST(Listeners, ListenersOfLiveObjects) {
  EXPECT_TRUE(ListenersOf(R"({"apiVersion":"v1","kind":"Service","spec":{"type":"ClusterIP",)"
                          R"("ports":[{"port":80}]}})")
                  .empty());
  auto lb = ListenersOf(R"({"apiVersion":"v1","kind":"Service","spec":{"type":"LoadBalancer",)"
                        R"("ports":[{"port":80,"protocol":"TCP"}]}})");
  ASSERT_EQ(lb.size(), 1u);
  EXPECT_EQ(lb[0].key.Identity(), "tcp port 80");
  auto ing = ListenersOf(R"({"apiVersion":"networking.k8s.io/v1","kind":"Ingress",)"
                         R"("spec":{"defaultBackend":{}}})");
  ASSERT_EQ(ing.size(), 1u);
  EXPECT_EQ(ing[0].key.Identity(), "host (any)");
  EXPECT_TRUE(ListenersOf("not json").empty());
}

}  // namespace
}  // namespace pagoda::manifest
