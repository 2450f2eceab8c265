// A cron schedule of five fields, as crontab(5) writes them: minute, hour,
// day of month, month, day of week. Each field is `*`, a number, a range
// `a-b`, a step `*/n` or `a-b/n`, or a list of those; months and days of
// the week may be named (`jan`, `mon`); day of week 7 is Sunday, like 0.
// When both day fields are restricted, a day matches either (as cron does).
// Pure: no clock, no time zone; freeze.h puts schedules on the calendar.
//
// Written here rather than taken from a library: Debian packages no C++ cron
// parser, and what pagoda needs (does this minute match?) is small.
#pragma once

#include <bitset>
#include <string>
#include <string_view>

#include "base/status.h"

namespace pagoda::policy {

class CronSchedule {
 public:
  // The schedule `text` says, or an error naming the field that is wrong:
  // "hour: 24 is out of range 0-23".
  static Result<CronSchedule> Parse(std::string_view text);

  // Whether the schedule fires at this minute of the calendar (month 1-12,
  // day of month 1-31, day of week 0-6 with 0 Sunday).
  bool Matches(int month, int day, int weekday, int hour, int minute) const;

  const std::string& text() const { return text_; }

 private:
  std::string text_;
  std::bitset<60> minutes_;
  std::bitset<24> hours_;
  std::bitset<32> days_;
  std::bitset<13> months_;
  std::bitset<7> weekdays_;
  bool any_day_ = true, any_weekday_ = true;
};

}  // namespace pagoda::policy
