// Release policy end to end: the daemon as a real process releasing into the
// real local control plane. With prod promoted after test, a commit goes to
// test, soaks, then to prod by itself; a test release that fails never
// reaches prod; `pagoda release promote` skips a soak on purpose. With gates,
// a real Prometheus (scraping a gauge the test sets) and a webhook on
// loopback are asked between batches; a failed gate rolls the release back.
#include <gtest/gtest.h>
#include <httplib.h>
#include <rapidjson/document.h>

#include <atomic>
#include <chrono>
#include <filesystem>
#include <fstream>
#include <mutex>
#include <string>
#include <thread>
#include <vector>

#include "journal/journal.h"
#include "tests/integration/daemon_fixture.h"

namespace pagoda {
namespace {

using namespace std::chrono_literals;
using journal::Outcome;
using testing::Git;

constexpr int64_t kSoakMs = 6000;

class PolicyTest : public testing::DaemonFixture {
 protected:
  void SetUp() override {
    DaemonFixture::SetUp();
    // A batch of test that never gets Ready fails after 4s; prod follows test.
    repo_.Edit("shop-web", "envs/test.yaml", "batchInterval: 0s",
               "batchInterval: 0s\n    batchTimeout: 4s");
    repo_.Edit("shop-web", "envs/prod.yaml",
               "  sync:", "  promotion: {after: test, soak: 6s}\n  sync:");
    head_ = Commit("shop-web: prod follows test after a 6s soak");
  }
  struct Wait {
    std::string after, reason;
    int soak_seconds = 0;
  };
  // What `pagoda status --json` says prod waits for, once it says it waits
  // (`reason` starting with `reason`).
  Wait WaitsFor(const std::string& reason) {
    Wait wait;
    std::string status;
    const bool waits = testing::WaitUntil(
        [&] {
          if (Cli({"status", "--json"}, &status) != 0) return false;
          rapidjson::Document doc;
          doc.Parse(status.c_str());
          if (doc.HasParseError() || !doc.HasMember("environments")) return false;
          for (const auto& e : doc["environments"].GetArray()) {
            if (repo_.App("shop-web") != e["app"].GetString() ||
                std::string(e["env"].GetString()) != "prod" || !e["waiting"].IsObject()) {
              continue;
            }
            wait = {e["waiting"]["for"].GetString(), e["waiting"]["reason"].GetString(),
                    e["waiting"]["soakSeconds"].GetInt()};
            return wait.reason.starts_with(reason);
          }
          return false;
        },
        20s);
    EXPECT_TRUE(waits) << status;
    return wait;
  }
  std::string head_;
};

TEST_F(PolicyTest, ACommitGoesToTestSoaksThenToProdAndAFailedOneNeverReachesProd) {
  StartDaemon();
  auto in_test = WaitForRelease("shop-web", "test", head_);
  ASSERT_TRUE(in_test.has_value());
  EXPECT_EQ(in_test->outcome, Outcome::kSucceeded);
  auto in_prod = WaitForRelease("shop-web", "prod", head_, 40s);
  ASSERT_TRUE(in_prod.has_value());
  EXPECT_EQ(in_prod->outcome, Outcome::kSucceeded);
  EXPECT_GE(in_prod->start, in_test->end + kSoakMs) << "prod went before test's soak ended";
  EXPECT_EQ(in_prod->follows, in_test->id);
  EXPECT_NE(in_prod->promotion.find("test ran it for "), std::string::npos) << in_prod->promotion;

  // A broken image fails in test and is rolled back; prod never gets it.
  repo_.Edit("shop-web", "deploy/web.yaml", "shop/web:1.4.2", "shop/web:broken");
  const std::string bad = Commit("shop-web: a broken image");
  auto failed = WaitForRelease("shop-web", "test", bad, 60s);
  ASSERT_TRUE(failed.has_value());
  EXPECT_EQ(failed->outcome, Outcome::kRolledBack);
  EXPECT_EQ(WaitsFor("test: release " + failed->id).after, "test");
  EXPECT_FALSE(WaitForRelease("shop-web", "prod", bad, 2 * kSoakMs * 1ms).has_value());
  std::string table;
  ASSERT_EQ(Cli({"status"}, &table), 0);
  EXPECT_NE(table.find("waiting for test: test: release " + failed->id), std::string::npos)
      << table;
}

TEST_F(PolicyTest, PromoteSkipsTheSoakOnPurposeAndItsRecordSaysWhoAndWhy) {
  repo_.Edit("shop-web", "envs/prod.yaml", "soak: 6s", "soak: 1h");
  const std::string first = Commit("shop-web: an hour's soak");
  StartDaemon();
  ASSERT_TRUE(WaitForRelease("shop-web", "test", first).has_value());
  const Wait wait = WaitsFor("soaking");
  EXPECT_EQ(wait.after, "test");
  EXPECT_EQ(wait.soak_seconds, 3600);
  EXPECT_NE(RunningRevision("shop-web", "test"), "");
  EXPECT_EQ(testing::Kubectl({"get", "pods", "-n", repo_.App("shop-web"), "-l",
                              "app.kubernetes.io/instance=prod", "-o", "name"}),
            "")
      << "prod has no instance while test soaks";
  std::string table;
  ASSERT_EQ(Cli({"status"}, &table), 0);
  EXPECT_NE(table.find("waiting for test: soaked "), std::string::npos) << table;
  EXPECT_NE(table.find(" of 1h00m"), std::string::npos) << table;

  std::string out;
  const std::string prod = repo_.App("shop-web") + "/prod";
  EXPECT_EQ(Cli({"release", "promote", prod}, &out), 2) << out;  // --reason is required
  ASSERT_EQ(Cli({"release", "promote", prod, "--reason", "the checkout fix"}, &out), 0) << out;
  auto promoted = WaitForRelease("shop-web", "prod", first, 20s);
  ASSERT_TRUE(promoted.has_value());
  EXPECT_EQ(promoted->outcome, Outcome::kSucceeded);
  EXPECT_NE(promoted->promotion.find("promoted by "), std::string::npos) << promoted->promotion;
  EXPECT_NE(promoted->promotion.find("without waiting for test: the checkout fix"),
            std::string::npos)
      << promoted->promotion;
  ASSERT_EQ(Cli({"release", "show", promoted->id}, &out), 0);
  EXPECT_NE(out.find("promotion promoted by "), std::string::npos) << out;
}

// What the gates ask: a /metrics page with the gauge shop_success_ratio for
// Prometheus to scrape, and a webhook that answers `hook_status`.
class GateEndpoints {
 public:
  GateEndpoints() {
    server_.Get("/metrics", [this](const httplib::Request&, httplib::Response& res) {
      res.set_content("# TYPE shop_success_ratio gauge\nshop_success_ratio " + ratio.load() + "\n",
                      "text/plain; version=0.0.4");
    });
    server_.Post("/hook", [this](const httplib::Request& req, httplib::Response& res) {
      std::lock_guard lock(mu_);
      hooks_.push_back(req.body);
      res.status = 204;
    });
    port_ = server_.bind_to_any_port("127.0.0.1");
    thread_ = std::thread([this] { server_.listen_after_bind(); });
  }
  ~GateEndpoints() {
    server_.stop();
    thread_.join();
  }
  int port() const { return port_; }
  std::vector<std::string> Hooks() {
    std::lock_guard lock(mu_);
    return hooks_;
  }
  struct Ratio {
    std::mutex mu;
    std::string value = "0.995";
    std::string load() {
      std::lock_guard lock(mu);
      return value;
    }
    void store(const std::string& v) {
      std::lock_guard lock(mu);
      value = v;
    }
  } ratio;

