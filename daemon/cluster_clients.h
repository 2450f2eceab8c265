// API clients for the config's clusters by name, for the threads beside
// the loop that reach clusters: the mirror, and leadership when it takes a
// shard up. Made on first use and kept; thread-safe. The loop has clients
// of its own (its ClusterAccess), which a reload replaces. Internal to daemon/.
#pragma once

#include <map>
#include <memory>
#include <mutex>
#include <string>

#include "base/status.h"
#include "daemon/config.h"
#include "engine/clusters.h"
#include "kube/kube.h"

namespace pagoda::daemon {

// Where the config's cluster names lead, and how its clients are paced.
engine::ClusterMapping MappingOf(const DaemonConfig& config);
kube::ClientOptions ClientOptionsOf(const DaemonConfig& config);

class ClusterClients {
 public:
  ClusterClients(engine::ClusterMapping mapping, kube::ClientOptions options)
      : mapping_(std::move(mapping)), options_(std::move(options)) {}

  // The client for cluster `name`; errors name the cluster and its kubeconfig.
  Result<std::shared_ptr<kube::KubeClient>> For(const std::string& name);
  // A reload: clients from now on follow `mapping` and `options`; those
  // handed out before stay usable by whoever holds them.
  void Reset(engine::ClusterMapping mapping, kube::ClientOptions options);

 private:
  std::mutex mu_;  // guards what follows; never held across a kubeconfig read
  engine::ClusterMapping mapping_;
  kube::ClientOptions options_;
  std::map<std::string, std::shared_ptr<kube::KubeClient>> clients_;  // by cluster name
};

}  // namespace pagoda::daemon
