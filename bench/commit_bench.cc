// A commit that touches some apps of a generated repository the cluster
// already matches, as the daemon's loop takes it: from the end of the fetch
// that brings it to the loop's first API write (wall and CPU time: loading,
// rendering, planning, deciding), then until every release it started has
// ended (wall, CPU, API requests); and the process's peak RSS. Not a test:
// bench/commit starts a fresh local control plane and runs it.
//
//   pagoda_commit_bench --kubeconfig FILE [--context NAME] --scratch DIR
//                       [--environments N] [--touch LIST] [--rounds R]
//
// The repository is bench/generated_repo.h's (replicas 0), committed to a Git
// repository under DIR and released first. Then, for each entry of --touch
// (a number of apps, or a percentage of them: "1,10%"), --rounds commits,
// each giving that many apps (a different set each round) a new image tag:
// each such app's two environments release a new revision. The last line,
// "RESULT key=value ...", is for scripts.
#include <pthread.h>

#include <CLI/CLI.hpp>
#include <algorithm>
#include <chrono>
#include <cstdio>
#include <ctime>
#include <mutex>
#include <optional>
#include <sstream>
#include <string>
#include <vector>

#include "base/memory.h"
#include "bench/bench_args.h"
#include "bench/loop_harness.h"

namespace pagoda {
namespace {

using Steady = std::chrono::steady_clock;
using bench::Ms;

struct Args : bench::ClusterArgs {
  std::string touch = "1,10%";
  int rounds = 3;
};

std::optional<int> ParseArgs(int argc, char** argv, Args* args) {
  CLI::App app("pagoda_commit_bench: a commit that touches some apps, through the daemon's loop");
  bench::AddClusterOptions(app, args);
  app.add_option("--touch", args->touch, "apps each commit touches: N or N% (a list)");
  app.add_option("--rounds", args->rounds, "commits per entry of --touch")
      ->check(CLI::PositiveNumber);
  return bench::Parse(app, argc, argv, *args);
}

// The cluster access, noting when the loop first writes after Reset(),
// and how much CPU time the loop's thread (the one that called Reset) had
// used then. Writes may come from several threads at once (ExecuteAll).
class FirstWrite final : public daemon::ClusterAccess {
 public:
  explicit FirstWrite(std::unique_ptr<daemon::ClusterAccess> inner) : inner_(std::move(inner)) {}
  void Reset() {
    std::lock_guard lock(mu_);
    written_ = started_any_ = false;
    pthread_getcpuclockid(pthread_self(), &loop_cpu_);
  }
  bool written() const {
    std::lock_guard lock(mu_);
    return written_;
  }
  Steady::time_point started() const {  // the first write's
    std::lock_guard lock(mu_);
    return started_;
  }
  Steady::time_point ended() const {
    std::lock_guard lock(mu_);
    return ended_;
  }
  double started_cpu_ms() const {  // the loop thread's CPU time then
    std::lock_guard lock(mu_);
    return started_cpu_ms_;
  }

  Result<std::string> ServerOf(const std::string& cluster) override {
    return inner_->ServerOf(cluster);
  }
  Result<std::unique_ptr<daemon::ServerPlan>> Plan(const daemon::ServerDesired& d) override {
    return inner_->Plan(d);
  }
  std::optional<uint64_t> LiveVersion(const std::string& server, const std::string& app) override {
    return inner_->LiveVersion(server, app);
  }
  kube::LiveChanges LiveChangedSince(const std::string& server, uint64_t since) override {
    return inner_->LiveChangedSince(server, since);
  }
  int Concurrency() const override { return inner_->Concurrency(); }
  apply::ExecuteResult Execute(const std::string& server, const diff::Plan& plan,
                               const std::string& commit) override {
    bool first = false;
    {
      std::lock_guard lock(mu_);
      if (!started_any_) {
        first = started_any_ = true;
        timespec ts{};
        clock_gettime(loop_cpu_, &ts);
        started_cpu_ms_ = ts.tv_sec * 1e3 + ts.tv_nsec / 1e6;
        started_ = Steady::now();
      }
    }
    auto result = inner_->Execute(server, plan, commit);
    if (first) {
      std::lock_guard lock(mu_);
      ended_ = Steady::now();
      written_ = true;
    }
    return result;
  }
  std::map<std::string, kube::RequestStats> RequestStatsByServer() const override {
    return inner_->RequestStatsByServer();
  }
  rollout::Workloads& Workloads(const std::string& server) override {
    return inner_->Workloads(server);
  }
  Result<std::vector<manifest::NodeAllocatable>> Nodes(const std::string& server) override {
    return inner_->Nodes(server);
  }

