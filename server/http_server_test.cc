#include "server/http_server.h"

#include <gtest/gtest.h>
#include <httplib.h>

#include <atomic>

#include "base/digest.h"

namespace pagoda::server {
namespace {

const std::string kSecret = "s3cr3t-webhook";

class HttpServerTest : public ::testing::Test {
 protected:
  void SetUp() override {
    HttpEndpoints e;
    e.ready = [this] { return std::pair{ready_.load(), std::string("no fetch yet")}; };
    e.metrics = [] { return std::string("# TYPE x counter\nx 1\n"); };
    e.webhook = [this](const WebhookHeaders& h, std::string_view body) {
      WebhookAnswer a = verifier_.Handle(h, body);
      if (a.fetch) ++fetches_;
      return a;
    };
    auto s = HttpServer::Start("127.0.0.1:0", e);
    ASSERT_TRUE(s.ok()) << s.status().ToString();
    server_ = std::move(*s);
    client_ = std::make_unique<httplib::Client>("127.0.0.1", server_->port());
    client_->set_read_timeout(5, 0);
  }

  std::atomic<bool> ready_{false};
  std::atomic<int> fetches_{0};
  WebhookVerifier verifier_{kSecret};
  std::unique_ptr<HttpServer> server_;
  std::unique_ptr<httplib::Client> client_;
};

TEST_F(HttpServerTest, HealthReadinessAndMetrics) {
  EXPECT_GT(server_->port(), 0);
  EXPECT_EQ(server_->address(), "127.0.0.1:" + std::to_string(server_->port()));
  auto r = client_->Get("/healthz");
  ASSERT_TRUE(r);
  EXPECT_EQ(r->status, 200);
  r = client_->Get("/readyz");
  ASSERT_TRUE(r);
  EXPECT_EQ(r->status, 503);
  EXPECT_EQ(r->body, "not ready: no fetch yet\n");
  ready_ = true;
  r = client_->Get("/readyz");
  EXPECT_EQ(r->status, 200);
  r = client_->Get("/metrics");
  ASSERT_TRUE(r);
  EXPECT_EQ(r->status, 200);
  EXPECT_EQ(r->body, "# TYPE x counter\nx 1\n");
  EXPECT_EQ(r->get_header_value("Content-Type"), "text/plain; version=0.0.4; charset=utf-8");
  r = client_->Get("/nothing");
  ASSERT_TRUE(r);
  EXPECT_EQ(r->status, 404);
}

TEST_F(HttpServerTest, WrongMethodsAre405WithAllow) {
  auto r = client_->Post("/healthz", "", "text/plain");
  ASSERT_TRUE(r);
  EXPECT_EQ(r->status, 405);
  EXPECT_EQ(r->get_header_value("Allow"), "GET");
  r = client_->Delete("/metrics");
  ASSERT_TRUE(r);
  EXPECT_EQ(r->status, 405);
  r = client_->Get("/webhook");
  ASSERT_TRUE(r);
  EXPECT_EQ(r->status, 405);
  EXPECT_EQ(r->get_header_value("Allow"), "POST");
  r = client_->Put("/webhook", "{}", "application/json");
  ASSERT_TRUE(r);
  EXPECT_EQ(r->status, 405);
  EXPECT_EQ(fetches_, 0);
}

TEST_F(HttpServerTest, WebhookAnswersOverHttp) {
  const std::string body = R"({"ref":"refs/heads/main"})";
  httplib::Headers h = {{"X-GitHub-Event", "push"},
                        {"X-GitHub-Delivery", "1"},
                        {"X-Hub-Signature-256", "sha256=" + HmacSha256Hex(kSecret, body)}};
  auto r = client_->Post("/webhook", h, body, "application/json");
  ASSERT_TRUE(r);
  EXPECT_EQ(r->status, 202);
  EXPECT_EQ(fetches_, 1);
  r = client_->Post("/webhook", h, body, "application/json");  // replayed
  EXPECT_EQ(r->status, 200);
  EXPECT_EQ(fetches_, 1);
  h = {{"X-GitHub-Event", "push"}, {"X-Hub-Signature-256", "sha256=" + std::string(64, 'a')}};
  r = client_->Post("/webhook", h, body, "application/json");
  EXPECT_EQ(r->status, 401);
  r = client_->Post("/webhook", body, "application/json");
  EXPECT_EQ(r->status, 401);
  const std::string bad = "{not json";
  h = {{"X-GitHub-Delivery", "2"},
       {"X-Hub-Signature-256", "sha256=" + HmacSha256Hex(kSecret, bad)}};
  r = client_->Post("/webhook", h, bad, "application/json");
  EXPECT_EQ(r->status, 400);
  EXPECT_EQ(fetches_, 1);
}

TEST_F(HttpServerTest, BodiesOverTheBoundAre413) {
  const std::string big(kMaxWebhookBody + 1, 'x');
  httplib::Headers h = {{"X-Hub-Signature-256", "sha256=" + HmacSha256Hex(kSecret, big)}};
  auto r = client_->Post("/webhook", h, big, "application/json");
  ASSERT_TRUE(r);
  EXPECT_EQ(r->status, 413);
  EXPECT_EQ(fetches_, 0);
  // The server goes on serving.
  r = client_->Get("/healthz");
  ASSERT_TRUE(r);
  EXPECT_EQ(r->status, 200);
}

TEST(HttpServerStartTest, ParsesListenAddresses) {
  EXPECT_EQ(*ParseListenAddress("127.0.0.1:9420"),
            (std::pair<std::string, int>{"127.0.0.1", 9420}));
  EXPECT_EQ(*ParseListenAddress("[::1]:80"), (std::pair<std::string, int>{"::1", 80}));
  EXPECT_EQ(*ParseListenAddress(":9420"), (std::pair<std::string, int>{"0.0.0.0", 9420}));
  for (const char* bad : {"9420", "host:", "host:port", "h:99999", "::1:80", "h:123456"}) {
    EXPECT_FALSE(ParseListenAddress(bad).ok()) << bad;
  }
}

TEST(HttpServerStartTest, AnAddressInUseIsAnError) {
  auto first = HttpServer::Start("127.0.0.1:0", {});
  ASSERT_TRUE(first.ok());
  auto second = HttpServer::Start("127.0.0.1:" + std::to_string((*first)->port()), {});
  EXPECT_FALSE(second.ok());
  EXPECT_NE(second.status().message().find("cannot bind"), std::string::npos);
}

}  // namespace
}  // namespace pagoda::server
