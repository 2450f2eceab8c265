// What the benchmarks of the daemon's loop share: the generated repository
// committed to a real Git repository, the loop put together as the daemon
// puts it (the Git source's bare clone, the journal, NewClusterAccess with
// every cluster name sent to one context), and stepping it until a commit is
// released everywhere. Nothing of the loop is faked. Never linked into pagoda.
#pragma once

#include <spawn.h>
#include <spdlog/sinks/stdout_color_sinks.h>
#include <spdlog/spdlog.h>
#include <sys/resource.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include <algorithm>
#include <chrono>
#include <cstdio>
#include <filesystem>
#include <fstream>
#include <functional>
#include <map>
#include <memory>
#include <string>
#include <thread>
#include <vector>

#include "bench/generated_repo.h"
#include "daemon/loop.h"
#include "engine/clusters.h"
#include "journal/journal.h"
#include "source/source.h"

namespace pagoda::bench {

// Runs a program to its end in `dir`; its output goes to our stderr. Spawned
// (vfork and exec), never forked: a fork would make every page of this
// process copy-on-write, and the loop being measured would then pay a page
// fault for each page it next writes, which the daemon never does.
inline int RunProgram(const std::vector<std::string>& argv, const std::string& dir) {
  std::vector<char*> cargv;
  for (const auto& a : argv) cargv.push_back(const_cast<char*>(a.c_str()));
  cargv.push_back(nullptr);
  std::fflush(nullptr);
  posix_spawn_file_actions_t actions;
  posix_spawn_file_actions_init(&actions);
  posix_spawn_file_actions_addchdir_np(&actions, dir.c_str());
  posix_spawn_file_actions_adddup2(&actions, STDERR_FILENO, STDOUT_FILENO);
  pid_t pid = -1;
  const int rc = posix_spawnp(&pid, cargv[0], &actions, nullptr, cargv.data(), environ);
  posix_spawn_file_actions_destroy(&actions);
  if (rc != 0) return 127;
  int status = 0;
  if (waitpid(pid, &status, 0) != pid) return -1;
  return WIFEXITED(status) ? WEXITSTATUS(status) : 128 + WTERMSIG(status);
}

// Commits everything in the Git repository at `dir` (made if it is not one).
inline Status CommitAll(const std::string& dir, const std::string& message) {
  std::vector<std::vector<std::string>> commands;
  if (!std::filesystem::exists(std::filesystem::path(dir) / ".git")) {
    commands.push_back({"git", "init", "-q", "-b", "main"});
  }
  commands.push_back({"git", "add", "-A", "apps"});
  commands.push_back({"git", "-c", "user.name=Bench", "-c", "user.email=bench@example.com",
                      "commit", "-q", "-m", message});
  for (const auto& command : commands) {
    if (int rc = RunProgram(command, dir); rc != 0) {
      return Status::Internal(command[0] + " " + command[1] + " exited with " + std::to_string(rc));
    }
  }
  return Status::Ok();
}

// Writes app `i` of the generated repository under `dir`; with `tag`, its
// image has that tag.
inline Status WriteGeneratedApp(const std::string& dir, const manifest::GeneratedRepoOptions& o,
                                int i, const std::string& tag = "") {
  manifest::MemorySource source;
  manifest::AddGeneratedApp(source, o, i);
  auto files = source.ListFiles("");
  if (!files.ok()) return files.status();
  for (const auto& path : *files) {
    auto content = source.ReadFile(path, 1 << 20);
    if (!content.ok()) return content.status();
    std::string text = std::move(*content);
    if (const size_t at = text.find("  image: "); !tag.empty() && at != std::string::npos) {
      const size_t end = text.find('\n', at);
      const size_t colon = text.rfind(':', end);
      text.replace(colon + 1, end - colon - 1, tag);
    }
    std::filesystem::path file = std::filesystem::path(dir) / path;
    std::filesystem::create_directories(file.parent_path());
    std::ofstream out(file, std::ios::trunc);
    out << text;
    if (!out) return Status::Internal("cannot write " + file.string());
  }
  return Status::Ok();
}

// The Git source, with the CPU time its fetches take and when the last one ended.
class TimedGitSource final : public daemon::GitSource {
 public:
  explicit TimedGitSource(std::unique_ptr<daemon::GitSource> inner) : inner_(std::move(inner)) {}
  Result<daemon::FetchResult> Fetch() override {
    const double before = ThreadCpuMs();
    auto out = inner_->Fetch();
    fetch_cpu_ms_ += ThreadCpuMs() - before;
    fetched_at_ = std::chrono::steady_clock::now();
    fetched_cpu_ms_ = ThreadCpuMs();
    return out;
  }
  Result<std::string> Tip() const override { return inner_->Tip(); }
  Result<std::string> ResolveCommit(std::string_view c) const override {
    return inner_->ResolveCommit(c);
  }
  Result<daemon::CommitInfo> Commit(std::string_view id) const override {
    return inner_->Commit(id);
  }
  Result<bool> IsAncestor(std::string_view a, std::string_view d) const override {
    return inner_->IsAncestor(a, d);
  }
  Result<std::unique_ptr<manifest::FileSource>> Files(std::string_view id) const override {
    return inner_->Files(id);
  }
  Result<std::string> TreeId(std::string_view id, std::string_view path) const override {
    return inner_->TreeId(id, path);
  }
  double fetch_cpu_ms() const { return fetch_cpu_ms_; }
  std::chrono::steady_clock::time_point fetched_at() const { return fetched_at_; }
  double fetched_cpu_ms() const { return fetched_cpu_ms_; }  // the thread's, as the fetch ended

