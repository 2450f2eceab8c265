// FileSource's helper, and files held in memory.

#include <set>

#include "manifest/json.h"
#include "manifest/manifest.h"

namespace pagoda::manifest {
Result<std::vector<std::string>> FileSource::ListFiles(std::string_view dir) const {
  Result<Listing> listing = List(dir, ListLimits{});
  if (!listing.ok()) return listing.status();
  std::vector<std::string> paths;
  paths.reserve(listing->files.size());
  for (FileInfo& f : listing->files) paths.push_back(std::move(f.path));
  return paths;
}

std::string FileSource::TreeId(std::string_view) const { return ""; }

std::string MemorySource::TreeId(std::string_view dir) const {
  const std::string prefix = dir.empty() ? "" : std::string(dir) + "/";
  std::string all;
  for (auto it = files_.lower_bound(prefix); it != files_.end() && it->first.starts_with(prefix);
       ++it) {
    all += std::to_string(it->first.size()) + ":" + it->first + std::to_string(it->second.size()) +
           ":" + it->second;
  }
  return all.empty() ? "" : Sha256Hex(all, 40);
}

Result<Listing> MemorySource::List(std::string_view dir, const ListLimits& limits) const {
  std::string prefix = dir.empty() ? "" : std::string(dir) + "/";
  Listing out;
  std::set<std::string> directories;
  bool found = false;
  for (auto it = files_.lower_bound(prefix); it != files_.end() && it->first.starts_with(prefix);
       ++it) {
    found = true;
    std::string_view rest = std::string_view(it->first).substr(prefix.size());
    // The directory one level past max_depth, when the file lies beyond it.
    size_t cut = 0;
    int level = 0;
    for (; level <= limits.max_depth; ++level) {
      size_t slash = rest.find('/', cut);
      if (slash == std::string_view::npos) break;
      cut = slash + 1;
    }
    if (level > limits.max_depth) {
      directories.insert(prefix + std::string(rest.substr(0, cut - 1)));
      continue;
    }
    if (out.files.size() >= limits.max_files) {
      out.truncated = true;
      break;
    }
    out.files.push_back({it->first, it->second.size()});
  }
  if (!found && !dir.empty()) return Status::NotFound(std::string(dir) + ": no such directory");
  out.directories.assign(directories.begin(), directories.end());
  return out;
}

Result<std::string> MemorySource::ReadFile(std::string_view path, size_t max_bytes) const {
  auto it = files_.find(path);
  if (it == files_.end()) return Status::NotFound(std::string(path) + ": no such file");
  if (it->second.size() > max_bytes) {
    return Status::InvalidArgument(std::string(path) + ": larger than " +
                                   std::to_string(max_bytes) + " bytes");
  }
  return it->second;
}

}  // namespace pagoda::manifest
