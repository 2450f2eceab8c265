#include "server/webhook.h"

#include <gtest/gtest.h>

#include "base/digest.h"

namespace pagoda::server {
namespace {

const std::string kSecret = "It's a Secret to Everybody";
const std::string kPush = R"({"ref":"refs/heads/main","after":"0123"})";

WebhookHeaders GitHub(const std::string& body, const std::string& delivery = "d-1") {
  return {{"x-github-event", "push"},
          {"x-github-delivery", delivery},
          {"x-hub-signature-256", "sha256=" + HmacSha256Hex(kSecret, body)}};
}

TEST(WebhookTest, HmacMatchesGitHubsDocumentedExample) {
  // docs.github.com, "Validating webhook deliveries": secret and payload below.
  EXPECT_EQ(HmacSha256Hex(kSecret, "Hello, World!"),
            "757107ea0eb2509fc211221cce984b8a37570b6d7586c22c46f4379c8b043e17");
}

TEST(WebhookTest, AValidGitHubPushAsksForAFetch) {
  WebhookVerifier v(kSecret);
  WebhookAnswer a = v.Handle(GitHub(kPush), kPush);
  EXPECT_EQ(a.http_status, 202);
  EXPECT_TRUE(a.fetch);
  EXPECT_EQ(a.result, "accepted");
  EXPECT_EQ(a.source, "github");
  EXPECT_EQ(a.ref, "refs/heads/main");
}

TEST(WebhookTest, BadOrMissingSignaturesAre401AndNeverAFetch) {
  WebhookVerifier v(kSecret);
  auto headers = GitHub(kPush);
  // Signed for another body.
  WebhookAnswer a = v.Handle(headers, kPush + " ");
  EXPECT_EQ(a.http_status, 401);
  EXPECT_FALSE(a.fetch);
  // Signed with another secret.
  headers["x-hub-signature-256"] = "sha256=" + HmacSha256Hex("other", kPush);
  EXPECT_EQ(v.Handle(headers, kPush).http_status, 401);
  // Not hex, short, the wrong scheme, upper-case prefix.
  for (const std::string& sig : {"sha256=zz" + HmacSha256Hex(kSecret, kPush).substr(2),
                                 std::string("sha256=abc"), "sha1=" + HmacSha256Hex(kSecret, kPush),
                                 "SHA256=" + HmacSha256Hex(kSecret, kPush), std::string("")}) {
    headers["x-hub-signature-256"] = sig;
    WebhookAnswer b = v.Handle(headers, kPush);
    EXPECT_EQ(b.http_status, 401) << sig;
    EXPECT_FALSE(b.fetch);
  }
  // No signature header at all.
  EXPECT_EQ(v.Handle({{"x-github-event", "push"}}, kPush).http_status, 401);
  // A 401 never names the secret.
  EXPECT_EQ(a.message.find(kSecret), std::string::npos);
}

TEST(WebhookTest, GitLabTokenIsComparedWhole) {
  WebhookVerifier v(kSecret);
  WebhookHeaders h = {{"x-gitlab-event", "Push Hook"}, {"x-gitlab-token", kSecret}};
  WebhookAnswer a = v.Handle(h, kPush);
  EXPECT_EQ(a.http_status, 202);
  EXPECT_TRUE(a.fetch);
  EXPECT_EQ(a.source, "gitlab");
  for (const std::string& token : {kSecret + "x", kSecret.substr(1), std::string(""),
                                   std::string("It's a secret to everybody")}) {
    h["x-gitlab-token"] = token;
    EXPECT_EQ(v.Handle(h, kPush).http_status, 401) << token;
  }
}

TEST(WebhookTest, GiteaSignatureWithoutPrefix) {
  WebhookVerifier v(kSecret);
  WebhookHeaders h = {{"x-gitea-event", "push"},
                      {"x-gitea-delivery", "g-1"},
                      {"x-gitea-signature", HmacSha256Hex(kSecret, kPush)}};
  WebhookAnswer a = v.Handle(h, kPush);
  EXPECT_EQ(a.http_status, 202);
  EXPECT_TRUE(a.fetch);
  EXPECT_EQ(a.source, "gitea");
  h["x-gitea-signature"] = HmacSha256Hex("nope", kPush);
  h["x-gitea-delivery"] = "g-2";
  EXPECT_EQ(v.Handle(h, kPush).http_status, 401);
}

TEST(WebhookTest, MalformedJsonWithAValidSignatureIs400) {
  WebhookVerifier v(kSecret);
  for (const std::string& body : {std::string("{"), std::string("[1,2]"), std::string(""),
                                  std::string("\"push\""), std::string("{\"ref\":}")}) {
    WebhookAnswer a = v.Handle(GitHub(body, "m-" + body), body);
    EXPECT_EQ(a.http_status, 400) << body;
    EXPECT_FALSE(a.fetch);
  }
  // Unauthenticated malformed JSON is 401: nothing is read before the signature.
  EXPECT_EQ(v.Handle({{"x-hub-signature-256", "sha256=00"}}, "{").http_status, 401);
}

TEST(WebhookTest, DeepNestingIs400WithoutACrash) {
  WebhookVerifier v(kSecret);
  for (const std::string& body :
       {std::string(100000, '['), std::string(100000, '[') + std::string(100000, ']'),
        R"({"ref":)" + std::string(100000, '[') + std::string(100000, ']') + "}"}) {
    WebhookAnswer a = v.Handle(GitHub(body, "deep-" + std::to_string(body.size())), body);
    EXPECT_EQ(a.http_status, 400);
    EXPECT_EQ(a.result, "malformed");
    EXPECT_FALSE(a.fetch);
  }
}

TEST(WebhookTest, OversizedBodiesAre413BeforeAnythingElse) {
  WebhookVerifier v(kSecret, 1024);
  std::string body = "{\"ref\":\"" + std::string(2000, 'a') + "\"}";
  WebhookAnswer a = v.Handle(GitHub(body), body);
  EXPECT_EQ(a.http_status, 413);
  EXPECT_FALSE(a.fetch);
  EXPECT_EQ(v.Handle({}, body).http_status, 413);
}

TEST(WebhookTest, ReplayedDeliveriesAre200WithoutAFetch) {
  WebhookVerifier v(kSecret, kMaxWebhookBody, 2);
  EXPECT_TRUE(v.Handle(GitHub(kPush, "a"), kPush).fetch);
  WebhookAnswer again = v.Handle(GitHub(kPush, "a"), kPush);
  EXPECT_EQ(again.http_status, 200);
  EXPECT_FALSE(again.fetch);
  EXPECT_EQ(again.result, "replay");
  EXPECT_TRUE(v.Handle(GitHub(kPush, "b"), kPush).fetch);
  EXPECT_TRUE(v.Handle(GitHub(kPush, "c"), kPush).fetch);
  // Only the last two are remembered.
  EXPECT_TRUE(v.Handle(GitHub(kPush, "a"), kPush).fetch);
  // A forged replay does not count as one: it is 401.
  auto forged = GitHub(kPush, "c");
  forged["x-hub-signature-256"] = "sha256=" + std::string(64, '0');
  EXPECT_EQ(v.Handle(forged, kPush).http_status, 401);
}

TEST(WebhookTest, PingAndOtherEventsFetchNothing) {
  WebhookVerifier v(kSecret);
  auto ping = GitHub("{}", "p");
  ping["x-github-event"] = "ping";
  WebhookAnswer a = v.Handle(ping, "{}");
  EXPECT_EQ(a.http_status, 200);
  EXPECT_FALSE(a.fetch);
  auto issue = GitHub("{}", "i");
  issue["x-github-event"] = "issues";
  a = v.Handle(issue, "{}");
  EXPECT_EQ(a.http_status, 202);
  EXPECT_FALSE(a.fetch);
  EXPECT_EQ(a.result, "ignored");
}

TEST(WebhookTest, WithoutASecretTheWebhookIsOff) {
  WebhookVerifier v("");
  WebhookAnswer a = v.Handle(GitHub(kPush), kPush);
  EXPECT_EQ(a.http_status, 404);
  EXPECT_FALSE(a.fetch);
  // Not even an empty GitLab token passes.
  EXPECT_EQ(v.Handle({{"x-gitlab-token", ""}}, kPush).http_status, 404);
}

}  // namespace
}  // namespace pagoda::server
