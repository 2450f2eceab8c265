#include "daemon/process.h"

#include <pthread.h>
#include <spdlog/spdlog.h>

#include <chrono>
#include <ostream>

#include "base/json.h"
#include "base/url.h"
#include "daemon/log_format.h"
#include "daemon/systemd_notify.h"
#include "pagoda/version.h"

namespace pagoda::daemon {
namespace {

using control::ControlError;
using control::ControlOk;
using std::chrono::milliseconds;

constexpr int kFailed = 3;
// How long a control request may wait for the loop to take it up.
constexpr milliseconds kQuickDeadline{10'000};
constexpr milliseconds kRollbackDeadline{120'000};
// The loop wakes at least this often, to show it moves.
constexpr milliseconds kBeat{5'000};
constexpr int64_t kStatusFileMaxAgeMs = 60'000;
// A loop that has not moved for longer is unhealthy (/healthz, the watchdog).
constexpr milliseconds kStuck{300'000};

int64_t SteadyMillis() {
  return std::chrono::duration_cast<milliseconds>(
             std::chrono::steady_clock::now().time_since_epoch())
      .count();
}

}  // namespace

// ---- Fetcher -----------------------------------------------------------------

Fetcher::Fetcher(GitSource& git, Inbox& inbox, std::function<void(Result<FetchResult>)> done)
    : git_(git), inbox_(inbox), done_(std::move(done)), thread_([this] { Run(); }) {}

Fetcher::~Fetcher() {
  {
    std::lock_guard lock(mu_);
    stop_ = true;
  }
  cv_.notify_all();
  // A fetch that has begun is ended: its child is killed, as often as it
  // takes for one that was just starting.
  while (thread_.joinable()) {
    git_.CancelFetch();
    std::unique_lock lock(mu_);
    if (cv_.wait_for(lock, milliseconds(50), [&] { return !running_; })) break;
  }
  thread_.join();
}

void Fetcher::Start() {
  {
    std::lock_guard lock(mu_);
    wanted_ = true;
  }
  cv_.notify_all();
}

void Fetcher::Run() {
  for (;;) {
    {
      std::unique_lock lock(mu_);
      cv_.wait(lock, [&] { return wanted_ || stop_; });
      if (stop_) return;
      wanted_ = false;
      running_ = true;
    }
    Result<FetchResult> fetched = git_.Fetch();
    inbox_.Post([done = done_, fetched = std::move(fetched)] { done(fetched); });
    std::lock_guard lock(mu_);
    running_ = false;
    cv_.notify_all();
  }
}

// ---- Process -----------------------------------------------------------------

Process::Process(DaemonFlags flags, DaemonConfig config, std::unique_ptr<Journal> journal,
                 std::unique_ptr<GitSource> git, std::string webhook_secret)
    : flags_(std::move(flags)),
      journal_(std::move(journal)),
      git_(std::move(git)),
      verifier_(std::make_shared<server::WebhookVerifier>(webhook_secret)),
      webhook_secret_(std::move(webhook_secret)) {
  sigemptyset(&signals_);
  for (int sig : {SIGTERM, SIGINT, SIGHUP}) sigaddset(&signals_, sig);
  fetcher_ = std::make_unique<Fetcher>(*git_, inbox_, [this](Result<FetchResult> fetched) {
    runtime_->reconciler->FetchDone(std::move(fetched));
  });
  auto transport = kube::NewCurlTransport(kube::TlsConfig{});
  if (transport.ok()) {
    gate_worker_ =
        std::make_unique<GateWorker>(NewHttpGateAsker(std::move(*transport)), inbox_,
                                     [this](const GateCheck& check, const GateAnswer& answer) {
                                       runtime_->reconciler->GateAnswered(check, answer);
                                     });
  } else {
    spdlog::error("gates cannot be asked: {}", transport.status().ToString());
  }
  ConfigureNotifications(config);
  identity_ = config.ha.enabled ? Leadership::Identity(config.ha.identity) : "";
  user_agent_ =
      std::string("pagoda/") + kVersion + (identity_.empty() ? "" : " (" + identity_ + ")");
  StartLeadership(config);
  StartMirror(config);
  SeedReleaseIds(config);
  runtime_ = Build(config);
}

Process::~Process() {
  inbox_.Close();
  leadership_.reset();  // its hooks reach the loop; gives up what it holds
  mirror_observer_.SetMirror(nullptr);
  mirror_.reset();
  fetcher_.reset();
  gate_worker_.reset();
  http_.reset();
  control_.reset();
  runtime_.reset();
  if (signal_thread_.joinable()) {
    pthread_kill(signal_thread_.native_handle(), SIGTERM);  // it waits in sigwait
    signal_thread_.join();
  }
}

std::unique_ptr<Runtime> Process::Build(const DaemonConfig& config) {
  std::function<void(GateCheck)> ask_gate;
  if (gate_worker_ != nullptr) {
    ask_gate = [this](GateCheck check) { gate_worker_->Ask(std::move(check)); };
  }
  // Checked before (at start, and by a reload before it builds): an error
  // here is a file changed since, and its webhooks are left out.
  auto webhooks = ReadGateWebhooks(config);
  if (!webhooks.ok()) spdlog::error("gates: {}", webhooks.status().ToString());
  auto rt = NewRuntime(config,
                       {*git_, *journal_, &mirror_observer_, this, [this] { fetcher_->Start(); },
                        std::move(ask_gate),
                        webhooks.ok() ? std::move(*webhooks) : std::map<std::string, GateWebhook>{},
                        user_agent_, leadership_ ? leadership_->gate() : nullptr,
                        leadership_ ? WriteTimeout(config.ha) : milliseconds(0)});
  // With leadership it writes what this replica leads, and nothing until it leads.
  if (leadership_) rt->reconciler->SetOwnership(leadership_->ownership());
  return rt;
}

void Process::ConfigureNotifications(const DaemonConfig& config) {
  // Checked before (at start, and by a reload before it builds): an error
  // here is a file changed since, and the receivers are kept as they were.
  auto receivers = ReadReceivers(config);
  if (!receivers.ok()) {
    spdlog::error("notifications: {}", receivers.status().ToString());
    return;
  }
  if (*receivers == receivers_) return;
  receivers_ = std::move(*receivers);
  notifications_.SetDispatcher(
      receivers_.empty()
          ? nullptr
          : std::make_unique<notify::Dispatcher>(
                receivers_, [] { return kube::NewCurlTransport(kube::TlsConfig{}); }, RealClock()));
  std::string names;
  for (const notify::Receiver& r : receivers_) {
    names += (names.empty() ? "" : ", ") + r.name + " (" + std::string(notify::Name(r.type)) + ")";
  }
  if (!receivers_.empty()) spdlog::info("notifications: telling {}", names);
}

int Process::Run(std::ostream& err) {
  if (Status st = StartServers(); !st.ok()) {
    err << "pagoda daemon: " << st.message() << "\n";
    return kFailed;
  }
  StartSignalThread();
  if (leadership_) leadership_->Start();
  const DaemonConfig& config = *runtime_->config;
  spdlog::info(
      "pagoda daemon: repo {} ref {}, state in {}, fetch every {} ms (at most {} ms each), "
      "reconcile every {} ms",
      RedactUrl(config.repo), config.ref, config.state_dir, config.interval_ms,
      config.fetch_timeout_ms, config.drift_interval_ms);
  while (!stop_) {
    inbox_.Drain();
    if (stop_) break;
    const auto next = runtime_->reconciler->Step();
    Publish();
    Beat();
    inbox_.WaitUntil(std::min(next, std::chrono::steady_clock::now() + kBeat));
  }
  TellServiceManager("STOPPING=1\nSTATUS=stopping");
  inbox_.Close();  // requests waiting for the loop are told at once
  // The records written last go to the cluster under this replica's
  // epoch, then what it leads is handed over at once, not a lease later.
  if (mirror_ && !mirror_->Drain(milliseconds(1000))) {
    spdlog::warn("mirror: {} release records not written to the clusters; the journal has them",
                 mirror_->stats().waiting);
  }
  if (leadership_) leadership_->Stop();
  fetcher_.reset();
  gate_worker_.reset();
  http_.reset();
  control_.reset();
  spdlog::info("pagoda daemon stopped");
  return 0;
}

void Process::Between() {
  Beat();
  if (inbox_.Drain(/*quick_only=*/true) > 0) Publish();
}

// After a step, for every other thread: the status, readiness, metrics,
// status.json, the service manager's status line.
void Process::Publish() {
  auto published = std::make_shared<Published>();
  published->status = runtime_->reconciler->Snapshot();
  published->config = runtime_->config;
  published->readiness = Readiness(published->status);
  published->side = Side();
  const DaemonConfig& config = *runtime_->config;
  if (!status_file_) status_file_.emplace(config.StatusPath(), kStatusFileMaxAgeMs);
  if (Status st = status_file_->Update(ToDocument(published->status, config, published->side));
      !st.ok()) {
    spdlog::warn("writing {}: {}", config.StatusPath(), st.ToString());
  }
  metrics_.Update(published->status, published->readiness.first,
                  runtime_->clusters->RequestStatsByServer());
  notifications_.Published(published->status);
  metrics_.Notifications(notifications_.Stats());
  metrics_.Side(published->side.leadership, published->side.mirror);
  AnnounceStatus(published->status);
  published_.Publish(std::move(published));
}

// Ready for the service manager once the first fetch and reconcile were
// tried: a repository or cluster that is down shows in STATUS= and
// /readyz, and is retried, rather than failing the start.
void Process::AnnounceStatus(const LoopStatus& status) {
  if (status.last_reconcile_ms == 0 && status.repo_error.empty()) return;
  std::string line = ServiceStatus(status);
  if (announced_ready_ && line == service_status_) return;
  TellServiceManager(std::string(announced_ready_ ? "" : "READY=1\n") + "STATUS=" + line);
  announced_ready_ = true;
  service_status_ = line;
}

// The loop moves: /healthz says so, and the service manager's watchdog is fed.
void Process::Beat() {
  const int64_t now = SteadyMillis();
  heartbeat_ms_.store(now);
  if (now - last_watchdog_ms_ >= 10'000) {
    TellServiceManager("WATCHDOG=1");
    last_watchdog_ms_ = now;
  }
}

std::pair<bool, std::string> Process::Healthy() const {
  const int64_t quiet = SteadyMillis() - heartbeat_ms_.load();
  if (heartbeat_ms_.load() == 0 || quiet <= kStuck.count()) return {true, ""};
  return {false, "the loop has not moved for " + std::to_string(quiet / 1000) + "s"};
}

// The dashboard's reads: the published status, and the journal read as the
// command line reads it (lines being written are invisible until complete).
void Process::AddDashboardEndpoints(const DaemonConfig& config) {
  endpoints_.environments = [this] {
    auto published = published_.Get();
    if (!published) return std::string("{\"environments\":[]}");
    return ToDocument(published->status, *published->config, published->side).ToJson();
  };
  const std::string path = config.JournalPath();
  endpoints_.releases = [path](const std::string& app, const std::string& env,
                               int limit) -> Result<std::string> {
    journal::JournalReader reader(journal::PosixJournalFs(), path);
    auto records = reader.Releases({.app = app, .env = env, .limit = static_cast<size_t>(limit)});
    if (!records.ok()) return records.status();
    std::string out = "{\"releases\":[";
    for (size_t i = 0; i < records->size(); ++i) {
      out += (i ? "," : "") + journal::ToJson((*records)[i]);
    }
    return out + "]}";
  };
  endpoints_.release = [path](const std::string& id) -> Result<std::string> {
    journal::JournalReader reader(journal::PosixJournalFs(), path);
    auto record = reader.Release(id);
    if (!record.ok()) return record.status();
    return journal::ToJson(*record);
  };
  endpoints_.sync_log = [path](int limit) -> Result<std::string> {
    journal::JournalReader reader(journal::PosixJournalFs(), path);
    const int64_t week = 7LL * 24 * 3600 * 1000;
    auto entries = reader.SyncLog(RealClock().UnixMillis() - week);
    if (!entries.ok()) return entries.status();
    std::string out = "{\"entries\":[";
    int n = 0;
    for (auto it = entries->rbegin(); it != entries->rend() && n < limit; ++it, ++n) {
      out += (n ? "," : "") + journal::ToJson(*it);
    }
    return out + "]}";
  };
  endpoints_.act = [this](const std::string& action, const std::string& target,
                          const std::string& to) { return DashboardAction(action, target, to); };
}

Status Process::StartServers() {
  const DaemonConfig& config = *runtime_->config;
  auto control = control::ControlServer::Start(
      config.SocketPath(), [this](const rapidjson::Document& request) { return Control(request); });
  if (!control.ok()) return control.status().WithContext("control socket");
  control_ = std::move(*control);
  endpoints_.healthy = [this] { return Healthy(); };
  endpoints_.ready = [this] {
    auto published = published_.Get();
    return published ? published->readiness : std::pair<bool, std::string>{false, "starting"};
  };
  endpoints_.metrics = [this] { return metrics_.Render(); };
  AddDashboardEndpoints(config);
  auto token = ReadDashboardToken(config);
  if (!token.ok()) return token.status();
  endpoints_.dashboard_token = *token;
  endpoints_.webhook = [this](const server::WebhookHeaders& headers, std::string_view body) {
    return Webhook(headers, body);
  };
  auto http = server::HttpServer::Start(config.http_listen, endpoints_);
  if (!http.ok()) return http.status();
  http_ = std::move(*http);
  spdlog::info("http: listening on {} (the dashboard{}, /healthz, /readyz, /metrics, /webhook{})",
               http_->address(), endpoints_.dashboard_token.empty() ? ", read-only" : "",
               webhook_secret_.empty() ? " disabled" : "");
  return Status::Ok();
}

// SIGTERM and SIGINT stop the loop between two environments (the API call
// in hand is finished); SIGHUP reloads between two steps.
void Process::StartSignalThread() {
  signal_thread_ = std::thread([this] {
    for (;;) {
      int sig = 0;
      if (sigwait(&signals_, &sig) != 0) continue;
      if (sig == SIGHUP) {
        inbox_.Post([this] { Reload(); }, Inbox::Kind::kBetweenSteps);
        continue;
      }
      if (!stop_.exchange(true)) {
        spdlog::info("{}: stopping after the API call in hand",
                     sig == SIGTERM ? "SIGTERM" : "SIGINT");
      }
      inbox_.Wake();
      return;
    }
  });
}

// ---- requests from other threads ------------------------------------------------

std::string Process::Control(const rapidjson::Document& request) {
  const std::string command = json::StringAt(request, "command");
  if (command == "status") {
    auto published = published_.Get();
    if (!published) return ControlError("the daemon is starting");
    return "{\"ok\":true,\"status\":" +
           ToDocument(published->status, *published->config, published->side).ToJson() + "}";
  }
  if (command == "sync-now") {
    inbox_.Post([this] { runtime_->reconciler->RequestSync(); });
    return ControlOk();
  }
  if (command == "pause" || command == "resume" || command == "abort") {
    return Steer(command, json::StringAt(request, "id"));
  }
  if (command == "override" || command == "promote") {
    const std::string app = json::StringAt(request, "app"), env = json::StringAt(request, "env"),
                      by = json::StringAt(request, "by"),
                      reason = json::StringAt(request, "reason");
    auto done = inbox_.Ask<std::string>(
        [this, command, app, env, by, reason]() -> Result<std::string> {
          Reconciler& r = *runtime_->reconciler;
          Status st = command == "promote" ? r.Promote(app, env, by, reason)
                                           : r.Override(app, env, by, reason);
          if (!st.ok()) return st;
          Publish();
          return std::string();
        },
        kQuickDeadline);
    return done.ok() ? ControlOk() : ControlError(done.status().message());
  }
  if (command == "unpin") {
    const std::string app = json::StringAt(request, "app"), env = json::StringAt(request, "env");
    auto done = inbox_.Ask<std::string>(
        [this, app, env]() -> Result<std::string> {
          Status st = runtime_->reconciler->Unpin(app, env);
          if (!st.ok()) return st;
          Publish();
          return std::string();
        },
        kQuickDeadline);
    return done.ok() ? ControlOk() : ControlError(done.status().message());
  }
  if (command == "rollback") {
    auto id = StartRollback(json::StringAt(request, "app"), json::StringAt(request, "env"),
                            json::StringAt(request, "to"));
    if (!id.ok()) return ControlError(id.status().message());
    return "{\"ok\":true,\"release\":\"" + *id + "\"}";
  }
  return ControlError("unknown command \"" + command + "\"");
}

Result<std::string> Process::StartRollback(const std::string& app, const std::string& env,
                                           const std::string& to) {
  return inbox_.Ask<std::string>(
      [this, app, env, to]() -> Result<std::string> {
        auto started = runtime_->reconciler->Rollback(app, env, to);
        Publish();
        return started;
      },
      kRollbackDeadline, Inbox::Kind::kBetweenSteps);
}

// What the dashboard asks, through the same paths as the command line.
Result<std::string> Process::DashboardAction(const std::string& action, const std::string& target,
                                             const std::string& to) {
  spdlog::info("dashboard: {} {}{} (via dashboard)", action, target, to.empty() ? "" : " to " + to);
  if (action == "rollback") {
    const size_t slash = target.find('/');
    return StartRollback(target.substr(0, slash), target.substr(slash + 1), to);
  }
  return SteerRelease(action, target);
}

// pause, resume, abort: decided on the loop thread, journalled, then answered.
std::string Process::Steer(const std::string& command, const std::string& id) {
  Result<std::string> done = SteerRelease(command, id);
  return done.ok() ? ControlOk() : ControlError(done.status().message());
}

Result<std::string> Process::SteerRelease(const std::string& command, const std::string& id) {
  return inbox_.Ask<std::string>(
      [this, command, id]() -> Result<std::string> {
        Reconciler& r = *runtime_->reconciler;
        Status st = command == "pause"    ? r.Pause(id)
                    : command == "resume" ? r.Resume(id)
                                          : r.Abort(id);
        if (!st.ok()) return st;
        Publish();
        return id;
      },
      kQuickDeadline);
}

server::WebhookAnswer Process::Webhook(const server::WebhookHeaders& headers,
                                       std::string_view body) {
  std::shared_ptr<server::WebhookVerifier> verifier;
  {
    std::lock_guard lock(verifier_mu_);
    verifier = verifier_;
  }
  server::WebhookAnswer answer = verifier->Handle(headers, body);
  metrics_.Webhook(answer);
  if (answer.fetch) {
    spdlog::info("webhook: {} push{}{}: fetching now", answer.source,
                 answer.ref.empty() ? "" : " to ", answer.ref);
    inbox_.Post([this] { runtime_->reconciler->RequestSync(); });
  } else if (answer.http_status >= 400) {
    spdlog::warn("webhook: {} ({})", answer.message, answer.http_status);
  }
  return answer;
}

}  // namespace pagoda::daemon
