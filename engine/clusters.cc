#include "engine/clusters.h"

#include <sys/stat.h>

namespace pagoda::engine {
namespace {

bool IsFile(const std::string& path) {
  struct stat st {};
  return ::stat(path.c_str(), &st) == 0 && S_ISREG(st.st_mode);
}

}  // namespace

Status ClusterMapping::AddFlags(const std::vector<std::string>& flags) {
  for (const auto& flag : flags) {
    auto eq = flag.find('=');
    if (eq == std::string::npos || eq == 0 || eq + 1 == flag.size()) {
      return Status::InvalidArgument("--cluster " + flag +
                                     ": expected NAME=CONTEXT or NAME=KUBECONFIG[:CONTEXT]");
    }
    explicit_targets[flag.substr(0, eq)] = flag.substr(eq + 1);
  }
  return Status::Ok();
}

Result<kube::Credentials> ClusterMapping::Resolve(const std::string& name) const {
  Result<kube::Credentials> creds = Status::Internal("unresolved");
  if (auto it = explicit_targets.find(name); it != explicit_targets.end()) {
    const std::string& target = it->second;
    // KUBECONFIG[:CONTEXT] when the part before the last ':' (or all of it)
    // is a file; a context name otherwise.
    auto colon = target.rfind(':');
    if (IsFile(target)) {
      creds = kube::LoadKubeconfig({.paths = {target}, .context = ""});
    } else if (colon != std::string::npos && IsFile(target.substr(0, colon))) {
      creds = kube::LoadKubeconfig(
          {.paths = {target.substr(0, colon)}, .context = target.substr(colon + 1)});
    } else {
      creds = kube::LoadKubeconfig({.paths = kubeconfigs, .context = target});
    }
  } else if (in_cluster || in_cluster_names.count(name)) {
    auto dir = service_account_dirs.find(name);
    creds = dir == service_account_dirs.end() || dir->second.empty()
                ? kube::InClusterCredentials()
                : kube::InClusterCredentials(dir->second);
  } else {
    const std::string context = all_clusters_to.empty() ? name : all_clusters_to;
    creds = kube::LoadKubeconfig({.paths = kubeconfigs, .context = context});
  }
  if (!creds.ok()) return creds.status().WithContext("cluster " + name);
  return creds;
}

}  // namespace pagoda::engine
