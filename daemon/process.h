// The running daemon: its threads and who owns what (docs/architecture.md,
// "The process model"). Internal to daemon/.
//
//   the loop thread    (the one that calls Run()) owns the Runtime: the
//                      Reconciler, its clusters, every release order. It
//                      steps, answers the Inbox, publishes a Snapshot after
//                      each step, writes status.json, feeds the watchdog.
//   the fetcher        runs one Git fetch at a time (in a child process,
//                      bounded by fetchTimeout) and hands the result to the
//                      loop through the Inbox.
//   the signal thread  turns SIGTERM/SIGINT into a stop and SIGHUP into a
//                      reload, both messages to the loop.
//   control, HTTP      answer from the Snapshot (status, /readyz, /metrics,
//                      /healthz) or put work in the Inbox and wait for its
//                      answer with a deadline (pause, resume, abort,
//                      rollback, unpin, sync-now, webhooks).
//
// No thread but the loop touches the Runtime, and no lock is held across
// network or disk I/O.
#pragma once

#include <rapidjson/document.h>
#include <signal.h>

#include <atomic>
#include <condition_variable>
#include <iosfwd>
#include <memory>
#include <mutex>
#include <optional>
#include <string>
#include <thread>

#include "control/control.h"
#include "daemon/cluster_clients.h"
#include "daemon/daemon.h"
#include "daemon/gates.h"
#include "daemon/inbox.h"
#include "daemon/leadership.h"
#include "daemon/loop_metrics.h"
#include "daemon/mirror.h"
#include "daemon/notifications.h"
#include "daemon/runtime.h"
#include "journal/journal.h"
#include "server/http_server.h"
#include "server/webhook.h"
#include "source/source.h"

namespace pagoda::daemon {

// What the loop publishes after each step, for the other threads.
struct Published {
  LoopStatus status;
  std::shared_ptr<const DaemonConfig> config;
  std::pair<bool, std::string> readiness{false, "starting"};
  SideStatus side;  // leadership and the mirror
};

// One fetch at a time, on a thread of its own.
class Fetcher {
 public:
  Fetcher(GitSource& git, Inbox& inbox, std::function<void(Result<FetchResult>)> done);
  ~Fetcher();  // ends a fetch in hand (its child is killed) and the thread
  // Starts a fetch; one asked for while another runs starts after it.
  void Start();

 private:
  void Run();

  GitSource& git_;
  Inbox& inbox_;
  std::function<void(Result<FetchResult>)> done_;
  std::mutex mu_;
  std::condition_variable cv_;
  bool wanted_ = false, stop_ = false, running_ = false;
  std::thread thread_;
};

class Process final : public LoopHooks {
 public:
  Process(DaemonFlags flags, DaemonConfig config, std::unique_ptr<Journal> journal,
          std::unique_ptr<GitSource> git, std::string webhook_secret);
  ~Process() override;

  // Starts the servers and threads, then runs the loop on this thread until
  // SIGTERM or SIGINT. Returns the exit code.
  int Run(std::ostream& err);

  // LoopHooks, on the loop thread, between environments and orders.
  bool Stopping() override { return stop_.load(); }
  void Between() override;

 private:
  Status StartServers();
  void StartSignalThread();
  void Publish();
  void Beat();
  void Reload();
  std::unique_ptr<Runtime> Build(const DaemonConfig& config);
  // A new dispatcher when `config`'s receivers, or their files, changed.
  void ConfigureNotifications(const DaemonConfig& config);
  std::string Control(const rapidjson::Document& request);
  std::string Steer(const std::string& command, const std::string& id);
  Result<std::string> SteerRelease(const std::string& command, const std::string& id);
  Result<std::string> StartRollback(const std::string& app, const std::string& env,
                                    const std::string& to);
  Result<std::string> DashboardAction(const std::string& action, const std::string& target,
                                      const std::string& to);
  void AddDashboardEndpoints(const DaemonConfig& config);
  server::WebhookAnswer Webhook(const server::WebhookHeaders& headers, std::string_view body);
  std::pair<bool, std::string> Healthy() const;
  void AnnounceStatus(const LoopStatus& status);
  // Leadership's and the mirror's threads, when the config asks for them.
  void StartLeadership(const DaemonConfig& config);
  void ResetSideClients(const DaemonConfig& config);
  void SeedReleaseIds(const DaemonConfig& config);
  void StartMirror(const DaemonConfig& config);
  // Leadership's hooks: what it tells the loop, on its own thread.
  void OwnershipChanged(std::shared_ptr<const Ownership> ownership,
                        std::vector<Leadership::Takeover> takeovers);
  bool LetGo(std::shared_ptr<const Ownership> ownership);
  SideStatus Side() const;

  const DaemonFlags flags_;
  std::unique_ptr<Journal> journal_;
  std::unique_ptr<GitSource> git_;
  LoopMetrics metrics_;
  Notifications notifications_{metrics_};           // in front of metrics_
  MirrorObserver mirror_observer_{notifications_};  // in front of notifications_
  // This replica's name with leadership ("" without), and what its
  // requests say they are.
  std::string identity_;
  std::string user_agent_;
  // Clients of the threads beside the loop (the mirror, leadership's reads).
  std::shared_ptr<ClusterClients> side_clients_;
  std::unique_ptr<kube::KubeClient> lease_client_;
  std::unique_ptr<ReleaseObjects> takeover_objects_;  // leadership's reads
  int64_t renew_deadline_ms_ = 0;                     // of ha, which a reload keeps
  std::unique_ptr<Leadership> leadership_;
  std::unique_ptr<Mirror> mirror_;
  std::vector<notify::Receiver> receivers_;  // the dispatcher's, secrets read
  Inbox inbox_;
  Snapshot<Published> published_;
  std::unique_ptr<Runtime> runtime_;  // the loop thread's alone
  std::unique_ptr<Fetcher> fetcher_;
  std::unique_ptr<GateWorker> gate_worker_;
  std::unique_ptr<control::ControlServer> control_;
  std::unique_ptr<server::HttpServer> http_;
  server::HttpEndpoints endpoints_;
  // The webhook's verifier, replaced by a reload; the mutex guards the pointer.
  std::mutex verifier_mu_;
  std::shared_ptr<server::WebhookVerifier> verifier_;
  std::string webhook_secret_;
  std::atomic<bool> stop_{false};
  std::atomic<int64_t> heartbeat_ms_{0};  // steady clock, when the loop last moved
  int64_t last_watchdog_ms_ = 0;
  std::string service_status_;
  // status.json, the loop thread's alone: rewritten when the status
  // changes, or once a minute to keep its time.
  std::optional<control::StatusFile> status_file_;
  bool announced_ready_ = false;
  sigset_t signals_{};
  std::thread signal_thread_;
};

}  // namespace pagoda::daemon
