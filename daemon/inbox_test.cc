// The loop's inbox and snapshot: the process model's message passing, with
// real threads.
#include "daemon/inbox.h"

#include <gtest/gtest.h>

#include <atomic>
#include <thread>

namespace pagoda::daemon {
namespace {

using namespace std::chrono_literals;

TEST(Inbox, AnAskIsAnsweredByTheLoopThread) {
  Inbox inbox;
  std::thread::id loop_id;
  std::atomic<bool> stop{false};
  std::thread loop([&] {
    loop_id = std::this_thread::get_id();
    while (!stop) {
      inbox.Drain();
      inbox.WaitUntil(std::chrono::steady_clock::now() + 1s);
    }
  });
  auto answer = inbox.Ask<std::string>(
      [&]() -> Result<std::string> {
        return std::string(std::this_thread::get_id() == loop_id ? "on the loop" : "elsewhere");
      },
      5s);
  ASSERT_TRUE(answer.ok()) << answer.status().ToString();
  EXPECT_EQ(*answer, "on the loop");
  auto refused = inbox.Ask<std::string>(
      []() -> Result<std::string> { return Status::NotFound("no release r-000009"); }, 5s);
  EXPECT_EQ(refused.status().code(), Status::Code::kNotFound);
  stop = true;
  inbox.Wake();
  loop.join();
}

TEST(Inbox, WorkTheLoopDidNotTakeUpInTimeIsWithdrawnAndNeverRuns) {
  Inbox inbox;
  std::atomic<int> ran{0};
  auto start = std::chrono::steady_clock::now();
  auto answer = inbox.Ask<int>(
      [&]() -> Result<int> {
        ++ran;
        return 1;
      },
      200ms);
  EXPECT_EQ(answer.status().code(), Status::Code::kDeadlineExceeded);
  EXPECT_LT(std::chrono::steady_clock::now() - start, 2s);
  EXPECT_EQ(inbox.Drain(), 1);  // the loop gets to it late: it does nothing
  EXPECT_EQ(ran, 0);
}

TEST(Inbox, QuickWorkRunsBetweenEnvironmentsTheRestBetweenSteps) {
  Inbox inbox;
  std::vector<std::string> order;
  inbox.Post([&] { order.push_back("reload"); }, Inbox::Kind::kBetweenSteps);
  inbox.Post([&] { order.push_back("pause"); });
  EXPECT_EQ(inbox.Drain(/*quick_only=*/true), 1);
  EXPECT_EQ(order, std::vector<std::string>{"pause"});
  EXPECT_EQ(inbox.Drain(), 1);
  EXPECT_EQ(order, (std::vector<std::string>{"pause", "reload"}));
}

TEST(Inbox, OnceClosedAnAskAnswersAtOnceAndNothingRuns) {
  Inbox inbox;
  std::atomic<int> ran{0};
  std::thread closer([&] {
    std::this_thread::sleep_for(100ms);
    inbox.Close();
  });
  auto start = std::chrono::steady_clock::now();
  auto answer = inbox.Ask<int>(
      [&]() -> Result<int> {
        ++ran;
        return 1;
      },
      60s);
  closer.join();
  EXPECT_EQ(answer.status().code(), Status::Code::kUnavailable);
  EXPECT_LT(std::chrono::steady_clock::now() - start, 2s);
  inbox.Post([&] { ++ran; });
  EXPECT_EQ(inbox.Drain(), 0);
  EXPECT_EQ(ran, 0);
}

TEST(Snapshot, ReadersSeeAWholeValuePublishedByAnotherThread) {
  struct Value {
    int a = 0, b = 0;  // always equal in a published value
  };
  Snapshot<Value> snapshot;
  EXPECT_EQ(snapshot.Get(), nullptr);
  std::atomic<bool> stop{false};
  std::thread writer([&] {
    for (int i = 1; !stop; ++i) snapshot.Publish(std::make_shared<Value>(Value{i, i}));
  });
  for (int i = 0; i < 10000; ++i) {
    auto v = snapshot.Get();
    if (v) {
      ASSERT_EQ(v->a, v->b);
    }
  }
  stop = true;
  writer.join();
}

}  // namespace
}  // namespace pagoda::daemon
