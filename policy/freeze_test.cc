// Freeze windows on the calendar: fixed ranges and schedules in their time
// zones, across daylight saving time, with the system's tzdata.
#include "policy/freeze.h"

#include <gtest/gtest.h>

#include <ctime>

namespace pagoda::policy {
namespace {

// "2026-10-26T06:30" (UTC) as Unix milliseconds.
int64_t Utc(const char* text) {
  std::tm tm{};
  EXPECT_NE(strptime(text, "%Y-%m-%dT%H:%M", &tm), nullptr) << text;
  return static_cast<int64_t>(timegm(&tm)) * 1000;
}

FreezeWindow Scheduled(const char* cron, int64_t hours, const char* zone) {
  FreezeWindow w;
  w.name = cron;
  auto s = CronSchedule::Parse(cron);
  EXPECT_TRUE(s.ok()) << s.status().ToString();
  w.schedule = *s;
  w.duration_ms = hours * 3'600'000;
  w.time_zone = zone;
  return w;
}

TEST(Freeze, AFixedRangeIsInItsTimeZone) {
  FreezePolicy p;
  FreezeWindow sale;
  sale.name = "double-eleven";
  sale.start = "2026-11-10T00:00";
  sale.end = "2026-11-12T00:00";
  sale.time_zone = "Asia/Shanghai";  // UTC+8
  p.windows.push_back(sale);
  EXPECT_TRUE(OpenAt(p, Utc("2026-11-09T15:59")).empty());
  auto open = OpenAt(p, Utc("2026-11-09T16:00"));
  ASSERT_EQ(open.size(), 1u);
  EXPECT_EQ(open[0].until_ms, Utc("2026-11-11T16:00"));
  EXPECT_TRUE(OpenAt(p, Utc("2026-11-11T16:00")).empty());
}

TEST(Freeze, AWeeklyWindowKeepsItsDurationAcrossTheEndOfSummerTime) {
  // Fridays 18:00 in Berlin for 62 hours. On 25 October 2026 clocks go back
  // from 03:00 CEST to 02:00 CET: 62 real hours from Friday 18:00 CEST
  // (16:00Z) end on Monday at 06:00Z, which is 07:00 CET, not 08:00.
  FreezePolicy p;
  p.windows.push_back(Scheduled("0 18 * * fri", 62, "Europe/Berlin"));
  EXPECT_TRUE(OpenAt(p, Utc("2026-10-23T15:59")).empty());
  auto open = OpenAt(p, Utc("2026-10-23T16:00"));
  ASSERT_EQ(open.size(), 1u);
  EXPECT_EQ(open[0].until_ms, Utc("2026-10-26T06:00"));
  EXPECT_EQ(OpenAt(p, Utc("2026-10-26T05:59")).size(), 1u);
  EXPECT_TRUE(OpenAt(p, Utc("2026-10-26T06:00")).empty());
  // In winter, Friday 18:00 CET is 17:00Z.
  EXPECT_TRUE(OpenAt(p, Utc("2026-10-30T16:59")).empty());
  EXPECT_EQ(OpenAt(p, Utc("2026-10-30T17:00")).size(), 1u);
}

TEST(Freeze, ALocalMinuteThatSummerTimeSkipsNeverOpens) {
  // 02:30 does not happen in New York on 8 March 2026 (02:00 → 03:00 EDT).
  FreezePolicy p;
  p.windows.push_back(Scheduled("30 2 * * *", 1, "America/New_York"));
  EXPECT_EQ(OpenAt(p, Utc("2026-03-07T07:45")).size(), 1u);  // 02:45 EST the day before
  for (const char* t : {"2026-03-08T06:30", "2026-03-08T07:15", "2026-03-08T07:45"}) {
    EXPECT_TRUE(OpenAt(p, Utc(t)).empty()) << t;
  }
  EXPECT_EQ(OpenAt(p, Utc("2026-03-09T06:45")).size(), 1u);  // 02:45 EDT the day after
  auto skipped = LocalToUnixMillis("2026-03-08T02:30", "America/New_York");
  ASSERT_FALSE(skipped.ok());
  EXPECT_NE(skipped.status().message().find("does not exist in America/New_York"),
            std::string::npos);
  // A local time that happens twice is its first occurrence (EDT).
  auto twice = LocalToUnixMillis("2026-11-01T01:30", "America/New_York");
  ASSERT_TRUE(twice.ok());
  EXPECT_EQ(*twice, Utc("2026-11-01T05:30"));
}

TEST(Freeze, GlobsChooseWhatAWindowFreezesAndTheLongestWins) {
  FreezePolicy p;
  FreezeWindow prod = Scheduled("* * * * *", 2, "UTC");
  prod.envs = {"prod*"};
  prod.clusters = {"cn-*"};
  FreezeWindow all = Scheduled("* * * * *", 1, "UTC");
  all.apps = {"shop", "orders"};
  p.windows = {prod, all};
  const int64_t now = Utc("2026-06-01T12:00");
  auto open = OpenAt(p, now);
  ASSERT_EQ(open.size(), 2u);
  auto shop_prod = FreezeOf(open, "shop", "prod-eu", "cn-north");
  ASSERT_TRUE(shop_prod.has_value());
  EXPECT_EQ(shop_prod->until_ms, now + 2 * 3'600'000);  // the two-hour window
  auto shop_test = FreezeOf(open, "shop", "test", "cn-north");
  ASSERT_TRUE(shop_test.has_value());
  EXPECT_EQ(shop_test->until_ms, now + 3'600'000);
  EXPECT_FALSE(FreezeOf(open, "search", "test", "cn-north").has_value());
  EXPECT_FALSE(FreezeOf(open, "search", "prod", "us-east").has_value());
}

TEST(Freeze, ZonesAreTheSystemsTzdata) {
  EXPECT_TRUE(IsKnownZone("Asia/Shanghai"));
  EXPECT_TRUE(IsKnownZone("UTC"));
  EXPECT_FALSE(IsKnownZone("Mars/Olympus_Mons"));
  EXPECT_FALSE(LocalToUnixMillis("2026-11-10 00:00", "UTC").ok());
  EXPECT_FALSE(LocalToUnixMillis("2026-11-10T00:00", "Nowhere/City").ok());
  EXPECT_EQ(*LocalToUnixMillis("2026-11-10T00:00:30", "UTC"), Utc("2026-11-10T00:00") + 30'000);
}

}  // namespace
}  // namespace pagoda::policy
