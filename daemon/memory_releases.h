// Release objects kept in memory, for tests of the mirror and of
// leadership: what the cluster would hold, by cluster name and id.
#pragma once

#include <map>
#include <mutex>
#include <string>
#include <vector>

#include "daemon/release_objects.h"

namespace pagoda::daemon {

class MemoryReleases final : public ReleaseObjects {
 public:
  Status Put(const std::string& cluster, const journal::ReleaseRecord& record,
             const ReleaseWriter& writer) override {
    std::lock_guard lock(mu);
    ++puts;
    if (failing > 0) {
      --failing;
      return Status::Unavailable("the API server is away");
    }
    objects[cluster][record.id] = {record, writer};
    return Status::Ok();
  }
  Result<std::vector<MirroredRelease>> List(const std::string& cluster,
                                            const ReleaseQuery& q) override {
    std::lock_guard lock(mu);
    ++lists;
    if (!reachable) return Status::Unavailable("the API server is away");
    std::vector<MirroredRelease> out;
    for (const auto& [id, m] : objects[cluster]) {
      if ((q.app.empty() || m.record.app == q.app) && (q.env.empty() || m.record.env == q.env) &&
          (!q.in_progress_only || m.record.outcome == journal::Outcome::kInProgress) &&
          (q.trigger.empty() || journal::Name(m.record.trigger) == q.trigger) &&
          (q.group.empty() || m.writer.group == q.group)) {
        out.push_back(m);
      }
    }
    return out;
  }
  Status Delete(const std::string& cluster, const std::string& /*app*/,
                const std::string& id) override {
    std::lock_guard lock(mu);
    objects[cluster].erase(id);
    return Status::Ok();
  }
  std::map<std::string, MirroredRelease> Of(const std::string& cluster) {
    std::lock_guard lock(mu);
    return objects[cluster];
  }

  std::mutex mu;
  std::map<std::string, std::map<std::string, MirroredRelease>> objects;
  int failing = 0;        // Put()s to fail from now on
  bool reachable = true;  // false: List() fails
  int puts = 0, lists = 0;
};

}  // namespace pagoda::daemon
