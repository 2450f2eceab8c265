// The local control plane behaves like a cluster pagoda will meet: RBAC
// confines pagoda's ServiceAccount, Deployments really roll out on KWOK's fake
// nodes, and the `broken` image tag gives pods that never become Ready.
// Everything goes through pagoda's own client (apply/kube.h).
#include <gtest/gtest.h>
#include <rapidjson/document.h>

#include <chrono>
#include <string>
#include <thread>

#include "kube/kube.h"
#include "tests/integration/test_cluster.h"

namespace pagoda {
namespace {

using namespace std::chrono_literals;
using testing::Connect;
using testing::Json;
using testing::TestCluster;

std::string DeploymentJson(const std::string& name, const std::string& image, int replicas) {
  return R"({"apiVersion":"apps/v1","kind":"Deployment","metadata":{"name":")" + name +
         R"("},"spec":{"replicas":)" + std::to_string(replicas) +
         R"(,"selector":{"matchLabels":{"app":")" + name +
         R"("}},"template":{"metadata":{"labels":{"app":")" + name +
         R"("}},"spec":{"terminationGracePeriodSeconds":1,"containers":[{"name":"main","image":")" +
         image + R"("}]}}}})";
}

struct PodCounts {
  int total = 0;
  int running = 0;
  int ready = 0;
};

PodCounts CountPods(kube::KubeClient& client, const std::string& ns, const std::string& app) {
  PodCounts counts;
  auto pods = client.Get("/api/v1/namespaces/" + ns + "/pods?labelSelector=app%3D" + app);
  if (!pods.ok()) {
    ADD_FAILURE() << pods.status().ToString();
    return counts;
  }
  for (const auto& pod : (*pods)["items"].GetArray()) {
    ++counts.total;
    const auto& status = pod["status"];
    if (status.HasMember("phase") && std::string(status["phase"].GetString()) == "Running") {
      ++counts.running;
    }
    if (!status.HasMember("conditions")) continue;
    for (const auto& cond : status["conditions"].GetArray()) {
      if (std::string(cond["type"].GetString()) == "Ready" &&
          std::string(cond["status"].GetString()) == "True") {
        ++counts.ready;
      }
    }
  }
  return counts;
}

TEST(TestCluster, HasThreeFakeNodesWithReservedCapacity) {
  auto client = Connect(TestCluster::Get().Admin());
  ASSERT_NE(client, nullptr);
  auto nodes = client->Get("/api/v1/nodes?labelSelector=type%3Dkwok");
  ASSERT_TRUE(nodes.ok()) << nodes.status().ToString();
  ASSERT_GE((*nodes)["items"].Size(), 3u);
  for (const auto& node : (*nodes)["items"].GetArray()) {
    const auto& status = node["status"];
    EXPECT_STREQ(status["capacity"]["cpu"].GetString(), "8");
    EXPECT_STREQ(status["capacity"]["memory"].GetString(), "16Gi");
    EXPECT_STREQ(status["allocatable"]["cpu"].GetString(), "7500m");
    EXPECT_STREQ(status["allocatable"]["memory"].GetString(), "15Gi");
    bool ready = false;
    for (const auto& cond : status["conditions"].GetArray()) {
      if (std::string(cond["type"].GetString()) == "Ready") {
        ready = std::string(cond["status"].GetString()) == "True";
      }
    }
    EXPECT_TRUE(ready) << node["metadata"]["name"].GetString();
  }
}

TEST(TestCluster, PagodaServiceAccountCannotReadKubeSystemSecrets) {
  const std::string path = "/api/v1/namespaces/kube-system/secrets";
  auto pagoda = Connect(TestCluster::Get().Pagoda());
  ASSERT_NE(pagoda, nullptr);
  auto denied = pagoda->Get(path);
  ASSERT_FALSE(denied.ok());
  EXPECT_EQ(denied.status().code(), Status::Code::kPermissionDenied) << denied.status().ToString();
  EXPECT_NE(denied.status().message().find("system:serviceaccount:pagoda-system:pagoda"),
            std::string::npos)
      << denied.status().message();
  // The same request as an administrator succeeds: the refusal is RBAC's.
  auto admin = Connect(TestCluster::Get().Admin());
  ASSERT_NE(admin, nullptr);
  EXPECT_TRUE(admin->Get(path).ok());
}

