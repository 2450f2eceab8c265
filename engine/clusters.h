// Which API server a cluster name of the repository means. Names map to
// kubeconfig contexts: by default the context of the same name; explicitly
// with NAME=CONTEXT or NAME=KUBECONFIG[:CONTEXT]; or every name to one
// context. The daemon's config file gives the same mapping; clusters never
// appear in Git.
#pragma once

#include <map>
#include <set>
#include <string>
#include <vector>

#include "kube/kube.h"

namespace pagoda::engine {

struct ClusterMapping {
  std::vector<std::string> kubeconfigs;                 // empty: $KUBECONFIG or ~/.kube/config
  std::map<std::string, std::string> explicit_targets;  // name → CONTEXT or KUBECONFIG[:CONTEXT]
  std::string all_clusters_to;                          // a context every name maps to, when set
  bool in_cluster = false;                 // every name maps to the service account pagoda runs as
  std::set<std::string> in_cluster_names;  // these names map to it
  // Where the service account's files are, by name ("" or absent: the pod's).
  std::map<std::string, std::string> service_account_dirs;

  // Parses repeated --cluster NAME=TARGET flags into explicit_targets.
  Status AddFlags(const std::vector<std::string>& flags);

  // Credentials for the cluster `name`; errors name the cluster and the
  // kubeconfig or context that failed.
  Result<kube::Credentials> Resolve(const std::string& name) const;
};

}  // namespace pagoda::engine
