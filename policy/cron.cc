#include "policy/cron.h"

#include <array>
#include <charconv>
#include <vector>

namespace pagoda::policy {
namespace {

struct FieldSpec {
  const char* name;
  int min, max;
  std::array<const char*, 12> names;  // for min, min + 1, …; nullptr-terminated
};

constexpr FieldSpec kFields[] = {
    {"minute", 0, 59, {}},
    {"hour", 0, 23, {}},
    {"day of month", 1, 31, {}},
    {"month",
     1,
     12,
     {"jan", "feb", "mar", "apr", "may", "jun", "jul", "aug", "sep", "oct", "nov", "dec"}},
    {"day of week", 0, 7, {"sun", "mon", "tue", "wed", "thu", "fri", "sat"}},
};

std::vector<std::string_view> Split(std::string_view text, char by) {
  std::vector<std::string_view> out;
  size_t start = 0;
  for (size_t i = 0; i <= text.size(); ++i) {
    if (i == text.size() || text[i] == by) {
      out.push_back(text.substr(start, i - start));
      start = i + 1;
    }
  }
  return out;
}

Result<int> Value(const FieldSpec& f, std::string_view text) {
  int v = 0;
  auto [end, ec] = std::from_chars(text.data(), text.data() + text.size(), v);
  if (ec == std::errc() && end == text.data() + text.size()) {
    if (v < f.min || v > f.max) {
      return Status::InvalidArgument(std::string(f.name) + ": " + std::string(text) +
                                     " is out of range " + std::to_string(f.min) + "-" +
                                     std::to_string(f.max));
    }
    return v;
  }
  for (int i = 0; i < 12 && f.names[i] != nullptr; ++i) {
    std::string lower(text);
    for (char& c : lower) c = static_cast<char>(std::tolower(static_cast<unsigned char>(c)));
    if (lower == f.names[i]) return f.min + i;
  }
  return Status::InvalidArgument(
      std::string(f.name) + ": \"" + std::string(text) + "\" is not a number" +
      (f.names[0] != nullptr ? " or a name (e.g. " + std::string(f.names[0]) + ")" : ""));
}

// One comma-separated part of a field: `*`, `n`, `a-b`, each with `/step`.
Status ParsePart(const FieldSpec& f, std::string_view part, std::vector<bool>* set) {
  int step = 1;
  if (auto slash = part.find('/'); slash != std::string_view::npos) {
    std::string_view s = part.substr(slash + 1);
    auto [end, ec] = std::from_chars(s.data(), s.data() + s.size(), step);
    if (ec != std::errc() || end != s.data() + s.size() || step < 1 || step > f.max) {
      return Status::InvalidArgument(std::string(f.name) + ": step \"" + std::string(s) +
                                     "\" is not a number from 1 to " + std::to_string(f.max));
    }
    part = part.substr(0, slash);
  }
  int lo = f.min, hi = f.max;
  if (part != "*") {
    auto dash = part.find('-');
    auto first = Value(f, part.substr(0, dash));
    if (!first.ok()) return first.status();
    lo = hi = *first;
    if (dash != std::string_view::npos) {
      auto last = Value(f, part.substr(dash + 1));
      if (!last.ok()) return last.status();
      hi = *last;
      if (hi < lo) {
        return Status::InvalidArgument(std::string(f.name) + ": the range " + std::string(part) +
                                       " ends before it starts");
      }
    } else if (step != 1) {
      hi = f.max;  // `n/step`: from n to the end, as cron reads it
    }
  }
  for (int v = lo; v <= hi; v += step) (*set)[static_cast<size_t>(v)] = true;
  return Status::Ok();
}

Status ParseField(const FieldSpec& f, std::string_view text, std::vector<bool>* set) {
  set->assign(static_cast<size_t>(f.max) + 1, false);
  for (std::string_view part : Split(text, ',')) {
    if (part.empty()) return Status::InvalidArgument(std::string(f.name) + ": an empty list item");
    PAGODA_RETURN_IF_ERROR(ParsePart(f, part, set));
  }
  return Status::Ok();
}

template <size_t N>
void Fill(const std::vector<bool>& set, int offset, std::bitset<N>* bits) {
  for (size_t i = 0; i < set.size(); ++i) {
    if (set[i]) bits->set((i + static_cast<size_t>(offset)) % N);
  }
}

}  // namespace

Result<CronSchedule> CronSchedule::Parse(std::string_view text) {
  std::vector<std::string_view> fields;
  for (std::string_view f : Split(text, ' ')) {
    if (!f.empty()) fields.push_back(f);
  }
  if (fields.size() != 5) {
    return Status::InvalidArgument(
        "a schedule has five fields (minute hour day-of-month month "
        "day-of-week), \"" +
        std::string(text) + "\" has " + std::to_string(fields.size()));
  }
  CronSchedule s;
  s.text_ = std::string(text);
  std::vector<bool> set;
  PAGODA_RETURN_IF_ERROR(ParseField(kFields[0], fields[0], &set));
  Fill(set, 0, &s.minutes_);
  PAGODA_RETURN_IF_ERROR(ParseField(kFields[1], fields[1], &set));
  Fill(set, 0, &s.hours_);
  PAGODA_RETURN_IF_ERROR(ParseField(kFields[2], fields[2], &set));
  Fill(set, 0, &s.days_);
  PAGODA_RETURN_IF_ERROR(ParseField(kFields[3], fields[3], &set));
  Fill(set, 0, &s.months_);
  PAGODA_RETURN_IF_ERROR(ParseField(kFields[4], fields[4], &set));
  Fill(set, 0, &s.weekdays_);  // 7 wraps to 0: Sunday
  // As cron decides whether a day field restricts: by its first character.
  s.any_day_ = fields[2].starts_with('*');
  s.any_weekday_ = fields[4].starts_with('*');
  return s;
}

bool CronSchedule::Matches(int month, int day, int weekday, int hour, int minute) const {
  if (!minutes_[static_cast<size_t>(minute)] || !hours_[static_cast<size_t>(hour)] ||
      !months_[static_cast<size_t>(month)]) {
    return false;
  }
  const bool by_day = days_[static_cast<size_t>(day)];
  const bool by_weekday = weekdays_[static_cast<size_t>(weekday)];
  if (any_day_ && any_weekday_) return true;
  if (any_day_) return by_weekday;
  if (any_weekday_) return by_day;
  return by_day || by_weekday;
}

}  // namespace pagoda::policy
