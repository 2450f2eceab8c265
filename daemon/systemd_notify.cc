#include "daemon/systemd_notify.h"

#include <spdlog/spdlog.h>
#include <sys/socket.h>
#include <sys/un.h>
#include <unistd.h>

#include <cerrno>
#include <cstdlib>
#include <cstring>

namespace pagoda::daemon {

Status NotifyServiceManager(const std::string& state) {
  const char* path = std::getenv("NOTIFY_SOCKET");
  if (path == nullptr || path[0] == '\0') return Status::Ok();
  const size_t len = std::strlen(path);
  sockaddr_un addr{};
  addr.sun_family = AF_UNIX;
  if ((path[0] != '/' && path[0] != '@') || len >= sizeof(addr.sun_path)) {
    return Status::InvalidArgument("NOTIFY_SOCKET is not a socket path");
  }
  std::memcpy(addr.sun_path, path, len);
  if (path[0] == '@') addr.sun_path[0] = '\0';  // abstract namespace
  const socklen_t addr_len =
      static_cast<socklen_t>(offsetof(sockaddr_un, sun_path) + len + (path[0] == '@' ? 0 : 1));
  int fd = ::socket(AF_UNIX, SOCK_DGRAM | SOCK_CLOEXEC, 0);
  if (fd < 0) return Status::IOError(std::string("notify socket: ") + std::strerror(errno));
  ssize_t sent = ::sendto(fd, state.data(), state.size(), MSG_NOSIGNAL,
                          reinterpret_cast<const sockaddr*>(&addr), addr_len);
  int err = errno;
  ::close(fd);
  if (sent < 0) return Status::IOError(std::string("notifying systemd: ") + std::strerror(err));
  return Status::Ok();
}

void TellServiceManager(const std::string& state) {
  if (Status st = NotifyServiceManager(state); !st.ok()) {
    spdlog::debug("telling the service manager {}: {}", state, st.ToString());
  }
}

}  // namespace pagoda::daemon
