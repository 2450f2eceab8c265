#include <fnmatch.h>

#include <algorithm>
#include <array>

#include "base/base64.h"
#include "base/digest.h"
#include "base/json.h"
#include "base/url.h"
#include "notify/notify.h"

namespace pagoda::notify {
namespace {

using kube::HttpRequest;

constexpr std::array<std::string_view, 8> kTypeNames = {"generic", "slack",  "dingtalk", "feishu",
                                                        "wecom",   "github", "gitlab",   "gitea"};
// GitHub refuses a longer description; GitLab takes 255.
constexpr size_t kDescriptionLimit = 140;

bool Matches(const std::vector<std::string>& globs, const std::string& name) {
  if (globs.empty()) return true;
  return std::any_of(globs.begin(), globs.end(), [&](const std::string& g) {
    return fnmatch(g.c_str(), name.c_str(), 0) == 0;
  });
}

HttpRequest Post(const Receiver& r, std::string url, std::string body) {
  HttpRequest request;
  request.method = "POST";
  request.url = std::move(url);
  request.headers = {{"Content-Type", "application/json"}, {"User-Agent", "pagoda"}};
  request.body = std::move(body);
  request.timeout = r.timeout;
  return request;
}

std::string Base64Hmac(std::string_view key, std::string_view data) {
  const Digest d = HmacSha256(key, data);
  return Base64Encode(std::string_view(reinterpret_cast<const char*>(d.data()), d.size()));
}

// {"event": …} with every field of the event: the generic webhook's body.
std::string GenericBody(const Event& e) {
  rapidjson::StringBuffer buffer;
  json::Writer w(buffer);
  w.StartObject();
  json::String(w, "event", Name(e.kind));
  json::String(w, "summary", Summary(e));
  json::String(w, "app", e.app);
  json::String(w, "env", e.env);
  json::String(w, "cluster", e.cluster);
  json::String(w, "release", e.release);
  json::String(w, "kind", e.release_kind);
  json::String(w, "commit", e.commit);
  json::String(w, "commitSummary", e.commit_summary);
  json::String(w, "revision", e.revision);
  json::Key(w, "batch");
  w.Int(e.batch);
  json::Key(w, "batches");
  w.Int(e.batches);
  json::String(w, "detail", e.detail);
  json::String(w, "time", e.time == 0 ? "" : journal::FormatTime(e.time));
  w.EndObject();
  return buffer.GetString();
}

// {"msgtype":"text","text":{"content":…}}: DingTalk's and WeCom's text message.
std::string RobotText(const std::string& text) {
  rapidjson::StringBuffer buffer;
  json::Writer w(buffer);
  w.StartObject();
  json::String(w, "msgtype", "text");
  json::Key(w, "text");
  w.StartObject();
  json::String(w, "content", text);
  w.EndObject();
  w.EndObject();
  return buffer.GetString();
}

std::string SlackBody(const std::string& text) {
  rapidjson::StringBuffer buffer;
  json::Writer w(buffer);
  w.StartObject();
  json::String(w, "text", text);
  w.EndObject();
  return buffer.GetString();
}

// Feishu's text message, signed when there is a secret: the key is
// "timestamp\nsecret" (seconds), the message empty, the HMAC in base64.
std::string FeishuBody(const Receiver& r, const std::string& text, journal::TimeMs now) {
  rapidjson::StringBuffer buffer;
  json::Writer w(buffer);
  w.StartObject();
  if (!r.secret.empty()) {
    const std::string seconds = std::to_string(now / 1000);
    json::String(w, "timestamp", seconds);
    json::String(w, "sign", Base64Hmac(seconds + "\n" + r.secret, ""));
  }
  json::String(w, "msg_type", "text");
  json::Key(w, "content");
  w.StartObject();
  json::String(w, "text", text);
  w.EndObject();
  w.EndObject();
  return buffer.GetString();
}

// DingTalk signs in the query: timestamp (ms) and base64 of the HMAC of
// "timestamp\nsecret" keyed by the secret, percent-encoded.
std::string DingTalkUrl(const Receiver& r, journal::TimeMs now) {
  if (r.secret.empty()) return r.url;
  const std::string ms = std::to_string(now);
  return r.url + (r.url.find('?') == std::string::npos ? "?" : "&") + "timestamp=" + ms +
         "&sign=" + PercentEncode(Base64Hmac(r.secret, ms + "\n" + r.secret));
}

std::string Trimmed(std::string text, size_t limit) {
  if (text.size() <= limit) return text;
  size_t cut = limit - 3;
  while (cut > 0 && (static_cast<unsigned char>(text[cut]) & 0xC0) == 0x80) --cut;  // UTF-8
  return text.substr(0, cut) + "...";
}

std::string Without(std::string base) {
  while (!base.empty() && base.back() == '/') base.pop_back();
  return base;
}

// A commit status: the context is pagoda/APP/ENV.
std::optional<HttpRequest> ForgeStatus(const Receiver& r, const Event& e) {
  const std::string state = CommitState(r.type, e.kind);
  if (state.empty() || e.commit.empty()) return std::nullopt;
  const std::string context = "pagoda/" + e.app + "/" + e.env;
  const std::string description = Trimmed(Summary(e), kDescriptionLimit);
  rapidjson::StringBuffer buffer;
  json::Writer w(buffer);
  w.StartObject();
  json::String(w, "state", state);
  json::String(w, r.type == ReceiverType::kGitLab ? "name" : "context", context);
  json::String(w, "description", description);
  if (!r.target_url.empty()) json::String(w, "target_url", r.target_url);
  w.EndObject();
  const std::string base = Without(r.url);
  std::string url;
  HttpRequest request;
  switch (r.type) {
    case ReceiverType::kGitLab:
      request = Post(r, base + "/projects/" + PercentEncode(r.repo) + "/statuses/" + e.commit,
                     buffer.GetString());
      request.headers.emplace_back("PRIVATE-TOKEN", r.token);
      break;
    case ReceiverType::kGitea:
      request = Post(r, base + "/repos/" + r.repo + "/statuses/" + e.commit, buffer.GetString());
      request.headers.emplace_back("Authorization", "token " + r.token);
      break;
    default:
      request = Post(r, base + "/repos/" + r.repo + "/statuses/" + e.commit, buffer.GetString());
      request.headers.emplace_back("Authorization", "Bearer " + r.token);
      request.headers.emplace_back("Accept", "application/vnd.github+json");
      request.headers.emplace_back("X-GitHub-Api-Version", "2022-11-28");
      break;
  }
  return request;
}

// The chat robots answer 200 with an error code in the body: DingTalk's
// and WeCom's "errcode", Feishu's "code"; 0 is delivered. Their rate limits
// (DingTalk 130101, WeCom 45009, Feishu 9499 and 11232) are worth another try.
Delivery RobotSaid(ReceiverType type, const std::string& body) {
  const char* field = nullptr;
  if (type == ReceiverType::kDingTalk || type == ReceiverType::kWeCom) field = "errcode";
  if (type == ReceiverType::kFeishu) field = "code";
  rapidjson::Document doc;
  if (field == nullptr || !json::Parse(body, &doc).ok() || !doc.IsObject()) {
    return Delivery::kDelivered;
  }
  const rapidjson::Value* code = json::Member(doc, field);
  if (code == nullptr || !code->IsInt64() || code->GetInt64() == 0) return Delivery::kDelivered;
  const int64_t c = code->GetInt64();
  if (c == 130101 || c == 45009 || c == 9499 || c == 11232) return Delivery::kRetry;
  return Delivery::kRefused;
}

}  // namespace

std::string_view Name(ReceiverType type) { return kTypeNames[static_cast<size_t>(type)]; }

Result<ReceiverType> ParseReceiverType(std::string_view name) {
  for (size_t i = 0; i < kTypeNames.size(); ++i) {
    if (kTypeNames[i] == name) return static_cast<ReceiverType>(i);
  }
  std::string known;
  for (std::string_view n : kTypeNames) known += (known.empty() ? "" : ", ") + std::string(n);
  return Status::InvalidArgument("\"" + std::string(name) +
                                 "\" is not a receiver type: use one of " + known);
}

bool IsForge(ReceiverType type) {
  return type == ReceiverType::kGitHub || type == ReceiverType::kGitLab ||
         type == ReceiverType::kGitea;
}

bool Wants(const Receiver& r, const Event& e) {
  if (!r.events.empty() && std::find(r.events.begin(), r.events.end(), e.kind) == r.events.end()) {
    return false;
  }
  return Matches(r.apps, e.app) && Matches(r.envs, e.env);
}

std::string CommitState(ReceiverType type, EventKind kind) {
  const bool gitlab = type == ReceiverType::kGitLab;
  switch (kind) {
    case EventKind::kFrozen:
    case EventKind::kWaiting:
      return "pending";
    case EventKind::kStarted:
    case EventKind::kBatchDone:
    case EventKind::kHeld:
    case EventKind::kResumed:
      return gitlab ? "running" : "pending";
    case EventKind::kSucceeded:
      return "success";
    case EventKind::kFailed:
    case EventKind::kRolledBack:
    case EventKind::kAborted:
      return gitlab ? "failed" : "failure";
    case EventKind::kDrift:
      break;
  }
  return "";
}

std::optional<HttpRequest> Format(const Receiver& r, const Event& e, journal::TimeMs now) {
  switch (r.type) {
    case ReceiverType::kGeneric: {
      HttpRequest request = Post(r, r.url, GenericBody(e));
      request.headers.emplace_back("X-Pagoda-Event", std::string(Name(e.kind)));
      if (!r.secret.empty()) {
        request.headers.emplace_back("X-Pagoda-Signature-256",
                                     "sha256=" + HmacSha256Hex(r.secret, request.body));
      }
      return request;
    }
    case ReceiverType::kSlack:
      return Post(r, r.url, SlackBody(Summary(e)));
    case ReceiverType::kDingTalk:
      return Post(r, DingTalkUrl(r, now), RobotText(Summary(e)));
    case ReceiverType::kFeishu:
      return Post(r, r.url, FeishuBody(r, Summary(e), now));
    case ReceiverType::kWeCom:
      return Post(r, r.url, RobotText(Summary(e)));
    case ReceiverType::kGitHub:
    case ReceiverType::kGitLab:
    case ReceiverType::kGitea:
      return ForgeStatus(r, e);
  }
  return std::nullopt;
}

Delivery Judge(const Receiver& r, const Result<kube::HttpResponse>& answer) {
  if (!answer.ok()) return Delivery::kRetry;
  const long status = answer->status;
  if (status >= 200 && status < 300) return RobotSaid(r.type, answer->body);
  if (r.type == ReceiverType::kGitLab && status == 400 &&
      answer->body.find("Cannot transition status") != std::string::npos) {
    return Delivery::kDelivered;  // the commit already has that state
  }
  if (status == 408 || status == 429 || status >= 500) return Delivery::kRetry;
  return Delivery::kRefused;
}

}  // namespace pagoda::notify
