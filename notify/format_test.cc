#include <gtest/gtest.h>
#include <rapidjson/document.h>

#include "base/base64.h"
#include "base/digest.h"
#include "base/json.h"
#include "notify/notify.h"

namespace pagoda::notify {
namespace {

Event Succeeded() {
  Event e;
  e.kind = EventKind::kSucceeded;
  e.app = "shop";
  e.env = "prod";
  e.cluster = "eu";
  e.release = "r-000009";
  e.release_kind = "rollout";
  e.commit = "0123456789abcdef0123456789abcdef01234567";
  e.commit_summary = "fix checkout";
  e.revision = "web-7f";
  e.batches = 3;
  e.time = 1'800'000'000'000;
  return e;
}

Receiver Of(ReceiverType type, std::string url) {
  Receiver r;
  r.name = "r";
  r.type = type;
  r.url = std::move(url);
  return r;
}

rapidjson::Document Body(const kube::HttpRequest& request) {
  rapidjson::Document doc;
  EXPECT_TRUE(json::Parse(request.body, &doc).ok()) << request.body;
  return doc;
}

std::string Header(const kube::HttpRequest& request, const std::string& name) {
  for (const auto& [k, v] : request.headers) {
    if (k == name) return v;
  }
  return "";
}

std::string Base64(const Digest& d) {
  return Base64Encode(std::string_view(reinterpret_cast<const char*>(d.data()), d.size()));
}

TEST(FormatTest, TheGenericWebhookCarriesEveryFieldAndItsSignature) {
  Receiver r = Of(ReceiverType::kGeneric, "http://hooks.example/pagoda");
  r.secret = "s3cret";
  auto request = Format(r, Succeeded(), 0);
  ASSERT_TRUE(request);
  EXPECT_EQ(request->method, "POST");
  EXPECT_EQ(request->url, "http://hooks.example/pagoda");
  EXPECT_EQ(Header(*request, "X-Pagoda-Event"), "succeeded");
  EXPECT_EQ(Header(*request, "X-Pagoda-Signature-256"),
            "sha256=" + HmacSha256Hex("s3cret", request->body));
  rapidjson::Document doc = Body(*request);
  EXPECT_EQ(json::StringAt(doc, "event"), "succeeded");
  EXPECT_EQ(json::StringAt(doc, "release"), "r-000009");
  EXPECT_EQ(json::StringAt(doc, "commit"), "0123456789abcdef0123456789abcdef01234567");
  EXPECT_EQ(json::StringAt(doc, "time"), "2027-01-15T08:00:00.000Z");
  EXPECT_EQ(doc["batches"].GetInt(), 3);
  EXPECT_EQ(request->body.find("s3cret"), std::string::npos);
}

TEST(FormatTest, AnUnsignedGenericWebhookHasNoSignature) {
  auto request = Format(Of(ReceiverType::kGeneric, "http://h/"), Succeeded(), 0);
  ASSERT_TRUE(request);
  EXPECT_EQ(Header(*request, "X-Pagoda-Signature-256"), "");
}

TEST(FormatTest, SlackAndWeComGetTheirTextMessages) {
  auto slack =
      Format(Of(ReceiverType::kSlack, "https://hooks.slack.com/services/T/B/X"), Succeeded(), 0);
  ASSERT_TRUE(slack);
  EXPECT_EQ(json::StringAt(Body(*slack), "text"), Summary(Succeeded()));
  auto wecom =
      Format(Of(ReceiverType::kWeCom, "https://qyapi.weixin.qq.com/x?key=k"), Succeeded(), 0);
  ASSERT_TRUE(wecom);
  rapidjson::Document doc = Body(*wecom);
  EXPECT_EQ(json::StringAt(doc, "msgtype"), "text");
  EXPECT_EQ(json::StringAt(doc, {"text", "content"}), Summary(Succeeded()));
}

// DingTalk: timestamp in ms and sign = urlencode(base64(HMAC-SHA256(key =
// secret, message = "timestamp\nsecret"))) in the query.
TEST(FormatTest, DingTalkIsSignedInTheQueryAsItsRobotDocumentationSays) {
  Receiver r = Of(ReceiverType::kDingTalk, "https://oapi.dingtalk.com/robot/send?access_token=t");
  r.secret = "SECabc";
  const journal::TimeMs now = 1'700'000'000'123;
  auto request = Format(r, Succeeded(), now);
  ASSERT_TRUE(request);
  const std::string sign = Base64(HmacSha256("SECabc", "1700000000123\nSECabc"));
  std::string encoded;
  for (char c : sign) {
    if (c == '+')
      encoded += "%2B";
    else if (c == '/')
      encoded += "%2F";
    else if (c == '=')
      encoded += "%3D";
    else
      encoded += c;
  }
  EXPECT_EQ(request->url,
            "https://oapi.dingtalk.com/robot/send?access_token=t&timestamp="
            "1700000000123&sign=" +
                encoded);
  rapidjson::Document doc = Body(*request);
  EXPECT_EQ(json::StringAt(doc, "msgtype"), "text");
  EXPECT_EQ(json::StringAt(doc, {"text", "content"}), Summary(Succeeded()));
}

// Feishu: timestamp in seconds and sign = base64(HMAC-SHA256(key =
// "timestamp\nsecret", message = "")) in the body.
TEST(FormatTest, FeishuIsSignedInTheBodyAsItsBotDocumentationSays) {
  Receiver r = Of(ReceiverType::kFeishu, "https://open.feishu.cn/open-apis/bot/v2/hook/x");
  r.secret = "fs-secret";
  auto request = Format(r, Succeeded(), 1'700'000'000'999);
  ASSERT_TRUE(request);
  rapidjson::Document doc = Body(*request);
  EXPECT_EQ(json::StringAt(doc, "timestamp"), "1700000000");
  EXPECT_EQ(json::StringAt(doc, "sign"), Base64(HmacSha256("1700000000\nfs-secret", "")));
  EXPECT_EQ(json::StringAt(doc, "msg_type"), "text");
  EXPECT_EQ(json::StringAt(doc, {"content", "text"}), Summary(Succeeded()));
  r.secret.clear();
  EXPECT_FALSE(Body(*Format(r, Succeeded(), 0)).HasMember("sign"));
}

TEST(FormatTest, CommitStatusesFollowEachForgesApi) {
  Receiver gh = Of(ReceiverType::kGitHub, "https://api.github.com/");
  gh.repo = "acme/apps";
  gh.token = "ghp_x";
  auto request = Format(gh, Succeeded(), 0);
  ASSERT_TRUE(request);
  EXPECT_EQ(request->url,
            "https://api.github.com/repos/acme/apps/statuses/"
            "0123456789abcdef0123456789abcdef01234567");
  EXPECT_EQ(Header(*request, "Authorization"), "Bearer ghp_x");
  EXPECT_EQ(Header(*request, "X-GitHub-Api-Version"), "2022-11-28");
  rapidjson::Document doc = Body(*request);
  EXPECT_EQ(json::StringAt(doc, "state"), "success");
  EXPECT_EQ(json::StringAt(doc, "context"), "pagoda/shop/prod");
  EXPECT_LE(json::StringAt(doc, "description").size(), 140u);

  Receiver gitea = Of(ReceiverType::kGitea, "https://gitea.example/api/v1");
  gitea.repo = "acme/apps";
  gitea.token = "tok";
  request = Format(gitea, Succeeded(), 0);
  ASSERT_TRUE(request);
  EXPECT_EQ(request->url,
            "https://gitea.example/api/v1/repos/acme/apps/statuses/"
            "0123456789abcdef0123456789abcdef01234567");
  EXPECT_EQ(Header(*request, "Authorization"), "token tok");

  Receiver gitlab = Of(ReceiverType::kGitLab, "https://gitlab.example/api/v4");
  gitlab.repo = "acme/apps";
  gitlab.token = "glpat";
  Event failed = Succeeded();
  failed.kind = EventKind::kRolledBack;
  request = Format(gitlab, failed, 0);
  ASSERT_TRUE(request);
  EXPECT_EQ(request->url,
            "https://gitlab.example/api/v4/projects/acme%2Fapps/statuses/"
            "0123456789abcdef0123456789abcdef01234567");
  EXPECT_EQ(Header(*request, "PRIVATE-TOKEN"), "glpat");
  doc = Body(*request);
  EXPECT_EQ(json::StringAt(doc, "state"), "failed");
  EXPECT_EQ(json::StringAt(doc, "name"), "pagoda/shop/prod");
  EXPECT_EQ(request->body.find("glpat"), std::string::npos);
}

TEST(FormatTest, ForgesAreToldOfNoDriftAndNothingWithoutACommit) {
  Receiver gh = Of(ReceiverType::kGitHub, "https://api.github.com");
  Event drift = Succeeded();
  drift.kind = EventKind::kDrift;
  EXPECT_FALSE(Format(gh, drift, 0));
  Event bare = Succeeded();
  bare.commit.clear();
  EXPECT_FALSE(Format(gh, bare, 0));
  EXPECT_EQ(CommitState(ReceiverType::kGitHub, EventKind::kStarted), "pending");
  EXPECT_EQ(CommitState(ReceiverType::kGitLab, EventKind::kStarted), "running");
  EXPECT_EQ(CommitState(ReceiverType::kGitLab, EventKind::kFrozen), "pending");
  EXPECT_EQ(CommitState(ReceiverType::kGitea, EventKind::kAborted), "failure");
}

TEST(FormatTest, ALongDescriptionIsCutOnACharacterBoundary) {
  Event e = Succeeded();
  e.commit_summary = std::string(150, 'x') + "\xe2\x9c\x93";  // ends with a check mark
  e.detail = std::string(40, '\xc3');
  Receiver gh = Of(ReceiverType::kGitHub, "https://api.github.com");
  auto request = Format(gh, e, 0);
  ASSERT_TRUE(request);
  rapidjson::Document doc;
  ASSERT_TRUE(json::Parse(request->body, &doc).ok());
  EXPECT_LE(json::StringAt(doc, "description").size(), 140u);
  EXPECT_TRUE(json::StringAt(doc, "description").ends_with("..."));
}

TEST(WantsTest, EventsAppsAndEnvsFilterByNameAndGlob) {
  Receiver r;
  EXPECT_TRUE(Wants(r, Succeeded()));
  r.events = {EventKind::kFailed, EventKind::kRolledBack};
  EXPECT_FALSE(Wants(r, Succeeded()));
  r.events.clear();
  r.apps = {"pay*"};
  EXPECT_FALSE(Wants(r, Succeeded()));
  r.apps = {"pay*", "sh?p"};
  EXPECT_TRUE(Wants(r, Succeeded()));
  r.envs = {"staging"};
  EXPECT_FALSE(Wants(r, Succeeded()));
}

TEST(JudgeTest, AnswersAreDeliveredRetriedOrRefused) {
  Receiver r = Of(ReceiverType::kGeneric, "http://h");
  auto answer = [](long status, std::string body = "") {
    kube::HttpResponse response;
    response.status = status;
    response.body = std::move(body);
    return Result<kube::HttpResponse>(response);
  };
  EXPECT_EQ(Judge(r, answer(204)), Delivery::kDelivered);
  EXPECT_EQ(Judge(r, answer(503)), Delivery::kRetry);
  EXPECT_EQ(Judge(r, answer(429)), Delivery::kRetry);
  EXPECT_EQ(Judge(r, answer(404)), Delivery::kRefused);
  EXPECT_EQ(Judge(r, Result<kube::HttpResponse>(Status::Unavailable("refused"))), Delivery::kRetry);
  r.type = ReceiverType::kGitLab;
  EXPECT_EQ(
      Judge(r, answer(400, R"({"message":"Cannot transition status via :run from :running"})")),
      Delivery::kDelivered);
  r.type = ReceiverType::kDingTalk;
  EXPECT_EQ(Judge(r, answer(200, R"({"errcode":310000,"errmsg":"sign not match"})")),
            Delivery::kRefused);
  EXPECT_EQ(Judge(r, answer(200, R"({"errcode":130101,"errmsg":"send too fast"})")),
            Delivery::kRetry);
  EXPECT_EQ(Judge(r, answer(200, R"({"errcode":0,"errmsg":"ok"})")), Delivery::kDelivered);
  r.type = ReceiverType::kFeishu;
  EXPECT_EQ(Judge(r, answer(200, R"({"code":19021,"msg":"sign match fail"})")), Delivery::kRefused);
}

}  // namespace
}  // namespace pagoda::notify
