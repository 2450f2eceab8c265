#include "kube/throttle.h"

#include <gtest/gtest.h>

namespace pagoda::kube {
namespace {

using namespace std::chrono_literals;

TEST(TokenBucket, AllowsABurstThenPacesAtQps) {
  FakeClock clock;
  TokenBucket bucket(10, 3, clock);
  for (int i = 0; i < 3; ++i) EXPECT_EQ(bucket.Acquire(), 0ns);
  EXPECT_EQ(bucket.Acquire(), 100ms);
  EXPECT_EQ(bucket.Acquire(), 100ms);
  EXPECT_EQ(clock.slept(), 200ms);
  clock.Advance(1s);  // refills, but never beyond the burst
  for (int i = 0; i < 3; ++i) EXPECT_EQ(bucket.Acquire(), 0ns);
  EXPECT_GT(bucket.Acquire(), 0ns);
}

TEST(TokenBucket, ZeroQpsIsUnlimited) {
  FakeClock clock;
  TokenBucket bucket(0, 1, clock);
  for (int i = 0; i < 1000; ++i) EXPECT_EQ(bucket.Acquire(), 0ns);
}

HttpResponse Answer(long status, std::string retry_after = "") {
  HttpResponse r;
  r.status = status;
  if (!retry_after.empty()) r.headers["retry-after"] = retry_after;
  return r;
}

TEST(RetryDelay, HonoursRetryAfterOn429And503WithACap) {
  RetryPolicy policy;
  std::mt19937_64 rng(1);
  EXPECT_EQ(RetryDelay(policy, 1, "GET", Answer(429, "2"), rng), 2000ms);
  EXPECT_EQ(RetryDelay(policy, 1, "POST", Answer(503, "1"), rng), 1000ms);
  EXPECT_EQ(RetryDelay(policy, 1, "GET", Answer(429, "3600"), rng), policy.max_retry_after);
}

TEST(RetryDelay, BacksOffExponentiallyWithJitterOn5xx) {
  RetryPolicy policy;
  std::mt19937_64 rng(1);
  for (int attempt = 1; attempt < policy.max_attempts; ++attempt) {
    auto d = RetryDelay(policy, attempt, "GET", Answer(500), rng);
    ASSERT_TRUE(d.has_value());
    auto cap = std::min<std::chrono::milliseconds>(policy.max_delay,
                                                   policy.base_delay * (1 << (attempt - 1)));
    EXPECT_LE(*d, cap);
  }
  EXPECT_FALSE(RetryDelay(policy, policy.max_attempts, "GET", Answer(500), rng).has_value());
}

TEST(RetryDelay, NeverRetriesClientErrorsOrUnsafePosts) {
  RetryPolicy policy;
  std::mt19937_64 rng(1);
  for (long code : {400, 401, 403, 404, 409, 422}) {
    EXPECT_FALSE(RetryDelay(policy, 1, "GET", Answer(code), rng).has_value()) << code;
  }
  Result<HttpResponse> refused = Status::Unavailable("connection refused");
  EXPECT_TRUE(RetryDelay(policy, 1, "PATCH", refused, rng).has_value());
  EXPECT_FALSE(RetryDelay(policy, 1, "POST", refused, rng).has_value());
  EXPECT_FALSE(RetryDelay(policy, 1, "POST", Answer(500), rng).has_value());
  Result<HttpResponse> tls = Status::Unauthenticated("bad certificate");
  EXPECT_FALSE(RetryDelay(policy, 1, "GET", tls, rng).has_value());
}

}  // namespace
}  // namespace pagoda::kube