TEST(TestCluster, TlsIsVerifiedAgainstTheClusterCa) {
  kube::Credentials creds = TestCluster::Get().Admin();
  creds.ca_pem.clear();  // the system trust store does not know the test CA
  auto client = Connect(creds);
  ASSERT_NE(client, nullptr);
  auto result = client->Get("/version");
  ASSERT_FALSE(result.ok());
  EXPECT_EQ(result.status().code(), Status::Code::kUnavailable) << result.status().ToString();
}

TEST(TestCluster, DeploymentRollsOutThroughPagodasClientAndScalesToZero) {
  auto client = Connect(TestCluster::Get().Pagoda());
  ASSERT_NE(client, nullptr);
  const std::string ns = testing::UniqueName("it-rollout");
  // With the labels pagoda gives an app's namespace: the API server lets
  // pagoda make no other (deploy/admission.yaml).
  auto created = client->Post(
      "/api/v1/namespaces",
      Json(R"({"apiVersion":"v1","kind":"Namespace","metadata":{"name":")" + ns +
           R"(","labels":{"app.kubernetes.io/managed-by":"pagoda","app.kubernetes.io/name":")" +
           ns + R"("}}})"));
  ASSERT_TRUE(created.ok()) << created.status().ToString();
  struct Cleanup {
    std::string ns;
    ~Cleanup() {
      std::string out;
      TestCluster::Get().Kubectl({"delete", "namespace", ns, "--wait=false"}, &out);
    }
  } cleanup{ns};

  const std::string deployments = "/apis/apps/v1/namespaces/" + ns + "/deployments";
  auto deployed = client->Post(deployments, Json(DeploymentJson("web", "example.com/web:1.0", 3)));
  ASSERT_TRUE(deployed.ok()) << deployed.status().ToString();
  auto again = client->Post(deployments, Json(DeploymentJson("web", "example.com/web:1.0", 3)));
  ASSERT_FALSE(again.ok());
  EXPECT_EQ(again.status().code(), Status::Code::kAlreadyExists);

  EXPECT_TRUE(testing::WaitUntil([&] { return CountPods(*client, ns, "web").ready == 3; }, 60s))
      << "3 pods never became Ready";
  auto deployment = client->Get(deployments + "/web");
  ASSERT_TRUE(deployment.ok());
  EXPECT_TRUE(testing::WaitUntil(
      [&] {
        auto d = client->Get(deployments + "/web");
        return d.ok() && (*d)["status"].HasMember("readyReplicas") &&
               (*d)["status"]["readyReplicas"].GetInt() == 3;
      },
      30s))
      << "the Deployment's status never reported 3 ready replicas";

  auto scaled = client->Patch(deployments + "/web/scale", "application/merge-patch+json",
                              R"({"spec":{"replicas":0}})");
  ASSERT_TRUE(scaled.ok()) << scaled.status().ToString();
  EXPECT_TRUE(testing::WaitUntil([&] { return CountPods(*client, ns, "web").total == 0; }, 60s))
      << "pods were not deleted after scaling to 0";
}

TEST(TestCluster, BrokenImageRunsButNeverBecomesReady) {
  testing::ScopedNamespace ns("it-broken", testing::ScopedNamespace::Labels::kPagodas);
  auto client = Connect(TestCluster::Get().Pagoda());
  ASSERT_NE(client, nullptr);
  const std::string deployments = "/apis/apps/v1/namespaces/" + ns.name() + "/deployments";
  auto deployed =
      client->Post(deployments, Json(DeploymentJson("bad", "example.com/web:broken", 2)));
  ASSERT_TRUE(deployed.ok()) << deployed.status().ToString();

  ASSERT_TRUE(
      testing::WaitUntil([&] { return CountPods(*client, ns.name(), "bad").running == 2; }, 60s))
      << "pods of the broken image never started";
  // They started; give KWOK ample time to (wrongly) make them Ready.
  std::this_thread::sleep_for(3s);
  PodCounts counts = CountPods(*client, ns.name(), "bad");
  EXPECT_EQ(counts.running, 2);
  EXPECT_EQ(counts.ready, 0);

  auto events = client->Get("/api/v1/namespaces/" + ns.name() + "/events");
  ASSERT_TRUE(events.ok()) << events.status().ToString();
  bool unhealthy = false;
  for (const auto& e : (*events)["items"].GetArray()) {
    unhealthy |= std::string(e["reason"].GetString()) == "Unhealthy";
  }
  EXPECT_TRUE(unhealthy) << "no Unhealthy event explains why the pods are not Ready";
}

}  // namespace
}  // namespace pagoda
