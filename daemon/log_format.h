// How the daemon's log lines look: readable text on a terminal, JSON lines
// otherwise (under systemd, in a container) or when `log.format: json`.
//
// A JSON line is one object: "time" (UTC, RFC 3339 with milliseconds),
// "level", "msg", and the fields the message names as key=value — app, env,
// release, revision, commit, cluster — lifted out of the text, so that
//   release=r-000004 app=shop env=prod revision=5d1c commit=3f2a9c1 rollout started
// becomes
//   {"time":"…","level":"info","msg":"rollout started","release":"r-000004",
//    "app":"shop","env":"prod","revision":"5d1c","commit":"3f2a9c1"}
#pragma once

#include <spdlog/formatter.h>

#include <memory>
#include <string>

namespace pagoda::daemon {

std::unique_ptr<spdlog::formatter> NewJsonLogFormatter();

// Sets the format of the default logger (stderr): "json", "text", or "auto"
// (JSON unless stderr is a terminal). Returns the format chosen.
std::string ConfigureDaemonLogging(const std::string& format);

}  // namespace pagoda::daemon
