// Freeze windows: times in which automatic releases wait (the "network
// freeze" before a big sale). A window is a cron schedule with a duration,
// or a fixed start and end, in a time zone; it applies to the apps,
// environments and clusters its globs match, and may let rollbacks and
// self-heals through. The repository declares them (policy/freeze.yaml,
// read by manifest/); this says which are open at a given time. Pure: the
// time is an argument, the zones come from the system's tzdata.
#pragma once

#include <cstdint>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include "base/status.h"
#include "policy/cron.h"

namespace pagoda::policy {

struct FreezeWindow {
  std::string name;
  std::string where;  // "policy/freeze.yaml:12:7", for messages
  // A schedule and a duration, or a fixed range of local times
  // ("2026-11-10T00:00"), in `time_zone` (an IANA name; default UTC).
  std::optional<CronSchedule> schedule;
  int64_t duration_ms = 0;
  std::string start, end;
  std::string time_zone = "UTC";
  // fnmatch(3) globs; empty means all.
  std::vector<std::string> apps, envs, clusters;
  bool allow_rollback = false;
  bool allow_self_heal = false;
};

struct FreezePolicy {
  std::vector<FreezeWindow> windows;
};

// Whether `zone` is in the time zone database.
bool IsKnownZone(std::string_view zone);

// "2026-11-10T00:00" (or with :SS) in `zone` as Unix milliseconds; an error
// when it does not parse or does not exist there (a time skipped by DST). A
// local time that happens twice is its first occurrence.
Result<int64_t> LocalToUnixMillis(std::string_view local, std::string_view zone);

// A window open at `now_ms`, and when it closes.
struct OpenWindow {
  const FreezeWindow* window = nullptr;
  int64_t until_ms = 0;
};

// The windows of `policy` open at `now_ms`. A scheduled window opens at each
// minute its schedule names in local time (a local minute that DST skips
// never comes) and stays open for its duration.
std::vector<OpenWindow> OpenAt(const FreezePolicy& policy, int64_t now_ms);

// Of `open`, the one that freezes app/env on `cluster` longest; nullopt when
// none matches.
std::optional<OpenWindow> FreezeOf(const std::vector<OpenWindow>& open, std::string_view app,
                                   std::string_view env, std::string_view cluster);

}  // namespace pagoda::policy
