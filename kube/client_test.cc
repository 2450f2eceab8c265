// KubeClient's own logic (retries, pacing, paging, discovery parsing) with a
// scripted transport. What the client does against a real API server is
// proven by the integration tests.
#include <gtest/gtest.h>

#include <deque>

#include "kube/kube.h"
#include "kube/scripted_transport.h"

namespace pagoda::kube {
namespace {

using namespace std::chrono_literals;

using testing::Answer;
using testing::Script;

std::unique_ptr<KubeClient> Client(Script* script, FakeClock* clock, double qps = 0,
                                   ClientOptions options = {}) {
  return testing::ScriptedClient(script, clock, qps, std::move(options));
}

TEST(KubeClient, RetriesThrottledRequestsAfterRetryAfter) {
  Script script;
  FakeClock clock;
  script.answers.push_back(Answer(429, R"({"message":"slow down"})", {{"retry-after", "2"}}));
  script.answers.push_back(Status::Unavailable("connection reset"));
  script.answers.push_back(Answer(200, R"({"kind":"Pod"})"));
  auto client = Client(&script, &clock);
  auto pod = client->Get("/api/v1/namespaces/a/pods/p");
  ASSERT_TRUE(pod.ok()) << pod.status().ToString();
  EXPECT_EQ(script.requests.size(), 3u);
  EXPECT_GE(clock.slept(), 2s);
  auto stats = client->stats();
  EXPECT_EQ(stats.retries, 2);
  EXPECT_EQ(stats.by_code[429], 1);
  EXPECT_EQ(stats.Reads(), 3);
  EXPECT_EQ(stats.Writes(), 0);
  EXPECT_EQ(script.requests[0].url, "https://api.test/api/v1/namespaces/a/pods/p");
  bool auth = false;
  for (const auto& [k, v] : script.requests[0].headers)
    auth |= k == "Authorization" && v == "Bearer t0k3n";
  EXPECT_TRUE(auth);
}

TEST(KubeClient, GivesUpAfterTheLastAttemptWithTheServersMessage) {
  Script script;
  FakeClock clock;
  for (int i = 0; i < 10; ++i) {
    script.answers.push_back(Answer(503, R"({"message":"etcd leader changed"})"));
  }
  auto client = Client(&script, &clock);
  auto r = client->Get("/x");
  ASSERT_FALSE(r.ok());
  EXPECT_EQ(r.status().code(), Status::Code::kUnavailable);
  EXPECT_NE(r.status().message().find("etcd leader changed"), std::string::npos);
  EXPECT_EQ(script.requests.size(), static_cast<size_t>(RetryPolicy().max_attempts));
}

TEST(KubeClient, HandsOnTheServersWarnings) {
  Script script;
  script.answers.push_back(
      Answer(200, "{}",
             {{"warning",
               "299 - \"spec.template.spec.nodeSelector[beta.kubernetes.io/os]: deprecated\"\n"
               "299 - \"a \\\"quoted\\\" word\""}}));
  script.answers.push_back(Answer(200, "{}"));
  FakeClock clock;
  auto client = Client(&script, &clock);
  std::vector<std::string> warnings;
  ASSERT_TRUE(client->Patch("/api/v1/x", "application/apply-patch+yaml", "{}", &warnings).ok());
  EXPECT_EQ(warnings, (std::vector<std::string>{
                          "spec.template.spec.nodeSelector[beta.kubernetes.io/os]: deprecated",
                          "a \"quoted\" word"}));
  ASSERT_TRUE(client->Patch("/api/v1/x", "application/apply-patch+yaml", "{}", &warnings).ok());
  EXPECT_TRUE(warnings.empty());
}

TEST(KubeClient, CountsWritesButNotDryRuns) {
  Script script;
  FakeClock clock;
  for (int i = 0; i < 3; ++i) script.answers.push_back(Answer(200, "{}"));
  auto client = Client(&script, &clock);
  ASSERT_TRUE(
      client->Patch("/a?fieldManager=pagoda&dryRun=All", "application/apply-patch+yaml", "{}")
          .ok());
  ASSERT_TRUE(client->Patch("/a?fieldManager=pagoda", "application/apply-patch+yaml", "{}").ok());
  ASSERT_TRUE(client->Delete("/a").ok());
  auto stats = client->stats();
  EXPECT_EQ(stats.by_verb["DRY-RUN"], 1);
  EXPECT_EQ(stats.Writes(), 2);
}

TEST(KubeClient, PacesRequestsWithTheRateLimit) {
  Script script;
  FakeClock clock;
  for (int i = 0; i < 5; ++i) script.answers.push_back(Answer(200, "{}"));
  auto client = Client(&script, &clock, /*qps=*/10);
  for (int i = 0; i < 5; ++i) ASSERT_TRUE(client->Get("/x").ok());
  EXPECT_EQ(clock.slept(), 400ms);  // burst 1, then 100 ms apart
  EXPECT_EQ(client->stats().throttled, 400ms);
}

TEST(KubeClient, ListFollowsContinueTokensAndNamesItems) {
  Script script;
  FakeClock clock;
  script.answers.push_back(Answer(200, R"({"apiVersion":"apps/v1","kind":"DeploymentList",
    "metadata":{"continue":"tok/1"},"items":[{"metadata":{"name":"a"}}]})"));
  script.answers.push_back(Answer(200, R"({"apiVersion":"apps/v1","kind":"DeploymentList",
    "metadata":{},"items":[{"metadata":{"name":"b"}}]})"));
  auto client = Client(&script, &clock);
  auto items = client->List("/apis/apps/v1/deployments?labelSelector=x%3Dy");
  ASSERT_TRUE(items.ok()) << items.status().ToString();
  ASSERT_EQ(items->size(), 2u);
  EXPECT_STREQ((*items)[1]["metadata"]["name"].GetString(), "b");
  EXPECT_STREQ((*items)[0]["kind"].GetString(), "Deployment");
  EXPECT_STREQ((*items)[0]["apiVersion"].GetString(), "apps/v1");
  EXPECT_EQ(script.requests[0].url,
            "https://api.test/apis/apps/v1/deployments?labelSelector=x%3Dy&limit=500");
  EXPECT_EQ(
      script.requests[1].url,
      "https://api.test/apis/apps/v1/deployments?labelSelector=x%3Dy&limit=500&continue=tok%2F1");
  EXPECT_EQ(client->stats().by_verb["LIST"], 2);
}

TEST(KubeClient, AggregatedDiscoveryMapsKindsToResources) {
  Script script;
  FakeClock clock;
  script.answers.push_back(Answer(200, R"({"kind":"APIGroupDiscoveryList","items":[{"metadata":{},
    "versions":[{"version":"v1","resources":[
      {"resource":"namespaces","responseKind":{"kind":"Namespace"},"scope":"Cluster","verbs":["get","list"]},
      {"resource":"configmaps","responseKind":{"kind":"ConfigMap"},"scope":"Namespaced","verbs":["list"]}]}]}]})"));
  script.answers.push_back(
      Answer(200, R"({"kind":"APIGroupDiscoveryList","items":[{"metadata":{"name":"batch"},
    "versions":[{"version":"v1","resources":[
      {"resource":"cronjobs","responseKind":{"kind":"CronJob"},"scope":"Namespaced","verbs":["create","list"]}]}]}]})"));
  auto client = Client(&script, &clock);
  auto cronjob = client->Resource("batch/v1", "CronJob");
  ASSERT_TRUE(cronjob.ok()) << cronjob.status().ToString();
  EXPECT_EQ(cronjob->CollectionPath("shop"), "/apis/batch/v1/namespaces/shop/cronjobs");
  EXPECT_TRUE(cronjob->Supports("create"));
  auto ns = client->Resource("v1", "Namespace");
  ASSERT_TRUE(ns.ok());
  EXPECT_FALSE(ns->namespaced);
  EXPECT_EQ(ns->ObjectPath("ignored", "shop"), "/api/v1/namespaces/shop");
  EXPECT_EQ(script.requests.size(), 2u);  // cached
  // An unknown kind triggers one rediscovery, then NotFound.
  script.answers.push_back(Answer(200, R"({"kind":"APIGroupDiscoveryList","items":[]})"));
  script.answers.push_back(Answer(200, R"({"kind":"APIGroupDiscoveryList","items":[]})"));
  auto missing = client->Resource("example.com/v1", "Widget");
  EXPECT_EQ(missing.status().code(), Status::Code::kNotFound);
  EXPECT_EQ(script.requests.size(), 4u);
}

