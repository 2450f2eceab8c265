#include "daemon/cluster_clients.h"

namespace pagoda::daemon {

engine::ClusterMapping MappingOf(const DaemonConfig& config) {
  engine::ClusterMapping mapping;
  for (const auto& [name, cluster] : config.clusters) {
    if (cluster.in_cluster) {
      mapping.in_cluster_names.insert(name);
      mapping.service_account_dirs[name] = cluster.service_account_dir;
    } else if (!cluster.kubeconfig.empty()) {
      mapping.explicit_targets[name] =
          cluster.kubeconfig + (cluster.context.empty() ? "" : ":" + cluster.context);
    } else if (!cluster.context.empty()) {
      mapping.explicit_targets[name] = cluster.context;
    }
  }
  return mapping;
}

kube::ClientOptions ClientOptionsOf(const DaemonConfig& config) {
  kube::ClientOptions options;
  options.qps = config.qps;
  options.burst = config.burst;
  options.limit_under_flow_control = config.rate_limit_given;
  return options;
}

Result<std::shared_ptr<kube::KubeClient>> ClusterClients::For(const std::string& name) {
  engine::ClusterMapping mapping;
  kube::ClientOptions options;
  {
    std::lock_guard lock(mu_);
    if (auto it = clients_.find(name); it != clients_.end()) return it->second;
    mapping = mapping_;
    options = options_;
  }
  auto creds = mapping.Resolve(name);
  if (!creds.ok()) return creds.status();
  auto client = kube::KubeClient::Connect(std::move(*creds), options);
  if (!client.ok()) return client.status().WithContext("cluster " + name);
  std::shared_ptr<kube::KubeClient> made = std::move(*client);
  std::lock_guard lock(mu_);
  return clients_.emplace(name, std::move(made)).first->second;
}

void ClusterClients::Reset(engine::ClusterMapping mapping, kube::ClientOptions options) {
  std::lock_guard lock(mu_);
  mapping_ = std::move(mapping);
  options_ = std::move(options);
  clients_.clear();
}

}  // namespace pagoda::daemon
