#include "kube/throttle.h"

#include <algorithm>
#include <charconv>
#include <cmath>

#include "base/backoff.h"

namespace pagoda::kube {

TokenBucket::TokenBucket(double qps, int burst, Clock& clock)
    : qps_(qps),
      burst_(std::max(1, burst)),
      clock_(clock),
      tokens_(std::max(1, burst)),
      last_(clock.Now()) {}

std::chrono::nanoseconds TokenBucket::Acquire() {
  if (qps_ <= 0) return std::chrono::nanoseconds(0);
  std::chrono::nanoseconds wait(0);
  {
    std::lock_guard<std::mutex> lock(mu_);
    auto now = clock_.Now();
    double elapsed = std::chrono::duration<double>(now - last_).count();
    last_ = now;
    tokens_ = std::min(burst_, tokens_ + elapsed * qps_);
    tokens_ -= 1;  // reserve; may go negative, and later callers queue behind
    if (tokens_ < 0) {
      wait = std::chrono::nanoseconds(static_cast<int64_t>(std::ceil(-tokens_ / qps_ * 1e9)));
    }
  }
  clock_.SleepFor(wait);
  return wait;
}

std::optional<std::chrono::milliseconds> RetryDelay(const RetryPolicy& policy, int attempt,
                                                    std::string_view method,
                                                    const Result<HttpResponse>& outcome,
                                                    std::mt19937_64& rng) {
  if (attempt >= policy.max_attempts) return std::nullopt;
  if (outcome.ok()) {
    long code = outcome->status;
    if (code == 429 || code == 503) {
      if (auto it = outcome->headers.find("retry-after"); it != outcome->headers.end()) {
        long seconds = 0;
        const std::string& v = it->second;
        auto [ptr, ec] = std::from_chars(v.data(), v.data() + v.size(), seconds);
        if (ec == std::errc() && ptr == v.data() + v.size() && seconds >= 0) {
          return std::min<std::chrono::milliseconds>(std::chrono::seconds(seconds),
                                                     policy.max_retry_after);
        }
      }
    } else if (code < 500 || code == 501) {
      return std::nullopt;
    } else if (method == "POST" && code != 502 && code != 504) {
      // A 500 to a POST may have created the object; the caller decides.
      return std::nullopt;
    }
  } else {
    Status::Code code = outcome.status().code();
    if (code != Status::Code::kUnavailable && code != Status::Code::kDeadlineExceeded) {
      return std::nullopt;
    }
    if (method == "POST") return std::nullopt;  // it may have been processed
  }
  // Full jitter: uniform in [0, the backoff after `attempt` failures].
  const double cap = static_cast<double>(
      Backoff(std::chrono::duration_cast<std::chrono::milliseconds>(policy.base_delay), attempt,
              std::chrono::duration_cast<std::chrono::milliseconds>(policy.max_delay))
          .count());
  std::uniform_real_distribution<double> dist(0, cap);
  return std::chrono::milliseconds(static_cast<int64_t>(dist(rng)));
}

}  // namespace pagoda::kube
