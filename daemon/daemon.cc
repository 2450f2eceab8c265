#include "daemon/daemon.h"

#include <signal.h>
#include <spdlog/spdlog.h>
#include <sys/stat.h>

#include <filesystem>
#include <ostream>

#include "daemon/config.h"
#include "daemon/log_format.h"
#include "daemon/process.h"
#include "journal/journal.h"
#include "server/http_server.h"
#include "source/source.h"

namespace pagoda::daemon {
namespace {

constexpr int kUsage = 2;
constexpr int kFailed = 3;

// The config file with the command line's overrides, checked; kUsage when it fails.
int LoadConfig(const DaemonFlags& flags, std::ostream& err, DaemonConfig* config) {
  if (flags.config.empty() && flags.repo.empty()) {
    err << "pagoda daemon: --config FILE (or at least --repo) is required\n";
    return kUsage;
  }
  if (!flags.config.empty()) {
    auto loaded = LoadDaemonConfig(flags.config);
    if (!loaded.ok()) {
      err << "pagoda daemon: " << loaded.status().message() << "\n";
      return kUsage;
    }
    *config = std::move(*loaded);
  }
  if (Status st = ApplyOverrides(flags, config); !st.ok()) {
    err << "pagoda daemon: " << st.message() << "\n";
    return kUsage;
  }
  if (auto listen = server::ParseListenAddress(config->http_listen); !listen.ok()) {
    err << "pagoda daemon: " << listen.status().message() << "\n";
    return kUsage;
  }
  return 0;
}

Result<std::unique_ptr<Journal>> OpenJournal(const DaemonConfig& config) {
  auto journal = Journal::Open(config.JournalPath());
  if (!journal.ok()) return journal.status().WithContext("journal " + config.JournalPath());
  if ((*journal)->recovery().truncated) {
    const auto& r = (*journal)->recovery();
    spdlog::warn("journal {}: cut a damaged last line ({}, {} bytes at offset {}); {} records kept",
                 config.JournalPath(), r.reason, r.dropped_bytes, r.truncated_at, r.lines);
  }
  return journal;
}

// The clone, fetched in a child process of this very binary, so that a
// server that stops answering is given up on at fetchTimeout.
Result<std::unique_ptr<GitSource>> OpenGit(const DaemonConfig& config) {
  source::GitSourceOptions options;
  options.url = config.repo;
  auto ref = source::GitRef::Parse(config.ref);
  if (!ref.ok()) return ref.status().WithContext("ref " + config.ref);
  options.ref = *ref;
  options.path = config.path;
  options.clone_dir = config.CloneDir();
  options.auth = {config.auth.username,     config.auth.password_file,
                  config.auth.password_env, config.auth.ssh_key,
                  config.auth.known_hosts,  config.auth.accept_unknown_hosts};
  options.fetch_program = "/proc/self/exe";
  options.fetch_timeout = std::chrono::milliseconds(config.fetch_timeout_ms);
  auto git = source::OpenGitSource(options);
  if (!git.ok()) return git.status().WithContext("repository");
  return git;
}

}  // namespace

int RunDaemon(const DaemonFlags& flags, std::ostream& err) {
  DaemonConfig config;
  if (int code = LoadConfig(flags, err, &config); code != 0) return code;
  auto secret = ReadWebhookSecret(config);
  if (!secret.ok()) {
    err << "pagoda daemon: " << secret.status().ToString() << "\n";
    return kUsage;
  }
  if (auto hooks = ReadGateWebhooks(config); !hooks.ok()) {
    err << "pagoda daemon: " << hooks.status().ToString() << "\n";
    return kUsage;
  }
  if (auto token = ReadDashboardToken(config); !token.ok()) {
    err << "pagoda daemon: " << token.status().ToString() << "\n";
    return kUsage;
  }
  if (auto receivers = ReadReceivers(config); !receivers.ok()) {
    err << "pagoda daemon: " << receivers.status().ToString() << "\n";
    return kUsage;
  }
  ConfigureDaemonLogging(config.log_format);

  // Signals are taken by one thread with sigwait; every thread created from
  // here on inherits the mask.
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
  auto journal = OpenJournal(config);
  auto git = journal.ok() ? OpenGit(config) : Result<std::unique_ptr<GitSource>>(journal.status());
  if (!git.ok()) {
    err << "pagoda daemon: " << git.status().ToString() << "\n";
    return kFailed;
  }
  Process process(flags, std::move(config), std::move(*journal), std::move(*git),
                  std::move(*secret));
  return process.Run(err);
}

}  // namespace pagoda::daemon
