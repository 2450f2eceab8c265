// What a new commit costs the daemon's loop before it plans anything: the
// repository loaded from Git with the loop's LoadCache (LoadRepository),
// for a commit that touches one app of a generated repository. No cluster:
// this is the part of bench/commit's "fetch → first write" that grows with
// the number of apps, measured alone and without a control plane's noise.
//
//   pagoda_load_bench --scratch DIR [--environments N] [--rounds R]
//
// The generated repository (N/2 apps x test, prod) is committed to a Git
// repository in DIR/repo and fetched into a bare clone in DIR/state, as the
// daemon does. The first commit is loaded once (every app read), then each
// round commits a new image tag for one app (a different one each round),
// fetches it and loads it with the same cache: the thread's CPU time and the
// wall time of that load, and how many apps it read and reused. Prints a row
// per round, then the median; the last line, "RESULT key=value ...", is for
// scripts.
#include <CLI/CLI.hpp>
#include <algorithm>
#include <chrono>
#include <cstdio>
#include <ctime>
#include <filesystem>
#include <string>
#include <vector>

#include "base/memory.h"
#include "bench/bench_args.h"
#include "bench/loop_harness.h"

namespace pagoda {
namespace {

struct Args {
  std::string scratch;
  int environments = 10000;
  int rounds = 10;
};

double ThreadCpuMs() {
  timespec ts{};
  clock_gettime(CLOCK_THREAD_CPUTIME_ID, &ts);
  return ts.tv_sec * 1e3 + ts.tv_nsec / 1e6;
}

double Median(std::vector<double> v) {
  std::sort(v.begin(), v.end());
  if (v.empty()) return 0;
  return v.size() % 2 ? v[v.size() / 2] : (v[v.size() / 2 - 1] + v[v.size() / 2]) / 2;
}

struct Loaded {
  double cpu_ms = 0, wall_ms = 0;
  size_t read = 0, reused = 0, apps = 0;
};

// Fetches the tip and loads it with `cache`, timed.
Result<Loaded> FetchAndLoad(daemon::GitSource& git, manifest::LoadCache* cache) {
  auto fetched = git.Fetch();
  if (!fetched.ok()) return fetched.status();
  const double cpu0 = ThreadCpuMs();
  const auto wall0 = std::chrono::steady_clock::now();
  auto files = git.Files(fetched->commit);
  if (!files.ok()) return files.status();
  manifest::LoadOptions options;
  options.known_clusters = {"test", "prod"};
  manifest::Repository repo = manifest::LoadRepository(**files, options, cache);
  Loaded out;
  out.cpu_ms = ThreadCpuMs() - cpu0;
  out.wall_ms = bench::Ms(std::chrono::steady_clock::now() - wall0);
  out.read = cache->read;
  out.reused = cache->reused;
  out.apps = repo.apps.size();
  return out;
}

int Run(const Args& args) {
  const std::string repo_dir = args.scratch + "/repo", state_dir = args.scratch + "/state";
  std::filesystem::create_directories(repo_dir);
  std::filesystem::create_directories(state_dir);
  const manifest::GeneratedRepoOptions generated{
      .apps = args.environments / 2, .prefix = "app-", .test_replicas = 0, .prod_replicas = 0};
  auto fail = [](const Status& st) {
    std::fprintf(stderr, "pagoda_load_bench: %s\n", st.ToString().c_str());
    return 1;
  };
  for (int i = 0; i < generated.apps; ++i) {
    if (Status st = bench::WriteGeneratedApp(repo_dir, generated, i); !st.ok()) return fail(st);
  }
  if (Status st = bench::CommitAll(repo_dir, "generated apps"); !st.ok()) return fail(st);
  source::GitSourceOptions git_options;
  git_options.url = repo_dir;
  git_options.clone_dir = state_dir + "/repo.git";
  auto git = source::OpenGitSource(git_options);
  if (!git.ok()) return fail(git.status());

  manifest::LoadCache cache;
  auto first = FetchAndLoad(**git, &cache);
  if (!first.ok()) return fail(first.status());
  std::printf("%d environments (%zu apps): first load %.1f ms CPU, %zu apps read\n",
              args.environments, first->apps, first->cpu_ms, first->read);
  std::printf("%5s %10s %10s %6s %7s\n", "round", "cpu ms", "wall ms", "read", "reused");
  std::vector<double> cpu, wall;
  for (int r = 0; r < args.rounds; ++r) {
    const int app = (r * 7919) % generated.apps;  // spread over the repository
    if (Status st = bench::WriteGeneratedApp(repo_dir, generated, app, "r" + std::to_string(r));
        !st.ok()) {
      return fail(st);
    }
    if (Status st = bench::CommitAll(repo_dir, "app " + std::to_string(app)); !st.ok()) {
      return fail(st);
    }
    auto loaded = FetchAndLoad(**git, &cache);
    if (!loaded.ok()) return fail(loaded.status());
    std::printf("%5d %10.2f %10.2f %6zu %7zu\n", r + 1, loaded->cpu_ms, loaded->wall_ms,
                loaded->read, loaded->reused);
    cpu.push_back(loaded->cpu_ms);
    wall.push_back(loaded->wall_ms);
  }
  std::printf("median: %.2f ms CPU, %.2f ms wall; peak RSS %.1f MiB\n", Median(cpu), Median(wall),
              Resident().peak_kib / 1024.0);
  std::printf("RESULT environments=%d load1_cpu_ms=%.2f load1_wall_ms=%.2f maxrss_kib=%lld\n",
              args.environments, Median(cpu), Median(wall),
              static_cast<long long>(Resident().peak_kib));
  return 0;
}

}  // namespace
}  // namespace pagoda

int main(int argc, char** argv) {
  pagoda::Args args;
  CLI::App app{"pagoda_load_bench: a commit touching one app, loaded as the daemon's loop does"};
  app.add_option("--scratch", args.scratch)->required();
  app.add_option("--environments", args.environments, "even")->check(CLI::Range(2, 1 << 20));
  app.add_option("--rounds", args.rounds)->check(CLI::Range(1, 1000));
  CLI11_PARSE(app, argc, argv);
  return pagoda::Run(args);
}
