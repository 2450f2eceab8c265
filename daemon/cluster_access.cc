// The clusters as the loop reaches them: one client, live cache and
// workloads per API server, made on first use.
#include <spdlog/spdlog.h>

#include <algorithm>
#include <atomic>
#include <thread>

#include "daemon/loop_internal.h"

namespace pagoda::daemon {
namespace {

class RealClusterAccess final : public ClusterAccess {
 public:
  RealClusterAccess(ClusterMapping mapping, kube::ClientOptions options)
      : mapping_(std::move(mapping)), options_(std::move(options)) {}

  // A name resolved once keeps its server: the kubeconfig is read again
  // only for names that did not resolve (a reload makes a new access).
  Result<std::string> ServerOf(const std::string& cluster) override {
    if (auto known = server_of_.find(cluster); known != server_of_.end()) return known->second;
    auto creds = mapping_.Resolve(cluster);
    if (!creds.ok()) return creds.status();
    std::string server = creds->server;
    if (!clients_.count(server)) {
      auto client = kube::KubeClient::Connect(std::move(*creds), options_);
      if (!client.ok()) return client.status();
      clients_[server].client = std::move(*client);
      clients_[server].live = std::make_unique<kube::LiveCache>(*clients_[server].client);
    }
    server_of_[cluster] = server;
    return server;
  }
  Result<std::unique_ptr<ServerPlan>> Plan(const ServerDesired& desired) override {
    auto it = clients_.find(desired.server);
    if (it == clients_.end()) return Status::Internal("no client for " + desired.server);
    return PlanServer(*it->second.live, desired, &it->second.memo);
  }
  std::optional<uint64_t> LiveVersion(const std::string& server, const std::string& app) override {
    auto it = clients_.find(server);
    if (it == clients_.end()) return std::nullopt;
    return it->second.live->Version(app);
  }
  kube::LiveChanges LiveChangedSince(const std::string& server, uint64_t since) override {
    auto it = clients_.find(server);
    if (it == clients_.end()) return {};
    return it->second.live->ChangedSince(since);
  }
  // As many as one client carries at once. Execute() only reads clients_,
  // which ServerOf() alone changes, on the loop thread, between passes.
  int Concurrency() const override { return std::max(1, options_.max_connections); }
  apply::ExecuteResult Execute(const std::string& server, const diff::Plan& plan,
                               const std::string& commit) override {
    auto it = clients_.find(server);
    if (it == clients_.end()) return {{}, Status::Internal("no client for " + server)};
    return apply::Execute(*it->second.client, plan, {.commit = commit});
  }
  std::map<std::string, kube::RequestStats> RequestStatsByServer() const override {
    std::map<std::string, kube::RequestStats> out;
    for (const auto& [server, c] : clients_) out[server] = c.client->stats();
    return out;
  }
  rollout::Workloads& Workloads(const std::string& server) override {
    auto& w = workloads_[server];
    if (!w) w = std::make_unique<rollout::KubeWorkloads>(*clients_.at(server).client);
    return *w;
  }
  Result<std::vector<manifest::NodeAllocatable>> Nodes(const std::string& server) override {
    auto nodes = clients_.at(server).client->List("/api/v1/nodes");
    if (!nodes.ok()) return nodes.status();
    std::vector<manifest::NodeAllocatable> out;
    for (const auto& n : *nodes) {
      if (n.HasMember("spec") && n["spec"].HasMember("unschedulable") &&
          n["spec"]["unschedulable"].IsTrue()) {
        continue;
      }
      if (!n.HasMember("status") || !n["status"].HasMember("allocatable")) continue;
      const auto& a = n["status"]["allocatable"];
      manifest::NodeAllocatable node;
      if (a.HasMember("cpu") && a["cpu"].IsString()) {
        if (auto m = manifest::ParseCpu(a["cpu"].GetString()); m.ok()) node.millicpu = *m;
      }
      if (a.HasMember("memory") && a["memory"].IsString()) {
        if (auto b = manifest::ParseMemory(a["memory"].GetString()); b.ok()) node.memory_bytes = *b;
      }
      out.push_back(node);
    }
    return out;
  }

 private:
  ClusterMapping mapping_;
  kube::ClientOptions options_;
  // Per server: its client, the standing copy of what pagoda owns there
  // (declared after the client, so destroyed before it), and the
  // comparisons of its last plan.
  struct Server {
    std::unique_ptr<kube::KubeClient> client;
    std::unique_ptr<kube::LiveCache> live;
    diff::PlanMemo memo;
  };
  std::map<std::string, Server> clients_;
  std::map<std::string, std::string> server_of_;  // cluster name -> server, once resolved
  std::map<std::string, std::unique_ptr<rollout::KubeWorkloads>> workloads_;
};

}  // namespace

void ForEachAtOnce(size_t n, int concurrency, const std::function<void(size_t)>& fn) {
  std::atomic<size_t> next{0};
  auto work = [&] {
    for (size_t i; (i = next.fetch_add(1)) < n;) fn(i);
  };
  const size_t threads = std::min(n, static_cast<size_t>(std::max(1, concurrency)));
  std::vector<std::thread> helpers;
  for (size_t t = 1; t < threads; ++t) helpers.emplace_back(work);
  work();  // the calling thread is one of them
  for (auto& h : helpers) h.join();
}

std::vector<apply::ExecuteResult> ClusterAccess::ExecuteAll(const std::vector<ExecuteJob>& jobs) {
  std::vector<apply::ExecuteResult> results(jobs.size());
  std::vector<std::vector<size_t>> lanes;
  std::map<std::string, size_t> lane_of;
  for (size_t i = 0; i < jobs.size(); ++i) {
    auto [it, added] = lane_of.emplace(jobs[i].lane, lanes.size());
    if (added) lanes.emplace_back();
    lanes[it->second].push_back(i);
  }
  ForEachAtOnce(lanes.size(), Concurrency(), [&](size_t lane) {
    for (size_t i : lanes[lane])
      results[i] = Execute(jobs[i].server, *jobs[i].plan, jobs[i].commit);
  });
  return results;
}

std::unique_ptr<ClusterAccess> NewClusterAccess(ClusterMapping mapping,
                                                kube::ClientOptions options) {
  return std::make_unique<RealClusterAccess>(std::move(mapping), std::move(options));
}

}  // namespace pagoda::daemon
