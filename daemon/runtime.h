// One configuration's worth of the running daemon, and what the process
// shows of it: the status document, readiness, the service manager's
// status line. Internal to daemon/.
#pragma once

#include <functional>
#include <memory>
#include <string>
#include <utility>

#include "control/control.h"
#include "daemon/config.h"
#include "daemon/daemon.h"
#include "daemon/leadership.h"
#include "daemon/loop.h"
#include "daemon/mirror.h"

namespace pagoda::daemon {

// The clusters and the loop over them, for one config. A reload makes a
// new one on the loop thread; like a restart, its loop reads what is in
// flight from the journal.
struct Runtime {
  std::shared_ptr<const DaemonConfig> config;
  std::unique_ptr<ClusterAccess> clusters;
  std::unique_ptr<Reconciler> reconciler;
};

struct RuntimeParts {
  GitSource& git;
  Journal& journal;
  LoopObserver* observer;
  LoopHooks* hooks;
  std::function<void()> start_fetch;
  std::function<void(GateCheck)> start_gate_check;
  std::map<std::string, GateWebhook> gate_webhooks;  // ReadGateWebhooks()
  std::string user_agent = "pagoda";                 // this replica's, on every request
  std::shared_ptr<kube::WriteGate> write_gate;       // leadership's fence; nullptr: none
  std::chrono::milliseconds write_timeout{0};        // with the fence (WriteTimeout); 0: none
};
std::unique_ptr<Runtime> NewRuntime(const DaemonConfig& config, const RuntimeParts& parts);

// The command line's overrides of the config file.
Status ApplyOverrides(const DaemonFlags& flags, DaemonConfig* config);
// The webhook secret: the file's content less trailing whitespace; "" without one.
Result<std::string> ReadWebhookSecret(const DaemonConfig& config);
// The dashboard's token: the file's content less trailing whitespace; ""
// (read-only) without one.
Result<std::string> ReadDashboardToken(const DaemonConfig& config);
// The gates' webhooks with their secrets read; an error when one cannot be.
Result<std::map<std::string, GateWebhook>> ReadGateWebhooks(const DaemonConfig& config);

// The notification receivers with their URLs, secrets and tokens read; an
// error when one cannot be.
Result<std::vector<notify::Receiver>> ReadReceivers(const DaemonConfig& config);

// What the threads beside the loop show: leadership, and the mirror.
struct SideStatus {
  std::optional<LeadershipStatus> leadership;
  std::optional<Mirror::Stats> mirror;
};
control::StatusDocument ToDocument(const LoopStatus& s, const DaemonConfig& config,
                                   const SideStatus& side = {});
// What /readyz says: fetched and reconciled in this process, every cluster
// reachable at the last cycle, the journal writable.
std::pair<bool, std::string> Readiness(const LoopStatus& s);
// The STATUS= line for the service manager.
std::string ServiceStatus(const LoopStatus& s);

}  // namespace pagoda::daemon
