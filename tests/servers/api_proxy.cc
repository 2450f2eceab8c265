#include "tests/servers/api_proxy.h"

#include <poll.h>
#include <sys/socket.h>
#include <unistd.h>

#include <memory>

#include "tests/servers/loopback.h"

namespace pagoda::testing {
namespace {

// Writes all of `data`; false when the peer is gone (never SIGPIPE: a
// client or server that hangs up must not end the test).
bool WriteAll(int fd, const char* data, ssize_t n) {
  while (n > 0) {
    ssize_t wrote = ::send(fd, data, static_cast<size_t>(n), MSG_NOSIGNAL);
    if (wrote <= 0) return false;
    data += wrote;
    n -= wrote;
  }
  return true;
}

}  // namespace

Status ApiProxy::Start(int upstream_port) {
  upstream_port_ = upstream_port;
  auto listener = ListenLoopback(64);
  if (!listener.ok()) return listener.status();
  listen_fd_ = listener->fd;
  port_ = listener->port;
  acceptor_ = std::thread([this] { Accept(); });
  return Status::Ok();
}

void ApiProxy::Cut() {
  cut_ = true;
  Drop(/*silent_ones=*/false);
}

void ApiProxy::Heal() {
  cut_ = false;
  Drop(/*silent_ones=*/true);
}

// Shuts the sockets of the relayed connections (or of the silent ones):
// their relays end, and their clients see the connection go.
void ApiProxy::Drop(bool silent_ones) {
  std::lock_guard lock(mu_);
  for (auto& c : connections_) {
    if (c->done || (c->upstream < 0) != silent_ones) continue;
    ::shutdown(c->client, SHUT_RDWR);
    if (c->upstream >= 0) ::shutdown(c->upstream, SHUT_RDWR);
  }
}

void ApiProxy::Stop() {
  if (stop_.exchange(true)) return;
  if (listen_fd_ >= 0) ::shutdown(listen_fd_, SHUT_RDWR);
  if (acceptor_.joinable()) acceptor_.join();
  {
    std::lock_guard lock(mu_);
    for (auto& c : connections_) {
      ::shutdown(c->client, SHUT_RDWR);
      if (c->upstream >= 0) ::shutdown(c->upstream, SHUT_RDWR);
    }
  }
  for (auto& t : relays_) t.join();  // the acceptor has ended: nothing adds to relays_
  for (auto& c : connections_) {
    ::close(c->client);
    if (c->upstream >= 0) ::close(c->upstream);
  }
  connections_.clear();
  if (listen_fd_ >= 0) ::close(listen_fd_);
  listen_fd_ = -1;
}

void ApiProxy::Accept() {
  while (!stop_) {
    pollfd p{listen_fd_, POLLIN, 0};
    if (::poll(&p, 1, 100) <= 0) continue;
    int client = ::accept4(listen_fd_, nullptr, nullptr, SOCK_CLOEXEC);
    if (client < 0) continue;
    auto c = std::make_unique<Connection>();
    c->client = client;
    c->upstream = cut_ ? -1 : ConnectLoopback(upstream_port_);
    if (!cut_ && c->upstream < 0) {
      ::close(client);
      continue;
    }
    std::lock_guard lock(mu_);
    Connection* raw = c.get();
    connections_.push_back(std::move(c));
    relays_.emplace_back([this, raw] { Relay(raw); });
  }
}

// Both ways until either side goes; a silent connection only reads and drops.
void ApiProxy::Relay(Connection* c) {
  char buffer[16384];
  while (!stop_) {
    pollfd p[2] = {{c->client, POLLIN, 0}, {c->upstream, POLLIN, 0}};
    const int n = ::poll(p, c->upstream >= 0 ? 2 : 1, 100);
    if (n <= 0) continue;
    if (p[0].revents & (POLLIN | POLLHUP | POLLERR)) {
      ssize_t got = ::read(c->client, buffer, sizeof buffer);
      if (got <= 0) break;
      if (c->upstream >= 0 && !WriteAll(c->upstream, buffer, got)) break;
    }
    if (c->upstream >= 0 && (p[1].revents & (POLLIN | POLLHUP | POLLERR))) {
      ssize_t got = ::read(c->upstream, buffer, sizeof buffer);
      if (got <= 0 || !WriteAll(c->client, buffer, got)) break;
    }
  }
  std::lock_guard lock(mu_);
  c->done = true;
  ::shutdown(c->client, SHUT_RDWR);
  if (c->upstream >= 0) ::shutdown(c->upstream, SHUT_RDWR);
}

}  // namespace pagoda::testing
