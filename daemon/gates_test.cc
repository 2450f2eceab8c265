// The HTTP gate asker against real HTTP servers on loopback: a webhook that
// answers 2xx, 500, or nothing in time, and checks the body's signature;
// a Prometheus API answer with a value, without data, and with an error.
#include "daemon/gates.h"

#include <gtest/gtest.h>
#include <httplib.h>

#include <atomic>
#include <mutex>
#include <thread>

#include "base/digest.h"

namespace pagoda::daemon {
namespace {

using policy::CheckResult;

// A loopback server whose answers the test sets.
class Endpoint {
 public:
  Endpoint() {
    server_.Post("/hook", [this](const httplib::Request& req, httplib::Response& res) {
      ++calls;
      {
        std::lock_guard lock(mu_);
        body_ = req.body;
        signature_ = req.get_header_value("X-Pagoda-Signature-256");
      }
      if (delay_ms > 0) std::this_thread::sleep_for(std::chrono::milliseconds(delay_ms.load()));
      const std::string expected = "sha256=" + HmacSha256Hex("s3cret", req.body);
      res.status = require_signature && req.get_header_value("X-Pagoda-Signature-256") != expected
                       ? 401
                       : status.load();
    });
    server_.Get("/api/v1/query", [this](const httplib::Request& req, httplib::Response& res) {
      {
        std::lock_guard lock(mu_);
        query_ = req.get_param_value("query");
      }
      res.set_content(Answer(), "application/json");
    });
    port_ = server_.bind_to_any_port("127.0.0.1");
    thread_ = std::thread([this] { server_.listen_after_bind(); });
  }
  ~Endpoint() {
    server_.stop();
    thread_.join();
  }
  std::string url(const std::string& path = "") const {
    return "http://127.0.0.1:" + std::to_string(port_) + path;
  }
  std::string body() {
    std::lock_guard lock(mu_);
    return body_;
  }
  std::string query() {
    std::lock_guard lock(mu_);
    return query_;
  }
  void SetAnswer(const std::string& a) {
    std::lock_guard lock(mu_);
    answer_ = a;
  }
  std::string Answer() {
    std::lock_guard lock(mu_);
    return answer_;
  }

  std::atomic<int> status{204}, calls{0}, delay_ms{0};
  std::atomic<bool> require_signature{false};

 private:
  httplib::Server server_;
  int port_ = 0;
  std::thread thread_;
  std::mutex mu_;
  std::string body_, signature_, query_, answer_;
};

class GateAskerTest : public ::testing::Test {
 protected:
  void SetUp() override {
    auto transport = kube::NewCurlTransport({});
    ASSERT_TRUE(transport.ok());
    asker_ = NewHttpGateAsker(std::move(*transport));
  }
  GateCheck Webhook() {
    GateCheck c;
    c.release = "r-000012";
    c.batch = 1;
    c.spec.name = "smoke";
    c.spec.kind = policy::GateKind::kWebhook;
    c.spec.webhook = "smoke";
    c.endpoint = endpoint_.url("/hook");
    c.timeout_ms = 2000;
    c.app = "shop";
    c.env = "prod";
    c.revision = "7d9f8c2b1a";
    return c;
  }
  GateCheck Query(const std::string& answer) {
    endpoint_.SetAnswer(answer);
    GateCheck c = Webhook();
    c.spec.kind = policy::GateKind::kPrometheus;
    c.spec.query = "sum(rate(http_requests_total{code!~\"5..\"}[1m]))";
    c.spec.condition = *policy::ParseCondition(">= 0.99");
    c.endpoint = endpoint_.url();
    return c;
  }
  Endpoint endpoint_;
  std::unique_ptr<GateAsker> asker_;
};

TEST_F(GateAskerTest, AWebhookPassesOn2xxWithTheBatchDescribed) {
  GateAnswer a = asker_->Ask(Webhook());
  EXPECT_EQ(a.result, CheckResult::kPassed);
  EXPECT_EQ(a.said, "webhook smoke: HTTP 204");
  EXPECT_EQ(endpoint_.body(), R"({"app":"shop","env":"prod","release":"r-000012","batch":1,)"
                              R"("revision":"7d9f8c2b1a","gate":"smoke"})");
}

TEST_F(GateAskerTest, AWebhookFailsOn500AfterItsRetriesAndOn4xxAtOnce) {
  endpoint_.status = 500;
  GateCheck check = Webhook();
  check.retries = 2;
  GateAnswer a = asker_->Ask(check);
  EXPECT_EQ(a.result, CheckResult::kFailed);
  EXPECT_EQ(a.said, "webhook smoke: HTTP 500 (try 3)");
  EXPECT_EQ(endpoint_.calls, 3);
  endpoint_.status = 403;
  endpoint_.calls = 0;
  EXPECT_EQ(asker_->Ask(check).said, "webhook smoke: HTTP 403");
  EXPECT_EQ(endpoint_.calls, 1) << "a refusal is not asked again";
}

TEST_F(GateAskerTest, AWebhookThatDoesNotAnswerInTimeFails) {
  endpoint_.delay_ms = 3000;
  GateCheck check = Webhook();
  check.timeout_ms = 1000;
  const auto start = std::chrono::steady_clock::now();
  GateAnswer a = asker_->Ask(check);
  EXPECT_EQ(a.result, CheckResult::kFailed);
  EXPECT_LT(std::chrono::steady_clock::now() - start, std::chrono::milliseconds(2900));
  EXPECT_EQ(a.said.find(endpoint_.url()), std::string::npos) << "the URL is never said";
}

TEST_F(GateAskerTest, TheBodyIsSignedAndAWrongSecretIsRefused) {
  endpoint_.require_signature = true;
  GateCheck check = Webhook();
  EXPECT_EQ(asker_->Ask(check).said, "webhook smoke: HTTP 401") << "unsigned";
  check.secret = "not-it";
  EXPECT_EQ(asker_->Ask(check).said, "webhook smoke: HTTP 401");
  check.secret = "s3cret";
  EXPECT_EQ(asker_->Ask(check).result, CheckResult::kPassed);
}

TEST_F(GateAskerTest, APrometheusValueIsJudgedAndNoDataIsInconclusive) {
  GateAnswer good = asker_->Ask(Query(
      R"({"status":"success","data":{"resultType":"vector","result":[{"metric":{},"value":[1,"0.995"]}]}})"));
  EXPECT_EQ(good.result, CheckResult::kPassed);
  EXPECT_EQ(good.said, "0.995 >= 0.99");
  EXPECT_EQ(endpoint_.query(), "sum(rate(http_requests_total{code!~\"5..\"}[1m]))");
  GateAnswer bad = asker_->Ask(Query(
      R"({"status":"success","data":{"resultType":"vector","result":[{"metric":{},"value":[1,"0.5"]}]}})"));
  EXPECT_EQ(bad.result, CheckResult::kFailed);
  EXPECT_EQ(bad.said, "0.5 is not >= 0.99");
  GateAnswer none =
      asker_->Ask(Query(R"({"status":"success","data":{"resultType":"vector","result":[]}})"));
  EXPECT_EQ(none.result, CheckResult::kInconclusive);
  EXPECT_EQ(none.said, "Prometheus (HTTP 200): the query found no series");
  GateAnswer error = asker_->Ask(Query(R"({"status":"error","error":"parse error"})"));
  EXPECT_EQ(error.result, CheckResult::kFailed);
  GateCheck down = Query("");
  down.endpoint = "http://127.0.0.1:1";
  EXPECT_EQ(asker_->Ask(down).result, CheckResult::kFailed);
}

}  // namespace
}  // namespace pagoda::daemon
