// pagoda's client against the real API server, through a proxy that makes
// the server look overloaded or broken: throttling and failures are retried
// as the API asks, and the client-side rate limit holds.
#include <gtest/gtest.h>

#include <chrono>

#include "kube/kube.h"
#include "tests/integration/test_cluster.h"

namespace pagoda {
namespace {

using namespace std::chrono_literals;
using testing::TestCluster;

std::string LauncherPath() {
  std::string out;
  // The env file names the launcher that started the cluster.
  std::string env;
  testing::Run({"/bin/cat", TestCluster::Get().dir + "/env"}, &env);
  auto pos = env.find("PAGODA_TEST_LAUNCHER=");
  if (pos == std::string::npos) return "";
  auto end = env.find('\n', pos);
  return env.substr(pos + 21, end - pos - 21);
}

TEST(ClientAgainstTheApiServer, RetriesThrottlingAndFailuresThenSucceeds) {
  // The drop comes first, on a fresh connection: libcurl itself silently
  // retries a request whose kept-alive connection closes under it, so only a
  // fresh connection's failure reaches pagoda's retry loop.
  testing::ChildProcess proxy({LauncherPath(), "faultproxy", "--dir", TestCluster::Get().dir,
                               "--faults", "drop,429,503,500"});
  std::string first = proxy.ReadLine(10s);
  ASSERT_TRUE(first.starts_with("port ")) << "faultproxy said: " << first;
  kube::Credentials creds = TestCluster::Get().Pagoda();
  creds.server = "https://127.0.0.1:" + first.substr(5);
  auto client = kube::KubeClient::Connect(creds);
  ASSERT_TRUE(client.ok());

  auto start = std::chrono::steady_clock::now();
  auto ns = (*client)->Get("/api/v1/namespaces/default");
  auto took = std::chrono::steady_clock::now() - start;
  ASSERT_TRUE(ns.ok()) << ns.status().ToString();
  EXPECT_STREQ((*ns)["metadata"]["name"].GetString(), "default");

  kube::RequestStats stats = (*client)->stats();
  EXPECT_EQ(stats.retries, 4);
  EXPECT_EQ(stats.by_code[429], 1);
  EXPECT_EQ(stats.by_code[503], 1);
  EXPECT_EQ(stats.by_code[500], 1);
  EXPECT_EQ(stats.by_code[200], 1);
  EXPECT_EQ(stats.Reads(), 5);  // four failed attempts and the one that passed
  EXPECT_GE(took, 2s) << "Retry-After: 1 was not honoured twice";

  // Every request reached the proxy, and the last went through to the server.
  int seen = 0;
  std::string line;
  while (!(line = proxy.ReadLine(2s)).empty()) {
    if (line.find("/api/v1/namespaces/default") != std::string::npos) ++seen;
  }
  EXPECT_EQ(seen, 5);
}

TEST(ClientAgainstTheApiServer, ErrorsCarryTheServersMessageAfterRetriesRunOut) {
  testing::ChildProcess proxy(
      {LauncherPath(), "faultproxy", "--dir", TestCluster::Get().dir, "--faults", "500,500,500"});
  std::string first = proxy.ReadLine(10s);
  ASSERT_TRUE(first.starts_with("port ")) << first;
  kube::Credentials creds = TestCluster::Get().Pagoda();
  creds.server = "https://127.0.0.1:" + first.substr(5);
  kube::ClientOptions options;
  options.retry.max_attempts = 3;
  options.retry.base_delay = 10ms;
  auto client = kube::KubeClient::Connect(creds, options);
  ASSERT_TRUE(client.ok());
  auto ns = (*client)->Get("/api/v1/namespaces/default");
  ASSERT_FALSE(ns.ok());
  EXPECT_EQ(ns.status().code(), Status::Code::kUnavailable);
  EXPECT_NE(ns.status().message().find("injected by the test proxy"), std::string::npos)
      << ns.status().message();
  EXPECT_NE(ns.status().message().find("/api/v1/namespaces/default"), std::string::npos);
}

TEST(ClientAgainstTheApiServer, ClientSideRateLimitPacesRequests) {
  kube::ClientOptions options;
  options.qps = 5;
  options.burst = 1;
  options.limit_under_flow_control = true;  // an operator's choice holds
  auto client = kube::KubeClient::Connect(TestCluster::Get().Pagoda(), options);
  ASSERT_TRUE(client.ok());
  auto start = std::chrono::steady_clock::now();
  for (int i = 0; i < 6; ++i) ASSERT_TRUE((*client)->Get("/api/v1/namespaces/default").ok());
  auto took = std::chrono::steady_clock::now() - start;
  // Five waits of 200 ms after the first request; a lower bound only.
  EXPECT_GE(took, 950ms);
  // The time spent waiting for tokens shrinks when the server itself is slow
  // (the bucket refills meanwhile), so only that some was spent is certain.
  EXPECT_GT((*client)->stats().throttled, 0ms);
  EXPECT_TRUE((*client)->rate_limited());
}

TEST(ClientAgainstTheApiServer, ServerFlowControlLiftsTheDefaultLimit) {
  // The same limit, not chosen by an operator: the API server (API Priority
  // and Fairness is on by default) says it paces its clients, so pagoda does not.
  kube::ClientOptions options;
  options.qps = 5;
  options.burst = 1;
  auto client = kube::KubeClient::Connect(TestCluster::Get().Pagoda(), options);
  ASSERT_TRUE(client.ok());
  EXPECT_TRUE((*client)->rate_limited());
  ASSERT_TRUE((*client)->Get("/api/v1/namespaces/default").ok());
  EXPECT_FALSE((*client)->rate_limited());
  for (int i = 0; i < 10; ++i) ASSERT_TRUE((*client)->Get("/api/v1/namespaces/default").ok());
  EXPECT_EQ((*client)->stats().throttled, 0ms) << "ten requests at 5 per second wait 2 s";
}

TEST(ClientAgainstTheApiServer, DiscoveryFindsBuiltInAndAggregatedKinds) {
  auto client = kube::KubeClient::Connect(TestCluster::Get().Pagoda());
  ASSERT_TRUE(client.ok());
  auto cron = (*client)->Resource("batch/v1", "CronJob");
  ASSERT_TRUE(cron.ok()) << cron.status().ToString();
  EXPECT_EQ(cron->resource, "cronjobs");
  EXPECT_TRUE(cron->namespaced);
  auto ns = (*client)->Resource("v1", "Namespace");
  ASSERT_TRUE(ns.ok());
  EXPECT_FALSE(ns->namespaced);
  auto hpa = (*client)->Resource("autoscaling/v2", "HorizontalPodAutoscaler");
  ASSERT_TRUE(hpa.ok());
  EXPECT_EQ(hpa->CollectionPath("shop"),
            "/apis/autoscaling/v2/namespaces/shop/horizontalpodautoscalers");
  EXPECT_EQ((*client)->Resource("example.com/v1", "Widget").status().code(),
            Status::Code::kNotFound);
}

}  // namespace
}  // namespace pagoda
