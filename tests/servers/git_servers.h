// Real Git servers on loopback for the Git source's tests: `git http-backend`
// run as a CGI by cpp-httplib's server with Basic authentication, and
// OpenSSH's sshd with its own config, host key and authorized key. Both
// listen on ports the kernel chose, stop what they started, and bound every
// wait in time.
#pragma once

#include <sys/types.h>

#include <atomic>
#include <memory>
#include <string>
#include <thread>

#include "base/status.h"

namespace httplib {
class Server;
struct Request;
struct Response;
}  // namespace httplib

namespace pagoda::source::testing {

// Runs `command` with /bin/sh; returns its stdout, or an error naming the
// command and its exit status.
Result<std::string> Sh(const std::string& command);

// A port on 127.0.0.1 that was free a moment ago.
Result<int> FreePort();

// Serves the repositories under `root` as http://127.0.0.1:PORT/<name>.
// With a user name set, every request needs Basic authentication with
// `user`:`password`; others get 401.
class GitHttpServer {
 public:
  GitHttpServer();
  GitHttpServer(const GitHttpServer&) = delete;
  GitHttpServer& operator=(const GitHttpServer&) = delete;
  ~GitHttpServer();  // Stop()

  // Listens on a port the kernel chooses and serves on threads of its own.
  // REQUIRES: called once.
  Status Start(std::string root, std::string user, std::string password);
  // Stops listening and waits for the requests being served; idempotent.
  void Stop();
  int port() const { return port_; }
  int unauthorized() const { return unauthorized_.load(); }  // 401s sent
  int served() const { return served_.load(); }              // CGI runs

 private:
  void Handle(const httplib::Request& request, httplib::Response* response);

  std::string root_, user_, password_;
  std::unique_ptr<httplib::Server> server_;
  int port_ = 0;
  std::thread thread_;
  std::atomic<int> unauthorized_{0};
  std::atomic<int> served_{0};
};

// sshd on 127.0.0.1 that lets the current user in with one key.
class SshServer {
 public:
  SshServer() = default;
  SshServer(const SshServer&) = delete;
  SshServer& operator=(const SshServer&) = delete;
  ~SshServer() { Stop(); }

  // Makes a host key in `dir` and starts sshd accepting `authorized_key`
  // (a public key line). Waits (bounded) until it accepts connections.
  Status Start(const std::string& dir, const std::string& authorized_key);
  void Stop();
  int port() const { return port_; }
  // The host key's public line, "ssh-ed25519 AAAA… comment".
  const std::string& host_key() const { return host_key_; }
  const std::string& log_file() const { return log_; }

 private:
  pid_t pid_ = -1;
  int port_ = 0;
  std::string host_key_, log_;
};

}  // namespace pagoda::source::testing
