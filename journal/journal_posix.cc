// The journal's filesystem on POSIX.
#include <fcntl.h>
#include <sys/file.h>
#include <sys/stat.h>
#include <unistd.h>

#include <cerrno>
#include <cstring>

#include "journal/journal.h"

namespace pagoda::journal {
namespace {

Status Errno(const std::string& what, int err) {
  std::string message = what + ": " + std::strerror(err);
  if (err == ENOENT) return Status::NotFound(message);
  return Status::IOError(message);
}

class PosixFile : public JournalFile {
 public:
  PosixFile(std::string path, int fd) : path_(std::move(path)), fd_(fd) {}
  ~PosixFile() override { ::close(fd_); }

  Result<uint64_t> Size() override {
    struct stat st {};
    if (::fstat(fd_, &st) != 0) return Errno(path_, errno);
    return static_cast<uint64_t>(st.st_size);
  }

  Status ReadAt(uint64_t offset, size_t n, std::string* out) override {
    out->resize(n);
    size_t done = 0;
    while (done < n) {
      ssize_t r = ::pread(fd_, out->data() + done, n - done, static_cast<off_t>(offset + done));
      if (r < 0 && errno == EINTR) continue;
      if (r < 0) return Errno(path_, errno);
      if (r == 0) break;
      done += static_cast<size_t>(r);
    }
    out->resize(done);
    return Status::Ok();
  }

  Status Append(std::string_view data) override {
    while (!data.empty()) {
      ssize_t w = ::write(fd_, data.data(), data.size());
      if (w < 0 && errno == EINTR) continue;
      if (w < 0) return Errno(path_, errno);
      data.remove_prefix(static_cast<size_t>(w));
    }
    return Status::Ok();
  }

  Status Sync() override {
    if (::fdatasync(fd_) != 0) return Errno(path_ + ": fdatasync", errno);
    return Status::Ok();
  }

  Status Truncate(uint64_t size) override {
    if (::ftruncate(fd_, static_cast<off_t>(size)) != 0) return Errno(path_ + ": truncate", errno);
    return Status::Ok();
  }

 private:
  std::string path_;
  int fd_;
};

class PosixFs : public JournalFs {
 public:
  Result<std::unique_ptr<JournalFile>> Open(const std::string& path, bool writable) override {
    if (!writable) {
      int fd = ::open(path.c_str(), O_RDONLY | O_CLOEXEC);
      if (fd < 0) return Errno(path, errno);
      return std::unique_ptr<JournalFile>(new PosixFile(path, fd));
    }
    bool created = true;
    int fd = ::open(path.c_str(), O_RDWR | O_APPEND | O_CREAT | O_EXCL | O_CLOEXEC, 0640);
    if (fd < 0 && errno == EEXIST) {
      created = false;
      fd = ::open(path.c_str(), O_RDWR | O_APPEND | O_CLOEXEC);
    }
    if (fd < 0) return Errno(path, errno);
    auto file = std::make_unique<PosixFile>(path, fd);
    if (::flock(fd, LOCK_EX | LOCK_NB) != 0) {
      if (errno == EWOULDBLOCK) {
        return Status::Unavailable(path + ": another process writes this journal");
      }
      return Errno(path + ": lock", errno);
    }
    if (created) {
      // The new file's name must survive a crash as well as its lines.
      size_t slash = path.rfind('/');
      std::string dir = slash == std::string::npos ? "." : slash == 0 ? "/" : path.substr(0, slash);
      int dfd = ::open(dir.c_str(), O_RDONLY | O_DIRECTORY | O_CLOEXEC);
      if (dfd < 0) return Errno(dir, errno);
      int rc = ::fsync(dfd);
      int err = errno;
      ::close(dfd);
      if (rc != 0) return Errno(dir + ": fsync", err);
    }
    return std::unique_ptr<JournalFile>(std::move(file));
  }
};

}  // namespace

std::shared_ptr<JournalFs> PosixJournalFs() {
  static const std::shared_ptr<JournalFs> fs = std::make_shared<PosixFs>();
  return fs;
}

}  // namespace pagoda::journal
