// pagoda sync of a generated repository against a real API server, side by
// side with `kubectl apply --server-side` of the same rendered objects. Not a
// test: bench/sync starts a fresh local control plane and runs it.
//
//   pagoda_sync_bench --kubeconfig FILE [--context NAME] --scratch DIR
//                     [--environments N] [--qps Q] [--burst B]
//                     [--kubectl PATH [--kubectl-kubeconfig FILE] [--settle SECONDS]]
//
// In this order, in one process on one cluster: pagoda's first sync (every
// object created), pagoda's no-op sync right after, the process's peak RSS
// (nothing else has run in it yet); then, when --kubectl is given, the same
// repository rendered with other app names (so that no object is shared) to
// DIR/kubectl.yaml, applied by kubectl twice (first and no-op), each run a
// child process measured by wait4. N environments are N/2 apps with a test
// and a prod environment, both clusters sent to the one server, replicas 0:
// the API objects are those of any replica count, and no pod needs a node.
// The last line, "RESULT key=value ...", is for scripts.
#include <sys/resource.h>
#include <sys/wait.h>
#include <unistd.h>

#include <CLI/CLI.hpp>
#include <chrono>
#include <cstdio>
#include <cstdlib>
#include <fstream>
#include <map>
#include <optional>
#include <set>
#include <string>
#include <thread>
#include <vector>

#include "apply/apply.h"
#include "bench/bench_args.h"
#include "bench/generated_repo.h"
#include "engine/engine.h"
#include "kube/kube.h"
#include "manifest/manifest.h"

