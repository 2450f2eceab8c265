#include <gtest/gtest.h>
#include <httplib.h>

#include <mutex>
#include <vector>

#include "server/http_server.h"

namespace pagoda::server {
namespace {

const std::string kToken = "a-dashboard-token-of-32-characters";

class DashboardTest : public ::testing::Test {
 protected:
  void Start(const std::string& token) {
    HttpEndpoints e;
    e.environments = [] {
      return std::string(R"({"environments":[{"app":"shop","env":"prod"}]})");
    };
    e.releases = [](const std::string& app, const std::string& env,
                    int limit) -> Result<std::string> {
      if (app == "bad") return Status::InvalidArgument("no such app");
      return "{\"releases\":[],\"asked\":\"" + app + "/" + env + "/" + std::to_string(limit) +
             "\"}";
    };
    e.release = [](const std::string& id) -> Result<std::string> {
      if (id != "r-000001") return Status::NotFound("no release " + id);
      return std::string(R"({"id":"r-000001"})");
    };
    e.act = [this](const std::string& action, const std::string& target,
                   const std::string& to) -> Result<std::string> {
      std::lock_guard lock(mu_);
      acted_.push_back(action + " " + target + (to.empty() ? "" : " " + to));
      return std::string("r-000002");
    };
    e.dashboard_token = token;
    auto s = HttpServer::Start("127.0.0.1:0", e);
    ASSERT_TRUE(s.ok()) << s.status().ToString();
    server_ = std::move(*s);
    client_ = std::make_unique<httplib::Client>("127.0.0.1", server_->port());
  }
  httplib::Result Post(const std::string& path, const std::string& token, bool header = true,
                       const std::string& body = "{}") {
    httplib::Headers h;
    if (!token.empty()) h.emplace("Authorization", "Bearer " + token);
    if (header) h.emplace("X-Pagoda-Dashboard", "1");
    return client_->Post(path, h, body, "application/json");
  }
  std::vector<std::string> acted() {
    std::lock_guard lock(mu_);
    return acted_;
  }

  std::mutex mu_;
  std::vector<std::string> acted_;
  std::unique_ptr<HttpServer> server_;
  std::unique_ptr<httplib::Client> client_;
};

TEST_F(DashboardTest, ThePageAndItsFilesAreServedWithAPolicyThatAllowsNothingOutside) {
  Start("");
  auto page = client_->Get("/");
  ASSERT_TRUE(page);
  EXPECT_EQ(page->status, 200);
  EXPECT_EQ(page->get_header_value("Content-Type"), "text/html; charset=utf-8");
  EXPECT_NE(page->body.find("<script src=\"/dashboard.js\""), std::string::npos);
  EXPECT_EQ(page->body.find("http"), std::string::npos) << "no outside resource";
  const std::string csp = page->get_header_value("Content-Security-Policy");
  EXPECT_NE(csp.find("default-src 'none'"), std::string::npos);
  EXPECT_NE(csp.find("frame-ancestors 'none'"), std::string::npos);
  EXPECT_EQ(csp.find("unsafe-inline"), std::string::npos);
  for (const char* path : {"/dashboard.js", "/dashboard.css"}) {
    auto r = client_->Get(path);
    ASSERT_TRUE(r);
    EXPECT_EQ(r->status, 200) << path;
    EXPECT_GT(r->body.size(), 500u) << path;
  }
  EXPECT_EQ(client_->Get("/dashboard.js")->body.find("innerHTML"), std::string::npos)
      << "what a repository says is set as text";
}

TEST_F(DashboardTest, TheJsonEndpointsAnswerWithTheirStatusCodes) {
  Start("");
  auto r = client_->Get("/api/v1/environments");
  ASSERT_TRUE(r);
  EXPECT_EQ(r->status, 200);
  EXPECT_EQ(r->get_header_value("Content-Type"), "application/json");
  EXPECT_NE(r->body.find("\"shop\""), std::string::npos);
  r = client_->Get("/api/v1/releases?app=shop&env=prod&limit=5");
  EXPECT_NE(r->body.find("\"asked\":\"shop/prod/5\""), std::string::npos);
  r = client_->Get("/api/v1/releases?limit=nonsense");
  EXPECT_NE(r->body.find("\"asked\":\"//100\""), std::string::npos);
  EXPECT_EQ(client_->Get("/api/v1/releases?app=bad")->status, 400);
  EXPECT_EQ(client_->Get("/api/v1/releases/r-000001")->status, 200);
  r = client_->Get("/api/v1/releases/r-000404");
  EXPECT_EQ(r->status, 404);
  EXPECT_EQ(r->body, R"({"error":"no release r-000404"})");
  EXPECT_EQ(client_->Get("/api/v1/synclog")->status, 404) << "not served without a reader";
  EXPECT_EQ(client_->Get("/api/v1/dashboard")->body, R"({"actions":false})");
}

TEST_F(DashboardTest, WithoutATokenEveryActionIsRefused) {
  Start("");
  auto r = Post("/api/v1/releases/r-000001/pause", kToken);
  ASSERT_TRUE(r);
  EXPECT_EQ(r->status, 401);
  EXPECT_TRUE(acted().empty());
}

TEST_F(DashboardTest, AnActionNeedsTheTokenAndTheHeaderNoOtherOriginCanSend) {
  Start(kToken);
  EXPECT_EQ(client_->Get("/api/v1/dashboard")->body, R"({"actions":true})");
  EXPECT_EQ(Post("/api/v1/releases/r-000001/pause", "")->status, 401);
  EXPECT_EQ(Post("/api/v1/releases/r-000001/pause", kToken + "x")->status, 401);
  EXPECT_EQ(Post("/api/v1/releases/r-000001/pause", kToken.substr(1))->status, 401);
  EXPECT_EQ(Post("/api/v1/releases/r-000001/pause", kToken, /*header=*/false)->status, 401)
      << "a form posted from another site carries no X-Pagoda-Dashboard";
  EXPECT_EQ(client_->Get("/api/v1/releases/r-000001/pause")->status, 405);
  EXPECT_TRUE(acted().empty());

  auto r = Post("/api/v1/releases/r-000001/resume", kToken);
  ASSERT_TRUE(r);
  EXPECT_EQ(r->status, 200);
  EXPECT_EQ(r->body, R"({"ok":true,"result":"r-000002"})");
  EXPECT_EQ(Post("/api/v1/environments/shop/prod/rollback", kToken, true, "{}")->status, 400);
  EXPECT_EQ(
      Post("/api/v1/environments/shop/prod/rollback", kToken, true, R"({"to":"r-000001"})")->status,
      200);
  EXPECT_EQ(acted(), (std::vector<std::string>{"resume r-000001", "rollback shop/prod r-000001"}));
  EXPECT_EQ(Post("/api/v1/environments/Shop/prod/rollback", kToken, true, R"({"to":"x"})")->status,
            404)
      << "not an app name";
}

}  // namespace
}  // namespace pagoda::server
