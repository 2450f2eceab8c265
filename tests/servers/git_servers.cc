#include "tests/servers/git_servers.h"

#include <arpa/inet.h>
#include <fcntl.h>
#include <httplib.h>
#include <netinet/in.h>
#include <poll.h>
#include <pwd.h>
#include <signal.h>
#include <spawn.h>
#include <sys/mman.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <unistd.h>

#include <array>
#include <cerrno>
#include <chrono>
#include <cstdio>
#include <cstring>
#include <fstream>
#include <vector>

#include "base/base64.h"
#include "base/file.h"

extern char** environ;

namespace pagoda::source::testing {
namespace {

using Clock = std::chrono::steady_clock;
constexpr auto kRequestDeadline = std::chrono::seconds(20);

std::string Lower(std::string s) {
  for (char& c : s) c = static_cast<char>(std::tolower(static_cast<unsigned char>(c)));
  return s;
}

// Reads what is available on `fd` into `out`, waiting at most until
// `deadline`. False on EOF, error or timeout.
bool ReadSome(int fd, std::string* out, Clock::time_point deadline) {
  auto left = std::chrono::duration_cast<std::chrono::milliseconds>(deadline - Clock::now());
  if (left.count() <= 0) return false;
  pollfd p{fd, POLLIN, 0};
  if (::poll(&p, 1, static_cast<int>(left.count())) <= 0) return false;
  char buf[65536];
  ssize_t n = ::read(fd, buf, sizeof buf);
  if (n <= 0) return false;
  out->append(buf, static_cast<size_t>(n));
  return true;
}

bool WriteAll(int fd, std::string_view data) {
  while (!data.empty()) {
    ssize_t n = ::write(fd, data.data(), data.size());
    if (n < 0 && errno == EINTR) continue;
    if (n <= 0) return false;
    data.remove_prefix(static_cast<size_t>(n));
  }
  return true;
}

// Waits for `pid` at most `timeout`, then kills it.
void Reap(pid_t pid, std::chrono::milliseconds timeout) {
  auto deadline = Clock::now() + timeout;
  int status = 0;
  while (Clock::now() < deadline) {
    if (::waitpid(pid, &status, WNOHANG) == pid) return;
    ::usleep(10000);
  }
  ::kill(pid, SIGKILL);
  ::waitpid(pid, &status, 0);
}

// What `git http-backend` needs to know of `request`, as CGI variables.
std::vector<std::string> CgiEnvironment(const httplib::Request& request, const std::string& root,
                                        const std::string& user) {
  size_t q = request.target.find('?');
  std::vector<std::string> env = {
      "GIT_PROJECT_ROOT=" + root,
      "GIT_HTTP_EXPORT_ALL=1",
      "PATH=/usr/bin:/bin",
      "GATEWAY_INTERFACE=CGI/1.1",
      "SERVER_PROTOCOL=HTTP/1.1",
      "REMOTE_ADDR=127.0.0.1",
      "REMOTE_USER=" + user,
      "REQUEST_METHOD=" + request.method,
      "PATH_INFO=" + request.path,
      "QUERY_STRING=" + (q == std::string::npos ? "" : request.target.substr(q + 1)),
      "CONTENT_TYPE=" + request.get_header_value("Content-Type"),
      "CONTENT_LENGTH=" + std::to_string(request.body.size()),
  };
  if (request.has_header("Git-Protocol")) {
    env.push_back("GIT_PROTOCOL=" + request.get_header_value("Git-Protocol"));
  }
  return env;
}

// Runs `git http-backend` with `env` and `body` on its stdin; returns what it
// wrote on stdout, waiting at most until `deadline`.
Result<std::string> RunBackend(std::vector<std::string> env, const std::string& body,
                               Clock::time_point deadline) {
  std::vector<char*> envp;
  for (std::string& e : env) envp.push_back(e.data());
  envp.push_back(nullptr);
  int input = ::memfd_create("cgi-body", MFD_CLOEXEC);
  int out[2];
  if (input < 0 || ::pipe2(out, O_CLOEXEC) != 0) {
    if (input >= 0) ::close(input);
    return Status::IOError(std::string("cgi pipes: ") + std::strerror(errno));
  }
  WriteAll(input, body);
  ::lseek(input, 0, SEEK_SET);
  posix_spawn_file_actions_t actions;
  posix_spawn_file_actions_init(&actions);
  posix_spawn_file_actions_adddup2(&actions, input, 0);
  posix_spawn_file_actions_adddup2(&actions, out[1], 1);
  posix_spawn_file_actions_addopen(&actions, 2, "/dev/null", O_WRONLY, 0);
  char backend[] = "/usr/lib/git-core/git-http-backend";
  char* argv[] = {backend, nullptr};
  pid_t pid = -1;
  int rc = ::posix_spawn(&pid, backend, &actions, nullptr, argv, envp.data());
  posix_spawn_file_actions_destroy(&actions);
  ::close(input);
  ::close(out[1]);
  std::string output;
  if (rc == 0) {
    while (ReadSome(out[0], &output, deadline)) {
    }
    Reap(pid, std::chrono::seconds(5));
  }
  ::close(out[0]);
  if (rc != 0) return Status::IOError(std::string("spawn git http-backend: ") + std::strerror(rc));
  return output;
}

// Turns a CGI's output (headers, a blank line, the body) into `response`;
// false when there is no blank line.
bool CgiResponse(const std::string& output, httplib::Response* response) {
  size_t split = output.find("\r\n\r\n");
  size_t skip = 4;
  if (split == std::string::npos) {
    split = output.find("\n\n");
    skip = 2;
  }
  if (split == std::string::npos) return false;
  response->status = 200;
  std::string head = output.substr(0, split);
  for (size_t at = 0; at < head.size();) {
    size_t next = head.find('\n', at);
    if (next == std::string::npos) next = head.size();
    std::string line = head.substr(at, next - at);
    at = next + 1;
    if (!line.empty() && line.back() == '\r') line.pop_back();
    size_t colon = line.find(':');
    if (colon == std::string::npos) continue;
    std::string name = Lower(line.substr(0, colon));
    size_t v = line.find_first_not_of(' ', colon + 1);
    std::string value = v == std::string::npos ? "" : line.substr(v);
    if (name == "status") {
      response->status = std::atoi(value.c_str());
    } else if (name != "content-length") {  // cpp-httplib sets it
      response->set_header(line.substr(0, colon), value);
    }
  }
  response->body = output.substr(split + skip);
  return true;
}

}  // namespace

Result<std::string> Sh(const std::string& command) {
  FILE* pipe = ::popen(command.c_str(), "r");
  if (pipe == nullptr) return Status::IOError("popen " + command);
  std::string out;
  std::array<char, 4096> buffer;
  size_t n;
  while ((n = std::fread(buffer.data(), 1, buffer.size(), pipe)) > 0) out.append(buffer.data(), n);
  int status = ::pclose(pipe);
  if (!WIFEXITED(status) || WEXITSTATUS(status) != 0) {
    return Status::IOError(command + ": exit status " + std::to_string(status) + ": " + out);
  }
  return out;
}

Result<int> FreePort() {
  int fd = ::socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
  if (fd < 0) return Status::IOError("socket");
  sockaddr_in addr{};
  addr.sin_family = AF_INET;
  addr.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
  socklen_t len = sizeof addr;
  if (::bind(fd, reinterpret_cast<sockaddr*>(&addr), sizeof addr) != 0 ||
      ::getsockname(fd, reinterpret_cast<sockaddr*>(&addr), &len) != 0) {
    ::close(fd);
    return Status::IOError("bind");
  }
  ::close(fd);
  return static_cast<int>(ntohs(addr.sin_port));
}

// ---- GitHttpServer ----------------------------------------------------------

GitHttpServer::GitHttpServer() = default;
GitHttpServer::~GitHttpServer() { Stop(); }

Status GitHttpServer::Start(std::string root, std::string user, std::string password) {
  root_ = std::move(root);
  user_ = std::move(user);
  password_ = std::move(password);
  server_ = std::make_unique<httplib::Server>();
  auto handler = [this](const httplib::Request& request, httplib::Response& response) {
    Handle(request, &response);
  };
  server_->Get(".*", handler);
  server_->Post(".*", handler);
  server_->set_read_timeout(kRequestDeadline);
  server_->set_write_timeout(kRequestDeadline);
  // A response leaves in two writes on a kept-alive connection; with Nagle
  // the second would wait for the client's delayed ACK.
  server_->set_tcp_nodelay(true);
  port_ = server_->bind_to_any_port("127.0.0.1");
  if (port_ < 0) return Status::IOError("cannot listen on 127.0.0.1");
  httplib::Server& server = *server_;
  thread_ = std::thread([&server] { server.listen_after_bind(); });
  // stop() does nothing until the server runs: wait for it, so that Stop()
  // always ends the thread.
  auto deadline = Clock::now() + std::chrono::seconds(10);
  while (!server.is_running() && Clock::now() < deadline) {
    std::this_thread::sleep_for(std::chrono::milliseconds(1));
  }
  return Status::Ok();
}

void GitHttpServer::Stop() {
  if (server_ != nullptr) server_->stop();
  if (thread_.joinable()) thread_.join();
}

void GitHttpServer::Handle(const httplib::Request& request, httplib::Response* response) {
  if (!user_.empty() && request.get_header_value("Authorization") !=
                            "Basic " + Base64Encode(user_ + ":" + password_)) {
    ++unauthorized_;
    response->status = 401;
    response->set_header("WWW-Authenticate", "Basic realm=\"git\"");
    return;
  }
  Result<std::string> output = RunBackend(CgiEnvironment(request, root_, user_), request.body,
                                          Clock::now() + kRequestDeadline);
  if (output.ok()) ++served_;
  if (!output.ok() || !CgiResponse(*output, response)) response->status = 500;
}

// ---- SshServer ----------------------------------------------------------------

Status SshServer::Start(const std::string& dir, const std::string& authorized_key) {
  const char* sshd = "/usr/sbin/sshd";
  if (::access(sshd, X_OK) != 0) return Status::NotFound("sshd is not installed");
  // sshd running as root insists on its privilege separation directory,
  // which Debian's service unit would otherwise create.
  if (::geteuid() == 0) ::mkdir("/run/sshd", 0755);
  Result<std::string> keygen =
      Sh("ssh-keygen -q -t ed25519 -N '' -C pagoda-test-host -f " + dir + "/host_key 2>&1");
  if (!keygen.ok()) return keygen.status();
  Result<std::string> pub = pagoda::ReadFile(dir + "/host_key.pub");
  if (!pub.ok()) return pub.status();
  host_key_ = pub->substr(0, pub->find('\n'));
  std::ofstream(dir + "/authorized_keys") << authorized_key << "\n";
  Result<int> port = FreePort();
  if (!port.ok()) return port.status();
  port_ = *port;
  const passwd* me = ::getpwuid(::geteuid());
  std::ofstream(dir + "/sshd_config")
      << "ListenAddress 127.0.0.1:" << port_ << "\n"
      << "HostKey " << dir << "/host_key\n"
      << "PidFile " << dir << "/sshd.pid\n"
      << "AuthorizedKeysFile " << dir << "/authorized_keys\n"
      << "UsePAM no\nStrictModes no\nPasswordAuthentication no\n"
      << "KbdInteractiveAuthentication no\nPubkeyAuthentication yes\n"
      << "PermitRootLogin prohibit-password\n"
      << "AllowUsers " << (me != nullptr ? me->pw_name : "root") << "\n"
      << "LoginGraceTime 20\nMaxStartups 20\n";
  log_ = dir + "/sshd.log";
  posix_spawn_file_actions_t actions;
  posix_spawn_file_actions_init(&actions);
  posix_spawn_file_actions_addopen(&actions, 0, "/dev/null", O_RDONLY, 0);
  posix_spawn_file_actions_addopen(&actions, 1, log_.c_str(), O_WRONLY | O_CREAT | O_APPEND, 0600);
  posix_spawn_file_actions_addopen(&actions, 2, log_.c_str(), O_WRONLY | O_CREAT | O_APPEND, 0600);
  std::string config = dir + "/sshd_config";
  std::vector<std::string> args = {sshd, "-D", "-e", "-f", config};
  std::vector<char*> argv;
  for (std::string& a : args) argv.push_back(a.data());
  argv.push_back(nullptr);
  // Its own process group, so that Stop() reaches the per-connection children too.
  posix_spawnattr_t attr;
  posix_spawnattr_init(&attr);
  posix_spawnattr_setflags(&attr, POSIX_SPAWN_SETPGROUP);
  posix_spawnattr_setpgroup(&attr, 0);
  int rc = ::posix_spawn(&pid_, sshd, &actions, &attr, argv.data(), environ);
  posix_spawnattr_destroy(&attr);
  posix_spawn_file_actions_destroy(&actions);
  if (rc != 0) return Status::IOError(std::string("spawn sshd: ") + std::strerror(rc));

  auto deadline = Clock::now() + std::chrono::seconds(10);
  while (Clock::now() < deadline) {
    int status = 0;
    if (::waitpid(pid_, &status, WNOHANG) == pid_) {
      pid_ = -1;
      Result<std::string> log = pagoda::ReadFile(log_);
      return Status::Unavailable("sshd exited at start: " + (log.ok() ? *log : ""));
    }
    int fd = ::socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
    sockaddr_in addr{};
    addr.sin_family = AF_INET;
    addr.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
    addr.sin_port = htons(static_cast<uint16_t>(port_));
    bool up = ::connect(fd, reinterpret_cast<sockaddr*>(&addr), sizeof addr) == 0;
    ::close(fd);
    if (up) return Status::Ok();
    ::usleep(20000);
  }
  Stop();
  return Status::DeadlineExceeded("sshd did not listen within 10 s");
}

void SshServer::Stop() {
  if (pid_ <= 0) return;
  // Let connections that are closing end first: sshd reaps its own children,
  // whereas orphans would be left to an init that may not reap them.
  std::string children =
      "/proc/" + std::to_string(pid_) + "/task/" + std::to_string(pid_) + "/children";
  auto deadline = Clock::now() + std::chrono::seconds(3);
  while (Clock::now() < deadline) {
    Result<std::string> list = pagoda::ReadFile(children);
    if (!list.ok() || list->find_first_not_of(" \n") == std::string::npos) break;
    ::usleep(20000);
  }
  ::kill(-pid_, SIGTERM);  // the group of the sshd this object started
  Reap(pid_, std::chrono::seconds(5));
  pid_ = -1;
}

}  // namespace pagoda::source::testing
