#include "policy/freeze.h"

#include <date/tz.h>
#include <fnmatch.h>

#include <chrono>
#include <sstream>

namespace pagoda::policy {
namespace {

using std::chrono::milliseconds;
using std::chrono::minutes;

const date::time_zone* Zone(std::string_view name) {
  try {
    return date::locate_zone(name);
  } catch (const std::exception&) {
    return nullptr;
  }
}

bool Matches(const std::vector<std::string>& globs, std::string_view name) {
  if (globs.empty()) return true;
  const std::string n(name);
  for (const auto& g : globs) {
    if (fnmatch(g.c_str(), n.c_str(), 0) == 0) return true;
  }
  return false;
}

// When the scheduled window `w` that opened last before `now` closes, if it
// is open at `now`.
std::optional<int64_t> ScheduledUntil(const FreezeWindow& w, const date::time_zone& zone,
                                      int64_t now_ms) {
  const date::sys_time<milliseconds> now{milliseconds(now_ms)};
  const auto local_now = date::floor<minutes>(zone.to_local(now));
  // Local minutes back over the duration, and the largest DST shift there is.
  const int64_t span = w.duration_ms / 60'000 + 121;
  std::optional<int64_t> until;
  for (int64_t back = 0; back <= span; ++back) {
    const date::local_time<minutes> t = local_now - minutes(back);
    const auto day = date::floor<date::days>(t);
    const date::year_month_day ymd{day};
    const date::hh_mm_ss<minutes> time{t - day};
    const int weekday = static_cast<int>(date::weekday{day}.c_encoding());
    if (!w.schedule->Matches(static_cast<int>(static_cast<unsigned>(ymd.month())),
                             static_cast<int>(static_cast<unsigned>(ymd.day())), weekday,
                             static_cast<int>(time.hours().count()),
                             static_cast<int>(time.minutes().count()))) {
      continue;
    }
    const auto info = zone.get_info(t);
    if (info.result == date::local_info::nonexistent) continue;  // DST skips it
    const int64_t start = date::floor<milliseconds>(zone.to_sys(t, date::choose::earliest))
                              .time_since_epoch()
                              .count();
    if (start <= now_ms && now_ms < start + w.duration_ms) {
      until = std::max(until.value_or(0), start + w.duration_ms);
    }
  }
  return until;
}

}  // namespace

bool IsKnownZone(std::string_view zone) { return Zone(zone) != nullptr; }

Result<int64_t> LocalToUnixMillis(std::string_view local, std::string_view zone_name) {
  const date::time_zone* zone = Zone(zone_name);
  if (zone == nullptr) {
    return Status::InvalidArgument("unknown time zone \"" + std::string(zone_name) + "\"");
  }
  date::local_seconds t;
  std::istringstream in{std::string(local)};
  in >> date::parse(local.size() > 16 ? "%Y-%m-%dT%H:%M:%S" : "%Y-%m-%dT%H:%M", t);
  if (in.fail() || in.peek() != std::char_traits<char>::eof()) {
    return Status::InvalidArgument("\"" + std::string(local) +
                                   "\" is not a local time like 2026-11-10T00:00");
  }
  if (zone->get_info(t).result == date::local_info::nonexistent) {
    return Status::InvalidArgument(std::string(local) + " does not exist in " +
                                   std::string(zone_name) + " (daylight saving time skips it)");
  }
  return date::floor<milliseconds>(zone->to_sys(t, date::choose::earliest))
      .time_since_epoch()
      .count();
}

std::vector<OpenWindow> OpenAt(const FreezePolicy& policy, int64_t now_ms) {
  std::vector<OpenWindow> open;
  for (const FreezeWindow& w : policy.windows) {
    const date::time_zone* zone = Zone(w.time_zone);
    if (zone == nullptr) continue;  // refused when the policy was read
    if (w.schedule) {
      if (auto until = ScheduledUntil(w, *zone, now_ms)) open.push_back({&w, *until});
      continue;
    }
    auto start = LocalToUnixMillis(w.start, w.time_zone);
    auto end = LocalToUnixMillis(w.end, w.time_zone);
    if (start.ok() && end.ok() && *start <= now_ms && now_ms < *end) open.push_back({&w, *end});
  }
  return open;
}

std::optional<OpenWindow> FreezeOf(const std::vector<OpenWindow>& open, std::string_view app,
                                   std::string_view env, std::string_view cluster) {
  std::optional<OpenWindow> longest;
  for (const OpenWindow& o : open) {
    if (!Matches(o.window->apps, app) || !Matches(o.window->envs, env) ||
        !Matches(o.window->clusters, cluster)) {
      continue;
    }
    if (!longest || o.until_ms > longest->until_ms) longest = o;
  }
  return longest;
}

}  // namespace pagoda::policy
