#include <fcntl.h>
#include <sys/file.h>
#include <unistd.h>

#include <cerrno>
#include <cstring>
#include <filesystem>

#include "source/git_internal.h"

namespace pagoda::source::git {
namespace {

constexpr char kFetching[] = "fetching\n";

Status Errno(const std::string& what) {
  return Status::IOError(what + ": " + std::strerror(errno));
}

}  // namespace

void RemoveLeftovers(const std::string& clone_dir) {
  namespace fs = std::filesystem;
  std::error_code ec;
  for (auto it = fs::recursive_directory_iterator(clone_dir, ec);
       !ec && it != fs::recursive_directory_iterator(); it.increment(ec)) {
    const std::string name = it->path().filename().string();
    if (!it->is_regular_file(ec)) continue;
    if (name.ends_with(".lock") || name.starts_with("pack_git2_") || name.starts_with("tmp_")) {
      fs::remove(it->path(), ec);
    }
  }
}

Result<FetchLock> FetchLock::Take(const std::string& clone_dir) {
  const std::string path = clone_dir + "/" + kFetchLockFile;
  FetchLock lock;
  lock.fd_ = ::open(path.c_str(), O_RDWR | O_CREAT | O_CLOEXEC, 0600);
  if (lock.fd_ < 0) return Errno(path);
  while (::flock(lock.fd_, LOCK_EX) != 0) {
    if (errno != EINTR) return Errno(path + ": lock");
  }
  char head[sizeof kFetching] = {};
  ssize_t n = ::pread(lock.fd_, head, sizeof head - 1, 0);
  if (n < 0) return Errno(path);
  if (std::string_view(head, static_cast<size_t>(n)) == kFetching) RemoveLeftovers(clone_dir);
  // Synced before libgit2 makes its first lock file, so that a lock file
  // that outlives a crash of the machine is never found without the mark.
  if (::ftruncate(lock.fd_, 0) != 0 || ::pwrite(lock.fd_, kFetching, sizeof kFetching - 1, 0) < 0 ||
      ::fdatasync(lock.fd_) != 0) {
    return Errno(path);
  }
  return lock;
}

FetchLock::FetchLock(FetchLock&& other) noexcept : fd_(std::exchange(other.fd_, -1)) {}

FetchLock::~FetchLock() {
  if (fd_ < 0) return;
  // The fetch ended in this process, well or not: libgit2 removed its own
  // lock files. Should clearing the mark fail, the next fetch only looks
  // for leftovers that are not there.
  [[maybe_unused]] const int cleared = ::ftruncate(fd_, 0);
  ::close(fd_);  // and with it the lock
}

}  // namespace pagoda::source::git
