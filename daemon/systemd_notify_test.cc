#include "daemon/systemd_notify.h"

#include <gtest/gtest.h>
#include <sys/socket.h>
#include <sys/un.h>
#include <unistd.h>

#include <cstdlib>
#include <cstring>
#include <string>

namespace pagoda::daemon {
namespace {

// A datagram socket standing in for the service manager's.
class NotifySocket {
 public:
  explicit NotifySocket(const std::string& name) {
    fd_ = ::socket(AF_UNIX, SOCK_DGRAM, 0);
    sockaddr_un addr{};
    addr.sun_family = AF_UNIX;
    std::memcpy(addr.sun_path, name.data(), name.size());
    if (name[0] == '@') addr.sun_path[0] = '\0';
    socklen_t len = static_cast<socklen_t>(offsetof(sockaddr_un, sun_path) + name.size() +
                                           (name[0] == '@' ? 0 : 1));
    EXPECT_EQ(::bind(fd_, reinterpret_cast<sockaddr*>(&addr), len), 0) << std::strerror(errno);
    timeval tv{5, 0};
    setsockopt(fd_, SOL_SOCKET, SO_RCVTIMEO, &tv, sizeof tv);
  }
  ~NotifySocket() { ::close(fd_); }
  std::string Receive() {
    char buf[4096];
    ssize_t n = ::recv(fd_, buf, sizeof buf, 0);
    return n < 0 ? "" : std::string(buf, n);
  }

 private:
  int fd_ = -1;
};

TEST(SystemdNotifyTest, SendsToAPathSocket) {
  std::string path = "/tmp/pagoda-notify-" + std::to_string(getpid());
  unlink(path.c_str());
  NotifySocket socket(path);
  setenv("NOTIFY_SOCKET", path.c_str(), 1);
  ASSERT_TRUE(NotifyServiceManager("READY=1\nSTATUS=commit abc, 0 releases in flight").ok());
  EXPECT_EQ(socket.Receive(), "READY=1\nSTATUS=commit abc, 0 releases in flight");
  ASSERT_TRUE(NotifyServiceManager("STOPPING=1").ok());
  EXPECT_EQ(socket.Receive(), "STOPPING=1");
  unsetenv("NOTIFY_SOCKET");
  unlink(path.c_str());
}

TEST(SystemdNotifyTest, SendsToAnAbstractSocket) {
  std::string name = "@pagoda-notify-test-" + std::to_string(getpid());
  NotifySocket socket(name);
  setenv("NOTIFY_SOCKET", name.c_str(), 1);
  ASSERT_TRUE(NotifyServiceManager("READY=1").ok());
  EXPECT_EQ(socket.Receive(), "READY=1");
  unsetenv("NOTIFY_SOCKET");
}

TEST(SystemdNotifyTest, WithoutNotifySocketItIsANoOpAndBadValuesAreErrors) {
  unsetenv("NOTIFY_SOCKET");
  EXPECT_TRUE(NotifyServiceManager("READY=1").ok());
  setenv("NOTIFY_SOCKET", "relative/path", 1);
  EXPECT_FALSE(NotifyServiceManager("READY=1").ok());
  setenv("NOTIFY_SOCKET", "/nonexistent/pagoda.sock", 1);
  EXPECT_FALSE(NotifyServiceManager("READY=1").ok());
  unsetenv("NOTIFY_SOCKET");
}

}  // namespace
}  // namespace pagoda::daemon
