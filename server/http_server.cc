#include "server/http_server.h"

#include <httplib.h>
#include <sys/socket.h>

#include <cctype>
#include <chrono>

#include "server/http_internal.h"

namespace pagoda::server {

constexpr const char* kMethods[] = {"GET", "POST", "PUT", "PATCH", "DELETE", "OPTIONS"};

void Text(httplib::Response& res, int status, const std::string& body) {
  res.status = status;
  res.set_content(body.empty() || body.back() == '\n' ? body : body + "\n",
                  "text/plain; charset=utf-8");
}

// Registers `handler` for `method` on `path`, and 405 for every other method.
void Route(httplib::Server& server, const std::string& path, const std::string& method,
           httplib::Server::Handler handler) {
  for (const std::string m : kMethods) {
    httplib::Server::Handler h = handler;
    if (m != method) {
      h = [method](const httplib::Request&, httplib::Response& res) {
        res.set_header("Allow", method);
        Text(res, 405, "method not allowed: use " + method);
      };
    }
    if (m == "GET") server.Get(path, h);
    if (m == "POST") server.Post(path, h);
    if (m == "PUT") server.Put(path, h);
    if (m == "PATCH") server.Patch(path, h);
    if (m == "DELETE") server.Delete(path, h);
    if (m == "OPTIONS") server.Options(path, h);
  }
}

Result<std::pair<std::string, int>> ParseListenAddress(const std::string& listen) {
  auto bad = [&](const std::string& why) {
    return Status::InvalidArgument("http.listen \"" + listen + "\": " + why);
  };
  auto colon = listen.rfind(':');
  if (colon == std::string::npos) return bad("expected HOST:PORT, [V6]:PORT or :PORT");
  std::string host = listen.substr(0, colon);
  const std::string port_text = listen.substr(colon + 1);
  if (port_text.empty() || port_text.size() > 5) return bad("the port is not a number");
  int port = 0;
  for (char c : port_text) {
    if (!std::isdigit(static_cast<unsigned char>(c))) return bad("the port is not a number");
    port = port * 10 + (c - '0');
  }
  if (port > 65535) return bad("the port is over 65535");
  if (host.size() >= 2 && host.front() == '[' && host.back() == ']') {
    host = host.substr(1, host.size() - 2);
  } else if (host.find(':') != std::string::npos) {
    return bad("an IPv6 address goes in brackets: [::1]:9420");
  }
  if (host.empty()) host = "0.0.0.0";
  return std::pair{host, port};
}

Result<std::unique_ptr<HttpServer>> HttpServer::Start(const std::string& listen,
                                                      HttpEndpoints endpoints) {
  auto address = ParseListenAddress(listen);
  if (!address.ok()) return address.status();
  const auto& [host, port] = *address;

  std::unique_ptr<HttpServer> self(new HttpServer());
  self->listen_ = listen;
  self->server_ = std::make_unique<httplib::Server>();
  httplib::Server& server = *self->server_;
  server.set_payload_max_length(kMaxWebhookBody);
  server.set_read_timeout(5, 0);
  server.set_write_timeout(5, 0);
  server.set_keep_alive_max_count(100);
  // SO_REUSEADDR only: cpp-httplib's default adds SO_REUSEPORT, which would
  // let a second daemon bind the same port and take half the requests.
  server.set_socket_options([](socket_t sock) {
    int yes = 1;
    ::setsockopt(sock, SOL_SOCKET, SO_REUSEADDR, &yes, sizeof yes);
  });

  Route(server, "/healthz", "GET",
        [healthy = endpoints.healthy](const httplib::Request&, httplib::Response& res) {
          auto [ok, why] = healthy ? healthy() : std::pair{true, std::string()};
          Text(res, ok ? 200 : 503, ok ? "ok" : "unhealthy: " + why);
        });
  Route(server, "/readyz", "GET",
        [ready = endpoints.ready](const httplib::Request&, httplib::Response& res) {
          auto [ok, why] = ready ? ready() : std::pair{true, std::string()};
          Text(res, ok ? 200 : 503, ok ? "ready" : "not ready: " + why);
        });
  Route(server, "/metrics", "GET",
        [metrics = endpoints.metrics](const httplib::Request&, httplib::Response& res) {
          res.status = 200;
          res.set_content(metrics ? metrics() : "", "text/plain; version=0.0.4; charset=utf-8");
        });
  Route(server, "/webhook", "POST",
        [webhook = endpoints.webhook](const httplib::Request& req, httplib::Response& res) {
          WebhookHeaders headers;
          for (const auto& [name, value] : req.headers) {
            std::string lower = name;
            for (char& c : lower)
              c = static_cast<char>(std::tolower(static_cast<unsigned char>(c)));
            headers.emplace(std::move(lower), value);
          }
          if (!webhook) return Text(res, 404, "no webhook");
          WebhookAnswer answer = webhook(headers, req.body);
          Text(res, answer.http_status, answer.message);
        });

  AddDashboard(server, endpoints);

  int bound = port;
  if (port == 0) {
    bound = server.bind_to_any_port(host);
    if (bound < 0) return Status::Unavailable("http.listen " + listen + ": cannot bind");
  } else if (!server.bind_to_port(host, port)) {
    return Status::Unavailable("http.listen " + listen +
                               ": cannot bind (in use, or no such address)");
  }
  self->port_ = bound;
  self->address_ =
      (host.find(':') != std::string::npos ? "[" + host + "]" : host) + ":" + std::to_string(bound);
  self->thread_ = std::thread([&server] { server.listen_after_bind(); });
  // stop() is a no-op until the server runs: wait for it, so that the
  // destructor always ends the thread.
  const auto deadline = std::chrono::steady_clock::now() + std::chrono::seconds(10);
  while (!server.is_running() && std::chrono::steady_clock::now() < deadline) {
    std::this_thread::sleep_for(std::chrono::milliseconds(1));
  }
  return self;
}

HttpServer::~HttpServer() {
  if (server_) server_->stop();
  if (thread_.joinable()) thread_.join();
}

}  // namespace pagoda::server
