// Notifications end to end: the daemon as a real process on the local
// control plane tells real HTTP receivers on loopback, one per format, of a
// batched release that holds and is resumed. Each request is checked as the
// service it imitates checks it (signatures, the commit status API), and a
// receiver that hangs and one that answers 500 delay nothing.
#include <gtest/gtest.h>
#include <httplib.h>
#include <rapidjson/document.h>

#include <chrono>
#include <condition_variable>
#include <fstream>
#include <mutex>
#include <string>
#include <thread>
#include <vector>

#include "base/base64.h"
#include "base/digest.h"
#include "journal/journal.h"
#include "tests/integration/daemon_fixture.h"

namespace pagoda {
namespace {

using namespace std::chrono_literals;
using journal::Outcome;
using testing::Git;

int64_t NowMs() {
  return std::chrono::duration_cast<std::chrono::milliseconds>(
             std::chrono::system_clock::now().time_since_epoch())
      .count();
}

std::string Base64(const Digest& d) {
  return Base64Encode(std::string_view(reinterpret_cast<const char*>(d.data()), d.size()));
}

rapidjson::Document Json(const std::string& body) {
  rapidjson::Document doc;
  doc.Parse(body.c_str());
  return doc;
}

std::string Str(const rapidjson::Value& v, const char* key) {
  return v.IsObject() && v.HasMember(key) && v[key].IsString() ? v[key].GetString() : "";
}

// What a receiver was sent, and when it arrived.
struct Received {
  std::string path, body, authorization, signature, timestamp, sign;
  int64_t at_ms = 0;
};

// One loopback server for every receiver, by path.
class Receivers {
 public:
  Receivers() {
    auto keep = [this](const httplib::Request& req, httplib::Response& res) {
      Received r;
      r.path = req.path;
      r.body = req.body;
      r.authorization = req.get_header_value("Authorization");
      r.signature = req.get_header_value("X-Pagoda-Signature-256");
      r.timestamp = req.get_param_value("timestamp");
      r.sign = req.get_param_value("sign");
      r.at_ms = NowMs();
      std::lock_guard lock(mu_);
      received_.push_back(std::move(r));
      res.status = 200;
      res.set_content(R"({"errcode":0,"code":0})", "application/json");
    };
    for (const char* path : {"/generic", "/slack", "/ding", "/feishu", "/wecom"}) {
      server_.Post(path, keep);
    }
    server_.Post(R"(/gitea/api/v1/repos/acme/apps/statuses/([0-9a-f]{40}))", keep);
    server_.Post("/broken", [this](const httplib::Request&, httplib::Response& res) {
      std::lock_guard lock(mu_);
      ++broken_;
      res.status = 500;
    });
    server_.Post("/hang", [this](const httplib::Request&, httplib::Response& res) {
      std::unique_lock lock(mu_);
      ++hung_;
      cv_.wait_for(lock, 20s, [&] { return stopping_; });
      res.status = 200;
    });
    port_ = server_.bind_to_any_port("127.0.0.1");
    thread_ = std::thread([this] { server_.listen_after_bind(); });
  }
  ~Receivers() {
    {
      std::lock_guard lock(mu_);
      stopping_ = true;
    }
    cv_.notify_all();
    server_.stop();
    thread_.join();
  }
  std::string url(const std::string& path) const {
    return "http://127.0.0.1:" + std::to_string(port_) + path;
  }
  std::vector<Received> At(const std::string& prefix) {
    std::lock_guard lock(mu_);
    std::vector<Received> out;
    for (const Received& r : received_) {
      if (r.path.starts_with(prefix)) out.push_back(r);
    }
    return out;
  }
  int broken() {
    std::lock_guard lock(mu_);
    return broken_;
  }
  int hung() {
    std::lock_guard lock(mu_);
    return hung_;
  }

