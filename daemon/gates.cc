#include "daemon/gates.h"

#include <rapidjson/stringbuffer.h>
#include <rapidjson/writer.h>

#include <thread>

#include "base/digest.h"
#include "base/json.h"
#include "base/url.h"

namespace pagoda::daemon {
namespace {

constexpr auto kPassed = policy::CheckResult::kPassed;
constexpr auto kFailed = policy::CheckResult::kFailed;
constexpr auto kInconclusive = policy::CheckResult::kInconclusive;

// `message` without `url` (a webhook's URL may carry a token).
std::string Scrubbed(std::string message, const std::string& url) {
  for (size_t at = message.find(url); !url.empty() && at != std::string::npos;
       at = message.find(url, at)) {
    message.replace(at, url.size(), "its URL");
  }
  return message;
}

std::string Number(double v) {
  char buf[32];
  std::snprintf(buf, sizeof buf, "%.6g", v);
  return buf;
}

class HttpGateAsker final : public GateAsker {
 public:
  explicit HttpGateAsker(std::unique_ptr<kube::HttpTransport> transport)
      : transport_(std::move(transport)) {}

  GateAnswer Ask(const GateCheck& check) override {
    return check.spec.kind == policy::GateKind::kPrometheus ? Query(check) : Call(check);
  }

 private:
  GateAnswer Query(const GateCheck& check) {
    kube::HttpRequest request;
    request.method = "GET";
    request.url = check.endpoint + "/api/v1/query?query=" + PercentEncode(check.spec.query);
    request.headers = {{"Accept", "application/json"}};
    request.timeout = std::chrono::milliseconds(check.timeout_ms);
    Result<kube::HttpResponse> response = transport_->Do(request);
    if (!response.ok()) return {kFailed, "Prometheus: " + response.status().message()};
    Result<double> value = policy::FirstValue(response->body);
    if (!value.ok()) {
      // No data is no verdict: the gate is asked again.
      return {value.status().code() == Status::Code::kNotFound ? kInconclusive : kFailed,
              "Prometheus (HTTP " + std::to_string(response->status) +
                  "): " + value.status().message()};
    }
    const std::string condition = check.spec.condition.ToString();
    if (check.spec.condition.Holds(*value)) return {kPassed, Number(*value) + " " + condition};
    return {kFailed, Number(*value) + " is not " + condition};
  }

  GateAnswer Call(const GateCheck& check) {
    rapidjson::StringBuffer buffer;
    json::Writer w(buffer);
    w.StartObject();
    json::String(w, "app", check.app);
    json::String(w, "env", check.env);
    json::String(w, "release", check.release);
    json::Key(w, "batch");
    w.Int(check.batch);
    json::String(w, "revision", check.revision);
    json::String(w, "gate", check.spec.name);
    w.EndObject();
    kube::HttpRequest request;
    request.method = "POST";
    request.url = check.endpoint;
    request.headers = {{"Content-Type", "application/json"}, {"User-Agent", "pagoda"}};
    request.body = buffer.GetString();
    request.timeout = std::chrono::milliseconds(check.timeout_ms);
    if (!check.secret.empty()) {
      request.headers.emplace_back("X-Pagoda-Signature-256",
                                   "sha256=" + HmacSha256Hex(check.secret, request.body));
    }
    // The URL is the daemon config's and may hold a token: never said.
    const std::string who = "webhook " + check.spec.webhook;
    std::string said;
    for (int attempt = 0; attempt <= check.retries; ++attempt) {
      if (attempt > 0) std::this_thread::sleep_for(std::chrono::milliseconds(500) * attempt);
      Result<kube::HttpResponse> response = transport_->Do(request);
      const std::string tries = attempt > 0 ? " (try " + std::to_string(attempt + 1) + ")" : "";
      if (!response.ok()) {
        said = who + ": " + Scrubbed(response.status().message(), check.endpoint) + tries;
        continue;  // unreachable or timed out: tried again
      }
      said = who + ": HTTP " + std::to_string(response->status) + tries;
      if (response->status >= 200 && response->status < 300) return {kPassed, said};
      if (response->status < 500) break;  // a refusal, not a failure to answer
    }
    return {kFailed, said};
  }

  std::unique_ptr<kube::HttpTransport> transport_;
};

}  // namespace

std::unique_ptr<GateAsker> NewHttpGateAsker(std::unique_ptr<kube::HttpTransport> transport) {
  return std::make_unique<HttpGateAsker>(std::move(transport));
}

GateWorker::GateWorker(std::unique_ptr<GateAsker> asker, Inbox& inbox,
                       std::function<void(GateCheck, GateAnswer)> done)
    : asker_(std::move(asker)), inbox_(inbox), done_(std::move(done)), thread_([this] { Run(); }) {}

GateWorker::~GateWorker() {
  {
    std::lock_guard lock(mu_);
    stop_ = true;
  }
  cv_.notify_all();
  thread_.join();
}

void GateWorker::Ask(GateCheck check) {
  {
    std::lock_guard lock(mu_);
    if (queue_.size() < kMaxQueued) {
      queue_.push_back(std::move(check));
      cv_.notify_all();
      return;
    }
  }
  inbox_.Post([done = done_, check = std::move(check)] {
    done(check, {policy::CheckResult::kFailed,
                 "too many gate checks waiting (" + std::to_string(kMaxQueued) + ")"});
  });
}

void GateWorker::Run() {
  for (;;) {
    GateCheck check;
    {
      std::unique_lock lock(mu_);
      cv_.wait(lock, [&] { return stop_ || !queue_.empty(); });
      if (stop_) return;
      check = std::move(queue_.front());
      queue_.pop_front();
    }
    GateAnswer answer = asker_->Ask(check);
    inbox_.Post([done = done_, check = std::move(check), answer = std::move(answer)] {
      done(check, answer);
    });
  }
}

}  // namespace pagoda::daemon
