// A TCP server on 127.0.0.1, on a port the kernel chose, that accepts
// connections and then misbehaves the way a broken Git server does: it
// passes the client's request on to `upstream_port` and at most `pass_bytes`
// of the answer back, then says nothing more and keeps the connection open.
// With pass_bytes 0 (or no upstream) it never answers at all: a server that
// accepts and then stays silent. For tests of what pagoda does when a
// remote stops answering; stopped (every connection closed) when destroyed.
#pragma once

#include <atomic>
#include <cstddef>
#include <mutex>
#include <string>
#include <thread>
#include <vector>

#include "base/status.h"

namespace pagoda::testing {

class StallingServer {
 public:
  StallingServer() = default;
  StallingServer(const StallingServer&) = delete;
  StallingServer& operator=(const StallingServer&) = delete;
  ~StallingServer() { Stop(); }

  // upstream_port 0: silent.
  Status Start(int upstream_port, size_t pass_bytes);
  // For the connections that come from now on: how much of the upstream's
  // answers each passes on (kAll: all of it, a working server).
  static constexpr size_t kAll = SIZE_MAX;
  void SetPassBytes(size_t pass_bytes) { pass_bytes_.store(pass_bytes); }
  void Stop();
  int port() const { return port_; }
  int accepted() const { return accepted_.load(); }
  // Bytes of the upstream's answers passed on, over all connections.
  size_t passed() const { return passed_.load(); }
  // Connections that have stopped answering: they passed all they were
  // allowed to (nothing, for a silent one) and the client is left waiting.
  int stalled() const { return stalled_.load(); }

 private:
  void Accept();
  void Relay(int client, size_t pass_bytes);

  int upstream_ = 0;
  std::atomic<size_t> pass_bytes_{0};
  int listen_fd_ = -1;
  int port_ = 0;
  std::atomic<bool> stop_{false};
  std::atomic<int> accepted_{0};
  std::atomic<size_t> passed_{0};
  std::atomic<int> stalled_{0};
  std::thread acceptor_;
  std::mutex mu_;  // guards the members below
  std::vector<std::thread> relays_;
  std::vector<int> fds_;  // every socket open, to shut down on Stop()
};

}  // namespace pagoda::testing
