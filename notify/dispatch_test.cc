#include <arpa/inet.h>
#include <gtest/gtest.h>
#include <httplib.h>
#include <netinet/in.h>
#include <sys/socket.h>
#include <unistd.h>

#include <atomic>
#include <chrono>
#include <mutex>
#include <thread>

#include "notify/notify.h"

namespace pagoda::notify {
namespace {

using namespace std::chrono_literals;

// A receiver on loopback: answers `status` after `delay_ms`, keeps the
// bodies it was sent. One request at a time: cpp-httplib's workers race
// with each other under ThreadSanitizer.
class Endpoint {
 public:
  Endpoint() {
    server_.Post("/hook", [this](const httplib::Request& req, httplib::Response& res) {
      ++arrived;
      if (delay_ms > 0) std::this_thread::sleep_for(std::chrono::milliseconds(delay_ms.load()));
      std::lock_guard lock(mu_);
      bodies_.push_back(req.body);
      res.status = failures_left > 0 ? 500 : status.load();
      if (failures_left > 0) --failures_left;
    });
    port_ = server_.bind_to_any_port("127.0.0.1");
    thread_ = std::thread([this] { server_.listen_after_bind(); });
  }
  ~Endpoint() {
    server_.stop();
    thread_.join();
  }
  std::string url() const { return "http://127.0.0.1:" + std::to_string(port_) + "/hook"; }
  std::vector<std::string> bodies() {
    std::lock_guard lock(mu_);
    return bodies_;
  }

  std::atomic<int> status{200}, delay_ms{0}, failures_left{0}, arrived{0};

 private:
  httplib::Server server_;
  int port_ = 0;
  std::thread thread_;
  std::mutex mu_;
  std::vector<std::string> bodies_;
};

// A receiver that hangs: a socket that listens and never answers (the
// kernel completes the connection; the request waits for its timeout).
class Silent {
 public:
  Silent() {
    fd_ = ::socket(AF_INET, SOCK_STREAM, 0);
    sockaddr_in a{};
    a.sin_family = AF_INET;
    a.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
    EXPECT_EQ(::bind(fd_, reinterpret_cast<sockaddr*>(&a), sizeof a), 0);
    EXPECT_EQ(::listen(fd_, 16), 0);
    socklen_t len = sizeof a;
    ::getsockname(fd_, reinterpret_cast<sockaddr*>(&a), &len);
    port_ = ntohs(a.sin_port);
  }
  ~Silent() { ::close(fd_); }
  std::string url() const { return "http://127.0.0.1:" + std::to_string(port_) + "/hook"; }