namespace pagoda {
namespace {

using Clock = std::chrono::steady_clock;

using bench::Ms;

struct Args : bench::ClusterArgs {
  double qps = 50;
  int burst = 100;
  bool qps_auto = true;  // --qps auto: the defaults, lifted by the server's flow control
  std::string kubectl;
  std::string kubectl_kubeconfig;  // empty: --kubeconfig
  int settle_seconds = 15;
};

// Fills `args` from the command line; a usage error is an exit code (CLI11's).
std::optional<int> ParseArgs(int argc, char** argv, Args* args) {
  CLI::App app("pagoda_sync_bench: pagoda sync side by side with kubectl apply --server-side");
  std::string qps = "auto";
  bench::AddClusterOptions(app, args);
  app.add_option("--qps", qps, "auto (the defaults) or requests per second");
  app.add_option("--burst", args->burst);
  app.add_option("--kubectl", args->kubectl);
  app.add_option("--kubectl-kubeconfig", args->kubectl_kubeconfig);
  app.add_option("--settle", args->settle_seconds);
  try {
    app.parse(argc, argv);
  } catch (const CLI::ParseError& e) {
    return app.exit(e);
  }
  if (args->environments % 2 != 0) return app.exit(CLI::ValidationError("--environments", "even"));
  args->qps_auto = qps == "auto";
  if (!args->qps_auto) args->qps = std::atof(qps.c_str());
  return std::nullopt;
}

manifest::GeneratedRepoOptions RepoOptions(const Args& args, const std::string& prefix) {
  return {.apps = args.environments / 2, .prefix = prefix, .test_replicas = 0, .prod_replicas = 0};
}

std::string Verbs(const std::map<std::string, int64_t>& by_verb) {
  std::string out;
  for (const auto& [verb, n] : by_verb) {
    if (!out.empty()) out += ", ";
    out += verb + " " + std::to_string(n);
  }
  return out.empty() ? "-" : out;
}

// ---- pagoda -------------------------------------------------------------------

struct PassNumbers {
  double wall_ms = 0, render_ms = 0, plan_ms = 0, execute_ms = 0;
  kube::RequestStats stats;
  size_t objects = 0;
  std::string changes;  // the change set's summary
  bool rate_limited = true;
  Status status;
};

// One `pagoda sync` of everything in `source`, every cluster sent to the
// server of `creds`, with a client of its own (discovery included), as the
// command line does it.
PassNumbers SyncPass(const manifest::MemorySource& source, const kube::Credentials& creds,
                     const kube::ClientOptions& client_options) {
  PassNumbers out;
  auto start = Clock::now();
  manifest::LoadOptions load;
  load.known_clusters = {"test", "prod"};
  manifest::Repository repo = manifest::LoadRepository(source, load);
  for (const auto& app : repo.apps) {
    if (!app.valid) {
      out.status = Status::InvalidArgument("generated app " + app.name + " is invalid");
      return out;
    }
  }
  auto selection = engine::SelectTargets(repo, {});
  if (!selection.ok()) {
    out.status = selection.status();
    return out;
  }
  std::vector<engine::RenderProblem> problems;
  auto servers = engine::DesiredState(repo, *selection, {},
                                      {{"test", creds.server}, {"prod", creds.server}}, &problems);
  if (!problems.empty() || servers.size() != 1) {
    out.status = Status::Internal(problems.empty() ? "expected one server" : problems[0].message);
    return out;
  }
  const engine::ServerDesired& desired = servers.begin()->second;
  out.objects = desired.objects.size();
  auto rendered = Clock::now();

  auto client = kube::KubeClient::Connect(creds, client_options);
  if (!client.ok()) {
    out.status = client.status();
    return out;
  }
  auto plan = engine::PlanServer(**client, desired);
  if (!plan.ok()) {
    out.status = plan.status();
    return out;
  }
  auto planned = Clock::now();
  apply::ExecuteResult result = apply::Execute(**client, (*plan)->plan, {});
  auto done = Clock::now();
  out.status = result.status;
  out.changes = result.changes.Summary();
  out.stats = (*client)->stats();
  out.rate_limited = (*client)->rate_limited();
  out.render_ms = Ms(rendered - start);
  out.plan_ms = Ms(planned - rendered);
  out.execute_ms = Ms(done - planned);
  out.wall_ms = Ms(done - start);
  return out;
}

// ---- kubectl ------------------------------------------------------------------

// The rendered objects of the repository as `pagoda render -o yaml` prints
// them, each object once (the Namespace of an app on two clusters that lead to
// one server is one object, as pagoda applies it).
Result<std::string> RenderYaml(const manifest::MemorySource& source, size_t* count) {
  manifest::LoadOptions load;
  load.known_clusters = {"test", "prod"};
  manifest::Repository repo = manifest::LoadRepository(source, load);
  std::vector<manifest::Object> objects;
  std::set<std::string> seen;
  for (const auto& app : repo.apps) {
    if (!app.valid) return Status::InvalidArgument("generated app " + app.name + " is invalid");
    auto rendered = manifest::RenderApp(app.model(), {});
    if (!rendered.ok()) return rendered.status();
    for (auto& object : rendered->AllObjects()) {
      if (seen.insert(object.Key()).second) objects.push_back(std::move(object));
    }
  }
  *count = objects.size();
  return manifest::ToYaml(objects);
}

struct ChildRun {
  double wall_ms = 0;
  long max_rss_kib = 0;
  int exit_code = -1;
  std::map<std::string, int64_t> by_verb;  // from the -v=6 request log
};

// Runs `argv` with stdout and stderr to `log`, and counts the requests its
// log names (client-go at -v=6 logs one "Response" line per request).
ChildRun RunChild(const std::vector<std::string>& argv, const std::string& log) {
  ChildRun out;
  std::vector<char*> cargv;
  for (const auto& a : argv) cargv.push_back(const_cast<char*>(a.c_str()));
  cargv.push_back(nullptr);
  std::fflush(nullptr);
  auto start = Clock::now();
  pid_t pid = fork();
  if (pid == 0) {
    if (!std::freopen(log.c_str(), "w", stdout)) _exit(127);
    dup2(STDOUT_FILENO, STDERR_FILENO);
    execv(cargv[0], cargv.data());
    _exit(127);
  }
  int status = 0;
  rusage usage{};
  if (pid < 0 || wait4(pid, &status, 0, &usage) != pid) return out;
  out.wall_ms = Ms(Clock::now() - start);
  out.max_rss_kib = usage.ru_maxrss;
  out.exit_code = WIFEXITED(status) ? WEXITSTATUS(status) : 128 + WTERMSIG(status);
  std::ifstream in(log);
  std::string line;
  while (std::getline(in, line)) {
    if (line.find("\"Response\"") == std::string::npos) continue;
    auto v = line.find("verb=\"");
    if (v == std::string::npos) continue;
    v += 6;
    out.by_verb[line.substr(v, line.find('"', v) - v)]++;
  }
  return out;
}

int64_t KubectlWrites(const std::map<std::string, int64_t>& by_verb) {
  int64_t n = 0;
  for (const char* verb : {"POST", "PUT", "PATCH", "DELETE"}) {
    if (auto it = by_verb.find(verb); it != by_verb.end()) n += it->second;
  }
  return n;
}

void PrintRow(const char* what, double wall_ms, const std::string& verbs, int64_t writes,
              const std::string& rss) {
  char wall[32] = "";
  if (wall_ms >= 0) std::snprintf(wall, sizeof wall, "%.2f s", wall_ms / 1000);
  std::printf("%-22s %11s  %7lld  %10s  %s\n", what, wall, static_cast<long long>(writes),
              rss.c_str(), verbs.c_str());
}

std::string MiB(long kib) {
  char buf[32];
  std::snprintf(buf, sizeof buf, "%.1f MiB", kib / 1024.0);
  return buf;
}

int Run(const Args& args) {
  auto creds = kube::LoadKubeconfig({.paths = {args.kubeconfig}, .context = args.context});
  if (!creds.ok()) {
    std::fprintf(stderr, "pagoda_sync_bench: %s\n", creds.status().ToString().c_str());
    return 1;
  }
  kube::ClientOptions client_options;
  if (!args.qps_auto) {
    client_options.qps = args.qps;
    client_options.burst = args.burst;
    client_options.limit_under_flow_control = true;  // as an operator's --qps does
  }

  // pagoda first, so that the peak RSS is pagoda's alone.
  manifest::MemorySource source;
  manifest::AddGeneratedApps(source, RepoOptions(args, "app-"));
  PassNumbers first = SyncPass(source, *creds, client_options);
  if (!first.status.ok()) {
    std::fprintf(stderr, "pagoda first sync: %s\n", first.status.ToString().c_str());
    return 1;
  }
  rusage after_first{};
  getrusage(RUSAGE_SELF, &after_first);
  PassNumbers noop = SyncPass(source, *creds, client_options);
  rusage self{};
  getrusage(RUSAGE_SELF, &self);
  if (!noop.status.ok()) {
    std::fprintf(stderr, "pagoda no-op sync: %s\n", noop.status.ToString().c_str());
    return 1;
  }

  ChildRun kubectl_first, kubectl_noop;
  size_t kubectl_objects = 0;
  if (!args.kubectl.empty()) {
    manifest::MemorySource other;
    manifest::AddGeneratedApps(other, RepoOptions(args, "kc-app-"));
    auto yaml = RenderYaml(other, &kubectl_objects);
    if (!yaml.ok()) {
      std::fprintf(stderr, "rendering for kubectl: %s\n", yaml.status().ToString().c_str());
      return 1;
    }
    const std::string file = args.scratch + "/kubectl.yaml";
    std::ofstream(file) << *yaml;
    // The controllers are still making ReplicaSets for pagoda's Deployments.
    std::this_thread::sleep_for(std::chrono::seconds(args.settle_seconds));
    const std::string kubeconfig =
        args.kubectl_kubeconfig.empty() ? args.kubeconfig : args.kubectl_kubeconfig;
    std::vector<std::string> argv = {args.kubectl,
                                     "apply",
                                     "--server-side",
                                     "--field-manager=bench",
                                     "-f",
                                     file,
                                     "--kubeconfig=" + kubeconfig,
                                     "-v=6"};
    if (!args.context.empty() && args.kubectl_kubeconfig.empty()) {
      argv.push_back("--context=" + args.context);
    }
    kubectl_first = RunChild(argv, args.scratch + "/kubectl-first.log");
    kubectl_noop = RunChild(argv, args.scratch + "/kubectl-noop.log");
    for (const auto* run : {&kubectl_first, &kubectl_noop}) {
      if (run->exit_code != 0) {
        std::fprintf(stderr, "kubectl apply exited with %d; see %s/kubectl-*.log\n", run->exit_code,
                     args.scratch.c_str());
        return 1;
      }
    }
  }

  std::printf(
      "%d environments (%d apps x test, prod; both clusters on one server), %zu objects, "
      "replicas 0\n",
      args.environments, args.environments / 2, first.objects);
  std::printf("pagoda client rate limit: %s, %d connections\n",
              args.qps_auto  ? (first.rate_limited ? "default (qps 50, burst 100)"
                                                   : "default, lifted: the server has API "
                                                     "Priority and Fairness")
              : args.qps > 0 ? ("qps " + std::to_string(static_cast<int>(args.qps)) + ", burst " +
                                std::to_string(args.burst))
                                   .c_str()
                             : "off (qps 0)",
              client_options.max_connections);
  std::printf("%-22s %11s  %7s  %10s  %s\n", "", "wall", "writes", "peak RSS", "requests by verb");
  PrintRow("pagoda first sync", first.wall_ms, Verbs(first.stats.by_verb), first.stats.Writes(),
           "");
  PrintRow("pagoda no-op sync", noop.wall_ms, Verbs(noop.stats.by_verb), noop.stats.Writes(), "");
  PrintRow("pagoda (process)", -1, "", 0, MiB(self.ru_maxrss));
  std::printf("pagoda peak RSS after the first sync alone: %s\n",
              MiB(after_first.ru_maxrss).c_str());
  if (!args.kubectl.empty()) {
    PrintRow("kubectl first apply", kubectl_first.wall_ms, Verbs(kubectl_first.by_verb),
             KubectlWrites(kubectl_first.by_verb), MiB(kubectl_first.max_rss_kib));
    PrintRow("kubectl no-op apply", kubectl_noop.wall_ms, Verbs(kubectl_noop.by_verb),
             KubectlWrites(kubectl_noop.by_verb), MiB(kubectl_noop.max_rss_kib));
  }
  for (const auto* pass : {&first, &noop}) {
    std::printf(
        "pagoda %s: render %.0f ms, read+plan %.0f ms, execute %.0f ms, throttled %.0f ms; "
        "%s\n",
        pass == &first ? "first" : "no-op", pass->render_ms, pass->plan_ms, pass->execute_ms,
        std::chrono::duration<double, std::milli>(pass->stats.throttled).count(),
        pass->changes.c_str());
  }
  std::printf(
      "RESULT qps=%s objects=%zu pagoda_first_ms=%.0f pagoda_first_writes=%lld "
      "pagoda_first_reads=%lld pagoda_noop_ms=%.0f pagoda_noop_writes=%lld "
      "pagoda_noop_reads=%lld pagoda_rss_kib=%ld",
      args.qps_auto ? "auto" : std::to_string(static_cast<int>(args.qps)).c_str(), first.objects,
      first.wall_ms, static_cast<long long>(first.stats.Writes()),
      static_cast<long long>(first.stats.Reads()), noop.wall_ms,
      static_cast<long long>(noop.stats.Writes()), static_cast<long long>(noop.stats.Reads()),
      self.ru_maxrss);
  if (!args.kubectl.empty()) {
    std::printf(
        " kubectl_objects=%zu kubectl_first_ms=%.0f kubectl_first_rss_kib=%ld "
        "kubectl_noop_ms=%.0f kubectl_noop_rss_kib=%ld",
        kubectl_objects, kubectl_first.wall_ms, kubectl_first.max_rss_kib, kubectl_noop.wall_ms,
        kubectl_noop.max_rss_kib);
  }
  std::printf("\n");
  return 0;
}

}  // namespace
}  // namespace pagoda

int main(int argc, char** argv) {
  return pagoda::bench::Main<pagoda::Args>(argc, argv, pagoda::ParseArgs, pagoda::Run);
}
