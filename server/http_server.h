// The daemon's HTTP listener (`http.listen`, default 127.0.0.1:9420):
//
//   GET  /healthz   200 while the process works (its loop moves); 503 and why
//   GET  /readyz    200 once the repository was fetched and reconciled, and
//                   every cluster was reachable at the last cycle; 503 and
//                   the reason otherwise
//   GET  /metrics   the Prometheus text exposition
//   POST /webhook   a push event (daemon/webhook.h)
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
