// How apply/ paces and retries its requests: a token bucket for the client
// side rate limit, and the retry decision for answers and failures that are
// worth another try. Both are pure enough to test with a FakeClock.
#pragma once

#include <chrono>
#include <mutex>
#include <optional>
#include <random>
#include <string_view>

#include "base/clock.h"
#include "kube/http.h"

namespace pagoda::kube {

// Allows `qps` requests per second on average and bursts of `burst`. A
// qps <= 0 disables the limit. Thread-safe: each Acquire() reserves its token
// under a lock and waits outside it.
class TokenBucket {
 public:
  TokenBucket(double qps, int burst, Clock& clock);
  // Waits until a token is available, and takes it. Returns how long it waited.
  std::chrono::nanoseconds Acquire();

 private:
  const double qps_;
  const double burst_;
  Clock& clock_;
  std::mutex mu_;
  double tokens_;
  Clock::TimePoint last_;
};

struct RetryPolicy {
  int max_attempts = 6;  // including the first
  std::chrono::milliseconds base_delay{200};
  std::chrono::milliseconds max_delay{10000};
  std::chrono::milliseconds max_retry_after{30000};
};

// Whether to try again after attempt number `attempt` (1 = the first) of a
// request with `method`, which ended in `outcome`, and after how long.
// Retried: connection failures (except for POST, which may have been
// processed), 429 and 503 honouring Retry-After (seconds, capped), and other
// 5xx answers; with exponential backoff and full jitter. Never: 4xx answers
// other than 429, and anything after max_attempts.
std::optional<std::chrono::milliseconds> RetryDelay(const RetryPolicy& policy, int attempt,
                                                    std::string_view method,
                                                    const Result<HttpResponse>& outcome,
                                                    std::mt19937_64& rng);

}  // namespace pagoda::kube
