#include "control/control.h"

#include <fcntl.h>
#include <poll.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/un.h>
#include <unistd.h>

#include <algorithm>
#include <array>
#include <cerrno>
#include <cstring>
#include <exception>

#include "base/json.h"

namespace pagoda::control {
namespace {

using json::Compact;
using json::Key;
using json::Writer;
using Clock = std::chrono::steady_clock;

constexpr size_t kMaxAnswer = 64u << 20;

std::string ErrnoText(int err) { return std::strerror(err); }

Status Errno(const std::string& what, int err) {
  std::string message = what + ": " + ErrnoText(err);
  if (err == ENOENT) return Status::NotFound(message);
  if (err == EACCES || err == EPERM) return Status::PermissionDenied(message);
  return Status::IOError(message);
}

Result<sockaddr_un> SocketAddress(const std::string& path) {
  sockaddr_un addr{};
  addr.sun_family = AF_UNIX;
  if (path.empty() || path.size() >= sizeof addr.sun_path) {
    return Status::InvalidArgument(path + ": not usable as a socket path (empty, or longer than " +
                                   std::to_string(sizeof addr.sun_path - 1) + " bytes)");
  }
  std::memcpy(addr.sun_path, path.data(), path.size());
  return addr;
}

int Connect(int fd, const sockaddr_un& addr) {
  int r;
  do {
    r = ::connect(fd, reinterpret_cast<const sockaddr*>(&addr), sizeof addr);
  } while (r != 0 && errno == EINTR);
  return r == 0 ? 0 : errno;
}

int MillisLeft(Clock::time_point deadline) {
  auto left = std::chrono::duration_cast<std::chrono::milliseconds>(deadline - Clock::now());
  return static_cast<int>(std::clamp<int64_t>(left.count(), 0, 1'000'000));
}

enum class SendEnd { kSent, kClosed, kTimedOut, kWoken, kFailed };

// Writes all of `data` to the non-blocking socket `fd` by `deadline`. A
// readable `wake` (-1 for none) ends the wait; kFailed leaves errno set.
[[nodiscard]] SendEnd SendAll(int fd, std::string_view data, Clock::time_point deadline, int wake) {
  while (!data.empty()) {
    ssize_t n = ::send(fd, data.data(), data.size(), MSG_NOSIGNAL);
    if (n > 0) {
      data.remove_prefix(static_cast<size_t>(n));
      continue;
    }
    if (n < 0 && errno == EINTR) continue;
    if (n < 0 && errno != EAGAIN) return SendEnd::kClosed;
    std::array<pollfd, 2> fds = {pollfd{fd, POLLOUT, 0}, pollfd{wake, POLLIN, 0}};
    int r = ::poll(fds.data(), wake >= 0 ? 2 : 1, MillisLeft(deadline));
    if (r < 0 && errno == EINTR) continue;
    if (r < 0) return SendEnd::kFailed;
    if (r == 0) return SendEnd::kTimedOut;
    if (wake >= 0 && fds[1].revents != 0) return SendEnd::kWoken;
  }
  return SendEnd::kSent;
}

}  // namespace

// ---- Requests and answers ----

std::string ControlRequest(
    std::string_view command,
    std::initializer_list<std::pair<std::string_view, std::string_view>> arguments) {
  rapidjson::StringBuffer buffer;
  Writer w(buffer);
  w.StartObject();
  json::String(w, "command", command);
  for (const auto& [key, value] : arguments) json::String(w, key, value);
  w.EndObject();
  return std::string(buffer.GetString(), buffer.GetSize());
}

std::string ControlOk() { return R"({"ok":true})"; }

std::string ControlError(std::string_view message) {
  rapidjson::StringBuffer buffer;
  Writer w(buffer);
  w.StartObject();
  Key(w, "ok");
  w.Bool(false);
  json::String(w, "error", message);
  w.EndObject();
  return std::string(buffer.GetString(), buffer.GetSize());
}

// ---- ControlServer ----

Result<std::unique_ptr<ControlServer>> ControlServer::Start(const std::string& path,
                                                            Handler handler) {
  return Start(path, std::move(handler), Options());
}

Result<std::unique_ptr<ControlServer>> ControlServer::Start(const std::string& path,
                                                            Handler handler, Options options) {
  Result<sockaddr_un> addr = SocketAddress(path);
  if (!addr.ok()) return addr.status();

  // Something there already: a live daemon's socket, a stale one, or not ours.
  struct stat st {};
  if (::lstat(path.c_str(), &st) == 0) {
    if (!S_ISSOCK(st.st_mode)) {
      return Status::InvalidArgument(path + " exists and is not a socket; not replacing it");
    }
    int probe = ::socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0);
    if (probe < 0) return Errno("socket", errno);
    int err = Connect(probe, *addr);
    ::close(probe);
    if (err == 0) {
      return Status::AlreadyExists("another pagoda daemon is listening on " + path);
    }
    if (err != ECONNREFUSED) return Errno(path, err);
    if (::unlink(path.c_str()) != 0 && errno != ENOENT) {
      return Errno(path + ": removing the stale socket", errno);
    }
  } else if (errno != ENOENT) {
    return Errno(path, errno);
  }

