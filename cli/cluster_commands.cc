#include "cli/cluster_commands.h"

#include <ostream>

#include "daemon/config.h"
#include "engine/clusters.h"
#include "engine/engine.h"
#include "manifest/json.h"
#include "source/source.h"

namespace pagoda::cli {

using daemon::ApplyRepositoryConfig;
namespace {

constexpr int kUsage = 2;
constexpr int kFailed = 3;

struct Session {
  manifest::Repository repo;
  engine::Selection selection;
  std::map<std::string, engine::ServerDesired> servers;
  std::map<std::string, kube::Credentials> credentials;  // by server
  bool problems = false;
};

// Loads, selects, renders and resolves clusters; returns 0 or an exit code.
int Prepare(const ClusterFlags& flags, std::ostream& err, Session* s) {
  manifest::LoadOptions load;
  if (Status st = ApplyRepositoryConfig(flags.config, &load); !st.ok()) {
    err << "pagoda: --config: " << st.message() << "\n";
    return kUsage;
  }
  auto source = source::NewDirectorySource(flags.repo);
  s->repo = manifest::LoadRepository(*source, load);
  auto selection = engine::SelectTargets(s->repo, flags.targets);
  if (!selection.ok()) {
    err << "pagoda: " << selection.status().message() << "\n";
    return kUsage;
  }
  s->selection = std::move(*selection);
  for (const auto& d : s->repo.diagnostics) err << d.ToString() << "\n";
  for (const auto& app : s->repo.apps) {
    if (!s->selection.HasApp(app.name)) continue;
    for (const auto& d : app.diagnostics) err << d.ToString() << "\n";
    if (!app.valid) {
      err << "pagoda: app " << app.name << " has errors; it is left as it is in the cluster\n";
      s->problems = true;
    }
  }

  engine::ClusterMapping mapping;
  if (!flags.kubeconfig.empty()) mapping.kubeconfigs = {flags.kubeconfig};
  mapping.all_clusters_to = flags.all_clusters_to;
  if (Status st = mapping.AddFlags(flags.clusters); !st.ok()) {
    err << "pagoda: " << st.message() << "\n";
    return kUsage;
  }
  std::map<std::string, std::string> server_of;
  for (const auto& app : s->repo.apps) {
    if (!s->selection.HasApp(app.name) || !app.valid) continue;
    for (const auto& env : app.model().environments) {
      const std::string& cluster = env.cluster.value;
      if (!s->selection.HasEnv(app.name, env.name.value) || server_of.contains(cluster)) continue;
      auto creds = mapping.Resolve(cluster);
      if (!creds.ok()) {
        err << "pagoda: " << creds.status().message() << "\n";
        s->problems = true;
        continue;
      }
      server_of[cluster] = creds->server;
      s->credentials.try_emplace(creds->server, std::move(*creds));
    }
  }
  manifest::RenderOptions options;
  options.commit = flags.commit;
  std::vector<engine::RenderProblem> problems;
  s->servers = engine::DesiredState(s->repo, s->selection, options, server_of, &problems);
  for (const auto& p : problems) {
    err << "pagoda: app " << p.app << ": " << p.message << "\n";
    s->problems = true;
  }
  return 0;
}

Result<std::unique_ptr<kube::KubeClient>> Connect(const ClusterFlags& flags,
                                                  const kube::Credentials& creds) {
  kube::ClientOptions options;
  options.qps = flags.qps;
  options.burst = flags.burst;
  options.limit_under_flow_control = flags.rate_limit_given;
  return kube::KubeClient::Connect(creds, options);
}

std::string Yaml(const std::string& json) {
  auto yaml = manifest::JsonToYaml(json);
  return yaml.ok() ? *yaml : json + "\n";
}

std::string ClusterNames(const engine::ServerDesired& server) {
  std::string names;
  for (const auto& c : server.clusters) names += (names.empty() ? "" : ", ") + c;
  return names;
}

// Connects to `server` and plans it; nullptr (reported, and s->problems
// set) when either fails.
std::unique_ptr<engine::ServerPlan> ConnectAndPlan(const ClusterFlags& flags, Session& s,
                                                   const std::string& server,
                                                   const engine::ServerDesired& desired,
                                                   std::unique_ptr<kube::KubeClient>* client,
                                                   std::ostream& err) {
  auto connected = Connect(flags, s.credentials.at(server));
  if (!connected.ok()) {
    err << "pagoda: cluster " << ClusterNames(desired) << ": " << connected.status().message()
        << "\n";
    s.problems = true;
    return nullptr;
  }
  *client = std::move(*connected);
  auto planned = engine::PlanServer(**client, desired);
  if (!planned.ok()) {
    err << "pagoda: cluster " << ClusterNames(desired) << ": " << planned.status().message()
        << "\n";
    s.problems = true;
    return nullptr;
  }
  return std::move(*planned);
}

// What the plan leaves alone and why: held back environments and
// manifests, and conflicts. Each is an error of the command.
void ReportRefusals(const engine::ServerPlan& planned, Session& s, std::ostream& err) {
  for (const auto& h : planned.held) {
    err << "pagoda: " << h.app << (h.env.empty() ? "" : "/" + h.env) << ": " << h.message << "\n";
    s.problems = true;
  }
  for (const auto& c : planned.plan.changes) {
    if (c.action != diff::Action::kConflict) continue;
    err << "pagoda: conflict: " << c.key.ToString() << ": " << c.reason << "\n";
    s.problems = true;
  }
}

}  // namespace

int RunDiff(const ClusterFlags& flags, std::ostream& out, std::ostream& err) {
  Session s;
  if (int code = Prepare(flags, err, &s); code != 0) return code;
  bool differences = false;
  for (const auto& [server, desired] : s.servers) {
    std::unique_ptr<kube::KubeClient> client;
    auto planned = ConnectAndPlan(flags, s, server, desired, &client, err);
    if (planned == nullptr) continue;
    ReportRefusals(*planned, s, err);
    for (const auto& change : planned->plan.changes) {
      const std::string key = change.key.ToString();
      std::string from, to, header = "diff " + key;
      switch (change.action) {
        case diff::Action::kUnchanged:
          continue;
        case diff::Action::kOrphan:
        case diff::Action::kBlocked:
          out << "# " << key << ": " << change.reason << "\n";
          continue;
        case diff::Action::kConflict:
          continue;  // reported above
        case diff::Action::kAdopt:
        case diff::Action::kCreate: {
          rapidjson::Document d;
          d.Parse(change.desired_json().c_str());
          to = Yaml(diff::ForDisplay(d));
          header += " (not in the cluster)";
          break;
        }
        case diff::Action::kUpdate: {
          std::string paths;
          for (const auto& c : change.changes) paths += (paths.empty() ? "" : ", ") + c.path;
          header += change.action == diff::Action::kAdopt ? " (adopted: " + change.reason + ")"
                                                          : " (changed: " + paths + ")";
          from = Yaml(diff::ForDisplay(change.live->Value()));
          auto predicted =
              apply::PredictApply(*client, change.api_version, change.key, change.desired_json());
          if (!predicted.ok()) {
            err << "pagoda: " << predicted.status().message() << "\n";
            s.problems = true;
            continue;
          }
          to = Yaml(diff::ForDisplay(*predicted));
          break;
        }
        case diff::Action::kRetire: {
          from = Yaml(diff::ForDisplay(change.live->Value()));
          rapidjson::Document scaled;
          scaled.CopyFrom(change.live->Value(), scaled.GetAllocator());
          if (scaled.HasMember("spec") && scaled["spec"].HasMember("replicas")) {
            scaled["spec"]["replicas"].SetInt(0);
          }
          to = Yaml(diff::ForDisplay(scaled));
          header += " (" + change.reason + ")";
          break;
        }
        case diff::Action::kDelete:
          from = Yaml(diff::ForDisplay(change.live->Value()));
          header += " (" + change.reason + ")";
          break;
      }
      differences = true;
      std::string text = header + "\n" + diff::UnifiedDiff("live/" + key, from, "repo/" + key, to);
      out << (flags.color ? diff::Colorize(text) : text);
    }
  }
  if (s.problems) return kFailed;
  return differences ? 1 : 0;
}

int RunSync(const ClusterFlags& flags, std::ostream& out, std::ostream& err) {
  Session s;
  if (int code = Prepare(flags, err, &s); code != 0) return code;
  for (const auto& [server, desired] : s.servers) {
    out << "cluster " << ClusterNames(desired) << " (" << server << ")"
        << (flags.dry_run ? ", dry run" : "") << ":\n";
    std::unique_ptr<kube::KubeClient> client;
    auto planned = ConnectAndPlan(flags, s, server, desired, &client, err);
    if (planned == nullptr) continue;
    ReportRefusals(*planned, s, err);
    apply::ExecuteResult result =
        apply::Execute(*client, planned->plan, {.dry_run = flags.dry_run});
    for (const auto& e : result.changes.entries) {
      if (e.action == apply::ChangeAction::kUnchanged) continue;
      out << "  " << e.key << " " << apply::ChangeActionName(e.action);
      if (!e.detail.empty()) out << " (" << e.detail << ")";
      out << "\n";
      for (const auto& w : e.warnings) err << "warning: " << e.key << ": " << w << "\n";
    }
    out << "  " << result.changes.Summary() << "\n";
    if (!result.status.ok()) {
      err << "pagoda: cluster " << ClusterNames(desired) << ": " << result.status.message() << "\n";
      s.problems = true;
    }
  }
  return s.problems ? kFailed : 0;
}

}  // namespace pagoda::cli
