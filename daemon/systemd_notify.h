// The service manager's readiness protocol (sd_notify(3)): one datagram of
// newline-separated VAR=value lines to the Unix socket in $NOTIFY_SOCKET —
// READY=1, STATUS=…, RELOADING=1, STOPPING=1. A path, or an abstract socket
// when it starts with '@'.
//
// Written here rather than linking libsystemd: the protocol is one sendto()
// on a datagram socket, stable and documented as such, and the binary then
// runs the same in a container without libsystemd.
#pragma once

#include <string>

#include "base/status.h"

namespace pagoda::daemon {

// Sends `state` to the service manager. Ok, doing nothing, when
// $NOTIFY_SOCKET is unset (not started by systemd with Type=notify).
Status NotifyServiceManager(const std::string& state);

// NotifyServiceManager() for the daemon's own use: a failure is logged (at
// debug: a service manager that went away is no reason to stop) and dropped.
void TellServiceManager(const std::string& state);

}  // namespace pagoda::daemon