  int fd = ::socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0);
  if (fd < 0) return Errno("socket", errno);
  // The socket file takes its mode from the umask at bind(): owner-only from
  // the first moment. umask is per process; a file another thread creates
  // meanwhile comes out stricter, never looser.
  mode_t old_mask = ::umask(0177);
  int bound = ::bind(fd, reinterpret_cast<const sockaddr*>(&*addr), sizeof *addr);
  int bind_err = errno;
  ::umask(old_mask);
  if (bound != 0) {
    ::close(fd);
    if (bind_err == EADDRINUSE) {
      return Status::AlreadyExists("another pagoda daemon is listening on " + path);
    }
    return Errno(path, bind_err);
  }
  struct stat bound_st {};
  if (::chmod(path.c_str(), 0600) != 0 || ::lstat(path.c_str(), &bound_st) != 0 ||
      ::listen(fd, 16) != 0) {
    Status error = Errno(path, errno);
    ::close(fd);
    ::unlink(path.c_str());
    return error;
  }
  int wake[2];
  if (::pipe2(wake, O_CLOEXEC | O_NONBLOCK) != 0) {
    Status error = Errno("pipe", errno);
    ::close(fd);
    ::unlink(path.c_str());
    return error;
  }
  std::unique_ptr<ControlServer> server(
      new ControlServer(path, fd, wake[0], wake[1], std::move(handler), options));
  server->inode_ = {bound_st.st_dev, bound_st.st_ino};
  server->thread_ = std::thread([s = server.get()] { s->Run(); });
  return server;
}

ControlServer::ControlServer(std::string path, int listen_fd, int wake_read, int wake_write,
                             Handler handler, Options options)
    : path_(std::move(path)),
      listen_fd_(listen_fd),
      wake_read_(wake_read),
      wake_write_(wake_write),
      handler_(std::move(handler)),
      options_(options) {}

ControlServer::~ControlServer() {
  stopping_ = true;
  char byte = 'x';
  while (::write(wake_write_, &byte, 1) < 0 && errno == EINTR) {
  }
  if (thread_.joinable()) thread_.join();
  for (Worker& w : workers_) w.thread.join();
  ::close(listen_fd_);
  ::close(wake_read_);
  ::close(wake_write_);
  // Remove the socket file only while it is still the one this server bound.
  struct stat there {};
  if (::lstat(path_.c_str(), &there) == 0 &&
      std::pair<uint64_t, uint64_t>(there.st_dev, there.st_ino) == inode_) {
    ::unlink(path_.c_str());
  }
}

