#include "server/webhook.h"

#include <rapidjson/document.h>

#include "base/digest.h"
#include "base/json.h"

namespace pagoda::server {
namespace {

std::string Header(const WebhookHeaders& headers, const char* name) {
  auto it = headers.find(name);
  return it == headers.end() ? "" : it->second;
}

int HexDigit(char c) {
  if (c >= '0' && c <= '9') return c - '0';
  if (c >= 'a' && c <= 'f') return c - 'a' + 10;
  if (c >= 'A' && c <= 'F') return c - 'A' + 10;
  return -1;
}

// Does the hex signature equal the HMAC of the body? Constant time in the
// signature's content: its length (64) is public.
bool SignatureMatches(std::string_view hex, const std::string& secret, std::string_view body) {
  if (hex.size() != 64) return false;
  Digest given{};
  for (size_t i = 0; i < 32; ++i) {
    int hi = HexDigit(hex[2 * i]), lo = HexDigit(hex[2 * i + 1]);
    if (hi < 0 || lo < 0) return false;
    given[i] = static_cast<unsigned char>(hi * 16 + lo);
  }
  return ConstantTimeEqual(given, HmacSha256(secret, body));
}

// Compares a token with the secret in time independent of where they differ
// and of the token's length: both are hashed first.
bool TokenMatches(std::string_view token, const std::string& secret) {
  return ConstantTimeEqual(Sha256(token), Sha256(secret));
}

WebhookAnswer Answer(int status, std::string result, std::string message) {
  WebhookAnswer a;
  a.http_status = status;
  a.result = std::move(result);
  a.message = std::move(message);
  return a;
}

}  // namespace

WebhookVerifier::WebhookVerifier(std::string secret, size_t max_body, size_t remembered_deliveries)
    : secret_(std::move(secret)), max_body_(max_body), remembered_(remembered_deliveries) {}

bool WebhookVerifier::Replayed(const std::string& delivery) {
  std::lock_guard<std::mutex> lock(mu_);
  if (!seen_.insert(delivery).second) return true;
  order_.push_back(delivery);
  while (order_.size() > remembered_) {
    seen_.erase(order_.front());
    order_.pop_front();
  }
  return false;
}

namespace {

// Who sent it, by the header that carries its proof, and whether the proof
// holds for `secret`; "" when no header carries one.
std::pair<std::string, bool> Authenticate(const WebhookHeaders& headers, std::string_view body,
                                          const std::string& secret) {
  if (std::string sig = Header(headers, "x-hub-signature-256"); !sig.empty()) {
    return {Header(headers, "x-gitea-event").empty() ? "github" : "gitea",
            sig.rfind("sha256=", 0) == 0 &&
                SignatureMatches(std::string_view(sig).substr(7), secret, body)};
  }
  if (std::string hex = Header(headers, "x-gitea-signature"); !hex.empty()) {
    return {"gitea", SignatureMatches(hex, secret, body)};
  }
  if (std::string gogs = Header(headers, "x-gogs-signature"); !gogs.empty()) {
    return {"gitea", SignatureMatches(gogs, secret, body)};
  }
  if (headers.count("x-gitlab-token") != 0) {
    return {"gitlab", TokenMatches(Header(headers, "x-gitlab-token"), secret)};
  }
  return {"", false};
}

// The event's name and the delivery's id, as `source` sends them.
std::pair<std::string, std::string> EventAndDelivery(const WebhookHeaders& headers,
                                                     const std::string& source) {
  std::string event;
  if (source == "github") {
    event = Header(headers, "x-github-event");
  } else if (source == "gitea") {
    event = Header(headers, "x-gitea-event");
    if (event.empty()) event = Header(headers, "x-gogs-event");
  } else {
    event = Header(headers, "x-gitlab-event");
  }
  std::string delivery = Header(headers, "x-github-delivery");
  if (delivery.empty()) delivery = Header(headers, "x-gitea-delivery");
  if (delivery.empty()) delivery = Header(headers, "x-gitlab-event-uuid");
  return {event, delivery};
}

WebhookAnswer From(const std::string& source, int status, const char* result,
                   const std::string& message) {
  WebhookAnswer a = Answer(status, result, message);
  a.source = source;
  return a;
}

}  // namespace

WebhookAnswer WebhookVerifier::Handle(const WebhookHeaders& headers, std::string_view body) {
  if (secret_.empty()) {
    return Answer(404, "disabled", "the webhook is not enabled: no http.webhookSecretFile");
  }
  if (body.size() > max_body_) {
    return Answer(413, "too_large",
                  "body of " + std::to_string(body.size()) + " bytes is over the bound of " +
                      std::to_string(max_body_));
  }
  // Authenticate before reading anything of the body.
  const auto [source, authenticated] = Authenticate(headers, body, secret_);
  if (source.empty()) {
    return Answer(401, "unauthorized",
                  "no signature: X-Hub-Signature-256, X-Gitea-Signature or X-Gitlab-Token");
  }
  if (!authenticated) {
    return From(source, 401, "unauthorized", "the " + source + " signature does not match");
  }
  rapidjson::Document doc;
  if (!json::Parse(body, &doc).ok() || !doc.IsObject()) {
    return From(source, 400, "malformed", "the body is not a JSON object");
  }
  const auto [event, delivery] = EventAndDelivery(headers, source);
  WebhookAnswer a;
  if (!delivery.empty() && Replayed(source + "/" + delivery)) {
    a = From(source, 200, "replay", "delivery already received");
  } else if (event == "ping") {
    a = From(source, 200, "ping", "pong");
  } else if (event.empty() || event == "push" || event == "Push Hook" || event == "Tag Push Hook" ||
             event == "System Hook") {
    a = From(source, 202, "accepted", "fetch requested");
    a.fetch = true;
  } else {
    a = From(source, 202, "ignored", "not a push event; nothing to do");
  }
  a.ref = json::StringAt(doc, "ref");
  return a;
}

}  // namespace pagoda::server
