// Push events from a Git server (`POST /webhook`): GitHub, Gitea/Forgejo/
// Gogs and GitLab. Each is authenticated with the secret shared with the Git
// server (`http.webhookSecretFile`) before anything else is read of it:
//
//   GitHub, Gitea   X-Hub-Signature-256: sha256=HEX   HMAC-SHA256(secret, body)
//   Gitea, Gogs     X-Gitea-Signature / X-Gogs-Signature: HEX   the same HMAC
//   GitLab          X-Gitlab-Token: SECRET            the secret itself
//
// compared in constant time. Only then is the body parsed (a JSON object) and
// the event looked at: a push (GitHub `X-GitHub-Event: push`, Gitea
// `X-Gitea-Event: push`, GitLab `X-Gitlab-Event: Push Hook` or `Tag Push
// Hook`, or no event header) asks for a fetch; a ping is answered; any
// other event is accepted and ignored. A delivery id seen before
// (X-GitHub-Delivery, X-Gitea-Delivery, X-Gitlab-Event-UUID) is a replay:
// answered 200, no fetch.
//
// Answers: 200/202 accepted, 400 malformed JSON, 401 bad or missing
// signature, 404 no secret configured, 413 body over the bound. Never throws;
// nothing of the secret is in a message.
#pragma once

#include <cstddef>
#include <deque>
#include <map>
#include <mutex>
#include <set>
#include <string>
#include <string_view>

namespace pagoda::server {

// Header names in lower case.
using WebhookHeaders = std::map<std::string, std::string>;

struct WebhookAnswer {
  int http_status = 500;
  std::string message;  // for the response body and the log; never the secret
  bool fetch = false;   // ask the loop for a fetch now
  std::string result;   // the outcome for metrics: accepted, replay, ignored, ping,
                        // unauthorized, malformed, too_large, disabled
  std::string source;   // github, gitea, gitlab, or ""
  std::string ref;      // the pushed ref, when the event names one
};

constexpr size_t kMaxWebhookBody = 1 << 20;

class WebhookVerifier {
 public:
  // An empty secret disables the webhook (404 for every request).
  explicit WebhookVerifier(std::string secret, size_t max_body = kMaxWebhookBody,
                           size_t remembered_deliveries = 1000);

  // Judges one request. Thread-safe (the replay memory is locked).
  WebhookAnswer Handle(const WebhookHeaders& headers, std::string_view body);

 private:
  bool Replayed(const std::string& delivery);

  std::string secret_;
  size_t max_body_;
  size_t remembered_;
  std::mutex mu_;
  std::deque<std::string> order_;  // oldest first
  std::set<std::string> seen_;
};

}  // namespace pagoda::server