 private:
  httplib::Server server_;
  int port_ = 0;
  std::thread thread_;
  std::mutex mu_;
  std::vector<std::string> hooks_;
};

// A real Prometheus on loopback scraping `target` every second.
class LocalPrometheus {
 public:
  LocalPrometheus(const std::string& dir, int target) : port_(testing::FreePort()) {
    std::filesystem::create_directories(dir + "/data");
    std::ofstream(dir + "/prometheus.yml")
        << "global: {scrape_interval: 1s, evaluation_interval: 1s}\n"
        << "scrape_configs:\n  - job_name: shop\n    static_configs:\n"
        << "      - targets: ['127.0.0.1:" << target << "']\n";
    process_ = std::make_unique<testing::ChildProcess>(std::vector<std::string>{
        "/bin/sh", "-c",
        "exec prometheus --config.file=" + dir + "/prometheus.yml --storage.tsdb.path=" + dir +
            "/data --web.listen-address=127.0.0.1:" + std::to_string(port_) + " 2>>" + dir +
            "/prometheus.log"});
  }
  std::string url() const { return "http://127.0.0.1:" + std::to_string(port_); }
  // The gauge's value as Prometheus answers an instant query of it; "" before.
  std::string Query() {
    httplib::Client c("127.0.0.1", port_);
    auto res = c.Get("/api/v1/query?query=shop_success_ratio");
    if (!res || res->status != 200) return "";
    rapidjson::Document doc;
    doc.Parse(res->body.c_str());
    if (doc.HasParseError() || !doc["data"]["result"].IsArray() || doc["data"]["result"].Empty())
      return "";
    return doc["data"]["result"][0]["value"][1].GetString();
  }

