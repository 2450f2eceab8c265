#include "manifest/validate.h"

#include <algorithm>
#include <map>
#include <set>
#include <tuple>

#include "manifest/names.h"
#include "manifest/parse.h"

namespace pagoda::manifest {
namespace {

std::string Quote(std::string_view s) { return "\"" + std::string(s) + "\""; }
std::string At(const std::string& file, Pos pos) { return file + ":" + std::to_string(pos.line); }

constexpr size_t kRevisionSuffix = 11;  // "-" + 10 hex digits
constexpr size_t kFilesSuffix = 17;     // "-files-" + 10 hex digits

void CheckMounts(Sink& sink, const DeployConfig& config) {
  std::map<std::string, Pos> mounts;
  for (size_t i = 0; i < config.mounts.size(); ++i) {
    const Mount& m = config.mounts[i];
    if (m.path.value.empty()) continue;
    std::string field = "spec.mounts[" + std::to_string(i) + "].path";
    auto [it, fresh] = mounts.emplace(m.path.value, m.path.pos);
    if (!fresh) {
      sink.Error(m.path.pos, field,
                 Quote(m.path.value) + " is already mounted (line " +
                     std::to_string(it->second.line) + ")");
    }
  }
  for (size_t i = 0; i < config.files.size(); ++i) {
    const ConfigFile& f = config.files[i];
    if (f.key.empty()) continue;
    std::string field = "spec.files[" + std::to_string(i) + "].path";
    for (const auto& [path, pos] : mounts) {
      if (PathIsAtOrUnder(f.path.value, path)) {
        sink.Error(f.path.pos, field,
                   Quote(f.path.value) + " lies in the mount at " + path + " (line " +
                       std::to_string(pos.line) + "), which would hide it");
      } else if (PathIsAtOrUnder(path, f.path.value)) {
        sink.Error(pos, "spec.mounts",
                   "the mount at " + path + " lies under the file " + f.path.value + " (line " +
                       std::to_string(f.path.pos.line) + ")");
      }
    }
  }
}

void CheckNodeFit(Sink& sink, const DeployConfig& config, const NodeAllocatable& node) {
  if (node.millicpu > 0 && config.millicpu.value > node.millicpu) {
    sink.Warning(config.millicpu.pos, "spec.cpu",
                 "one instance asks for " + FormatCpu(config.millicpu.value) +
                     " cpu, more than a node can allocate (" + FormatCpu(node.millicpu) +
                     "); it will never start");
  }
  if (node.memory_bytes > 0 && config.memory_bytes.value > node.memory_bytes) {
    sink.Warning(config.memory_bytes.pos, "spec.memory",
                 "one instance asks for " + FormatMemory(config.memory_bytes.value) +
                     " memory, more than a node can allocate (" + FormatMemory(node.memory_bytes) +
                     "); it will never start");
  }
}

std::string ListNames(const AppModel& app) {
  std::string out;
  for (const DeployConfig& c : app.deploy_configs) {
    out += (out.empty() ? "" : ", ") + c.name.value;
  }
  return out.empty() ? "none" : out;
}

void CheckTraffic(Sink& sink, Environment& env, const DeployConfig* config) {
  std::map<std::string, Pos> names;
  std::map<std::pair<int, bool>, Pos> ports;  // (port, udp)
  std::map<std::string, Pos> web;             // public "http host" / "https host"
  for (size_t i = 0; i < env.traffic.size(); ++i) {
    const Listener& l = env.traffic[i];
    std::string field = "spec.traffic[" + std::to_string(i) + "]";
    if (!l.name.value.empty()) {
      auto [it, fresh] = names.emplace(l.name.value, l.name.pos);
      if (!fresh) {
        sink.Error(l.name.pos, field + ".name",
                   Quote(l.name.value) + " is already a listener (line " +
                       std::to_string(it->second.line) + ")");
      }
    }
    if (l.port.value != 0) {
      auto [it, fresh] =
          ports.emplace(std::pair{l.port.value, l.protocol == Protocol::kUdp}, l.port.pos);
      if (!fresh) {
        sink.Error(l.port.pos, field + ".port",
                   "port " + std::to_string(l.port.value) +
                       " is already taken by another listener (line " +
                       std::to_string(it->second.line) + ")");
      }
    }
    bool is_web = l.protocol == Protocol::kHttp || l.protocol == Protocol::kHttps;
    if (is_web && l.exposure == Exposure::kPublic) {
      std::string key = std::string(l.protocol == Protocol::kHttp ? "http" : "https") + " " +
                        (l.host.empty() ? "*" : l.host);
      auto [it, fresh] = web.emplace(key, l.pos);
      if (!fresh) {
        sink.Error(l.pos, field,
                   "a public " + key.substr(0, key.find(' ')) + " listener for host " +
                       (l.host.empty() ? "(any)" : l.host) + " already exists (line " +
                       std::to_string(it->second.line) + ")");
      }
    }
    if (config != nullptr && l.target_port.value != 0) {
      bool found = false;
      std::string declared;
      for (const ContainerPort& p : config->ports) {
        // A port that did not parse has its own error; do not guess what it was.
        found = found || p.port.value == l.target_port.value || p.port.value == 0;
        declared += (declared.empty() ? "" : ", ") + std::to_string(p.port.value);
      }
      if (!found) {
        sink.Error(l.target_port.pos, field + ".targetPort",
                   std::to_string(l.target_port.value) + " is not a port of DeployConfig " +
                       config->name.value + " (" +
                       (declared.empty() ? "it declares none" : "it has " + declared) + ")");
      }
    }
  }
}

}  // namespace

int64_t DefaultBatchTimeoutMs(const DeployConfig* config) {
  constexpr int64_t kMargin = 2 * 60 * 1000;
  if (config == nullptr || !config->health) return 5 * 60 * 1000;
  const Health& h = *config->health;
  return h.initial_delay_ms + h.period_ms * h.failure_threshold + kMargin;
}

namespace {

// DeployConfigs by name, each checked on its own; a duplicate name is an
// error at the later definition (by file, then line).
std::map<std::string, const DeployConfig*> CheckDeployConfigs(const LoadOptions& options,
                                                              const AppModel& app,
                                                              std::vector<Diagnostic>* out) {
  std::map<std::string, const DeployConfig*> configs;
  for (const DeployConfig& c : app.deploy_configs) {
    Sink sink(c.file, out);
    if (c.name.value.empty()) continue;
    auto [it, fresh] = configs.emplace(c.name.value, &c);
    if (!fresh) {
      sink.Error(c.name.pos, "metadata.name",
                 "DeployConfig " + Quote(c.name.value) + " is already defined at " +
                     At(it->second->file, it->second->name.pos));
    }
    CheckMounts(sink, c);
    if (options.node_allocatable) CheckNodeFit(sink, c, *options.node_allocatable);
  }
  return configs;
}

std::map<std::string, const Environment*> EnvironmentsByName(const AppModel& app,
                                                             std::vector<Diagnostic>* out) {
  std::map<std::string, const Environment*> envs;
  for (const Environment& e : app.environments) {
    if (e.name.value.empty()) continue;
    auto [it, fresh] = envs.emplace(e.name.value, &e);
    if (!fresh) {
      Sink(e.file, out)
          .Error(e.name.pos, "metadata.name",
                 "Environment " + Quote(e.name.value) + " is already defined at " +
                     At(it->second->file, it->second->name.pos));
    }
  }
  return envs;
}

// The DeployConfig an environment names; nullptr (and an error, unless an
// unnamed DeployConfig has one already) when there is none by that name.
const DeployConfig* ConfigOf(Sink& sink, const AppModel& app, const Environment& e,
                             const std::map<std::string, const DeployConfig*>& configs) {
  if (e.deploy_config.value.empty()) return nullptr;
  auto it = configs.find(e.deploy_config.value);
  if (it != configs.end()) return it->second;
  bool unnamed = std::any_of(app.deploy_configs.begin(), app.deploy_configs.end(),
                             [](const DeployConfig& c) { return c.name.value.empty(); });
  if (!unnamed) {
    sink.Error(e.deploy_config.pos, "spec.deployConfig",
               "no DeployConfig named " + Quote(e.deploy_config.value) + " in apps/" + app.name +
                   "/deploy (have: " + ListNames(app) + ")");
  }
  return nullptr;
}

// The names an environment's objects get must fit Kubernetes' 63, and its
// public Service must not take another environment's name.
void CheckRenderedNames(Sink& sink, const Environment& e, const DeployConfig* config,
                        const std::map<std::string, const Environment*>& envs) {
  const std::string& name = e.name.value;
  if (name.size() + kRevisionSuffix > 63 && name.size() <= 63) {
    sink.Error(e.name.pos, "metadata.name",
               Quote(name) + " is " + std::to_string(name.size()) +
                   " characters; its Deployments are named " + name +
                   "-<revision>, which must fit 63, so at most 52");
  } else if (config != nullptr && !config->files.empty() && name.size() + kFilesSuffix > 63 &&
             name.size() <= 63) {
    sink.Error(e.name.pos, "metadata.name",
               Quote(name) + " is " + std::to_string(name.size()) +
                   " characters; its files ConfigMap is named " + name +
                   "-files-<hash>, which must fit 63, so at most 46");
  }
  bool has_public_lb = false;
  for (const Listener& l : e.traffic) {
    has_public_lb =
        has_public_lb || (l.exposure == Exposure::kPublic &&
                          (l.protocol == Protocol::kTcp || l.protocol == Protocol::kUdp));
  }
  if (has_public_lb && envs.contains(name + "-public")) {
    sink.Error(e.name.pos, "metadata.name",
               "its public Service " + name + "-public would have the name of environment " + name +
                   "-public's Service; rename one of them");
  }
}

void CheckEnvironment(const std::set<std::string>& known, const AppModel& app, Environment& e,
                      const std::map<std::string, const DeployConfig*>& configs,
                      const std::map<std::string, const Environment*>& envs,
                      std::vector<Diagnostic>* out) {
  Sink sink(e.file, out);
  const DeployConfig* config = ConfigOf(sink, app, e, configs);
  if (!known.empty() && CheckDns1123Label(e.cluster.value).empty() &&
      !known.contains(e.cluster.value)) {
    std::string list;
    for (const std::string& k : known) list += (list.empty() ? "" : ", ") + k;
    sink.Error(e.cluster.pos, "spec.cluster",
               Quote(e.cluster.value) + " is not a known cluster (known: " + list + ")");
  }
  CheckRenderedNames(sink, e, config, envs);
  if (e.replicas.value == 1) {
    sink.Warning(e.replicas.pos, "spec.replicas",
                 "1 replica: the service is down during every release, since the old "
                 "instance stops before the new one starts");
  }
  CheckTraffic(sink, e, config);
  if (e.release.batch_timeout_ms == 0) e.release.batch_timeout_ms = DefaultBatchTimeoutMs(config);
}

// promotion.after names another environment of the app, one that runs the
// same DeployConfig (else no artifact of it is ever one of this one), and
// following the chain never comes back.
void CheckPromotion(const AppModel& app, const Environment& e,
                    const std::map<std::string, const Environment*>& envs,
                    std::vector<Diagnostic>* out) {
  const Located<std::string>& after = e.promotion.after;
  if (after.value.empty() || !CheckDns1035Label(after.value).empty()) return;
  Sink sink(e.file, out);
  const char* field = "spec.promotion.after";
  auto upstream = envs.find(after.value);
  if (after.value == e.name.value) {
    sink.Error(after.pos, field, "an environment cannot wait for itself");
    return;
  }
  if (upstream == envs.end()) {
    std::string names;
    for (const auto& [name, env] : envs) names += (names.empty() ? "" : ", ") + name;
    sink.Error(after.pos, field,
               "no Environment " + Quote(after.value) + " in apps/" + app.name +
                   "/envs (have: " + names + ")");
    return;
  }
  if (upstream->second->deploy_config.value != e.deploy_config.value) {
    sink.Error(after.pos, field,
               after.value + " runs DeployConfig " + Quote(upstream->second->deploy_config.value) +
                   " and this environment " + Quote(e.deploy_config.value) +
                   ": promotion releases here only what " + after.value +
                   " ran, so both must run the same DeployConfig");
    return;
  }
  std::string chain = e.name.value;
  std::set<std::string> seen = {e.name.value};
  for (auto at = upstream; at != envs.end(); at = envs.find(at->second->promotion.after.value)) {
    chain += " -> " + at->first;
    if (at->first == e.name.value) {
      sink.Error(after.pos, field, "promotion goes round in a circle: " + chain);
      return;
    }
    if (!seen.insert(at->first).second) return;  // a circle further on: reported there
  }
}

// Gates are asked between batches, of the endpoints the daemon config names.
void CheckGates(const LoadOptions& options, const Environment& e, std::vector<Diagnostic>* out) {
  Sink sink(e.file, out);
  for (size_t i = 0; i < e.release.gates.size(); ++i) {
    const policy::Gate& g = e.release.gates[i];
    const Pos pos{g.line, g.column};
    const std::string field = "spec.release.gates[" + std::to_string(i) + "]";
    if (i == 0 && e.release.batches == 1) {
      sink.Warning(pos, field,
                   "gates are asked between batches, and a release of 1 batch has none");
    }
    if (!options.gate_webhooks) continue;
    if (g.kind == policy::GateKind::kPrometheus && !options.gate_prometheus) {
      sink.Error(pos, field + ".prometheus",
                 "the daemon config names no Prometheus to ask (gates.prometheus)");
    }
    const auto& known = *options.gate_webhooks;
    if (g.kind == policy::GateKind::kWebhook && !g.webhook.empty() &&
        std::find(known.begin(), known.end(), g.webhook) == known.end()) {
      std::string names;
      for (const auto& k : known) names += (names.empty() ? "" : ", ") + k;
      sink.Error(pos, field + ".webhook",
                 Quote(g.webhook) + " is not a webhook of the daemon config (gates.webhooks: " +
                     (names.empty() ? "none" : names) + ")");
    }
  }
}

// A pod runs as "default" or as a ServiceAccount the app itself defines:
// never as one an administrator made for something else.
void CheckServiceAccounts(const AppModel& app, std::vector<Diagnostic>* out) {
  std::set<std::string> accounts = {"default"};
  for (const PlainManifest& m : app.manifests) {
    if (m.kind == "ServiceAccount" && m.api_version == "v1") accounts.insert(m.name);
  }
  for (const PlainManifest& m : app.manifests) {
    for (const ServiceAccountUse& use : m.service_accounts) {
      if (accounts.contains(use.name)) continue;
      Sink(m.file, out)
          .Error(use.pos, use.field,
                 Quote(use.name) +
                     " is not a ServiceAccount of this app: a pod runs as "
                     "\"default\" or as one the app defines in manifests/");
    }
  }
}

// Plain manifests: unique, and not in the way of what pagoda renders.
void CheckPlainManifests(const AppModel& app, std::vector<Diagnostic>* out) {
  std::map<std::tuple<std::string, std::string>, const PlainManifest*> manifests;
  for (const PlainManifest& m : app.manifests) {
    if (m.kind.empty() || m.name.empty()) continue;
    Sink sink(m.file, out);
    std::string group = m.api_version.substr(0, m.api_version.find('/'));
    if (m.api_version.find('/') == std::string::npos) group = "";
    auto [it, fresh] = manifests.emplace(std::tuple{group + "/" + m.kind, m.name}, &m);
    if (!fresh) {
      sink.Error(m.pos, "metadata.name",
                 m.kind + " " + Quote(m.name) + " is already defined at " +
                     At(it->second->file, it->second->pos));
    }
    if ((m.kind == "Service" || m.kind == "Ingress") && group.empty() == (m.kind == "Service")) {
      for (const Environment& e : app.environments) {
        if (m.name == e.name.value || (m.kind == "Service" && m.name == e.name.value + "-public")) {
          sink.Error(m.pos, "metadata.name",
                     m.kind + " " + Quote(m.name) + " is a name pagoda renders for environment " +
                         e.name.value + "; choose another");
        }
      }
    }
  }
}

}  // namespace

void ValidateApp(const LoadOptions& options, AppModel* app, std::vector<Diagnostic>* out) {
  // Duplicate names: the first definition (by file, then line) stands.
  auto by_location = [](const auto& a, const auto& b) {
    return std::tie(a.file, a.name.pos.line, a.name.pos.column) <
           std::tie(b.file, b.name.pos.line, b.name.pos.column);
  };
  std::sort(app->deploy_configs.begin(), app->deploy_configs.end(), by_location);
  std::sort(app->environments.begin(), app->environments.end(), by_location);
  const auto configs = CheckDeployConfigs(options, *app, out);
  const auto envs = EnvironmentsByName(*app, out);
  const std::set<std::string> known(options.known_clusters.begin(), options.known_clusters.end());
  for (Environment& e : app->environments) {
    CheckEnvironment(known, *app, e, configs, envs, out);
    CheckPromotion(*app, e, envs, out);
    CheckGates(options, e, out);
  }
  CheckServiceAccounts(*app, out);
  CheckPlainManifests(*app, out);
}

}  // namespace pagoda::manifest
