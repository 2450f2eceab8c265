// A TCP relay on 127.0.0.1, on a port the kernel chose, in front of an API
// server, that a test can cut the way a network partition cuts a replica
// off: every connection open is dropped at once (what was in flight never
// reaches the server, now or later), and new ones are accepted and left
// silent until it heals. TLS passes through untouched: the client still
// verifies the API server's certificate (its SANs name 127.0.0.1). Stopped
// (every connection closed) when destroyed.
#pragma once

#include <atomic>
#include <mutex>
#include <thread>
#include <vector>

#include "base/status.h"

namespace pagoda::testing {

class ApiProxy {
 public:
  ApiProxy() = default;
  ApiProxy(const ApiProxy&) = delete;
  ApiProxy& operator=(const ApiProxy&) = delete;
  ~ApiProxy() { Stop(); }

  Status Start(int upstream_port);
  int port() const { return port_; }
  // Nothing passes from now on: open connections are dropped, new ones
  // accepted and never answered.
  void Cut();
  // Passes again: the silent connections are dropped (their clients try
  // anew), new ones are relayed.
  void Heal();
  void Stop();

 private:
  struct Connection {
    int client = -1;
    int upstream = -1;  // -1: a silent one, accepted while cut
    bool done = false;
  };
  void Accept();
  void Relay(Connection* c);
  void Drop(bool silent_ones);

  int upstream_port_ = 0;
  int listen_fd_ = -1;
  int port_ = 0;
  std::atomic<bool> stop_{false};
  std::atomic<bool> cut_{false};
  std::thread acceptor_;
  std::mutex mu_;  // guards what follows
  std::vector<std::unique_ptr<Connection>> connections_;
  std::vector<std::thread> relays_;
};

}  // namespace pagoda::testing
