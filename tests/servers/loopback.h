// TCP on 127.0.0.1, for the test servers: a listening socket on a port the
// kernel chooses, and a connection to a port.
#pragma once

#include "base/status.h"

namespace pagoda::testing {

struct Listener {
  int fd = -1;
  int port = 0;
};
// A socket listening on 127.0.0.1, on a free port; IOError naming the call
// that failed.
Result<Listener> ListenLoopback(int backlog);
// A connected socket, or -1.
int ConnectLoopback(int port);

}  // namespace pagoda::testing
