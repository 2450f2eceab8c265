#include "daemon/daemon.h"

#include <signal.h>
#include <spdlog/spdlog.h>
#include <sys/stat.h>

#include <atomic>
#include <cctype>
#include <condition_variable>
#include <filesystem>
#include <ostream>
#include <thread>

#include "base/file.h"
#include "base/json.h"
#include "base/url.h"
#include "control/control.h"
#include "daemon/config.h"
#include "daemon/log_format.h"
#include "daemon/loop.h"
#include "daemon/loop_metrics.h"
#include "daemon/systemd_notify.h"
#include "journal/journal.h"
#include "manifest/manifest.h"
#include "server/http_server.h"
#include "server/webhook.h"
#include "source/source.h"

namespace pagoda::daemon {

using control::ControlError;
using control::ControlOk;
using control::ControlServer;
using control::StatusDocument;
using control::WriteStatusFile;
using server::HttpEndpoints;
using server::HttpServer;
using server::ParseListenAddress;
using server::WebhookAnswer;
using server::WebhookHeaders;
using server::WebhookVerifier;

using source::GitRef;
using source::GitSourceOptions;
using source::OpenGitSource;
namespace {

constexpr int kUsage = 2;
constexpr int kFailed = 3;

Status ApplyOverrides(const DaemonFlags& flags, DaemonConfig* config) {
  if (!flags.repo.empty()) config->repo = flags.repo;
  if (!flags.ref.empty()) config->ref = flags.ref;
  if (!flags.path.empty()) config->path = flags.path;
  if (!flags.state_dir.empty())
    config->state_dir = std::filesystem::absolute(flags.state_dir).string();
  for (auto [text, target] : {std::pair{&flags.interval, &config->interval_ms},
                              std::pair{&flags.drift_interval, &config->drift_interval_ms}}) {
    if (text->empty()) continue;
    auto ms = manifest::ParseDuration(*text);
    if (!ms.ok() || *ms < 1000) {
      return Status::InvalidArgument("--interval/--drift-interval " + *text +
                                     ": a duration of 1s or more");
    }
    *target = *ms;
  }
  if (config->repo.empty())
    return Status::InvalidArgument("no repo: set it in the config or with --repo");
  return Status::Ok();
}

StatusDocument ToDocument(const LoopStatus& s, const DaemonConfig& config) {
  StatusDocument doc;
  doc.time = s.time_ms;
  doc.commit = {s.commit, s.commit_summary};
  doc.repo = {RedactUrl(config.repo), config.ref, s.last_fetch_ms, s.repo_error};
  for (const auto& e : s.environments) {
    StatusDocument::Environment env;
    env.app = e.app;
    env.env = e.env;
    env.cluster = e.cluster;
    env.revision = e.revision;
    env.commit = e.commit;
    env.ready = static_cast<int>(e.ready);
    env.replicas = static_cast<int>(e.replicas);
    env.drift = e.drift;
    env.release = e.release;
    env.release_phase = e.release_phase;
    env.batches_done = e.batches_done;
    env.batches_total = e.batches_total;
    env.held_seconds = static_cast<int>(e.held_ms / 1000);
    env.error = e.error;
    if (!e.pinned_commit.empty())
      env.pinned = StatusDocument::Pin{e.pinned_commit, e.pinned_since_ms};
    if (!e.error.empty() && e.revision.empty()) {
      env.health = StatusDocument::Health::kUnknown;
    } else if (e.ready >= e.replicas && !e.drift) {
      env.health = StatusDocument::Health::kHealthy;
    } else if (!e.error.empty()) {
      env.health = StatusDocument::Health::kDegraded;
    } else {
      env.health = StatusDocument::Health::kProgressing;
    }
    doc.environments.push_back(std::move(env));
  }
  std::sort(doc.environments.begin(), doc.environments.end(), [](const auto& a, const auto& b) {
    return std::tie(a.app, a.env) < std::tie(b.app, b.env);
  });
  return doc;
}

// The webhook secret: the file's content less trailing whitespace.
Result<std::string> ReadWebhookSecret(const DaemonConfig& config) {
  if (config.webhook_secret_file.empty()) return std::string();
  auto text = ReadFile(config.webhook_secret_file, 4096);
  if (!text.ok()) return text.status().WithContext("http.webhookSecretFile");
  std::string secret = *text;
  while (!secret.empty() && std::isspace(static_cast<unsigned char>(secret.back())))
    secret.pop_back();
  if (secret.empty()) {
    return Status::InvalidArgument("http.webhookSecretFile " + config.webhook_secret_file +
                                   " is empty");
  }
  return secret;
}

// One configuration's worth of the running daemon: the clusters and the loop
// over them. A reload builds a new one between two steps; the Git source and
// the journal stay. Like a restart, a new loop reads what is in flight from
// the journal, and fetches and reconciles at once.
struct Runtime {
  DaemonConfig config;
  std::unique_ptr<ClusterAccess> clusters;
  std::unique_ptr<Reconciler> reconciler;
};

std::shared_ptr<Runtime> NewRuntime(const DaemonConfig& config, GitSource& git, Journal& journal,
                                    LoopObserver* observer) {
  auto rt = std::make_shared<Runtime>();
  rt->config = config;
  ClusterMapping mapping;
  LoopOptions loop_options;
  ApplyRepositoryConfig(config, &loop_options.load);
  for (const auto& [name, cluster] : config.clusters) {
    loop_options.load.known_clusters.push_back(name);
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
  kube::ClientOptions client_options;
  client_options.qps = config.qps;
  client_options.burst = config.burst;
  client_options.limit_under_flow_control = config.rate_limit_given;
  rt->clusters = NewClusterAccess(mapping, client_options);
  loop_options.interval_ms = config.interval_ms;
  loop_options.drift_interval_ms = config.drift_interval_ms;
  loop_options.repo_url = RedactUrl(config.repo);
  loop_options.observer = observer;
  rt->reconciler = std::make_unique<Reconciler>(loop_options, git, journal, *rt->clusters,
                                                RealClock(), config.PinsPath());
  return rt;
}

// What /readyz says: fetched and reconciled in this process, every cluster
// reachable at the last cycle.
std::pair<bool, std::string> Readiness(const LoopStatus& s) {
  if (s.last_fetch_ms == 0) {
    return {false, s.repo_error.empty() ? "the repository was not fetched yet"
                                        : "the repository was never fetched: " + s.repo_error};
  }
  if (s.last_reconcile_ms == 0) return {false, "no reconcile yet"};
  if (!s.unreachable_clusters.empty()) {
    std::string list;
    for (const auto& c : s.unreachable_clusters) list += (list.empty() ? "" : ", ") + c;
    return {false, "clusters not reachable at the last reconcile: " + list};
  }
  return {true, ""};
}

// The STATUS= line for the service manager.
std::string ServiceStatus(const LoopStatus& s) {
  int in_flight = 0;
  for (const auto& e : s.environments) in_flight += !e.release.empty();
  std::string text = s.commit.empty() ? "no commit yet" : "commit " + s.commit.substr(0, 12);
  text +=
      ", " + std::to_string(in_flight) + (in_flight == 1 ? " release" : " releases") + " in flight";
  if (!s.repo_error.empty()) text += ", fetch failing";
  if (!s.unreachable_clusters.empty()) text += ", a cluster is unreachable";
  return text;
}

}  // namespace

int RunDaemon(const DaemonFlags& flags, std::ostream& err) {
  if (flags.config.empty() && flags.repo.empty()) {
    err << "pagoda daemon: --config FILE (or at least --repo) is required\n";
    return kUsage;
  }
  DaemonConfig config;
  if (!flags.config.empty()) {
    auto loaded = LoadDaemonConfig(flags.config);
    if (!loaded.ok()) {
      err << "pagoda daemon: " << loaded.status().message() << "\n";
      return kUsage;
    }
    config = std::move(*loaded);
  }
  if (Status st = ApplyOverrides(flags, &config); !st.ok()) {
    err << "pagoda daemon: " << st.message() << "\n";
    return kUsage;
  }
  if (auto listen = ParseListenAddress(config.http_listen); !listen.ok()) {
    err << "pagoda daemon: " << listen.status().message() << "\n";
    return kUsage;
  }
  auto secret = ReadWebhookSecret(config);
  if (!secret.ok()) {
    err << "pagoda daemon: " << secret.status().ToString() << "\n";
    return kUsage;
  }
  ConfigureDaemonLogging(config.log_format);

  // Signals are taken by one thread with sigwait; every other thread,
  // created below, inherits the mask.
  sigset_t signals;
  sigemptyset(&signals);
  for (int sig : {SIGTERM, SIGINT, SIGHUP}) sigaddset(&signals, sig);
  pthread_sigmask(SIG_BLOCK, &signals, nullptr);

  std::error_code ec;
  std::filesystem::create_directories(config.state_dir, ec);
  if (ec) {
    err << "pagoda daemon: state directory " << config.state_dir << ": " << ec.message() << "\n";
    return kFailed;
  }
  ::chmod(config.state_dir.c_str(), 0700);

  auto journal = Journal::Open(config.JournalPath());
  if (!journal.ok()) {
    err << "pagoda daemon: journal " << config.JournalPath() << ": " << journal.status().ToString()
        << "\n";
    return kFailed;
  }
  if ((*journal)->recovery().truncated) {
    const auto& r = (*journal)->recovery();
    spdlog::warn("journal {}: cut a damaged last line ({}, {} bytes at offset {}); {} records kept",
                 config.JournalPath(), r.reason, r.dropped_bytes, r.truncated_at, r.lines);
  }

  GitSourceOptions git_options;
  git_options.url = config.repo;
  auto ref = GitRef::Parse(config.ref);
  if (!ref.ok()) {
    err << "pagoda daemon: ref " << config.ref << ": " << ref.status().message() << "\n";
    return kUsage;
  }
  git_options.ref = *ref;
  git_options.path = config.path;
  git_options.clone_dir = config.CloneDir();
  git_options.auth = {config.auth.username,     config.auth.password_file,
                      config.auth.password_env, config.auth.ssh_key,
                      config.auth.known_hosts,  config.auth.accept_unknown_hosts};
  auto git = OpenGitSource(git_options);
  if (!git.ok()) {
    err << "pagoda daemon: repository: " << git.status().ToString() << "\n";
    return kFailed;
  }

  LoopMetrics metrics;
  // The runtime and the webhook's verifier, replaced by a reload. Requests
  // from the control socket and HTTP take a reference and work with it.
  std::mutex runtime_mu;
  std::shared_ptr<Runtime> runtime = NewRuntime(config, **git, **journal, &metrics);
  auto verifier = std::make_shared<WebhookVerifier>(*secret);
  auto current = [&] {
    std::lock_guard<std::mutex> lock(runtime_mu);
    return runtime;
  };

  std::mutex mu;
  std::condition_variable wake;
  bool woken = false;
  std::atomic<bool> stop{false};
  std::atomic<bool> reload{false};
  // Asked for by sync-now and webhooks, taken by the loop before its next
  // step: any number of requests meanwhile make one fetch, and a request
  // never waits for a step in hand.
  std::atomic<bool> sync_wanted{false};
  auto notify = [&] {
    std::lock_guard<std::mutex> lock(mu);
    woken = true;
    wake.notify_all();
  };
  // Readiness as of the last step, for /readyz without waiting on the loop.
  std::mutex ready_mu;
  std::pair<bool, std::string> readiness{false, "starting"};

  auto control = ControlServer::Start(config.SocketPath(), [&](const rapidjson::Document& request) {
    const std::string command = json::StringAt(request, "command");
    auto rt = current();
    Reconciler& reconciler = *rt->reconciler;
    if (command == "status") {
      return "{\"ok\":true,\"status\":" + ToDocument(reconciler.Snapshot(), rt->config).ToJson() +
             "}";
    }
    if (command == "sync-now") {
      sync_wanted = true;
      notify();
      return ControlOk();
    }
    if (command == "rollback") {
      auto id = reconciler.Rollback(json::StringAt(request, "app"), json::StringAt(request, "env"),
                                    json::StringAt(request, "to"));
      if (!id.ok()) return ControlError(id.status().message());
      notify();
      return "{\"ok\":true,\"release\":\"" + *id + "\"}";
    }
    if (command == "unpin") {
      Status st = reconciler.Unpin(json::StringAt(request, "app"), json::StringAt(request, "env"));
      if (!st.ok()) return ControlError(st.message());
      notify();
      return ControlOk();
    }
    if (command == "pause" || command == "resume" || command == "abort") {
      const std::string id = json::StringAt(request, "id");
      Status st = command == "pause"    ? reconciler.Pause(id)
                  : command == "resume" ? reconciler.Resume(id)
                                        : reconciler.Abort(id);
      if (!st.ok()) return ControlError(st.message());
      notify();
      return ControlOk();
    }
    return ControlError("unknown command \"" + command + "\"");
  });
  if (!control.ok()) {
    err << "pagoda daemon: control socket: " << control.status().message() << "\n";
    return kFailed;
  }

  HttpEndpoints endpoints;
  endpoints.ready = [&] {
    std::lock_guard<std::mutex> lock(ready_mu);
    return readiness;
  };
  endpoints.metrics = [&] { return metrics.Render(); };
  endpoints.webhook = [&](const WebhookHeaders& headers, std::string_view body) {
    std::shared_ptr<WebhookVerifier> v;
    {
      std::lock_guard<std::mutex> lock(runtime_mu);
      v = verifier;
    }
    WebhookAnswer answer = v->Handle(headers, body);
    metrics.Webhook(answer);
    if (answer.fetch) {
      spdlog::info("webhook: {} push{}{}: fetching now", answer.source,
                   answer.ref.empty() ? "" : " to ", answer.ref);
      sync_wanted = true;
      notify();
    } else if (answer.http_status >= 400) {
      spdlog::warn("webhook: {} ({})", answer.message, answer.http_status);
    }
    return answer;
  };
  auto http = HttpServer::Start(config.http_listen, endpoints);
  if (!http.ok()) {
    err << "pagoda daemon: " << http.status().message() << "\n";
    return kFailed;
  }
  spdlog::info("http: listening on {} (/healthz, /readyz, /metrics, /webhook{})",
               (*http)->address(), secret->empty() ? " disabled" : "");

  std::thread signal_thread([&] {
    for (;;) {
      int sig = 0;
      if (sigwait(&signals, &sig) != 0) continue;
      if (sig == SIGHUP) {
        reload = true;
        notify();
        continue;
      }
      spdlog::info("{}: stopping after the step in hand", sig == SIGTERM ? "SIGTERM" : "SIGINT");
      stop = true;
      notify();
      return;
    }
  });

  // SIGHUP: read the config again. A config that does not load, check or
  // bind is rejected whole and the running one kept; what can change without
  // a restart (intervals, clusters, rate limits, the HTTP address, the
  // webhook secret, the log format) takes effect before the next step.
  auto reload_config = [&] {
    if (flags.config.empty()) {
      spdlog::warn("SIGHUP: no --config file to reload");
      return;
    }
    (void)NotifyServiceManager("RELOADING=1");
    auto reject = [&](const std::string& why) {
      spdlog::error("SIGHUP: the new config is rejected, the running one is kept: {}", why);
      (void)NotifyServiceManager("READY=1");
    };
    auto loaded = LoadDaemonConfig(flags.config);
    if (!loaded.ok()) return reject(loaded.status().message());
    DaemonConfig next = std::move(*loaded);
    if (Status st = ApplyOverrides(flags, &next); !st.ok()) return reject(st.message());
    if (auto listen = ParseListenAddress(next.http_listen); !listen.ok()) {
      return reject(listen.status().message());
    }
    auto next_secret = ReadWebhookSecret(next);
    if (!next_secret.ok()) return reject(next_secret.status().ToString());
    auto old = current();
    const DaemonConfig& was = old->config;
    std::vector<std::string> kept;
    if (next.repo != was.repo) kept.push_back("repo");
    if (next.ref != was.ref) kept.push_back("ref");
    if (next.path != was.path) kept.push_back("path");
    if (next.state_dir != was.state_dir) kept.push_back("stateDir");
    if (next.auth.username != was.auth.username ||
        next.auth.password_file != was.auth.password_file ||
        next.auth.password_env != was.auth.password_env || next.auth.ssh_key != was.auth.ssh_key ||
        next.auth.known_hosts != was.auth.known_hosts ||
        next.auth.accept_unknown_hosts != was.auth.accept_unknown_hosts) {
      kept.push_back("auth");
    }
    if (!kept.empty()) {
      std::string list;
      for (const auto& k : kept) list += (list.empty() ? "" : ", ") + k;
      spdlog::warn("SIGHUP: {} changed; that takes a restart, the running value is kept", list);
      next.repo = was.repo;
      next.ref = was.ref;
      next.path = was.path;
      next.state_dir = was.state_dir;
      next.auth = was.auth;
    }
    if (next.http_listen != was.http_listen) {
      auto moved = HttpServer::Start(next.http_listen, endpoints);
      if (!moved.ok()) return reject(moved.status().message());
      *http = std::move(*moved);
      spdlog::info("http: listening on {}", (*http)->address());
    }
    ConfigureDaemonLogging(next.log_format);
    metrics.Retire(old->clusters->RequestStatsByServer());
    auto fresh = NewRuntime(next, **git, **journal, &metrics);
    {
      std::lock_guard<std::mutex> lock(runtime_mu);
      runtime = fresh;
      if (*next_secret != *secret) {
        verifier = std::make_shared<WebhookVerifier>(*next_secret);
        *secret = *next_secret;
      }
    }
    std::string clusters;
    for (const auto& [name, c] : next.clusters) clusters += (clusters.empty() ? "" : ", ") + name;
    spdlog::info("SIGHUP: reloaded {}: fetch every {} ms, reconcile every {} ms, clusters {}",
                 next.source, next.interval_ms, next.drift_interval_ms,
                 clusters.empty() ? "(none)" : clusters);
    (void)NotifyServiceManager("READY=1");
  };

  spdlog::info(
      "pagoda daemon: repo {} ref {}, state in {}, fetch every {} ms, reconcile every {} ms",
      RedactUrl(config.repo), config.ref, config.state_dir, config.interval_ms,
      config.drift_interval_ms);
  bool announced_ready = false;
  std::string service_status;
  while (!stop) {
    if (reload.exchange(false)) reload_config();
    auto rt = current();
    if (sync_wanted.exchange(false)) rt->reconciler->RequestSync();
    Clock::TimePoint next = rt->reconciler->Step();
    LoopStatus snapshot = rt->reconciler->Snapshot();
    if (Status st = WriteStatusFile(rt->config.StatusPath(), ToDocument(snapshot, rt->config));
        !st.ok()) {
      spdlog::warn("writing {}: {}", rt->config.StatusPath(), st.ToString());
    }
    auto ready = Readiness(snapshot);
    {
      std::lock_guard<std::mutex> lock(ready_mu);
      readiness = ready;
    }
    metrics.Update(snapshot, ready.first, rt->clusters->RequestStatsByServer());
    // Ready for the service manager once the first fetch and reconcile were
    // tried: a repository or cluster that is down shows in STATUS= and
    // /readyz, and is retried, rather than failing the start.
    std::string status_line = ServiceStatus(snapshot);
    if (!announced_ready || status_line != service_status) {
      (void)NotifyServiceManager(std::string(announced_ready ? "" : "READY=1\n") +
                                 "STATUS=" + status_line);
      announced_ready = true;
      service_status = status_line;
    }
    std::unique_lock<std::mutex> lock(mu);
    wake.wait_until(lock, next,
                    [&] { return woken || stop.load() || reload.load() || sync_wanted.load(); });
    woken = false;
  }
  (void)NotifyServiceManager("STOPPING=1\nSTATUS=stopping");
  http->reset();
  control->reset();
  // The signal thread has returned once stop is set.
  signal_thread.join();
  spdlog::info("pagoda daemon stopped");
  return 0;
}

}  // namespace pagoda::daemon