 private:
  httplib::Server server_;
  int port_ = 0;
  std::thread thread_;
  std::mutex mu_;
  std::condition_variable cv_;
  bool stopping_ = false;
  std::vector<Received> received_;
  int broken_ = 0, hung_ = 0;
};

class NotifyTest : public testing::DaemonFixture {
 protected:
  void SetUp() override {
    DaemonFixture::SetUp();
    auto secret = [&](const std::string& name, const std::string& value) {
      std::ofstream(state_root_ + "/" + name) << value << "\n";
      return state_root_ + "/" + name;
    };
    const std::string only = ", apps: [" + repo_.App("shop-web") + "], envs: [prod]}\n";
    WriteConfig(
        testing::TestCluster::Get().pagoda_kubeconfig, "",
        "notifications:\n  deadline: 1m\n  receivers:\n"
        "    generic: {type: generic, url: '" +
            receivers_.url("/generic") +
            "', secretFile: " + secret("generic-secret", kGenericSecret) + only +
            "    slack: {type: slack, urlFile: " + secret("slack-url", receivers_.url("/slack")) +
            only + "    ding: {type: dingtalk, url: '" + receivers_.url("/ding?access_token=t") +
            "', secretFile: " + secret("ding-secret", kDingSecret) + only +
            "    feishu: {type: feishu, url: '" + receivers_.url("/feishu") +
            "', secretFile: " + secret("feishu-secret", kFeishuSecret) + only +
            "    wecom: {type: wecom, url: '" + receivers_.url("/wecom") + "'" + only +
            "    gitea: {type: gitea, url: '" + receivers_.url("/gitea/api/v1") +
            "', repo: acme/apps, tokenFile: " + secret("gitea-token", kGiteaToken) + only +
            "    broken: {type: generic, url: '" + receivers_.url("/broken") + "'" + only +
            "    hang: {type: generic, url: '" + receivers_.url("/hang") + "'" + only);
  }

  // The generic receiver's events of release `id`, in the order they came.
  std::vector<std::string> EventsOf(const std::string& id) {
    std::vector<std::string> out;
    for (const Received& r : receivers_.At("/generic")) {
      rapidjson::Document doc = Json(r.body);
      if (Str(doc, "release") == id) out.push_back(Str(doc, "event"));
    }
    return out;
  }