 private:
  std::unique_ptr<daemon::ClusterAccess> inner_;
  mutable std::mutex mu_;
  clockid_t loop_cpu_ = CLOCK_THREAD_CPUTIME_ID;
  bool started_any_ = false, written_ = false;
  Steady::time_point started_{}, ended_{};
  double started_cpu_ms_ = 0;
};

struct Round {
  int apps = 0;
  double to_write_ms = 0, to_write_cpu_ms = 0, first_write_ms = 0;
  double done_ms = 0, cpu_ms = 0;
  int64_t requests = 0, writes = 0;
  size_t read = 0, unchanged = 0, rendered = 0, quiet = 0;
};

double Median(std::vector<double> v) {
  std::sort(v.begin(), v.end());
  return v.empty()      ? 0
         : v.size() % 2 ? v[v.size() / 2]
                        : (v[v.size() / 2 - 1] + v[v.size() / 2]) / 2;
}

// One commit touching `count` apps from `first` on, through to every release it starts.
Result<Round> Commit(bench::Loop& loop, FirstWrite& watch, const std::string& repo_dir,
                     const manifest::GeneratedRepoOptions& generated, int first, int count,
                     const std::string& tag, int environments) {
  for (int k = 0; k < count; ++k) {
    PAGODA_RETURN_IF_ERROR(
        bench::WriteGeneratedApp(repo_dir, generated, (first + k) % generated.apps, tag));
  }
  PAGODA_RETURN_IF_ERROR(
      bench::CommitAll(repo_dir, "image " + tag + " for " + std::to_string(count) + " apps"));
  Round r;
  r.apps = count;
  const int releases = loop.observer.releases_ended() + 2 * count;
  const auto stats0 = bench::Sum(loop.clusters->RequestStatsByServer());
  watch.Reset();
  const size_t quiet_before = loop.reconciler->Snapshot().apps_quiet;
  const double cpu0 = bench::CpuMs();
  loop.reconciler->RequestSync();
  auto steps = bench::StepUntilReleased(loop, environments, releases, std::chrono::minutes(20),
                                        ("commit " + tag).c_str());
  if (!steps.ok()) return steps.status();
  const auto done = Steady::now();
  r.cpu_ms = bench::CpuMs() - cpu0;
  if (!watch.written()) return Status::Internal("the commit was released without a write");
  const auto fetched = loop.git->fetched_at();
  r.to_write_ms = Ms(watch.started() - fetched);
  r.to_write_cpu_ms = watch.started_cpu_ms() - loop.git->fetched_cpu_ms();
  r.first_write_ms = Ms(watch.ended() - fetched);
  r.done_ms = Ms(done - fetched);
  kube::RequestStats delta;
  for (const auto& [verb, n] : bench::Sum(loop.clusters->RequestStatsByServer()).by_verb) {
    auto before = stats0.by_verb.find(verb);
    delta.by_verb[verb] = n - (before == stats0.by_verb.end() ? 0 : before->second);
  }
  r.requests = delta.Total();
  r.writes = delta.Writes();
  const daemon::LoopStatus status = loop.reconciler->Snapshot();
  r.read = status.apps_read;
  r.unchanged = status.apps_unchanged;
  r.rendered = status.apps_rendered;
  r.quiet = quiet_before;
  return r;
}

int Run(const Args& args) {
  bench::LoopSetup setup;
  setup.kubeconfig = args.kubeconfig;
  setup.context = args.context;
  FirstWrite* watch = nullptr;
  setup.wrap = [&](std::unique_ptr<daemon::ClusterAccess> inner) {
    auto wrapped = std::make_unique<FirstWrite>(std::move(inner));
    watch = wrapped.get();
    return std::unique_ptr<daemon::ClusterAccess>(std::move(wrapped));
  };
  const manifest::GeneratedRepoOptions generated{
      .apps = args.environments / 2, .prefix = "app-", .test_replicas = 0, .prod_replicas = 0};
  auto opened = bench::OpenGeneratedLoop(args.scratch, generated, setup);
  if (!opened.ok()) {
    std::fprintf(stderr, "pagoda_commit_bench: %s\n", opened.status().ToString().c_str());
    return 1;
  }
  bench::Loop& loop = **opened;
  const double first_s = bench::ReleaseFirstCommit(loop, args.environments,
                                                   std::chrono::minutes(30), "pagoda_commit_bench");
  if (first_s < 0) return 1;
  std::printf("%d environments (%d apps x test, prod; replicas 0): first release %.1f s\n",
              args.environments, generated.apps, first_s);
  // One pass that finds everything in sync: from then on, an app a commit
  // does not touch is not planned again.
  loop.reconciler->RequestSync();
  loop.reconciler->Step();
  std::printf("%7s %5s %12s %12s %12s %10s %10s %8s %6s %6s %6s %6s\n", "touched", "round",
              "->write ms", "->write cpu", "1st write ms", "done ms", "cpu ms", "requests", "read",
              "same", "render", "quiet");
  std::string result = "RESULT environments=" + std::to_string(args.environments) +
                       " first_s=" + std::to_string(first_s);
  int offset = 0;
  std::stringstream list(args.touch);
  for (std::string item; std::getline(list, item, ',');) {
    const bool percent = item.ends_with("%");
    const int n = std::max(1, percent ? generated.apps * std::stoi(item) / 100 : std::stoi(item));
    std::vector<Round> rounds;
    for (int round = 0; round < args.rounds; ++round) {
      const std::string tag = "2." + std::to_string(offset) + "." + std::to_string(round);
      auto r = Commit(loop, *watch, args.scratch + "/repo", generated, offset, n, tag,
                      args.environments);
      if (!r.ok()) {
        std::fprintf(stderr, "pagoda_commit_bench: %s\n", r.status().ToString().c_str());
        return 1;
      }
      offset += n;
      rounds.push_back(*r);
      std::printf("%7d %5d %12.1f %12.1f %12.1f %10.1f %10.1f %8lld %6zu %6zu %6zu %6zu\n", n,
                  round + 1, r->to_write_ms, r->to_write_cpu_ms, r->first_write_ms, r->done_ms,
                  r->cpu_ms, static_cast<long long>(r->requests), r->read, r->unchanged,
                  r->rendered, r->quiet);
    }
    auto median = [&](double Round::*field) {
      std::vector<double> v;
      for (const Round& r : rounds) v.push_back(r.*field);
      return Median(v);
    };
    char buf[256];
    std::snprintf(buf, sizeof buf,
                  " touch%d_to_write_ms=%.1f touch%d_to_write_cpu_ms=%.1f touch%d_done_ms=%.1f "
                  "touch%d_cpu_ms=%.1f",
                  n, median(&Round::to_write_ms), n, median(&Round::to_write_cpu_ms), n,
                  median(&Round::done_ms), n, median(&Round::cpu_ms));
    result += buf;
  }
  std::printf("peak RSS %.1f MiB\n", Resident().peak_kib / 1024.0);
  std::printf("%s maxrss_kib=%lu\n", result.c_str(),
              static_cast<unsigned long>(Resident().peak_kib));
  return 0;
}

}  // namespace
}  // namespace pagoda

int main(int argc, char** argv) {
  return pagoda::bench::Main<pagoda::Args>(argc, argv, pagoda::ParseArgs, pagoda::Run);
}
