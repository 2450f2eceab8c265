#include "daemon/daemon.h"

#include <signal.h>
#include <spdlog/spdlog.h>
#include <sys/stat.h>

#include <atomic>
#include <condition_variable>
#include <filesystem>
#include <ostream>
#include <thread>

#include "daemon/config.h"
#include "daemon/control.h"
#include "daemon/git_source.h"
#include "daemon/journal.h"
#include "daemon/loop.h"
#include "manifest/manifest.h"

namespace pagoda::daemon {
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

std::string Str(const rapidjson::Document& request, const char* name) {
  auto it = request.FindMember(name);
  return it != request.MemberEnd() && it->value.IsString() ? it->value.GetString() : "";
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

  ClusterMapping mapping;
  LoopOptions loop_options;
  for (const auto& [name, cluster] : config.clusters) {
    loop_options.known_clusters.push_back(name);
    if (cluster.in_cluster) {
      mapping.in_cluster_names.insert(name);
    } else if (!cluster.kubeconfig.empty()) {
      mapping.explicit_targets[name] =
          cluster.kubeconfig + (cluster.context.empty() ? "" : ":" + cluster.context);
    } else if (!cluster.context.empty()) {
      mapping.explicit_targets[name] = cluster.context;
    }
  }
  apply::ClientOptions client_options;
  client_options.qps = config.qps;
  client_options.burst = config.burst;
  auto clusters = NewClusterAccess(mapping, client_options);
  loop_options.interval_ms = config.interval_ms;
  loop_options.drift_interval_ms = config.drift_interval_ms;
  loop_options.repo_url = RedactUrl(config.repo);
  Reconciler reconciler(loop_options, **git, **journal, *clusters, RealClock(), config.PinsPath());

  std::mutex mu;
  std::condition_variable wake;
  bool woken = false;
  std::atomic<bool> stop{false};
  auto notify = [&] {
    std::lock_guard<std::mutex> lock(mu);
    woken = true;
    wake.notify_all();
  };

  auto control = ControlServer::Start(config.SocketPath(), [&](const rapidjson::Document& request) {
    const std::string command = Str(request, "command");
    if (command == "status") {
      return "{\"ok\":true,\"status\":" + ToDocument(reconciler.Snapshot(), config).ToJson() + "}";
    }
    if (command == "sync-now") {
      reconciler.RequestSync();
      notify();
      return ControlOk();
    }
    if (command == "rollback") {
      auto id = reconciler.Rollback(Str(request, "app"), Str(request, "env"), Str(request, "to"));
      if (!id.ok()) return ControlError(id.status().message());
      notify();
      return "{\"ok\":true,\"release\":\"" + *id + "\"}";
    }
    if (command == "unpin") {
      Status st = reconciler.Unpin(Str(request, "app"), Str(request, "env"));
      if (!st.ok()) return ControlError(st.message());
      notify();
      return ControlOk();
    }
    if (command == "pause" || command == "resume" || command == "abort") {
      return ControlError("releases are applied at once in this version: there is nothing to " +
                          command);
    }
    return ControlError("unknown command \"" + command + "\"");
  });
  if (!control.ok()) {
    err << "pagoda daemon: control socket: " << control.status().message() << "\n";
    return kFailed;
  }

  std::thread signal_thread([&] {
    for (;;) {
      int sig = 0;
      if (sigwait(&signals, &sig) != 0) continue;
      if (sig == SIGHUP) {
        spdlog::warn(
            "SIGHUP: this version reads its config only at start; restart to apply changes");
        continue;
      }
      spdlog::info("{}: stopping after the step in hand", sig == SIGTERM ? "SIGTERM" : "SIGINT");
      stop = true;
      notify();
      return;
    }
  });

  spdlog::info(
      "pagoda daemon: repo {} ref {}, state in {}, fetch every {} ms, reconcile every {} ms",
      RedactUrl(config.repo), config.ref, config.state_dir, config.interval_ms,
      config.drift_interval_ms);
  while (!stop) {
    Clock::TimePoint next = reconciler.Step();
    if (Status st = WriteStatusFile(config.StatusPath(), ToDocument(reconciler.Snapshot(), config));
        !st.ok()) {
      spdlog::warn("writing {}: {}", config.StatusPath(), st.ToString());
    }
    std::unique_lock<std::mutex> lock(mu);
    wake.wait_until(lock, next, [&] { return woken || stop.load(); });
    woken = false;
  }
  control->reset();
  // The signal thread has returned once stop is set.
  signal_thread.join();
  spdlog::info("pagoda daemon stopped");
  return 0;
}

}  // namespace pagoda::daemon