  static constexpr const char* kGenericSecret = "generic-s3cret";
  static constexpr const char* kDingSecret = "SECding";
  static constexpr const char* kFeishuSecret = "feishu-s3cret";
  static constexpr const char* kGiteaToken = "gitea-tok";
  Receivers receivers_;
};

TEST_F(NotifyTest, ABatchedReleaseIsToldToEveryReceiverInOrderSignedAsEachServiceChecks) {
  StartDaemon();
  std::string head;
  Git(repo_.dir(), {"rev-parse", "HEAD"}, &head);
  auto first = WaitForRelease("shop-web", "prod", head.substr(0, 40));
  ASSERT_TRUE(first.has_value()) << "the first release waited for a receiver";
  EXPECT_EQ(first->outcome, Outcome::kSucceeded);
  ASSERT_TRUE(testing::WaitUntil(
      [&] {
        auto events = EventsOf(first->id);
        return !events.empty() && events.back() == "succeeded";
      },
      10s));
  // Told within a few seconds of the record's end, while the hanging receiver
  // still holds its first request (20 s) and the broken one is retried.
  int64_t told = 0;
  for (const Received& r : receivers_.At("/generic")) {
    rapidjson::Document doc = Json(r.body);
    if (Str(doc, "release") == first->id && Str(doc, "event") == "succeeded") told = r.at_ms;
  }
  EXPECT_LT(told - first->end, 5000) << "the generic receiver waited for another";
  EXPECT_GE(receivers_.hung(), 1) << "the hanging receiver was never asked";
  std::cerr << "first release of shop-web/prod: " << first->end - first->start
            << " ms; told the generic receiver " << told - first->end << " ms after its end\n";

  // A gray release held after batch 1, then resumed.
  repo_.Edit("shop-web", "envs/prod.yaml", "pause: none", "pause: first");
  repo_.Edit("shop-web", "deploy/web.yaml", "shop/web:1.4.2", "shop/web:1.7.0");
  const std::string gray = Commit("shop-web: web 1.7.0, gray first");
  std::string id;
  ASSERT_TRUE(testing::WaitUntil(
      [&] {
        for (const auto& r : Releases()) {
          if (r.to.id == gray && r.app == repo_.App("shop-web") && r.env == "prod" &&
              r.hold == journal::Hold::kPolicy) {
            id = r.id;
          }
        }
        return !id.empty();
      },
      60s));
  ASSERT_TRUE(testing::WaitUntil([&] { return EventsOf(id).size() >= 3; }, 10s));
  EXPECT_EQ(EventsOf(id), (std::vector<std::string>{"started", "batch-done", "held"}));
  std::string out;
  ASSERT_EQ(Cli({"release", "resume", id}, &out), 0) << out;
  auto done = WaitForRelease("shop-web", "prod", gray, 60s);
  ASSERT_TRUE(done.has_value());
  EXPECT_EQ(done->outcome, Outcome::kSucceeded);
  ASSERT_TRUE(testing::WaitUntil(
      [&] {
        auto events = EventsOf(id);
        return !events.empty() && events.back() == "succeeded";
      },
      10s));
  std::vector<std::string> events = EventsOf(id);
  ASSERT_GE(events.size(), 5u);
  EXPECT_EQ(std::vector<std::string>(events.begin(), events.begin() + 4),
            (std::vector<std::string>{"started", "batch-done", "held", "resumed"}));
  for (size_t i = 4; i + 1 < events.size(); ++i) EXPECT_EQ(events[i], "batch-done");
  EXPECT_EQ(events.back(), "succeeded");

  // The generic webhook: each body signed with HMAC-SHA256 of the secret.
  for (const Received& r : receivers_.At("/generic")) {
    EXPECT_EQ(r.signature, "sha256=" + HmacSha256Hex(kGenericSecret, r.body)) << r.body;
    EXPECT_EQ(r.body.find(kGenericSecret), std::string::npos);
  }
  // DingTalk: timestamp (ms, within an hour) and sign in the query,
  // base64(HMAC-SHA256(secret, "timestamp\nsecret")).
  const std::vector<Received> ding = receivers_.At("/ding");
  ASSERT_FALSE(ding.empty());
  for (const Received& r : ding) {
    EXPECT_LT(std::llabs(NowMs() - std::stoll(r.timestamp)), 3'600'000);
    EXPECT_EQ(r.sign, Base64(HmacSha256(kDingSecret, r.timestamp + "\n" + kDingSecret)));
    EXPECT_EQ(Str(Json(r.body), "msgtype"), "text");
  }
  // Feishu: timestamp (s) and sign in the body, base64(HMAC-SHA256(key =
  // "timestamp\nsecret", message empty)).
  const std::vector<Received> feishu = receivers_.At("/feishu");
  ASSERT_FALSE(feishu.empty());
  for (const Received& r : feishu) {
    rapidjson::Document doc = Json(r.body);
    const std::string ts = Str(doc, "timestamp");
    EXPECT_LT(std::llabs(NowMs() / 1000 - std::stoll(ts)), 3600);
    EXPECT_EQ(Str(doc, "sign"), Base64(HmacSha256(ts + "\n" + kFeishuSecret, "")));
    EXPECT_EQ(Str(doc, "msg_type"), "text");
  }
  // Slack and WeCom: their text messages, one per event like the others
  // (each receiver goes at its own pace: waited for).
  const size_t told_generic = receivers_.At("/generic").size();
  EXPECT_TRUE(testing::WaitUntil(
      [&] {
        return receivers_.At("/slack").size() == told_generic &&
               receivers_.At("/wecom").size() == told_generic;
      },
      10s))
      << receivers_.At("/slack").size() << " and " << receivers_.At("/wecom").size() << " of "
      << told_generic;
  bool slack_said = false;
  for (const Received& r : receivers_.At("/slack")) {
    slack_said |= Str(Json(r.body), "text").find("release " + id) != std::string::npos;
  }
  EXPECT_TRUE(slack_said);

  // Gitea: POST /api/v1/repos/{owner}/{repo}/statuses/{sha} with
  // "Authorization: token …": pending while it goes, success at the end.
  const std::string statuses = "/gitea/api/v1/repos/acme/apps/statuses/" + gray;
  EXPECT_TRUE(testing::WaitUntil(
      [&] {
        auto sent = receivers_.At(statuses);
        return !sent.empty() && Str(Json(sent.back().body), "state") == "success";
      },
      10s));
  std::vector<std::string> states;
  for (const Received& r : receivers_.At(statuses)) {
    EXPECT_EQ(r.authorization, std::string("token ") + kGiteaToken);
    rapidjson::Document doc = Json(r.body);
    EXPECT_EQ(Str(doc, "context"), "pagoda/" + repo_.App("shop-web") + "/prod");
    EXPECT_FALSE(Str(doc, "description").empty());
    EXPECT_LE(Str(doc, "description").size(), 140u);
    states.push_back(Str(doc, "state"));
  }
  ASSERT_GE(states.size(), 2u);
  EXPECT_EQ(states.front(), "pending");
  EXPECT_EQ(states.back(), "success");

  // The broken receiver was asked again (1 s, 2 s, … apart).
  EXPECT_GT(receivers_.broken(), 1);
}

}  // namespace
}  // namespace pagoda
