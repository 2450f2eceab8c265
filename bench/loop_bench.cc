// The reconcile loop at rest: N reconcile cycles over a generated repository
// that the cluster already matches, each measured for CPU time, wall time,
// API requests by verb and heap allocations, and the process's resident
// memory. Not a test: bench/loop starts a fresh local control plane and
// runs it.
//
//   pagoda_loop_bench --kubeconfig FILE [--context NAME] --scratch DIR
//                     [--environments N] [--cycles N] [--test-replicas N]
//                     [--qps Q] [--burst B] [--gap SECONDS]
//
// What runs is the daemon's loop, with nothing of it faked: the generated
// repository (N/2 apps x test, prod) committed to a real Git repository under
// DIR, the Git source's bare clone and the journal in DIR/state, and
// NewClusterAccess with every cluster name sent to the one context (as
// --all-clusters-to does), at the client's default rate limit unless told.
// Step() runs until the first commit is released everywhere (no release in
// flight), then, after one unmeasured cycle, RequestSync() + Step() N times,
// each after a pause that refills the rate limit's burst: each such step
// fetches the repository and reconciles every environment, as a sync-now
// does. Prod
// environments have replicas 0 (a prod environment with replicas holds after
// its first batch: `pause: first`); test environments have --test-replicas
// (default 0: the API objects are those of any replica count, and no pod
// needs a node).
//
// Allocations are counted by replacing operator new and malloc in this binary
// only: "new" counts C++ allocations, "malloc" those of the C libraries
// (libgit2, libcurl, OpenSSL) and RapidJSON's pool chunks. The last line,
// "RESULT key=value ...", is for scripts.
#include <malloc.h>
#include <sys/resource.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include <CLI/CLI.hpp>
#include <algorithm>
#include <atomic>
#include <chrono>
#include <cstdio>
#include <cstdlib>
#include <filesystem>
#include <fstream>
#include <map>
#include <new>
#include <optional>
#include <string>
#include <thread>
#include <vector>

#include "base/memory.h"
#include "bench/bench_args.h"
#include "bench/loop_harness.h"

// ---- Counting allocations -------------------------------------------------------

namespace {
std::atomic<uint64_t> g_news{0};
std::atomic<uint64_t> g_new_bytes{0};
std::atomic<uint64_t> g_mallocs{0};
std::atomic<uint64_t> g_malloc_bytes{0};
}  // namespace

extern "C" {
void* __libc_malloc(size_t size);
void* __libc_calloc(size_t n, size_t size);
void* __libc_realloc(void* p, size_t size);
void __libc_free(void* p);

// glibc's own allocator underneath; every block, however obtained, is freed
// by it, so memalign and friends (not counted) mix safely.
void* malloc(size_t size) noexcept {
  g_mallocs.fetch_add(1, std::memory_order_relaxed);
  g_malloc_bytes.fetch_add(size, std::memory_order_relaxed);
  return __libc_malloc(size);
}
void* calloc(size_t n, size_t size) noexcept {
  g_mallocs.fetch_add(1, std::memory_order_relaxed);
  g_malloc_bytes.fetch_add(n * size, std::memory_order_relaxed);
  return __libc_calloc(n, size);
}
void* realloc(void* p, size_t size) noexcept {
  g_mallocs.fetch_add(1, std::memory_order_relaxed);
  g_malloc_bytes.fetch_add(size, std::memory_order_relaxed);
  return __libc_realloc(p, size);
}
void free(void* p) noexcept { __libc_free(p); }
}

namespace {
void* CountedNew(size_t size) {
  g_news.fetch_add(1, std::memory_order_relaxed);
  g_new_bytes.fetch_add(size, std::memory_order_relaxed);
  if (void* p = __libc_malloc(size == 0 ? 1 : size)) return p;
  throw std::bad_alloc();
}
void* CountedNew(size_t size, std::align_val_t align) {
  g_news.fetch_add(1, std::memory_order_relaxed);
  g_new_bytes.fetch_add(size, std::memory_order_relaxed);
  void* p = nullptr;
  if (posix_memalign(&p, std::max(sizeof(void*), static_cast<size_t>(align)),
                     size == 0 ? 1 : size) == 0) {
    return p;
  }
  throw std::bad_alloc();
}
}  // namespace

