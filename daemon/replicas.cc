// What several replicas need of the process: leadership over the shards'
// Leases, the releases' mirror in the clusters, release ids that never
// repeat across replicas, and the clients beside the loop's that carry the
// write fence. Process's; see process.h.
#include <spdlog/spdlog.h>

#include <algorithm>
#include <chrono>

#include "daemon/process.h"

namespace pagoda::daemon {

using std::chrono::milliseconds;

// A journal that starts empty (a new host, a lost disk) numbers on above
// every release id the clusters' mirror holds, so that no new release takes
// the name of one in the history there. With leadership, ids come from the
// counter Lease instead.
void Process::SeedReleaseIds(const DaemonConfig& config) {
  if (config.ha.enabled || !mirror_ || journal_->HighestId() > 0) return;
  auto objects = NewKubeReleaseObjects(
      [clients = side_clients_](const std::string& cluster) { return clients->For(cluster); });
  int64_t highest = 0;
  for (const auto& [name, c] : config.clusters) {
    auto listed = objects->List(name, {});
    if (!listed.ok()) {
      spdlog::warn(
          "releases: the history in cluster {} could not be read ({}); new release ids "
          "start from the journal's, and may repeat ids kept there",
          name, listed.status().ToString());
      continue;
    }
    for (const auto& m : *listed) {
      highest = std::max(highest, journal::ReleaseIdNumber(m.record.id));
    }
  }
  if (highest > 0) {
    journal_->NumberAbove(highest);
    spdlog::info("releases: the journal is new; ids go on above {}, the highest in the clusters",
                 journal::ReleaseId(highest));
  }
}

// The clients beside the loop's carry leadership's fence too: a mirror
// write is a write.
void Process::ResetSideClients(const DaemonConfig& config) {
  kube::ClientOptions options = ClientOptionsOf(config);
  options.user_agent = user_agent_;
  if (leadership_) {
    options.write_gate = leadership_->gate();
    options.write_timeout = WriteTimeout(config.ha);
  }
  if (side_clients_ == nullptr) {
    side_clients_ = std::make_shared<ClusterClients>(MappingOf(config), options);
  } else {
    side_clients_->Reset(MappingOf(config), options);
  }
  if (leadership_) {
    std::vector<std::string> clusters;
    for (const auto& [name, c] : config.clusters) clusters.push_back(name);
    leadership_->SetClusters(std::move(clusters));
  }
}

void Process::StartLeadership(const DaemonConfig& config) {
  ResetSideClients(config);
  if (!config.ha.enabled) return;
  kube::ClientOptions options = ClientOptionsOf(config);
  options.user_agent = user_agent_;
  auto creds = MappingOf(config).Resolve(config.ha.cluster);
  kube::ClientOptions lease_options = options;
  // A request that takes longer than a retry period is given up on and
  // tried at the next round: a holder cut off from its Leases notes that
  // it has lost them within a retry period of its renew deadline (the
  // fence closes at the deadline on its own).
  lease_options.timeout = milliseconds(std::max<int64_t>(500, config.ha.retry_ms));
  lease_options.retry.max_attempts = 1;
  auto client = creds.ok() ? kube::KubeClient::Connect(std::move(*creds), lease_options)
                           : Result<std::unique_ptr<kube::KubeClient>>(creds.status());
  if (!client.ok()) {
    // Checked at start (a kubeconfig that does not resolve is a bad config).
    spdlog::error("ha: cluster {}: {}; this replica leads nothing", config.ha.cluster,
                  client.status().ToString());
    return;
  }
  lease_client_ = std::move(*client);
  renew_deadline_ms_ = config.ha.renew_deadline_ms;
  Leadership::Options lo;
  lo.ha = config.ha;
  lo.identity = identity_;
  takeover_objects_ = NewKubeReleaseObjects(
      [clients = side_clients_](const std::string& cluster) { return clients->For(cluster); });
  leadership_ = std::make_unique<Leadership>(
      lo, kube::NewKubeLeaseStore(*lease_client_, config.ha.lease_namespace), *journal_,
      *takeover_objects_, std::vector<std::string>{},
      Leadership::Hooks{
          [this](std::shared_ptr<const Ownership> o, std::vector<Leadership::Takeover> t) {
            OwnershipChanged(std::move(o), std::move(t));
          },
          [this](std::shared_ptr<const Ownership> o) { return LetGo(std::move(o)); }},
      RealClock());
  ResetSideClients(config);
  spdlog::info("ha: replica {} competes for {} Lease{} {}{} in namespace {} of cluster {}",
               identity_, config.ha.shards, config.ha.shards > 1 ? "s" : "", config.ha.lease_name,
               config.ha.shards > 1 ? "-shard-N" : "", config.ha.lease_namespace,
               config.ha.cluster);
}

void Process::StartMirror(const DaemonConfig& config) {
  if (!config.mirror.enabled) return;
  Mirror::Options mo;
  mo.history_limit = config.mirror.history_limit;
  mo.identity = identity_;
  if (config.ha.enabled) mo.group = config.ha.lease_name;
  Leadership* leadership = leadership_.get();
  mirror_ = std::make_unique<Mirror>(
      NewKubeReleaseObjects(
          [clients = side_clients_](const std::string& cluster) { return clients->For(cluster); }),
      mo, [leadership](const std::string& app) -> std::optional<int64_t> {
        if (leadership == nullptr) return 0;
        return leadership->ownership()->EpochOf(app);
      });
  mirror_observer_.SetMirror(mirror_.get());
}

// Leadership changed what this replica leads: the releases it takes over
// are adopted first, then the loop acts on what it leads now.
void Process::OwnershipChanged(std::shared_ptr<const Ownership> ownership,
                               std::vector<Leadership::Takeover> takeovers) {
  inbox_.Post(
      [this, ownership = std::move(ownership), takeovers = std::move(takeovers)] {
        for (const auto& t : takeovers) {
          if (Status st = runtime_->reconciler->Adopt(t.in_flight, t.pinned, t.ended); !st.ok()) {
            spdlog::error("taking up shard {}: {}", t.shard, st.ToString());
          }
        }
        runtime_->reconciler->SetOwnership(ownership);
        Publish();
      },
      Inbox::Kind::kBetweenSteps);
}

// Before a shard is given up, the loop lets go of it, between two steps.
bool Process::LetGo(std::shared_ptr<const Ownership> ownership) {
  const auto deadline = milliseconds(std::max<int64_t>(1000, renew_deadline_ms_ / 2));
  auto done = inbox_.Ask<bool>(
      [this, ownership]() -> Result<bool> {
        runtime_->reconciler->SetOwnership(ownership);
        Publish();
        return true;
      },
      deadline, Inbox::Kind::kBetweenSteps);
  return done.ok();
}

SideStatus Process::Side() const {
  SideStatus side;
  if (leadership_) side.leadership = leadership_->status();
  if (mirror_) side.mirror = mirror_->stats();
  return side;
}

}  // namespace pagoda::daemon