 private:
  int fd_ = -1;
  int port_ = 0;
};

Dispatcher::NewTransport Curl() {
  return [] { return kube::NewCurlTransport(kube::TlsConfig{}); };
}

Receiver Generic(const std::string& name, const std::string& url) {
  Receiver r;
  r.name = name;
  r.url = url;
  r.timeout = 2s;
  return r;
}

Event Started(const std::string& release) {
  Event e;
  e.kind = EventKind::kStarted;
  e.app = "shop";
  e.env = "prod";
  e.release = release;
  e.release_kind = "rollout";
  return e;
}

// Waits (for at most 10 s) until `done` holds.
template <typename F>
bool Eventually(F done) {
  for (int i = 0; i < 1000; ++i) {
    if (done()) return true;
    std::this_thread::sleep_for(10ms);
  }
  return done();
}

DispatchOptions Quick() {
  DispatchOptions o;
  o.retry_base = 20ms;
  o.retry_cap = 100ms;
  return o;
}

TEST(DispatcherTest, EventsArriveInOrderAndAFailingReceiverIsAskedAgain) {
  Endpoint endpoint;
  endpoint.failures_left = 2;
  Dispatcher dispatcher({Generic("hook", endpoint.url())}, Curl(), RealClock(), Quick());
  dispatcher.Send(Started("r-000001"));
  dispatcher.Send(Started("r-000002"));
  ASSERT_TRUE(Eventually([&] { return dispatcher.Stats()["hook"].delivered == 2; }));
  std::vector<std::string> bodies = endpoint.bodies();
  ASSERT_EQ(bodies.size(), 4u);
  EXPECT_NE(bodies[2].find("r-000001"), std::string::npos);
  EXPECT_NE(bodies[3].find("r-000002"), std::string::npos);
  EXPECT_EQ(dispatcher.Stats()["hook"].retried, 2u);
  EXPECT_EQ(dispatcher.Stats()["hook"].failed, 0u);
}

TEST(DispatcherTest, AHangingReceiverNeitherBlocksTheSenderNorAnotherReceiver) {
  Silent slow;
  Endpoint fast;
  Dispatcher dispatcher({Generic("slow", slow.url()), Generic("fast", fast.url())}, Curl(),
                        RealClock(), Quick());
  const auto start = std::chrono::steady_clock::now();
  for (int i = 0; i < 5; ++i) dispatcher.Send(Started("r-00000" + std::to_string(i)));
  EXPECT_LT(std::chrono::steady_clock::now() - start, 100ms) << "Send only queues";
  ASSERT_TRUE(Eventually([&] { return dispatcher.Stats()["fast"].delivered == 5; }));
  EXPECT_LT(std::chrono::steady_clock::now() - start, 1500ms)
      << "the fast receiver waited for the slow one";
  EXPECT_EQ(dispatcher.Stats()["slow"].delivered, 0u) << "the silent one answered";
}

TEST(DispatcherTest, AFullQueueDropsAndCounts) {
  Endpoint slow;
  slow.delay_ms = 500;
  DispatchOptions options = Quick();
  options.max_queued = 2;
  Dispatcher dispatcher({Generic("slow", slow.url())}, Curl(), RealClock(), options);
  dispatcher.Send(Started("r-000001"));
  ASSERT_TRUE(Eventually([&] { return slow.arrived == 1; }));  // the first is in hand
  for (int i = 2; i <= 5; ++i) dispatcher.Send(Started("r-00000" + std::to_string(i)));
  EXPECT_EQ(dispatcher.Stats()["slow"].dropped, 2u);
}

TEST(DispatcherTest, ARefusalIsNotRetriedAndNoSecretIsReported) {
  Endpoint endpoint;
  endpoint.status = 404;
  Receiver r = Generic("hook", endpoint.url() + "?token=hunter2");
  r.secret = "s3cret";
  Dispatcher dispatcher({r}, Curl(), RealClock(), Quick());
  dispatcher.Send(Started("r-000001"));
  ASSERT_TRUE(Eventually([&] { return dispatcher.Stats()["hook"].failed == 1; }));
  EXPECT_EQ(endpoint.bodies().size(), 1u);
  EXPECT_EQ(dispatcher.Stats()["hook"].last_error, "HTTP 404");
}

TEST(DispatcherTest, AnUnreachableReceiverIsGivenUpAtItsDeadlineWithItsUrlRedacted) {
  Receiver r = Generic("gone", "http://127.0.0.1:1/hook?key=hunter2");
  r.deadline = 200ms;
  Dispatcher dispatcher({r}, Curl(), RealClock(), Quick());
  dispatcher.Send(Started("r-000001"));
  ASSERT_TRUE(Eventually([&] { return dispatcher.Stats()["gone"].failed == 1; }));
  ReceiverStats stats = dispatcher.Stats()["gone"];
  EXPECT_GE(stats.retried, 1u);
  EXPECT_EQ(stats.last_error.find("hunter2"), std::string::npos) << stats.last_error;
}

TEST(DispatcherTest, OnlyWhatAReceiverWantsIsSent) {
  Endpoint endpoint;
  Receiver r = Generic("hook", endpoint.url());
  r.events = {EventKind::kFailed};
  Dispatcher dispatcher({r}, Curl(), RealClock(), Quick());
  dispatcher.Send(Started("r-000001"));
  Event failed = Started("r-000001");
  failed.kind = EventKind::kFailed;
  dispatcher.Send(failed);
  ASSERT_TRUE(Eventually([&] { return dispatcher.Stats()["hook"].delivered == 1; }));
  ASSERT_EQ(endpoint.bodies().size(), 1u);
  EXPECT_NE(endpoint.bodies()[0].find("\"event\":\"failed\""), std::string::npos);
}

TEST(DispatcherTest, DestroyingItEndsAWaitBetweenRetriesAtOnce) {
  Receiver r = Generic("gone", "http://127.0.0.1:1/hook");
  DispatchOptions options;
  options.retry_base = 60s;
  options.retry_cap = 60s;
  auto dispatcher =
      std::make_unique<Dispatcher>(std::vector<Receiver>{r}, Curl(), RealClock(), options);
  dispatcher->Send(Started("r-000001"));
  ASSERT_TRUE(Eventually([&] { return dispatcher->Stats()["gone"].retried == 1; }));
  const auto start = std::chrono::steady_clock::now();
  dispatcher.reset();
  EXPECT_LT(std::chrono::steady_clock::now() - start, 2s);
}

}  // namespace
}  // namespace pagoda::notify