void ControlServer::Run() {
  while (!stopping_) {
    std::array<pollfd, 2> fds = {pollfd{listen_fd_, POLLIN, 0}, pollfd{wake_read_, POLLIN, 0}};
    int r = ::poll(fds.data(), fds.size(), -1);
    if (r < 0) {
      if (errno != EINTR) ::usleep(100'000);
      continue;
    }
    if (fds[1].revents != 0) break;
    if ((fds[0].revents & POLLIN) == 0) continue;
    int fd = ::accept4(listen_fd_, nullptr, nullptr, SOCK_CLOEXEC | SOCK_NONBLOCK);
    if (fd < 0) {
      // Out of descriptors, or the client gave up already: try again later.
      if (errno == EMFILE || errno == ENFILE || errno == ENOMEM) ::usleep(100'000);
      continue;
    }
    ServeOnAThreadOfItsOwn(fd);
  }
}

// Each connection on a thread of its own, so that a request the daemon
// takes a while to answer (a rollback) never keeps `status` waiting. At most
// options_.max_connections at once; past them the client is told to retry.
void ControlServer::ServeOnAThreadOfItsOwn(int fd) {
  std::erase_if(workers_, [](Worker& w) {
    if (!w.done->load()) return false;
    w.thread.join();
    return true;
  });
  if (workers_.size() >= options_.max_connections) {
    WriteAnswer(fd, ControlError("busy: " + std::to_string(workers_.size()) +
                                 " requests in hand; try again"));
    ::close(fd);
    return;
  }
  auto done = std::make_shared<std::atomic<bool>>(false);
  workers_.push_back({std::thread([this, fd, done] {
                        Serve(fd);
                        ::close(fd);
                        done->store(true);
                      }),
                      done});
}

void ControlServer::Serve(int fd) {
  // The socket's mode keeps other users out; root may still connect, and the
  // peer check holds should the mode ever be loosened.
  ucred peer{};
  socklen_t len = sizeof peer;
  if (::getsockopt(fd, SOL_SOCKET, SO_PEERCRED, &peer, &len) != 0 ||
      (peer.uid != ::geteuid() && peer.uid != 0)) {
    WriteAnswer(fd, ControlError("permission denied: the control socket is owner-only"));
    return;
  }
  std::string answer;
  std::optional<std::string> line = ReadRequest(fd, &answer);
  if (line.has_value()) answer = Answer(*line);
  if (!answer.empty()) WriteAnswer(fd, std::move(answer));
}

std::optional<std::string> ControlServer::ReadRequest(int fd, std::string* answer) {
  Clock::time_point deadline = Clock::now() + options_.read_timeout;
  std::string buffer;
  std::array<char, 8192> chunk;
  for (;;) {
    size_t newline = buffer.find('\n');
    if (newline != std::string::npos && newline <= options_.max_request) {
      buffer.resize(newline);
      return buffer;
    }
    if (buffer.size() > options_.max_request) {
      *answer =
          ControlError("request larger than " + std::to_string(options_.max_request) + " bytes");
      return std::nullopt;
    }
    std::array<pollfd, 2> fds = {pollfd{fd, POLLIN, 0}, pollfd{wake_read_, POLLIN, 0}};
    int r = ::poll(fds.data(), fds.size(), MillisLeft(deadline));
    if (r < 0 && errno == EINTR) continue;
    if (r < 0 || fds[1].revents != 0) return std::nullopt;
    if (r == 0) {
      *answer = ControlError("no complete request within " +
                             std::to_string(options_.read_timeout.count()) + " ms");
      return std::nullopt;
    }
    ssize_t n = ::recv(fd, chunk.data(), chunk.size(), 0);
    if (n < 0 && (errno == EINTR || errno == EAGAIN)) continue;
    if (n < 0) return std::nullopt;
    if (n == 0) {
      // The client closed its side: what it sent is the request, if anything.
      if (buffer.empty()) return std::nullopt;
      return buffer;
    }
    buffer.append(chunk.data(), static_cast<size_t>(n));
  }
}

std::string ControlServer::Answer(const std::string& line) {
  rapidjson::Document request;
  if (Status parsed = json::Parse(line, &request); !parsed.ok()) {
    return ControlError("the request is not JSON: " + parsed.message());
  }
  if (!request.IsObject()) return ControlError("the request is not a JSON object");
  auto command = request.FindMember("command");
  if (command == request.MemberEnd() || !command->value.IsString()) {
    return ControlError("the request has no \"command\" string");
  }
  std::string answer;
  try {
    answer = handler_(request);
  } catch (const std::exception& e) {
    return ControlError(std::string("internal error: ") + e.what());
  } catch (...) {
    return ControlError("internal error: an unknown exception");
  }
  // One line of JSON, whatever the handler wrote.
  rapidjson::Document check;
  if (!json::Parse(answer, &check).ok() || !check.IsObject() || !check.HasMember("ok") ||
      !check["ok"].IsBool()) {
    return ControlError("internal error: the daemon's answer is not a JSON object with \"ok\"");
  }
  if (answer.find('\n') != std::string::npos) answer = Compact(check);
  return answer;
}

void ControlServer::WriteAnswer(int fd, std::string answer) {
  answer += '\n';
  Clock::time_point deadline = Clock::now() + options_.write_timeout;
  // However it ends, the connection is closed next.
  if (SendAll(fd, answer, deadline, wake_read_) != SendEnd::kSent) ++undelivered_;
}

// ---- The client ----

Result<rapidjson::Document> ControlCall(const std::string& path, const std::string& request_json,
                                        std::chrono::milliseconds timeout) {
  if (request_json.find('\n') != std::string::npos) {
    return Status::InvalidArgument("a control request is one line of JSON");
  }
  Result<sockaddr_un> addr = SocketAddress(path);
  if (!addr.ok()) return addr.status();
  Clock::time_point deadline = Clock::now() + timeout;
  std::string no_daemon = "no pagoda daemon is listening on " + path;

  int fd = ::socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0);
  if (fd < 0) return Errno("socket", errno);
  struct Closer {
    int fd;
    ~Closer() { ::close(fd); }
  } closer{fd};
  // A blocking connect waits for room in a full backlog up to the send timeout.
  timeval tv{};
  tv.tv_sec = static_cast<time_t>(timeout.count() / 1000);
  tv.tv_usec = static_cast<suseconds_t>((timeout.count() % 1000) * 1000);
  ::setsockopt(fd, SOL_SOCKET, SO_SNDTIMEO, &tv, sizeof tv);
  int err = Connect(fd, *addr);
  if (err == ENOENT || err == ECONNREFUSED || err == ENOTDIR) return Status::Unavailable(no_daemon);
  if (err == EACCES || err == EPERM) {
    return Status::PermissionDenied(path +
                                    ": permission denied: the control socket is owner-only; run "
                                    "as the user the daemon runs as");
  }
  if (err == EAGAIN || err == ETIMEDOUT) {
    return Status::DeadlineExceeded("the daemon on " + path + " accepts no connection");
  }
  if (err != 0) return Errno(path, err);
  ::fcntl(fd, F_SETFL, ::fcntl(fd, F_GETFL) | O_NONBLOCK);

  auto too_slow = [&] {
    return Status::DeadlineExceeded("no answer from the daemon on " + path + " within " +
                                    std::to_string(timeout.count()) + " ms");
  };
  std::string request = request_json + "\n";
  // A server that closed early says why in what it wrote: read it.
  switch (SendAll(fd, request, deadline, -1)) {
    case SendEnd::kTimedOut:
      return too_slow();
    case SendEnd::kFailed:
      return Errno("poll", errno);
    case SendEnd::kSent:
    case SendEnd::kClosed:
    case SendEnd::kWoken:
      break;
  }

  std::string answer;
  std::array<char, 65536> chunk;
  for (;;) {
    size_t newline = answer.find('\n');
    if (newline != std::string::npos) {
      answer.resize(newline);
      break;
    }
    if (answer.size() > kMaxAnswer) {
      return Status::Internal("the daemon's answer is larger than " + std::to_string(kMaxAnswer) +
                              " bytes");
    }
    ssize_t n = ::recv(fd, chunk.data(), chunk.size(), 0);
    if (n > 0) {
      answer.append(chunk.data(), static_cast<size_t>(n));
      continue;
    }
    if (n == 0) break;
    if (errno == EINTR) continue;
    if (errno != EAGAIN) {
      return Status::Unavailable("the daemon on " + path +
                                 " closed the connection: " + ErrnoText(errno));
    }
    pollfd p{fd, POLLIN, 0};
    int r = ::poll(&p, 1, MillisLeft(deadline));
    if (r == 0) return too_slow();
    if (r < 0 && errno != EINTR) return Errno("poll", errno);
  }
  if (answer.empty()) {
    return Status::Unavailable("the daemon on " + path +
                               " closed the connection without an answer");
  }
  rapidjson::Document doc;
  if (!json::Parse(answer, &doc).ok() || !doc.IsObject()) {
    return Status::Internal("the answer of the daemon on " + path + " is not a JSON object");
  }
  return doc;
}

}  // namespace pagoda::control
