#include "tests/servers/stall_server.h"

#include <poll.h>
#include <sys/socket.h>
#include <unistd.h>

#include "tests/servers/loopback.h"

namespace pagoda::testing {

Status StallingServer::Start(int upstream_port, size_t pass_bytes) {
  upstream_ = upstream_port;
  pass_bytes_.store(upstream_port == 0 ? 0 : pass_bytes);
  auto listener = ListenLoopback(16);
  if (!listener.ok()) return listener.status();
  listen_fd_ = listener->fd;
  port_ = listener->port;
  acceptor_ = std::thread([this] { Accept(); });
  return Status::Ok();
}

void StallingServer::Stop() {
  if (stop_.exchange(true)) return;
  if (listen_fd_ >= 0) ::shutdown(listen_fd_, SHUT_RDWR);
  if (acceptor_.joinable()) acceptor_.join();
  std::vector<std::thread> relays;
  {
    std::lock_guard lock(mu_);
    for (int fd : fds_) ::shutdown(fd, SHUT_RDWR);
    relays.swap(relays_);
  }
  for (auto& t : relays) t.join();
  std::lock_guard lock(mu_);
  for (int fd : fds_) ::close(fd);
  fds_.clear();
  if (listen_fd_ >= 0) ::close(listen_fd_);
  listen_fd_ = -1;
}

void StallingServer::Accept() {
  while (!stop_) {
    pollfd p{listen_fd_, POLLIN, 0};
    if (::poll(&p, 1, 100) <= 0) continue;
    int client = ::accept4(listen_fd_, nullptr, nullptr, SOCK_CLOEXEC);
    if (client < 0) continue;
    // What this connection may pass is fixed when it is accepted, so that
    // SetPassBytes() holds for every connection accepted after it returns.
    const size_t pass_bytes = upstream_ == 0 ? 0 : pass_bytes_.load();
    ++accepted_;
    std::lock_guard lock(mu_);
    fds_.push_back(client);
    relays_.emplace_back([this, client, pass_bytes] { Relay(client, pass_bytes); });
  }
}

// Both ways until the upstream has passed `pass_bytes_`; from then on the
// client's bytes are read and dropped and nothing more is said.
void StallingServer::Relay(int client, size_t pass_bytes) {
  int upstream = pass_bytes == 0 ? -1 : ConnectLoopback(upstream_);
  if (upstream >= 0) {
    std::lock_guard lock(mu_);
    fds_.push_back(upstream);
  }
  if (upstream < 0) ++stalled_;
  size_t passed = 0;
  char buffer[4096];
  while (!stop_) {
    pollfd p[2] = {{client, POLLIN, 0}, {upstream, POLLIN, 0}};
    const bool relaying = upstream >= 0 && passed < pass_bytes;
    int n = ::poll(p, relaying ? 2 : 1, 100);
    if (n <= 0) continue;
    if (p[0].revents & (POLLIN | POLLHUP | POLLERR)) {
      ssize_t got = ::read(client, buffer, sizeof buffer);
      if (got <= 0) return;
      if (upstream >= 0 && passed < pass_bytes &&
          ::send(upstream, buffer, static_cast<size_t>(got), MSG_NOSIGNAL) != got)
        return;
    }
    if (relaying && (p[1].revents & (POLLIN | POLLHUP | POLLERR))) {
      ssize_t got = ::read(upstream, buffer, std::min(sizeof buffer, pass_bytes - passed));
      if (got <= 0) return;
      if (::send(client, buffer, static_cast<size_t>(got), MSG_NOSIGNAL) != got) return;
      passed += static_cast<size_t>(got);
      passed_ += static_cast<size_t>(got);
      if (passed == pass_bytes) ++stalled_;
    }
  }
}

}  // namespace pagoda::testing
