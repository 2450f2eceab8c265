// SIGHUP, on the loop thread between two steps: the config file read again.
#include <spdlog/spdlog.h>

#include "daemon/log_format.h"
#include "daemon/process.h"
#include "daemon/systemd_notify.h"

namespace pagoda::daemon {
namespace {

// What only a restart may change; a reload keeps the running values.
std::vector<std::string> KeptForARestart(const DaemonConfig& was, DaemonConfig* next) {
  std::vector<std::string> kept;
  if (next->repo != was.repo) kept.push_back("repo");
  if (next->ref != was.ref) kept.push_back("ref");
  if (next->path != was.path) kept.push_back("path");
  if (next->state_dir != was.state_dir) kept.push_back("stateDir");
  if (next->fetch_timeout_ms != was.fetch_timeout_ms) kept.push_back("fetchTimeout");
  const auto& a = next->auth;
  const auto& b = was.auth;
  if (a.username != b.username || a.password_file != b.password_file ||
      a.password_env != b.password_env || a.ssh_key != b.ssh_key ||
      a.known_hosts != b.known_hosts || a.accept_unknown_hosts != b.accept_unknown_hosts) {
    kept.push_back("auth");
  }
  if (next->dashboard_token_file != was.dashboard_token_file) {
    kept.push_back("http.dashboardTokenFile");
  }
  // Who this replica is among others, and what it mirrors where, are set
  // when it starts: a replica does not change its Leases under way.
  if (next->ha != was.ha) kept.push_back("ha");
  if (next->mirror != was.mirror) kept.push_back("releases");
  next->ha = was.ha;
  next->mirror = was.mirror;
  next->dashboard_token_file = was.dashboard_token_file;
  next->repo = was.repo;
  next->ref = was.ref;
  next->path = was.path;
  next->state_dir = was.state_dir;
  next->fetch_timeout_ms = was.fetch_timeout_ms;
  next->auth = was.auth;
  return kept;
}

std::string Joined(const std::vector<std::string>& words) {
  std::string out;
  for (const auto& w : words) out += (out.empty() ? "" : ", ") + w;
  return out;
}

}  // namespace

// A config that does not load, check or bind is refused whole and the
// running one kept; what can change without a restart (intervals, clusters,
// rate limits, tenancy, the HTTP address, the webhook secret, the log
// format) takes effect before the next step. Releases in flight go on: the
// new loop reads them, and the decisions they took, from the journal.
void Process::Reload() {
  if (stop_) return;  // a stop asked for wins over a reload
  if (flags_.config.empty()) {
    spdlog::warn("SIGHUP: no --config file to reload");
    return;
  }
  TellServiceManager("RELOADING=1");
  auto refuse = [](const std::string& why) {
    spdlog::error("SIGHUP: the new config is rejected, the running one is kept: {}", why);
    TellServiceManager("READY=1");
  };
  auto loaded = LoadDaemonConfig(flags_.config);
  if (!loaded.ok()) return refuse(loaded.status().message());
  DaemonConfig next = std::move(*loaded);
  if (Status st = ApplyOverrides(flags_, &next); !st.ok()) return refuse(st.message());
  if (auto listen = server::ParseListenAddress(next.http_listen); !listen.ok()) {
    return refuse(listen.status().message());
  }
  auto secret = ReadWebhookSecret(next);
  if (!secret.ok()) return refuse(secret.status().ToString());
  if (auto hooks = ReadGateWebhooks(next); !hooks.ok()) return refuse(hooks.status().ToString());
  if (auto receivers = ReadReceivers(next); !receivers.ok()) {
    return refuse(receivers.status().ToString());
  }
  const DaemonConfig& was = *runtime_->config;
  if (auto kept = KeptForARestart(was, &next); !kept.empty()) {
    spdlog::warn("SIGHUP: {} changed; that takes a restart, the running value is kept",
                 Joined(kept));
  }
  if (next.http_listen != was.http_listen) {
    auto moved = server::HttpServer::Start(next.http_listen, endpoints_);
    if (!moved.ok()) return refuse(moved.status().message());
    http_ = std::move(*moved);
    spdlog::info("http: listening on {}", http_->address());
  }
  ConfigureDaemonLogging(next.log_format);
  metrics_.Retire(runtime_->clusters->RequestStatsByServer());
  runtime_.reset();  // its watches end; what was in flight is in the journal
  ConfigureNotifications(next);
  ResetSideClients(next);
  runtime_ = Build(next);
  if (*secret != webhook_secret_) {
    std::lock_guard lock(verifier_mu_);
    verifier_ = std::make_shared<server::WebhookVerifier>(*secret);
    webhook_secret_ = *secret;
  }
  std::vector<std::string> clusters;
  for (const auto& [name, c] : next.clusters) clusters.push_back(name);
  spdlog::info("SIGHUP: reloaded {}: fetch every {} ms, reconcile every {} ms, clusters {}",
               next.source, next.interval_ms, next.drift_interval_ms,
               clusters.empty() ? "(none)" : Joined(clusters));
  Publish();
  TellServiceManager("READY=1");
}

}  // namespace pagoda::daemon
