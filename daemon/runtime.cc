#include "daemon/runtime.h"

#include <algorithm>
#include <cctype>
#include <filesystem>
#include <tuple>

#include "base/file.h"
#include "base/url.h"
#include "daemon/cluster_clients.h"
#include "source/source.h"

namespace pagoda::daemon {

using control::StatusDocument;

std::unique_ptr<Runtime> NewRuntime(const DaemonConfig& config, const RuntimeParts& parts) {
  auto rt = std::make_unique<Runtime>();
  rt->config = std::make_shared<const DaemonConfig>(config);
  LoopOptions loop_options;
  ApplyRepositoryConfig(config, &loop_options.load);
  for (const auto& [name, cluster] : config.clusters)
    loop_options.load.known_clusters.push_back(name);
  kube::ClientOptions client_options = ClientOptionsOf(config);
  client_options.user_agent = parts.user_agent;
  client_options.write_gate = parts.write_gate;
  client_options.write_timeout = parts.write_timeout;
  rt->clusters = NewClusterAccess(MappingOf(config), client_options);
  loop_options.interval_ms = config.interval_ms;
  loop_options.drift_interval_ms = config.drift_interval_ms;
  loop_options.repo_url = RedactUrl(config.repo);
  loop_options.observer = parts.observer;
  loop_options.hooks = parts.hooks;
  loop_options.start_fetch = parts.start_fetch;
  loop_options.gate_prometheus = config.gates.prometheus;
  loop_options.gate_webhooks = parts.gate_webhooks;
  loop_options.gate_timeout_ms = config.gates.timeout_ms;
  loop_options.start_gate_check = parts.start_gate_check;
  rt->reconciler = std::make_unique<Reconciler>(loop_options, parts.git, parts.journal,
                                                *rt->clusters, RealClock(), config.PinsPath());
  return rt;
}

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

StatusDocument ToDocument(const LoopStatus& s, const DaemonConfig& config, const SideStatus& side) {
  StatusDocument doc;
  if (side.leadership) {
    const LeadershipStatus& l = *side.leadership;
    StatusDocument::Leadership out{l.identity, l.replicas, {}, l.error};
    for (const auto& shard : l.shards) {
      out.shards.push_back({shard.index, shard.lease, shard.holder, shard.since_ms, shard.mine});
    }
    doc.leadership = std::move(out);
  }
  if (side.mirror) {
    doc.mirror = StatusDocument::Mirror{static_cast<int>(side.mirror->waiting),
                                        side.mirror->oldest_waiting_ms, side.mirror->last_error};
  }
  doc.time = s.time_ms;
  doc.commit = {s.commit, s.commit_summary};
  doc.repo = {RedactUrl(config.repo), config.ref, s.last_fetch_ms, s.repo_error};
  doc.journal_error = s.journal_error;
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
    env.standby = e.standby;
    if (!e.pinned_commit.empty())
      env.pinned = StatusDocument::Pin{e.pinned_commit, e.pinned_since_ms};
    if (!e.frozen_by.empty()) env.frozen = StatusDocument::Freeze{e.frozen_by, e.frozen_until_ms};
    if (!e.waiting_for.empty()) {
      env.waiting = StatusDocument::Wait{e.waiting_for, e.waiting_reason,
                                         static_cast<int>(e.soaked_ms / 1000),
                                         static_cast<int>(e.soak_ms / 1000)};
    }
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

namespace {

// A secret file's content less trailing whitespace; `field` names it in errors.
Result<std::string> ReadSecret(const std::string& path, const std::string& field) {
  auto text = ReadFile(path, 4096);
  if (!text.ok()) return text.status().WithContext(field);
  std::string secret = *text;
  while (!secret.empty() && std::isspace(static_cast<unsigned char>(secret.back())))
    secret.pop_back();
  if (secret.empty()) return Status::InvalidArgument(field + " " + path + " is empty");
  return secret;
}

}  // namespace

Result<std::string> ReadWebhookSecret(const DaemonConfig& config) {
  if (config.webhook_secret_file.empty()) return std::string();
  return ReadSecret(config.webhook_secret_file, "http.webhookSecretFile");
}

Result<std::string> ReadDashboardToken(const DaemonConfig& config) {
  if (config.dashboard_token_file.empty()) return std::string();
  auto token = ReadSecret(config.dashboard_token_file, "http.dashboardTokenFile");
  if (token.ok() && token->size() < 16) {
    return Status::InvalidArgument("http.dashboardTokenFile " + config.dashboard_token_file +
                                   ": the token is shorter than 16 characters");
  }
  return token;
}

Result<std::map<std::string, GateWebhook>> ReadGateWebhooks(const DaemonConfig& config) {
  std::map<std::string, GateWebhook> out;
  for (const auto& [name, hook] : config.gates.webhooks) {
    GateWebhook& w = out[name];
    w.url = hook.url;
    w.retries = hook.retries;
    if (hook.secret_file.empty()) continue;
    auto secret = ReadSecret(hook.secret_file, "gates.webhooks." + name + ".secretFile");
    if (!secret.ok()) return secret.status();
    w.secret = *secret;
  }
  return out;
}

Result<std::vector<notify::Receiver>> ReadReceivers(const DaemonConfig& config) {
  std::vector<notify::Receiver> out;
  for (const auto& [name, c] : config.notifications.receivers) {
    const std::string field = "notifications.receivers." + name + ".";
    notify::Receiver r;
    r.name = name;
    r.type = c.type;
    r.url = c.url;
    r.repo = c.repo;
    r.target_url = c.target_url;
    r.events = c.events;
    r.apps = c.apps;
    r.envs = c.envs;
    r.timeout = std::chrono::milliseconds(config.notifications.timeout_ms);
    r.deadline = std::chrono::milliseconds(config.notifications.deadline_ms);
    const std::pair<const std::string*, std::string*> files[] = {
        {&c.url_file, &r.url}, {&c.secret_file, &r.secret}, {&c.token_file, &r.token}};
    const char* names[] = {"urlFile", "secretFile", "tokenFile"};
    for (size_t i = 0; i < 3; ++i) {
      if (files[i].first->empty()) continue;
      auto secret = ReadSecret(*files[i].first, field + names[i]);
      if (!secret.ok()) return secret.status();
      *files[i].second = std::move(*secret);
    }
    if (!r.url.starts_with("http://") && !r.url.starts_with("https://")) {
      return Status::InvalidArgument(field + "urlFile " + c.url_file +
                                     ": expected an http:// or https:// URL");
    }
    out.push_back(std::move(r));
  }
  return out;
}

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
  if (!s.journal_error.empty()) {
    return {false, "the journal cannot be written, releases wait: " + s.journal_error};
  }
  return {true, ""};
}

std::string ServiceStatus(const LoopStatus& s) {
  int in_flight = 0;
  for (const auto& e : s.environments) in_flight += !e.release.empty();
  std::string text = s.commit.empty() ? "no commit yet" : "commit " + s.commit.substr(0, 12);
  text +=
      ", " + std::to_string(in_flight) + (in_flight == 1 ? " release" : " releases") + " in flight";
  if (!s.repo_error.empty()) text += ", fetch failing";
  if (!s.unreachable_clusters.empty()) text += ", a cluster is unreachable";
  if (!s.journal_error.empty()) text += ", the journal cannot be written";
  return text;
}

}  // namespace pagoda::daemon