 private:
  int port_;
  std::unique_ptr<testing::ChildProcess> process_;
};

class GatesTest : public testing::DaemonFixture {
 protected:
  void SetUp() override {
    DaemonFixture::SetUp();
    prometheus_ = std::make_unique<LocalPrometheus>(state_root_ + "/prometheus", endpoints_.port());
    WriteConfig(testing::TestCluster::Get().pagoda_kubeconfig, "",
                "gates:\n  prometheus: " + prometheus_->url() +
                    "\n  webhooks: {smoke: 'http://127.0.0.1:" + std::to_string(endpoints_.port()) +
                    "/hook'}\n");
    repo_.Edit("shop-web", "envs/prod.yaml", "    batchTimeout: 5m",
               "    batchTimeout: 5m\n"
               "    gates:\n"
               "      - name: success-rate\n"
               "        prometheus:\n"
               "          query: 'shop_success_ratio{job=\"shop\",instance!=\"{{namespace}}\"}'\n"
               "          successCondition: 'result[0] >= 0.99'\n"
               "        interval: 1s\n"
               "        count: 2\n"
               "      - {name: smoke, webhook: smoke, interval: 1s}");
    head_ = Commit("shop-web: prod asks Prometheus and a webhook between batches");
  }
  GateEndpoints endpoints_;
  std::unique_ptr<LocalPrometheus> prometheus_;
  std::string head_;
};

TEST_F(GatesTest, ARealPrometheusAndAWebhookAreAskedBetweenBatchesAndAFailedGateRollsBack) {
  ASSERT_TRUE(testing::WaitUntil([&] { return prometheus_->Query() == "0.995"; }, 60s))
      << "Prometheus never scraped the gauge";
  StartDaemon();
  auto first = WaitForRelease("shop-web", "prod", head_, 60s);
  ASSERT_TRUE(first.has_value());
  EXPECT_EQ(first->outcome, Outcome::kSucceeded);
  ASSERT_EQ(first->batches.size(), 2u);
  EXPECT_EQ(
      first->batches[0].gates,
      (std::vector<std::string>{"success-rate passed after 2 checks: 0.995 >= 0.99; 0.995 >= 0.99",
                                "smoke passed after 1 check: webhook smoke: HTTP 204"}));
  EXPECT_GE(first->batches[1].start, first->batches[0].end + 1000) << "two checks, 1s apart";
  const std::vector<std::string> hooks = endpoints_.Hooks();
  ASSERT_EQ(hooks.size(), 1u);
  rapidjson::Document hook;
  hook.Parse(hooks[0].c_str());
  ASSERT_FALSE(hook.HasParseError()) << hooks[0];
  EXPECT_EQ(std::string(hook["app"].GetString()), repo_.App("shop-web"));
  EXPECT_STREQ(hook["env"].GetString(), "prod");
  EXPECT_EQ(std::string(hook["release"].GetString()), first->id);
  EXPECT_EQ(hook["batch"].GetInt(), 1);
  EXPECT_STREQ(hook["gate"].GetString(), "smoke");
  const std::string good = RunningRevision("shop-web", "prod");

  // The success ratio drops: the next release fails its gate after batch 1.
  endpoints_.ratio.store("0.5");
  ASSERT_TRUE(testing::WaitUntil([&] { return prometheus_->Query() == "0.5"; }, 30s));
  repo_.Edit("shop-web", "deploy/web.yaml", "shop/web:1.4.2", "shop/web:1.7.0");
  const std::string next = Commit("shop-web: web 1.7.0");
  auto failed = WaitForRelease("shop-web", "prod", next, 60s);
  ASSERT_TRUE(failed.has_value());
  EXPECT_EQ(failed->outcome, Outcome::kRolledBack);
  ASSERT_FALSE(failed->errors.empty());
  EXPECT_EQ(failed->errors.back(),
            "batch 1: gate success-rate failed: 1 of 1 check failed: 0.5 is not >= 0.99");
  EXPECT_EQ(RunningRevision("shop-web", "prod"), good);
}

}  // namespace
}  // namespace pagoda
