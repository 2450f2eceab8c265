// Asking gates between batches (policy/gate.h says what they are): a
// Prometheus instant query whose first value must meet the gate's
// condition, or a webhook that must answer 2xx. Each check carries the
// endpoint and timeout it was resolved with, so that a check in hand
// outlives a reload. Internal to daemon/.
#pragma once

#include <condition_variable>
#include <deque>
#include <functional>
#include <memory>
#include <mutex>
#include <string>
#include <thread>

#include "daemon/inbox.h"
#include "kube/http.h"
#include "policy/gate.h"

namespace pagoda::daemon {

// One check of gate `gate` (its index among the environment's) after batch
// `batch` of release `release`.
struct GateCheck {
  std::string release;
  int batch = 0;
  size_t gate = 0;
  policy::Gate spec;     // its query with {{revision}}, {{app}}, … filled in
  std::string endpoint;  // the Prometheus base URL, or the webhook's URL
  int64_t timeout_ms = 10'000;
  std::string secret;  // a webhook's: its body is signed, X-Pagoda-Signature-256: sha256=HEX
  int retries = 0;     // a webhook unreachable or answering 5xx is asked again, this many times
  std::string app, env, revision;
};

struct GateAnswer {
  policy::CheckResult result = policy::CheckResult::kFailed;
  std::string said;  // "0.995 >= 0.99", "0.9 is not >= 0.99", "HTTP 503", "connection refused"
};

// A webhook gates may call, from the daemon config (its secret read).
struct GateWebhook {
  std::string url;
  std::string secret;  // "" = unsigned
  int retries = 0;
};

class GateAsker {
 public:
  virtual ~GateAsker() = default;
  // Blocks for at most the check's timeout (and a connection's).
  virtual GateAnswer Ask(const GateCheck& check) = 0;
};

// The real asker, over `transport` (libcurl in the daemon). A webhook is
// POSTed {"app","env","release","batch","revision","gate"} as JSON, signed
// with HMAC-SHA256 of the body when it has a secret.
std::unique_ptr<GateAsker> NewHttpGateAsker(std::unique_ptr<kube::HttpTransport> transport);

// Asks on a thread of its own, one check at a time, at most `kMaxQueued`
// waiting (more are answered at once as failed: a gate that cannot be asked
// does not pass); each answer goes to `done` through the loop's inbox.
class GateWorker {
 public:
  static constexpr size_t kMaxQueued = 256;
  GateWorker(std::unique_ptr<GateAsker> asker, Inbox& inbox,
             std::function<void(GateCheck, GateAnswer)> done);
  ~GateWorker();  // waits for the check in hand (bounded by its timeout)
  void Ask(GateCheck check);

 private:
  void Run();

  std::unique_ptr<GateAsker> asker_;
  Inbox& inbox_;
  std::function<void(GateCheck, GateAnswer)> done_;
  std::mutex mu_;
  std::condition_variable cv_;
  std::deque<GateCheck> queue_;
  bool stop_ = false;
  std::thread thread_;
};

}  // namespace pagoda::daemon
