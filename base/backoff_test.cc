#include "base/backoff.h"

#include <gtest/gtest.h>

namespace pagoda {
namespace {

using std::chrono::milliseconds;

TEST(BackoffTest, DoublesFromTheBaseUpToTheCap) {
  EXPECT_EQ(Backoff(milliseconds(5000), 0, milliseconds(300'000)), milliseconds(0));
  EXPECT_EQ(Backoff(milliseconds(5000), 1, milliseconds(300'000)), milliseconds(5000));
  EXPECT_EQ(Backoff(milliseconds(5000), 2, milliseconds(300'000)), milliseconds(10'000));
  EXPECT_EQ(Backoff(milliseconds(5000), 6, milliseconds(300'000)), milliseconds(160'000));
  EXPECT_EQ(Backoff(milliseconds(5000), 7, milliseconds(300'000)), milliseconds(300'000));
  // However many failures: no overflow, the cap.
  EXPECT_EQ(Backoff(milliseconds(5000), 1'000'000, milliseconds(300'000)), milliseconds(300'000));
  EXPECT_EQ(Backoff(milliseconds(400'000), 1, milliseconds(300'000)), milliseconds(300'000));
  EXPECT_EQ(Backoff(milliseconds(0), 3, milliseconds(300'000)), milliseconds(0));
}

}  // namespace
}  // namespace pagoda
