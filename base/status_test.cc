#include "base/status.h"

#include <gtest/gtest.h>

namespace pagoda {
namespace {

TEST(Status, OkByDefault) {
  Status s;
  EXPECT_TRUE(s.ok());
  EXPECT_EQ(s.ToString(), "ok");
}

TEST(Status, CarriesCodeAndMessage) {
  Status s = Status::NotFound("Deployment/shop/web");
  EXPECT_FALSE(s.ok());
  EXPECT_EQ(s.code(), Status::Code::kNotFound);
  EXPECT_EQ(s.ToString(), "not found: Deployment/shop/web");
}

TEST(Status, WithContextPrefixesMessageAndKeepsCode) {
  Status s = Status::Unavailable("connection refused").WithContext("GET /api");
  EXPECT_EQ(s.code(), Status::Code::kUnavailable);
  EXPECT_EQ(s.message(), "GET /api: connection refused");
  EXPECT_TRUE(Status::Ok().WithContext("ignored").ok());
}

Status FailsThenNeverReached(int* reached) {
  PAGODA_RETURN_IF_ERROR(Status::IOError("disk"));
  *reached = 1;
  return Status::Ok();
}

TEST(Status, ReturnIfErrorReturnsEarly) {
  int reached = 0;
  EXPECT_EQ(FailsThenNeverReached(&reached).code(), Status::Code::kIOError);
  EXPECT_EQ(reached, 0);
}

TEST(Result, HoldsValueOrStatus) {
  Result<int> v = 42;
  ASSERT_TRUE(v.ok());
  EXPECT_EQ(*v, 42);
  Result<int> e = Status::InvalidArgument("bad");
  ASSERT_FALSE(e.ok());
  EXPECT_EQ(e.status().message(), "bad");
}

}  // namespace
}  // namespace pagoda
