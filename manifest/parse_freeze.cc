// policy/freeze.yaml: the repository's freeze windows.
//
//   apiVersion: pagoda.dev/v1
//   kind: Freeze
//   metadata: {name: release-freezes}
//   spec:
//     windows:
//       - name: double-eleven            # a schedule and a duration…
//         schedule: "0 0 10 11 *"
//         duration: 48h
//         timeZone: Asia/Shanghai
//         clusters: ["cn-*"]             # globs; apps, envs and clusters: all when absent
//         allow: [rollback, selfHeal]
//       - name: migration                # …or a fixed start and end, in local time
//         start: "2026-12-05T22:00"
//         end: "2026-12-06T06:00"
#include <string>

#include "manifest/fields.h"
#include "manifest/names.h"
#include "manifest/parse.h"

namespace pagoda::manifest {
namespace {

constexpr int64_t kMaxWindowMs = 31LL * 24 * 3'600'000;  // a month

std::string Index(const std::string& path, size_t i) {
  return path + "[" + std::to_string(i) + "]";
}

void ReadGlobs(Sink& sink, Fields& f, const char* key, std::vector<std::string>* out) {
  const YamlNode* n = f.Get(key);
  if (n == nullptr || !GetStringList(sink, *n, f.Path(key), out)) return;
  for (size_t i = 0; i < out->size(); ++i) {
    if ((*out)[i].empty()) sink.Error(n->items[i].pos, Index(f.Path(key), i), "an empty glob");
  }
}

void ReadAllow(Sink& sink, Fields& f, policy::FreezeWindow* w) {
  const YamlNode* n = f.Get("allow");
  if (n == nullptr) return;
  if (!n->IsSequence()) {
    sink.Error(n->pos, f.Path("allow"), "expected a list such as [rollback, selfHeal]");
    return;
  }
  for (size_t i = 0; i < n->items.size(); ++i) {
    int choice = 0;
    if (!GetChoice(sink, n->items[i], Index(f.Path("allow"), i), {"rollback", "selfHeal"},
                   &choice)) {
      continue;
    }
    (choice == 0 ? w->allow_rollback : w->allow_self_heal) = true;
  }
}

// schedule + duration, or start + end: the one form, complete.
void ReadWhen(Sink& sink, Fields& f, policy::FreezeWindow* w) {
  const YamlNode* schedule = f.Get("schedule");
  const YamlNode* duration = f.Get("duration");
  const YamlNode* start = f.Get("start");
  const YamlNode* end = f.Get("end");
  if ((schedule || duration) && (start || end)) {
    sink.Error(f.pos(), f.path(),
               "a window has either a schedule and a duration, or a start and an end, not both");
    return;
  }
  if (schedule || duration) {
    if (!schedule || !duration) {
      sink.Error(f.pos(), f.Path(schedule ? "duration" : "schedule"),
                 "is required with " + std::string(schedule ? "schedule" : "duration"));
      return;
    }
    Located<std::string> text;
    if (GetString(sink, *schedule, f.Path("schedule"), &text)) {
      auto parsed = policy::CronSchedule::Parse(text.value);
      if (parsed.ok()) {
        w->schedule = *parsed;
      } else {
        sink.Error(text.pos, f.Path("schedule"), parsed.status().message());
      }
    }
    if (GetDuration(sink, *duration, f.Path("duration"), false, &w->duration_ms) &&
        (w->duration_ms < 60'000 || w->duration_ms > kMaxWindowMs)) {
      sink.Error(duration->pos, f.Path("duration"),
                 "a window lasts from 1m to 31 days (744h); a longer freeze is a fixed "
                 "start and end");
    }
    return;
  }
  if (!start || !end) {
    sink.Error(f.pos(), f.Path(start ? "end" : "start"),
               "is required: a window has a schedule and a duration, or a start and an end");
    return;
  }
  Located<std::string> from, to;
  if (!GetString(sink, *start, f.Path("start"), &from) ||
      !GetString(sink, *end, f.Path("end"), &to))
    return;
  w->start = from.value;
  w->end = to.value;
  if (w->time_zone.empty()) return;  // unknown: said at timeZone
  auto a = policy::LocalToUnixMillis(from.value, w->time_zone);
  auto b = policy::LocalToUnixMillis(to.value, w->time_zone);
  if (!a.ok()) sink.Error(from.pos, f.Path("start"), a.status().message());
  if (!b.ok()) sink.Error(to.pos, f.Path("end"), b.status().message());
  if (a.ok() && b.ok() && *b <= *a) {
    sink.Error(to.pos, f.Path("end"), "the window ends before it starts (" + from.value + ")");
  }
}

void ReadWindow(Sink& sink, const YamlNode& node, const std::string& path,
                policy::FreezeWindow* w) {
  Fields f(sink, node, path);
  if (!f.ok()) return;
  w->where = FilePos(sink.file(), node.pos);
  if (const YamlNode* n = f.Need("name")) {
    Located<std::string> name;
    if (GetString(sink, *n, f.Path("name"), &name) &&
        CheckName(sink, name, f.Path("name"), CheckDns1123Label)) {
      w->name = name.value;
    }
  }
  if (const YamlNode* n = f.Get("timeZone")) {
    Located<std::string> zone;
    if (GetString(sink, *n, f.Path("timeZone"), &zone)) {
      if (policy::IsKnownZone(zone.value)) {
        w->time_zone = zone.value;
      } else {
        sink.Error(zone.pos, f.Path("timeZone"),
                   "unknown time zone \"" + zone.value +
                       "\": a name of the tz database, such as Asia/Shanghai or UTC");
        w->time_zone.clear();
      }
    }
  }
  ReadWhen(sink, f, w);
  ReadGlobs(sink, f, "apps", &w->apps);
  ReadGlobs(sink, f, "envs", &w->envs);
  ReadGlobs(sink, f, "clusters", &w->clusters);
  ReadAllow(sink, f, w);
  f.Finish();
}

}  // namespace

bool ParseFreeze(const YamlNode& doc, Sink& sink, policy::FreezePolicy* out) {
  const int errors = sink.errors();
  Located<std::string> name;
  const YamlNode* spec = ReadEnvelope(doc, sink, "Freeze", true, &name, CheckDns1123Label);
  if (spec == nullptr) return false;
  Fields f(sink, *spec, "spec");
  if (const YamlNode* windows = f.Need("windows")) {
    if (!windows->IsSequence()) {
      sink.Error(windows->pos, "spec.windows", "expected a list of windows");
    } else {
      std::map<std::string, Pos> seen;
      for (size_t i = 0; i < windows->items.size(); ++i) {
        policy::FreezeWindow w;
        ReadWindow(sink, windows->items[i], Index("spec.windows", i), &w);
        if (w.name.empty()) continue;
        auto [it, fresh] = seen.emplace(w.name, windows->items[i].pos);
        if (!fresh) {
          sink.Error(windows->items[i].pos, Index("spec.windows", i) + ".name",
                     "a second window named \"" + w.name + "\" (the first is at line " +
                         std::to_string(it->second.line) + ")");
        }
        out->windows.push_back(std::move(w));
      }
    }
  }
  f.Finish();
  return sink.errors() == errors;
}

}  // namespace pagoda::manifest
