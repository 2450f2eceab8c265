#include "policy/cron.h"

#include <gtest/gtest.h>

namespace pagoda::policy {
namespace {

TEST(CronSchedule, FieldsListsRangesStepsAndNames) {
  auto s = CronSchedule::Parse("0,30 9-17/4 * jan-mar,dec mon-fri");
  ASSERT_TRUE(s.ok()) << s.status().ToString();
  EXPECT_TRUE(s->Matches(1, 5, 1, 9, 0));     // Monday 5 January 09:00
  EXPECT_TRUE(s->Matches(12, 5, 5, 13, 30));  // a Friday in December, 13:30
  EXPECT_TRUE(s->Matches(3, 5, 3, 17, 0));
  EXPECT_FALSE(s->Matches(3, 5, 3, 11, 0));  // 11 is not 9 + 4n
  EXPECT_FALSE(s->Matches(4, 5, 1, 9, 0));   // April
  EXPECT_FALSE(s->Matches(1, 4, 0, 9, 0));   // Sunday
  EXPECT_FALSE(s->Matches(1, 5, 1, 9, 15));
}

TEST(CronSchedule, SundayIsZeroOrSevenAndStepsFromAStart) {
  auto s = CronSchedule::Parse("5/20 0 * * 7");
  ASSERT_TRUE(s.ok()) << s.status().ToString();
  for (int minute : {5, 25, 45}) EXPECT_TRUE(s->Matches(6, 7, 0, 0, minute)) << minute;
  EXPECT_FALSE(s->Matches(6, 7, 0, 0, 0));
  EXPECT_FALSE(s->Matches(6, 8, 1, 0, 5));
}

TEST(CronSchedule, BothDayFieldsRestrictedMatchEither) {
  // The 1st and 15th of the month, and every Friday, at midnight.
  auto s = CronSchedule::Parse("0 0 1,15 * fri");
  ASSERT_TRUE(s.ok());
  EXPECT_TRUE(s->Matches(2, 1, 0, 0, 0));
  EXPECT_TRUE(s->Matches(2, 6, 5, 0, 0));
  EXPECT_FALSE(s->Matches(2, 7, 6, 0, 0));
  // With one of them `*`, only the other counts.
  auto fridays = CronSchedule::Parse("0 0 * * fri");
  ASSERT_TRUE(fridays.ok());
  EXPECT_FALSE(fridays->Matches(2, 1, 0, 0, 0));
}

TEST(CronSchedule, ErrorsNameTheField) {
  for (const auto& [text, want] : std::vector<std::pair<std::string, std::string>>{
           {"0 24 * * *", "hour: 24 is out of range 0-23"},
           {"60 0 * * *", "minute: 60 is out of range 0-59"},
           {"0 0 0 * *", "day of month: 0 is out of range 1-31"},
           {"0 0 * foo *", "month: \"foo\" is not a number or a name (e.g. jan)"},
           {"0 0 * * 8", "day of week: 8 is out of range 0-7"},
           {"0 5-1 * * *", "hour: the range 5-1 ends before it starts"},
           {"*/0 * * * *", "minute: step \"0\" is not a number from 1 to 59"},
           {"0 0 * *", "a schedule has five fields"},
           {"0 0 1,,2 * *", "day of month: an empty list item"},
       }) {
    auto s = CronSchedule::Parse(text);
    ASSERT_FALSE(s.ok()) << text;
    EXPECT_NE(s.status().message().find(want), std::string::npos)
        << text << ": " << s.status().message();
  }
}

}  // namespace
}  // namespace pagoda::policy
