// The daemon's HTTP listener (`http.listen`, default 127.0.0.1:9420):
//
//   GET  /healthz   200 while the process works (its loop moves); 503 and why
//   GET  /readyz    200 once the repository was fetched and reconciled, and
//                   every cluster was reachable at the last cycle; 503 and
//                   the reason otherwise
//   GET  /metrics   the Prometheus text exposition
//   POST /webhook   a push event (daemon/webhook.h)
//   GET  /          the dashboard: one page, embedded, no outside resource
//   GET  /api/v1/environments          the status document (control/control.h)
//   GET  /api/v1/releases?app=&env=&limit=   release records, newest first
//   GET  /api/v1/releases/ID           one release record
//   GET  /api/v1/synclog?limit=        the latest reconcile cycles, newest first
//   GET  /api/v1/dashboard             {"actions": bool}: whether the page offers them
//   POST /api/v1/releases/ID/{pause,resume,abort}
//   POST /api/v1/environments/APP/ENV/rollback   {"to": COMMIT-OR-RELEASE}
//                   only with a dashboard token: `Authorization: Bearer TOKEN`
//                   (compared in constant time) and `X-Pagoda-Dashboard: 1`,
//                   which a page of another origin cannot send without a
//                   preflight this server never grants (CSRF). 401 without.
//
// Another method on these paths is 405 with an Allow header; other paths
// 404. Request bodies are bounded (kMaxWebhookBody: 413 past it), and so is
// the time a client may take to send one (5 s).
//
// Built on cpp-httplib (Debian's libcpp-httplib-dev): a maintained,
// packaged HTTP/1.1 server with keep-alive, chunked bodies, a payload bound
// and a thread pool, which a hand-written server would have to redo.
#pragma once

#include <functional>
#include <memory>
#include <string>
#include <string_view>
#include <thread>
#include <utility>

#include "base/status.h"
#include "server/webhook.h"

namespace httplib {
class Server;
}

namespace pagoda::server {

struct HttpEndpoints {
  // Alive (the loop moves), or why not; unset: always.
  std::function<std::pair<bool, std::string>()> healthy;
  // Ready, or why not.
  std::function<std::pair<bool, std::string>()> ready;
  std::function<std::string()> metrics;
  std::function<WebhookAnswer(const WebhookHeaders&, std::string_view body)> webhook;
  // The dashboard's reads, each JSON; unset: 404. NotFound is 404,
  // InvalidArgument 400, any other error 503.
  std::function<std::string()> environments;
  std::function<Result<std::string>(const std::string& app, const std::string& env, int limit)>
      releases;
  std::function<Result<std::string>(const std::string& id)> release;
  std::function<Result<std::string>(int limit)> sync_log;
  // An action asked from the dashboard, as the command line asks it:
  // "pause", "resume", "abort" of release `target`, or "rollback" of
  // `target` ("APP/ENV") to `to`. Returns what to show (a release id).
  std::function<Result<std::string>(const std::string& action, const std::string& target,
                                    const std::string& to)>
      act;
  std::string dashboard_token;  // "" = read-only: every action is 401
};

// "HOST:PORT", "[V6]:PORT" or ":PORT" (every address) → host and port.
// InvalidArgument naming the text otherwise.
Result<std::pair<std::string, int>> ParseListenAddress(const std::string& listen);

class HttpServer {
 public:
  // Binds `listen` (port 0: one the kernel chooses) and serves on threads of
  // its own until destroyed. Unavailable when the address cannot be bound.
  static Result<std::unique_ptr<HttpServer>> Start(const std::string& listen,
                                                   HttpEndpoints endpoints);
  ~HttpServer();  // stops listening and waits for the threads
  HttpServer(const HttpServer&) = delete;
  HttpServer& operator=(const HttpServer&) = delete;

  const std::string& listen() const { return listen_; }  // as configured
  // The address bound, with the port the kernel chose: "127.0.0.1:41234".
  const std::string& address() const { return address_; }
  int port() const { return port_; }

 private:
  HttpServer() = default;

  std::string listen_;
  std::string address_;
  int port_ = 0;
  std::unique_ptr<httplib::Server> server_;
  std::thread thread_;
};

}  // namespace pagoda::server
