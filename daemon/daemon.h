// `pagoda daemon`: the long-running process. It keeps the Git source, the
// journal, the reconcile loop and the control socket together, reacts to
// signals (SIGTERM/SIGINT stop it between steps), and writes the status
// document after every step.
#pragma once

#include <iosfwd>
#include <string>

namespace pagoda::daemon {

struct DaemonFlags {
  std::string config;  // the config file
  // Overrides of the file's values, when set.
  std::string repo, ref, path, state_dir, interval, drift_interval;
};

// Runs until SIGTERM or SIGINT. Exit codes: 0 after a clean stop, 2 for a
// bad config or flags, 3 when the state directory, journal or repository
// cannot be opened.
int RunDaemon(const DaemonFlags& flags, std::ostream& err);

}  // namespace pagoda::daemon
