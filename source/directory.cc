// A FileSource over a directory of the local filesystem.
#include <dirent.h>
#include <fcntl.h>
#include <limits.h>
#include <sys/stat.h>
#include <unistd.h>

#include <cerrno>
#include <cstdlib>
#include <cstring>

#include "base/file.h"
#include "source/source.h"

namespace pagoda::source {

using manifest::FileInfo;
using manifest::FileSource;
using manifest::Listing;
using manifest::ListLimits;

namespace {

class DirectorySource : public FileSource {
 public:
  explicit DirectorySource(std::string root) : root_(std::move(root)) {
    while (root_.size() > 1 && root_.back() == '/') root_.pop_back();
    char resolved[PATH_MAX];
    if (::realpath(root_.c_str(), resolved) != nullptr) real_root_ = resolved;
  }

  Result<Listing> List(std::string_view dir, const ListLimits& limits) const override {
    std::string start = dir.empty() ? root_ : root_ + "/" + std::string(dir);
    struct stat st {};
    if (::lstat(start.c_str(), &st) != 0 || !S_ISDIR(st.st_mode)) {
      return Status::NotFound(std::string(dir.empty() ? "." : dir) + ": no such directory");
    }
    Listing listing;
    PAGODA_RETURN_IF_ERROR(Walk(std::string(dir), limits, 0, &listing));
    return listing;
  }

  Result<std::string> ReadFile(std::string_view path, size_t max_bytes) const override {
    std::string segments = "/" + std::string(path) + "/";
    if (path.empty() || path.front() == '/' || segments.find("/../") != std::string::npos) {
      return Status::InvalidArgument(std::string(path) + ": not a path inside the repository");
    }
    std::string full = root_ + "/" + std::string(path);
    struct stat st {};
    if (::lstat(full.c_str(), &st) != 0) {
      return Status::NotFound(std::string(path) + ": " + std::strerror(errno));
    }
    if (S_ISLNK(st.st_mode)) {
      char resolved[PATH_MAX];
      if (::realpath(full.c_str(), resolved) == nullptr) {
        return Status::NotFound(std::string(path) + ": a symlink to nothing");
      }
      std::string target = resolved;
      if (real_root_.empty() ||
          !(target.size() > real_root_.size() && target.starts_with(real_root_) &&
            target[real_root_.size()] == '/')) {
        return Status::PermissionDenied(std::string(path) +
                                        ": a symlink that leads out of the repository");
      }
      full = target;
    }
    Result<std::string> content = pagoda::ReadFile(full, max_bytes);
    if (!content.ok()) {
      // Name the file by its repository path, not the machine's.
      std::string message = content.status().message();
      if (message.starts_with(full)) message = std::string(path) + message.substr(full.size());
      switch (content.status().code()) {
        case Status::Code::kInvalidArgument:
          return Status::InvalidArgument(message);
        case Status::Code::kNotFound:
          return Status::NotFound(message);
        default:
          return Status::IOError(message);
      }
    }
    return content;
  }

 private:
  Status Walk(const std::string& dir, const ListLimits& limits, int depth, Listing* out) const {
    std::string full = dir.empty() ? root_ : root_ + "/" + dir;
    DIR* d = ::opendir(full.c_str());
    if (d == nullptr) return Status::IOError(dir + ": " + std::strerror(errno));
    std::vector<std::string> subdirs;
    while (dirent* entry = ::readdir(d)) {
      std::string name = entry->d_name;
      if (name == "." || name == "..") continue;
      std::string rel = dir.empty() ? name : dir + "/" + name;
      std::string path = root_ + "/" + rel;
      struct stat st {};
      if (::lstat(path.c_str(), &st) != 0) continue;
      if (S_ISDIR(st.st_mode)) {
        if (name == ".git") continue;
        if (depth < limits.max_depth) {
          subdirs.push_back(rel);
        } else {
          out->directories.push_back(rel);
        }
      } else if (S_ISREG(st.st_mode) || S_ISLNK(st.st_mode)) {
        if (out->files.size() >= limits.max_files) {
          out->truncated = true;
          break;
        }
        struct stat target {};
        uint64_t size = S_ISREG(st.st_mode)                  ? static_cast<uint64_t>(st.st_size)
                        : ::stat(path.c_str(), &target) == 0 ? static_cast<uint64_t>(target.st_size)
                                                             : 0;
        out->files.push_back({rel, size});
      }
    }
    ::closedir(d);
    for (const std::string& sub : subdirs) {
      if (out->truncated) break;
      PAGODA_RETURN_IF_ERROR(Walk(sub, limits, depth + 1, out));
    }
    return Status::Ok();
  }

  std::string root_;
  std::string real_root_;
};

}  // namespace

std::unique_ptr<FileSource> NewDirectorySource(std::string root) {
  return std::make_unique<DirectorySource>(std::move(root));
}

}  // namespace pagoda::source
