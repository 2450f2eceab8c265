// How other threads reach the loop thread, which owns all of the daemon's
// state (docs/architecture.md, "The process model"): they put work in the
// Inbox and, when they need an answer, wait for it until a deadline; what
// they only read (status, readiness, metrics) is a Snapshot the loop
// publishes after each step. Nothing here is held across network or disk
// I/O: the mutexes guard a queue and a pointer.
#pragma once

#include <chrono>
#include <condition_variable>
#include <deque>
#include <functional>
#include <future>
#include <memory>
#include <mutex>
#include <string>

#include "base/status.h"

namespace pagoda::daemon {

class Inbox {
 public:
  // Quick work may run between two environments of a reconcile or two
  // orders of a step (a pause, an abort, a sync request); other work waits
  // for the step in hand to end (a rollback, a reload).
  enum class Kind { kQuick, kBetweenSteps };
  using Work = std::function<void()>;

  // Runs `work` on the loop thread, soon; wakes the loop.
  void Post(Work work, Kind kind = Kind::kQuick);

  // Runs `work` on the loop thread and returns its answer, or
  // DeadlineExceeded when the loop has not begun it within `deadline`: then
  // it is withdrawn and never runs, so the answer never lies.
  template <typename T>
  Result<T> Ask(std::function<Result<T>()> work, std::chrono::milliseconds deadline,
                Kind kind = Kind::kQuick);

  // No more work runs: what waits is dropped, and an Ask() waiting or to
  // come answers at once that the daemon is stopping.
  void Close();
  bool closed() const;

  // The loop's side. Runs the work posted so far (only the quick work when
  // `quick_only`), in order; returns how many ran.
  int Drain(bool quick_only = false);
  // Waits until `until`, until work is posted, or Wake().
  void WaitUntil(std::chrono::steady_clock::time_point until);
  void Wake();

 private:
  struct Item {
    Work work;
    Kind kind;
  };
  mutable std::mutex mu_;
  std::condition_variable cv_;
  std::deque<Item> items_;
  bool woken_ = false;
  bool closed_ = false;
};

// The newest of something the loop publishes, for any thread to read.
template <typename T>
class Snapshot {
 public:
  void Publish(std::shared_ptr<const T> value) {
    std::lock_guard lock(mu_);
    value_ = std::move(value);
  }
  // nullptr before the first Publish().
  std::shared_ptr<const T> Get() const {
    std::lock_guard lock(mu_);
    return value_;
  }

 private:
  mutable std::mutex mu_;
  std::shared_ptr<const T> value_;
};

template <typename T>
Result<T> Inbox::Ask(std::function<Result<T>()> work, std::chrono::milliseconds deadline,
                     Kind kind) {
  // Shared with the posted work: whichever of the two comes first, the loop
  // starting it or the deadline, decides whether it runs.
  struct Call {
    std::mutex mu;
    bool started = false, withdrawn = false;
    std::promise<Result<T>> answer;
  };
  auto call = std::make_shared<Call>();
  std::future<Result<T>> answer = call->answer.get_future();
  Post(
      [call, work = std::move(work)] {
        {
          std::lock_guard lock(call->mu);
          if (call->withdrawn) return;
          call->started = true;
        }
        call->answer.set_value(work());
      },
      kind);
  const auto until = std::chrono::steady_clock::now() + deadline;
  while (answer.wait_for(std::chrono::milliseconds(50)) != std::future_status::ready) {
    const bool stopping = closed();
    if (!stopping && std::chrono::steady_clock::now() < until) continue;
    std::lock_guard lock(call->mu);
    if (call->started) continue;  // begun: its answer is near
    call->withdrawn = true;
    if (stopping) return Status::Unavailable("the daemon is stopping; nothing was done");
    return Status::DeadlineExceeded("the daemon did not get to it within " +
                                    std::to_string(deadline.count() / 1000) +
                                    "s; nothing was done, try again");
  }
  return answer.get();
}

}  // namespace pagoda::daemon
