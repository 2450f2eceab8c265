#pragma once

#include <chrono>
#include <cstdint>
#include <mutex>
#include <string>

namespace pagoda {

// Time as pagoda's logic sees it. Code that waits or schedules takes a Clock
// so that a test can drive it with FakeClock instead of sleeping.
class Clock {
 public:
  using TimePoint = std::chrono::steady_clock::time_point;
  virtual ~Clock() = default;
  virtual TimePoint Now() = 0;
  // Wall-clock time in milliseconds since the Unix epoch, for records.
  virtual int64_t UnixMillis() = 0;
  virtual void SleepFor(std::chrono::nanoseconds duration) = 0;
};

// The process's clocks. Thread-safe; shared by everyone.
Clock& RealClock();

// A clock that moves only when told: SleepFor() advances it at once.
class FakeClock final : public Clock {
 public:
  explicit FakeClock(int64_t unix_millis = 1'800'000'000'000) : unix_millis_(unix_millis) {}
  TimePoint Now() override {
    std::lock_guard<std::mutex> lock(mu_);
    return now_;
  }
  int64_t UnixMillis() override {
    std::lock_guard<std::mutex> lock(mu_);
    return unix_millis_ +
           std::chrono::duration_cast<std::chrono::milliseconds>(now_ - TimePoint()).count();
  }
  void SleepFor(std::chrono::nanoseconds duration) override { Advance(duration); }
  void Advance(std::chrono::nanoseconds duration) {
    std::lock_guard<std::mutex> lock(mu_);
    if (duration.count() > 0) now_ += std::chrono::duration_cast<TimePoint::duration>(duration);
    slept_ += duration;
  }
  // Total time asked for by SleepFor() and Advance().
  std::chrono::nanoseconds slept() {
    std::lock_guard<std::mutex> lock(mu_);
    return slept_;
  }

 private:
  std::mutex mu_;
  TimePoint now_{};
  int64_t unix_millis_;
  std::chrono::nanoseconds slept_{0};
};

// A duration for people: "850ms", "12.3s", "12m05s", "2h07m"; "-" when negative.
std::string FormatDurationMs(int64_t ms);

// Milliseconds since the Unix epoch as RFC 3339 in UTC with `digits`
// fractional digits (3: milliseconds, 6: a Kubernetes MicroTime, the last
// three 0): "2024-05-01T10:00:00.000Z".
std::string FormatUtcMillis(int64_t unix_ms, int digits = 3);

}  // namespace pagoda