  static double ThreadCpuMs() {
    timespec ts{};
    clock_gettime(CLOCK_THREAD_CPUTIME_ID, &ts);
    return ts.tv_sec * 1e3 + ts.tv_nsec / 1e6;
  }

 private:
  std::unique_ptr<daemon::GitSource> inner_;
  double fetch_cpu_ms_ = 0;
  std::chrono::steady_clock::time_point fetched_at_{};
  double fetched_cpu_ms_ = 0;
};

// The last sync-log entry the loop wrote, and the releases that ended.
class LastEntry final : public daemon::LoopObserver {
 public:
  void Fetched(bool) override {}
  void Reconciled(const journal::SyncEntry& entry) override { entry_ = entry; }
  void ReleaseEnded(const journal::ReleaseRecord&) override { ++releases_ended_; }
  const journal::SyncEntry& entry() const { return entry_; }
  int releases_ended() const { return releases_ended_; }

 private:
  journal::SyncEntry entry_;
  int releases_ended_ = 0;
};

inline double CpuMs() {
  rusage r{};
  getrusage(RUSAGE_SELF, &r);
  auto ms = [](const timeval& t) { return t.tv_sec * 1e3 + t.tv_usec / 1e3; };
  return ms(r.ru_utime) + ms(r.ru_stime);
}

inline kube::RequestStats Sum(const std::map<std::string, kube::RequestStats>& by_server) {
  kube::RequestStats all;
  for (const auto& [server, s] : by_server) {
    for (const auto& [verb, n] : s.by_verb) all.by_verb[verb] += n;
    all.throttled += s.throttled;
  }
  return all;
}

// The loop as the daemon has it, over the Git repository `repo_dir`, its
// state in `state_dir`, every cluster name sent to `context` of `kubeconfig`.
struct Loop {
  std::unique_ptr<TimedGitSource> git;
  std::unique_ptr<journal::Journal> journal;
  std::unique_ptr<daemon::ClusterAccess> clusters;
  LastEntry observer;
  std::unique_ptr<daemon::Reconciler> reconciler;
};

struct LoopSetup {
  std::string repo_dir, state_dir, kubeconfig, context;
  kube::ClientOptions client;
  // Wraps the cluster access (to watch what the loop asks of it); none: as it is.
  std::function<std::unique_ptr<daemon::ClusterAccess>(std::unique_ptr<daemon::ClusterAccess>)>
      wrap;
};

inline Result<std::unique_ptr<Loop>> OpenLoop(const LoopSetup& setup) {
  // The loop logs as the daemon does, to stderr: stdout is the benchmark's table.
  if (spdlog::get("bench") == nullptr) spdlog::set_default_logger(spdlog::stderr_color_mt("bench"));
  auto loop = std::make_unique<Loop>();
  source::GitSourceOptions git_options;
  git_options.url = setup.repo_dir;
  git_options.clone_dir = setup.state_dir + "/repo.git";
  auto opened = source::OpenGitSource(git_options);
  if (!opened.ok()) return opened.status();
  loop->git = std::make_unique<TimedGitSource>(std::move(*opened));
  auto journal = journal::Journal::Open(setup.state_dir + "/journal");
  if (!journal.ok()) return journal.status();
  loop->journal = std::move(*journal);
  engine::ClusterMapping mapping;
  mapping.kubeconfigs = {setup.kubeconfig};
  // --all-clusters-to CONTEXT; without a context, the kubeconfig's current one.
  mapping.all_clusters_to = setup.context;
  if (setup.context.empty()) {
    for (const char* name : {"test", "prod"}) mapping.explicit_targets[name] = setup.kubeconfig;
  }
  loop->clusters = daemon::NewClusterAccess(mapping, setup.client);
  if (setup.wrap) loop->clusters = setup.wrap(std::move(loop->clusters));
  daemon::LoopOptions options;
  options.load.known_clusters = {"test", "prod"};
  options.repo_url = setup.repo_dir;
  options.observer = &loop->observer;
  loop->reconciler =
      std::make_unique<daemon::Reconciler>(options, *loop->git, *loop->journal, *loop->clusters,
                                           RealClock(), setup.state_dir + "/pins.json");
  return loop;
}

// The generated repository committed to a Git repository in scratch/repo,
// and the loop over it with its state in scratch/state (setup's directories
// are set here).
inline Result<std::unique_ptr<Loop>> OpenGeneratedLoop(const std::string& scratch,
                                                       const manifest::GeneratedRepoOptions& g,
                                                       LoopSetup setup) {
  setup.repo_dir = scratch + "/repo";
  setup.state_dir = scratch + "/state";
  std::filesystem::create_directories(setup.repo_dir);
  std::filesystem::create_directories(setup.state_dir);
  for (int i = 0; i < g.apps; ++i) PAGODA_RETURN_IF_ERROR(WriteGeneratedApp(setup.repo_dir, g, i));
  PAGODA_RETURN_IF_ERROR(CommitAll(setup.repo_dir, "generated apps"));
  return OpenLoop(setup);
}

// Steps the loop until all `environments` stand released, with nothing in
// flight, and at least `releases` releases have ended since the loop began;
// returns the steps taken, or DeadlineExceeded after `limit`.
inline Result<int> StepUntilReleased(Loop& loop, int environments, int releases,
                                     std::chrono::seconds limit, const char* what) {
  daemon::Reconciler& reconciler = *loop.reconciler;
  const auto deadline = std::chrono::steady_clock::now() + limit;
  for (int steps = 1; std::chrono::steady_clock::now() < deadline; ++steps) {
    auto next = reconciler.Step();
    daemon::LoopStatus status = reconciler.Snapshot();
    int ready = 0, in_flight = 0, failing = 0;
    for (const auto& e : status.environments) {
      in_flight += !e.release.empty();
      failing += !e.error.empty();
      ready += e.release.empty() && e.error.empty() && !e.commit.empty();
    }
    if (status.last_reconcile_ms > 0 && in_flight == 0 && ready == environments &&
        loop.observer.releases_ended() >= releases) {
      return steps;
    }
    if (steps % 20 == 0) {
      std::fprintf(stderr, "%s: %d of %d environments released, %d in flight, %d failing\n", what,
                   ready, environments, in_flight, failing);
    }
    auto wait = next - RealClock().Now();
    if (wait > std::chrono::nanoseconds(0)) {
      std::this_thread::sleep_for(
          std::min<std::chrono::nanoseconds>(wait, std::chrono::seconds(1)));
    }
  }
  return Status::DeadlineExceeded(std::string(what) + ": not released within " +
                                  std::to_string(limit.count()) + " s");
}

// Steps until the repository's first commit is released everywhere; how
// long it took, or -1 after saying on stderr, as `program`, why not.
inline double ReleaseFirstCommit(Loop& loop, int environments, std::chrono::minutes limit,
                                 const char* program, int* steps = nullptr) {
  const auto start = std::chrono::steady_clock::now();
  auto released = StepUntilReleased(loop, environments, 0, limit, "first release");
  if (!released.ok()) {
    std::fprintf(stderr, "%s: %s\n", program, released.status().ToString().c_str());
    return -1;
  }
  if (steps != nullptr) *steps = *released;
  return std::chrono::duration<double>(std::chrono::steady_clock::now() - start).count();
}

}  // namespace pagoda::bench