void* operator new(size_t size) { return CountedNew(size); }
void* operator new[](size_t size) { return CountedNew(size); }
void* operator new(size_t size, const std::nothrow_t&) noexcept {
  try {
    return CountedNew(size);
  } catch (...) {
    return nullptr;
  }
}
void* operator new[](size_t size, const std::nothrow_t&) noexcept {
  try {
    return CountedNew(size);
  } catch (...) {
    return nullptr;
  }
}
void* operator new(size_t size, std::align_val_t align) { return CountedNew(size, align); }
void* operator new[](size_t size, std::align_val_t align) { return CountedNew(size, align); }
void operator delete(void* p) noexcept { __libc_free(p); }
void operator delete[](void* p) noexcept { __libc_free(p); }
void operator delete(void* p, size_t) noexcept { __libc_free(p); }
void operator delete[](void* p, size_t) noexcept { __libc_free(p); }
void operator delete(void* p, std::align_val_t) noexcept { __libc_free(p); }
void operator delete[](void* p, std::align_val_t) noexcept { __libc_free(p); }
void operator delete(void* p, size_t, std::align_val_t) noexcept { __libc_free(p); }
void operator delete[](void* p, size_t, std::align_val_t) noexcept { __libc_free(p); }

namespace pagoda {
namespace {

using Steady = std::chrono::steady_clock;

using bench::Ms;

struct Args : bench::ClusterArgs {
  int cycles = 10;
  int test_replicas = 0;
  double qps = kube::ClientOptions{}.qps;
  int burst = kube::ClientOptions{}.burst;
  double gap_s =
      -1;  // between measured cycles; < 0: the time the rate limit's burst takes to refill
};

// Fills `args` from the command line; a usage error is an exit code (CLI11's).
std::optional<int> ParseArgs(int argc, char** argv, Args* args) {
  CLI::App app("pagoda_loop_bench: reconcile cycles with nothing to do");
  bench::AddClusterOptions(app, args);
  app.add_option("--cycles", args->cycles)->check(CLI::PositiveNumber);
  app.add_option("--test-replicas", args->test_replicas)->check(CLI::NonNegativeNumber);
  app.add_option("--qps", args->qps);
  app.add_option("--burst", args->burst);
  app.add_option("--gap", args->gap_s, "seconds between cycles (default: burst/qps)");
  return bench::Parse(app, argc, argv, *args);
}

// Bytes malloc has handed out and not had back, over all arenas.
long HeapInUseKib() {
  struct mallinfo2 m = mallinfo2();
  return static_cast<long>((m.uordblks + m.hblkhd) / 1024);
}

struct Cycle {
  double cpu_ms = 0, wall_ms = 0, fetch_cpu_ms = 0;
  int64_t reconcile_ms = 0;  // the sync-log entry's own duration
  std::map<std::string, int64_t> by_verb;
  int64_t requests = 0, writes = 0;
  double throttled_ms = 0;
  uint64_t news = 0, new_bytes = 0, mallocs = 0, malloc_bytes = 0;
  long rss_kib = 0;
  long heap_kib = 0;  // malloc'd and not freed
  int checked = 0;
  size_t releases = 0, drift = 0, errors = 0;
};

std::string Verbs(const std::map<std::string, int64_t>& by_verb) {
  std::string out;
  for (const auto& [verb, n] : by_verb) {
    if (n == 0) continue;
    if (!out.empty()) out += " ";
    out += verb + "=" + std::to_string(n);
  }
  return out.empty() ? "-" : out;
}

// Median, min and max of one number over the cycles.
template <typename F>
std::string Summary(const std::vector<Cycle>& cycles, F value, const char* format) {
  std::vector<double> v;
  for (const auto& c : cycles) v.push_back(static_cast<double>(value(c)));
  std::sort(v.begin(), v.end());
  const double median =
      v.size() % 2 ? v[v.size() / 2] : (v[v.size() / 2 - 1] + v[v.size() / 2]) / 2;
  char buf[128];
  std::snprintf(buf, sizeof buf, format, median, v.front(), v.back());
  return buf;
}

int Run(const Args& args) {
  bench::LoopSetup setup;
  setup.kubeconfig = args.kubeconfig;
  setup.context = args.context;
  setup.client.qps = args.qps;
  setup.client.burst = args.burst;
  const manifest::GeneratedRepoOptions generated{.apps = args.environments / 2,
                                                 .prefix = "app-",
                                                 .test_replicas = args.test_replicas,
                                                 .prod_replicas = 0};
  auto opened = bench::OpenGeneratedLoop(args.scratch, generated, setup);
  if (!opened.ok()) {
    std::fprintf(stderr, "pagoda_loop_bench: %s\n", opened.status().ToString().c_str());
    return 1;
  }
  bench::Loop& loop = **opened;
  daemon::Reconciler& reconciler = *loop.reconciler;
  bench::TimedGitSource& git = *loop.git;
  daemon::ClusterAccess* clusters = loop.clusters.get();
  const bench::LastEntry& observer = loop.observer;

  // The first commit, released everywhere.
  int steps = 0;
  const double first_s = bench::ReleaseFirstCommit(
      loop, args.environments, std::chrono::minutes(20), "pagoda_loop_bench", &steps);
  if (first_s < 0) return 1;
  const kube::RequestStats first_stats = bench::Sum(clusters->RequestStatsByServer());
  const long rss_after_first = static_cast<long>(Resident().now_kib);
  const long maxrss_after_first = static_cast<long>(Resident().peak_kib);

  std::fprintf(stderr, "first commit released in %.1f s; measuring %d cycles\n", first_s,
               args.cycles);
  // One unmeasured no-op cycle: whatever the first one left to settle.
  reconciler.RequestSync();
  reconciler.Step();

  std::vector<Cycle> cycles;
  const double measured_cpu0 = bench::CpuMs();
  const auto measured_wall0 = Steady::now();
  for (int i = 0; i < args.cycles; ++i) {
    Cycle c;
    // The daemon's cycles are an interval apart, time enough for the client's
    // rate limit to refill: so are these.
    const double gap = args.gap_s >= 0 ? args.gap_s : (args.qps > 0 ? args.burst / args.qps : 0);
    std::this_thread::sleep_for(std::chrono::duration<double>(gap));
    reconciler.RequestSync();
    const auto stats0 = bench::Sum(clusters->RequestStatsByServer());
    const double fetch0 = git.fetch_cpu_ms();
    const uint64_t news0 = g_news, new_bytes0 = g_new_bytes, mallocs0 = g_mallocs,
                   malloc_bytes0 = g_malloc_bytes;
    const double cpu0 = bench::CpuMs();
    const auto wall0 = Steady::now();
    reconciler.Step();
    c.wall_ms = Ms(Steady::now() - wall0);
    c.cpu_ms = bench::CpuMs() - cpu0;
    c.news = g_news - news0;
    c.new_bytes = g_new_bytes - new_bytes0;
    c.mallocs = g_mallocs - mallocs0;
    c.malloc_bytes = g_malloc_bytes - malloc_bytes0;
    c.fetch_cpu_ms = git.fetch_cpu_ms() - fetch0;
    const auto stats1 = bench::Sum(clusters->RequestStatsByServer());
    for (const auto& [verb, n] : stats1.by_verb) {
      auto before = stats0.by_verb.find(verb);
      c.by_verb[verb] = n - (before == stats0.by_verb.end() ? 0 : before->second);
    }
    kube::RequestStats delta;
    delta.by_verb = c.by_verb;
    c.requests = delta.Total();
    c.writes = delta.Writes();
    c.throttled_ms =
        std::chrono::duration<double, std::milli>(stats1.throttled - stats0.throttled).count();
    c.rss_kib = static_cast<long>(Resident().now_kib);
    c.heap_kib = HeapInUseKib();
    const journal::SyncEntry& entry = observer.entry();
    c.reconcile_ms = entry.duration_ms;
    c.checked = entry.environments_checked;
    c.releases = entry.releases.size();
    c.drift = entry.drift.size();
    c.errors = entry.errors.size();
    cycles.push_back(std::move(c));
  }
  const long maxrss = static_cast<long>(Resident().peak_kib);
  // What the process spent while no cycle ran (the live cache's watches):
  // all CPU time of the measured period but the cycles'.
  double cycles_cpu = 0;
  for (const Cycle& c : cycles) cycles_cpu += c.cpu_ms;
  const double idle_cpu_ms = bench::CpuMs() - measured_cpu0 - cycles_cpu;
  const double idle_s = Ms(Steady::now() - measured_wall0) / 1000;

  std::printf(
      "%d environments (%d apps x test, prod; both clusters on one server); replicas: test %d, "
      "prod 0\n",
      args.environments, args.environments / 2, args.test_replicas);
  std::printf("client rate limit: %s\n",
              args.qps > 0 ? ("qps " + std::to_string(static_cast<int>(args.qps)) + ", burst " +
                              std::to_string(args.burst))
                                 .c_str()
                           : "off");
  std::printf("first commit released in %.1f s (%d steps): %lld requests, %lld writes\n", first_s,
              steps, static_cast<long long>(first_stats.Total()),
              static_cast<long long>(first_stats.Writes()));
  std::printf("%5s %9s %9s %9s %9s %8s %6s %9s %10s %9s %10s %8s %5s %5s  %s\n", "cycle", "cpu ms",
              "fetch ms", "wall ms", "recon ms", "requests", "writes", "thrtl ms", "new", "new MiB",
              "malloc", "RSS MiB", "envs", "rel", "requests by verb");
  for (size_t i = 0; i < cycles.size(); ++i) {
    const Cycle& c = cycles[i];
    std::printf(
        "%5zu %9.1f %9.1f %9.1f %9lld %8lld %6lld %9.1f %10llu %9.1f %10llu %8.1f %5d %5zu  %s\n",
        i + 1, c.cpu_ms, c.fetch_cpu_ms, c.wall_ms, static_cast<long long>(c.reconcile_ms),
        static_cast<long long>(c.requests), static_cast<long long>(c.writes), c.throttled_ms,
        static_cast<unsigned long long>(c.news), c.new_bytes / 1048576.0,
        static_cast<unsigned long long>(c.mallocs), c.rss_kib / 1024.0, c.checked, c.releases,
        Verbs(c.by_verb).c_str());
  }
  std::printf("median [min .. max] over %d cycles:\n", args.cycles);
  std::printf("  CPU (user+sys)     %s\n",
              Summary(
                  cycles, [](const Cycle& c) { return c.cpu_ms; }, "%.1f ms [%.1f .. %.1f]")
                  .c_str());
  std::printf("  of which fetch     %s\n",
              Summary(
                  cycles, [](const Cycle& c) { return c.fetch_cpu_ms; }, "%.1f ms [%.1f .. %.1f]")
                  .c_str());
  std::printf("  wall               %s\n",
              Summary(
                  cycles, [](const Cycle& c) { return c.wall_ms; }, "%.1f ms [%.1f .. %.1f]")
                  .c_str());
  std::printf("  API requests       %s\n",
              Summary(
                  cycles, [](const Cycle& c) { return c.requests; }, "%.0f [%.0f .. %.0f]")
                  .c_str());
  std::printf("  API writes         %s\n",
              Summary(
                  cycles, [](const Cycle& c) { return c.writes; }, "%.0f [%.0f .. %.0f]")
                  .c_str());
  std::printf("  new (C++)          %s\n",
              Summary(
                  cycles, [](const Cycle& c) { return c.news; }, "%.0f [%.0f .. %.0f]")
                  .c_str());
  std::printf("  malloc (C)         %s\n",
              Summary(
                  cycles, [](const Cycle& c) { return c.mallocs; }, "%.0f [%.0f .. %.0f]")
                  .c_str());
  std::printf(
      "  heap in use        %s\n",
      Summary(
          cycles, [](const Cycle& c) { return c.heap_kib / 1024.0; }, "%.1f MiB [%.1f .. %.1f]")
          .c_str());
  std::printf(
      "  RSS after cycle    %s\n",
      Summary(
          cycles, [](const Cycle& c) { return c.rss_kib / 1024.0; }, "%.1f MiB [%.1f .. %.1f]")
          .c_str());
  std::printf("between cycles: %.1f ms CPU in %.1f s (%.2f ms per second)\n", idle_cpu_ms, idle_s,
              idle_cpu_ms / std::max(0.001, idle_s));
  std::printf(
      "process: RSS after the first release %.1f MiB, peak RSS %.1f MiB (%.1f MiB by then)\n",
      rss_after_first / 1024.0, maxrss / 1024.0, maxrss_after_first / 1024.0);

  auto median = [&](auto value) {
    std::vector<double> v;
    for (const auto& c : cycles) v.push_back(static_cast<double>(value(c)));
    std::sort(v.begin(), v.end());
    return v.size() % 2 ? v[v.size() / 2] : (v[v.size() / 2 - 1] + v[v.size() / 2]) / 2;
  };
  auto max = [&](auto value) {
    double m = 0;
    for (const auto& c : cycles) m = std::max(m, static_cast<double>(value(c)));
    return m;
  };
  std::printf(
      "RESULT cpu_ms=%.1f cpu_max_ms=%.1f fetch_cpu_ms=%.1f wall_ms=%.1f requests=%.0f "
      "writes_max=%.0f news=%.0f mallocs=%.0f rss_kib=%.0f maxrss_kib=%ld releases_max=%.0f "
      "first_s=%.1f idle_cpu_ms_per_s=%.2f\n",
      median([](const Cycle& c) { return c.cpu_ms; }), max([](const Cycle& c) { return c.cpu_ms; }),
      median([](const Cycle& c) { return c.fetch_cpu_ms; }),
      median([](const Cycle& c) { return c.wall_ms; }),
      median([](const Cycle& c) { return c.requests; }),
      max([](const Cycle& c) { return c.writes; }), median([](const Cycle& c) { return c.news; }),
      median([](const Cycle& c) { return c.mallocs; }),
      median([](const Cycle& c) { return c.rss_kib; }), maxrss,
      max([](const Cycle& c) { return c.releases; }), first_s,
      idle_cpu_ms / std::max(0.001, idle_s));
  return 0;
}

}  // namespace
}  // namespace pagoda

int main(int argc, char** argv) {
  return pagoda::bench::Main<pagoda::Args>(argc, argv, pagoda::ParseArgs, pagoda::Run);
}
