// An HttpTransport that answers from a script and keeps the requests it
// was sent, and a client over it: for kube/'s unit tests of what a client
// sends and how it reads the answers. Test-only.
#pragma once

#include <deque>
#include <memory>
#include <string>
#include <vector>

#include "kube/kube.h"

namespace pagoda::kube::testing {

struct Script {
  std::deque<Result<HttpResponse>> answers;
  std::vector<HttpRequest> requests;
};

class ScriptedTransport final : public HttpTransport {
 public:
  explicit ScriptedTransport(Script* script) : script_(script) {}
  Result<HttpResponse> Do(const HttpRequest& request) override {
    script_->requests.push_back(request);
    if (script_->answers.empty()) return Status::Internal("script exhausted");
    auto next = std::move(script_->answers.front());
    script_->answers.pop_front();
    return next;
  }

 private:
  Script* script_;
};

inline HttpResponse Answer(long status, std::string body,
                           std::map<std::string, std::string> headers = {}) {
  HttpResponse r;
  r.status = status;
  r.body = std::move(body);
  r.headers = std::move(headers);
  return r;
}

// A client of https://api.test whose requests go to `script`; no rate limit
// unless `qps` says so.
inline std::unique_ptr<KubeClient> ScriptedClient(Script* script, FakeClock* clock, double qps = 0,
                                                  ClientOptions options = {}) {
  Credentials creds;
  creds.server = "https://api.test";
  creds.bearer_token = "t0k3n";
  options.qps = qps;
  options.burst = 1;
  options.clock = clock;
  options.transport_factory = [script]() -> Result<std::unique_ptr<HttpTransport>> {
    return std::unique_ptr<HttpTransport>(new ScriptedTransport(script));
  };
  return std::move(KubeClient::Connect(creds, options)).value();
}

}  // namespace pagoda::kube::testing