// Lets writes through while open; counts what it was asked.
class Gate final : public WriteGate {
 public:
  Status Enter(std::string_view method, std::string_view path) override {
    entered.push_back(std::string(method) + " " + std::string(path));
    if (!open) return Status::Unavailable("not the holder of this app's Lease");
    ++inside;
    return Status::Ok();
  }
  void Leave(std::string_view) override { --inside; }
  bool open = true;
  int inside = 0;
  std::vector<std::string> entered;
};

TEST(KubeClient, AWriteGateIsAskedBeforeEveryAttemptOfAWriteAndReadsPassIt) {
  Script script;
  FakeClock clock;
  auto gate = std::make_shared<Gate>();
  ClientOptions options;
  options.write_gate = gate;
  options.user_agent = "pagoda/test (replica-a)";
  script.answers.push_back(Answer(200, R"({"kind":"Pod"})"));
  script.answers.push_back(Answer(503, R"({"message":"busy"})", {{"retry-after", "1"}}));
  script.answers.push_back(Answer(200, R"({"kind":"ConfigMap"})"));
  script.answers.push_back(Answer(200, R"({"kind":"ConfigMap"})"));
  auto client = Client(&script, &clock, 0, options);
  ASSERT_TRUE(client->Get("/api/v1/namespaces/a/pods/p").ok());
  rapidjson::Document body(rapidjson::kObjectType);
  ASSERT_TRUE(client->Put("/api/v1/namespaces/a/configmaps/c", body).ok());
  ASSERT_TRUE(client
                  ->Patch("/api/v1/namespaces/a/configmaps/c?dryRun=All",
                          "application/merge-patch+json", "{}")
                  .ok());
  EXPECT_EQ(gate->entered, (std::vector<std::string>{"PUT /api/v1/namespaces/a/configmaps/c",
                                                     "PUT /api/v1/namespaces/a/configmaps/c"}));
  EXPECT_EQ(gate->inside, 0);
  for (const auto& [k, v] : script.requests[0].headers) {
    if (k == "User-Agent") {
      EXPECT_EQ(v, "pagoda/test (replica-a)");
    }
  }

  // Closed: the write fails unsent, with the gate's reason.
  gate->open = false;
  const size_t sent = script.requests.size();
  auto refused = client->Delete("/api/v1/namespaces/a/configmaps/c");
  ASSERT_FALSE(refused.ok());
  EXPECT_EQ(refused.status().code(), Status::Code::kUnavailable);
  EXPECT_NE(refused.status().message().find("Lease"), std::string::npos);
  EXPECT_EQ(script.requests.size(), sent);
  EXPECT_EQ(gate->inside, 0);
}

}  // namespace
}  // namespace pagoda::kube
