// pagoda's own overhead per batch of a release order: the time from a batch's
// new pods all being Ready to the next batch's first API call (the old
// revision scaled down). Not a test: bench/batch starts a fresh local
// control plane and runs it.
//
//   pagoda_batch_bench --kubeconfig FILE [--context NAME] [--replicas R]
//                      [--batches B] [--runs N] [--polls MS,MS,...] [--watch-ms MS]
//
// For each poll interval and run: a namespace with an environment "prod" of
// two revisions (as the integration tests build it), "old" running R
// instances and "new" at 0; a ReleaseOrder moves it to "new" in B batches,
// through KubeWorkloads on a client with the default rate limit (as the
// daemon's). Beside it, a watcher with a client of its own (no rate limit)
// lists the new revision's pods every --watch-ms and notes when each batch's
// goal of Ready pods is first seen; a Workloads wrapper notes each Scale().
// The pods became Ready between the start of the watcher's previous list and
// the end of the one that saw them: the overhead is reported as the midpoint
// with that interval's bounds. The last lines, "RESULT key=value ...", one
// per poll interval, are for scripts.
#include <unistd.h>

#include <CLI/CLI.hpp>
#include <algorithm>
#include <atomic>
#include <chrono>
#include <cstdio>
#include <cstdlib>
#include <map>
#include <mutex>
#include <optional>
#include <string>
#include <thread>
#include <vector>

#include "bench/bench_args.h"
#include "kube/kube.h"
#include "rollout/rollout.h"

namespace pagoda {
namespace {

using Steady = std::chrono::steady_clock;
using namespace std::chrono_literals;

using bench::Ms;

struct Args : bench::ClusterArgs {
  int64_t replicas = 10;
  int batches = 5;
  int runs = 5;
  std::vector<int> polls_ms = {50, 10};
  int watch_ms = 5;
};

// Fills `args` from the command line; a usage error is an exit code (CLI11's).
std::optional<int> ParseArgs(int argc, char** argv, Args* args) {
  CLI::App app("pagoda_batch_bench: pagoda's own time between batches");
  bench::AddClusterOptions(app, args, /*repository=*/false);
  app.add_option("--replicas", args->replicas)->check(CLI::Range(int64_t{2}, int64_t{1} << 20));
  app.add_option("--batches", args->batches)->check(CLI::Range(2, 1 << 20));
  app.add_option("--runs", args->runs)->check(CLI::PositiveNumber);
  app.add_option("--polls", args->polls_ms, "MS,MS")->delimiter(',')->check(CLI::PositiveNumber);
  app.add_option("--watch-ms", args->watch_ms)->check(CLI::PositiveNumber);
  try {
    app.parse(argc, argv);
  } catch (const CLI::ParseError& e) {
    return app.exit(e);
  }
  if (args->batches > args->replicas) {
    return app.exit(CLI::ValidationError("--batches", "at most --replicas"));
  }
  return std::nullopt;
}

std::string Labels(const std::string& revision) {
  return R"("app.kubernetes.io/name":"bench","app.kubernetes.io/managed-by":"pagoda",)"
         R"("app.kubernetes.io/instance":"prod","pagoda.dev/revision":")" +
         revision + "\"";
}

std::string DeploymentJson(const std::string& revision, const std::string& image,
                           int64_t replicas) {
  const std::string labels = Labels(revision);
  return R"({"apiVersion":"apps/v1","kind":"Deployment","metadata":{"name":"prod-)" + revision +
         R"(","labels":{)" + labels + R"(}},"spec":{"replicas":)" + std::to_string(replicas) +
         R"(,"selector":{"matchLabels":{)" + labels + R"(}},"template":{"metadata":{"labels":{)" +
         labels +
         R"(}},"spec":{"terminationGracePeriodSeconds":1,"containers":[{"name":"app","image":")" +
         image + R"("}]}}}})";
}

Status Create(kube::KubeClient& client, const std::string& path, const std::string& json) {
  rapidjson::Document d;
  d.Parse(json.c_str());
  auto created = client.Post(path, d);
  return created.ok() ? Status::Ok() : created.status();
}

// KubeWorkloads, with the time of every Scale().
class TimedWorkloads final : public rollout::Workloads {
 public:
  explicit TimedWorkloads(rollout::Workloads& inner) : inner_(inner) {}
  Result<std::map<std::string, rollout::RevisionState>> Read(const std::string& ns,
                                                             const std::string& env) override {
    return inner_.Read(ns, env);
  }
  Status Scale(const std::string& ns, const std::string& deployment, int64_t replicas) override {
    {
      std::lock_guard<std::mutex> lock(mu_);
      scales_.push_back({Steady::now(), deployment, replicas});
    }
    return inner_.Scale(ns, deployment, replicas);
  }
  std::string LastEvent(const std::string& ns, const std::vector<std::string>& pods) override {
    return inner_.LastEvent(ns, pods);
  }
  struct Call {
    Steady::time_point at;
    std::string deployment;
    int64_t replicas;
  };
  std::vector<Call> scales() {
    std::lock_guard<std::mutex> lock(mu_);
    return scales_;
  }

 private:
  rollout::Workloads& inner_;
  std::mutex mu_;
  std::vector<Call> scales_;
};

// Lists the new revision's pods every `interval` and notes when each goal
// of Ready (and not terminating) pods is first seen.
class ReadyWatcher {
 public:
  struct Seen {
    Steady::time_point earliest;  // the start of the list before the one that saw it
    Steady::time_point latest;    // the end of the list that saw it
  };
  ReadyWatcher(kube::KubeClient& client, std::string ns, std::vector<int64_t> goals,
               std::chrono::milliseconds interval)
      : client_(client), ns_(std::move(ns)), goals_(std::move(goals)), interval_(interval) {
    thread_ = std::thread([this] { Run(); });
  }
  ~ReadyWatcher() { Stop(); }
  void Stop() {
    stop_ = true;
    if (thread_.joinable()) thread_.join();
  }
  std::map<int64_t, Seen> seen() {
    std::lock_guard<std::mutex> lock(mu_);
    return seen_;
  }
  int lists() const { return lists_; }
  double list_ms_max() const { return list_ms_max_; }

 private:
  void Run() {
    const std::string path =
        "/api/v1/namespaces/" + ns_ +
        "/pods?labelSelector=app.kubernetes.io%2Finstance%3Dprod%2Cpagoda.dev%2Frevision%3Dnew";
    Steady::time_point previous_start = Steady::now();
    while (!stop_) {
      const auto start = Steady::now();
      auto pods = client_.List(path);
      const auto end = Steady::now();
      ++lists_;
      list_ms_max_ = std::max(list_ms_max_, Ms(end - start));
      if (pods.ok()) {
        int64_t ready = 0;
        for (const auto& p : *pods) {
          if (p["metadata"].HasMember("deletionTimestamp")) continue;
          if (!p.HasMember("status") || !p["status"].HasMember("conditions")) continue;
          for (const auto& c : p["status"]["conditions"].GetArray()) {
            if (std::string(c["type"].GetString()) == "Ready" &&
                std::string(c["status"].GetString()) == "True") {
              ++ready;
            }
          }
        }
        std::lock_guard<std::mutex> lock(mu_);
        for (int64_t goal : goals_) {
          if (ready >= goal && !seen_.count(goal)) seen_[goal] = {previous_start, end};
        }
      }
      previous_start = start;
      std::this_thread::sleep_until(start + interval_);
    }
  }

  kube::KubeClient& client_;
  std::string ns_;
  std::vector<int64_t> goals_;
  std::chrono::milliseconds interval_;
  std::thread thread_;
  std::atomic<bool> stop_{false};
  std::mutex mu_;
  std::map<int64_t, Seen> seen_;
  std::atomic<int> lists_{0};
  double list_ms_max_ = 0;
};

struct Sample {
  double mid_ms, low_ms, high_ms;  // overhead: midpoint, lower and upper bound
  double order_ms;                 // the same as the order saw it (its own clock, ms)
};

struct PollResult {
  std::vector<Sample> samples;
  std::vector<double> run_s;
  double requests_per_s_sum = 0;
  double throttled_ms_sum = 0;
  int64_t requests = 0;
  double order_s = 0;
  int watcher_lists = 0;
  double watcher_list_ms_max = 0;
};

Status OneRun(const Args& args, const kube::Credentials& creds, int poll_ms, int run,
              PollResult* out) {
  auto order_client = kube::KubeClient::Connect(creds);  // the default rate limit
  if (!order_client.ok()) return order_client.status();
  kube::ClientOptions unlimited;
  unlimited.qps = 0;
  auto setup_client = kube::KubeClient::Connect(creds, unlimited);
  if (!setup_client.ok()) return setup_client.status();
  auto watch_client = kube::KubeClient::Connect(creds, unlimited);
  if (!watch_client.ok()) return watch_client.status();

  const std::string ns = "batch-bench-" + std::to_string(::getpid()) + "-p" +
                         std::to_string(poll_ms) + "-" + std::to_string(run);
  if (Status st = Create(**setup_client, "/api/v1/namespaces",
                         R"({"apiVersion":"v1","kind":"Namespace","metadata":{"name":")" + ns +
                             R"(","labels":{"app.kubernetes.io/managed-by":"pagoda",)"
                             R"("app.kubernetes.io/name":")" +
                             ns + R"("}}})");
      !st.ok()) {
    return st.WithContext("namespace " + ns);
  }
  const std::string path = "/apis/apps/v1/namespaces/" + ns + "/deployments";
  if (Status st =
          Create(**setup_client, path, DeploymentJson("old", "example.com/app:1", args.replicas));
      !st.ok()) {
    return st;
  }
  if (Status st = Create(**setup_client, path, DeploymentJson("new", "example.com/app:2", 0));
      !st.ok()) {
    return st;
  }
  rollout::KubeWorkloads setup_workloads(**setup_client);
  const auto ready_by = Steady::now() + 120s;
  for (;;) {
    auto state = setup_workloads.Read(ns, "prod");
    if (state.ok() && state->count("old") && (*state)["old"].ready == args.replicas &&
        (*state)["old"].pods == args.replicas && state->count("new")) {
      break;
    }
    if (Steady::now() > ready_by) return Status::Unavailable("the old revision never ran in " + ns);
    std::this_thread::sleep_for(100ms);
  }

  rollout::OrderPolicy policy;
  policy.replicas = args.replicas;
  policy.batches = args.batches;
  policy.batch_timeout = 60s;
  policy.poll = std::chrono::milliseconds(poll_ms);
  rollout::KubeWorkloads kube(**order_client);
  TimedWorkloads workloads(kube);
  rollout::ReleaseOrder order(workloads, RealClock(), ns, "prod", "new", policy);
  const int64_t k = order.k();
  std::vector<int64_t> goals;
  for (int64_t g = k; g < args.replicas + k; g += k) goals.push_back(std::min(g, args.replicas));
  ReadyWatcher watcher(**watch_client, ns, goals, std::chrono::milliseconds(args.watch_ms));

  const auto stats0 = (*order_client)->stats();
  const auto start = Steady::now();
  const auto limit = start + 300s;
  while (!rollout::Finished(order.phase()) && order.phase() != rollout::OrderPhase::kHeld &&
         order.phase() != rollout::OrderPhase::kFailed && Steady::now() < limit) {
    auto next = order.Step();
    auto wait = next - RealClock().Now();
    if (wait > 0ns) std::this_thread::sleep_for(std::min<std::chrono::nanoseconds>(wait, 1s));
  }
  const auto end = Steady::now();
  watcher.Stop();
  if (order.phase() != rollout::OrderPhase::kSucceeded) {
    return Status::Internal("the order ended " +
                            std::string(rollout::OrderPhaseName(order.phase())) + ": " +
                            order.error());
  }
  const auto stats1 = (*order_client)->stats();
  const double seconds = Ms(end - start) / 1000;
  const int64_t requests = stats1.Total() - stats0.Total();
  out->requests += requests;
  out->order_s += seconds;
  out->run_s.push_back(seconds);
  out->throttled_ms_sum += Ms(stats1.throttled - stats0.throttled);
  out->watcher_lists += watcher.lists();
  out->watcher_list_ms_max = std::max(out->watcher_list_ms_max, watcher.list_ms_max());

  // Batch i's first API call is its scale-down of the old revision.
  std::vector<Steady::time_point> firsts;
  for (const auto& call : workloads.scales()) {
    if (call.deployment == "prod-old") firsts.push_back(call.at);
  }
  auto seen = watcher.seen();
  const auto& batches = order.batches();
  if (firsts.size() != goals.size() || batches.size() != goals.size()) {
    return Status::Internal("expected " + std::to_string(goals.size()) + " batches, saw " +
                            std::to_string(firsts.size()) + " scale-downs and " +
                            std::to_string(batches.size()) + " batch events");
  }
  for (size_t i = 0; i + 1 < goals.size(); ++i) {
    auto it = seen.find(goals[i]);
    if (it == seen.end())
      return Status::Internal("the watcher never saw batch " + std::to_string(i + 1));
    const auto next_call = firsts[i + 1];
    Sample s;
    s.low_ms = Ms(next_call - it->second.latest);
    s.high_ms = Ms(next_call - it->second.earliest);
    s.mid_ms = (s.low_ms + s.high_ms) / 2;
    s.order_ms = static_cast<double>(batches[i + 1].start_ms - batches[i].ready_ms);
    out->samples.push_back(s);
  }
  std::fprintf(stderr, "poll %d ms, run %d: %.2f s, %lld requests by the order\n", poll_ms, run,
               seconds, static_cast<long long>(requests));
  return Status::Ok();
}

struct Stat {
  double median, min, max;
};
Stat Of(std::vector<double> v) {
  std::sort(v.begin(), v.end());
  const double median =
      v.size() % 2 ? v[v.size() / 2] : (v[v.size() / 2 - 1] + v[v.size() / 2]) / 2;
  return {median, v.front(), v.back()};
}

int Run(const Args& args) {
  auto creds = kube::LoadKubeconfig({.paths = {args.kubeconfig}, .context = args.context});
  if (!creds.ok()) {
    std::fprintf(stderr, "pagoda_batch_bench: %s\n", creds.status().ToString().c_str());
    return 1;
  }
  const int64_t k = (args.replicas + args.batches - 1) / args.batches;
  std::map<int, PollResult> results;
  for (int run = 1; run <= args.runs; ++run) {
    for (int poll : args.polls_ms) {  // interleaved, so that both see the same cluster
      if (Status st = OneRun(args, *creds, poll, run, &results[poll]); !st.ok()) {
        std::fprintf(stderr, "pagoda_batch_bench: poll %d ms, run %d: %s\n", poll, run,
                     st.ToString().c_str());
        return 1;
      }
    }
  }
  kube::ClientOptions defaults;
  std::printf(
      "R=%lld B=%d (k=%lld), %d runs per poll interval; order client qps %g burst %d; "
      "watcher lists every %d ms\n",
      static_cast<long long>(args.replicas), args.batches, static_cast<long long>(k), args.runs,
      defaults.qps, defaults.burst, args.watch_ms);
  std::printf(
      "overhead per batch = next batch's first API call - all of a batch's new pods Ready "
      "(ms; %d samples per poll)\n",
      args.runs * (args.batches - 1));
  std::printf("%8s %24s %14s %20s %10s %8s %9s\n", "poll ms", "overhead med [min..max]",
              "bounds of med", "as order saw it", "release s", "req/s", "thrtl ms");
  for (int poll : args.polls_ms) {
    const PollResult& r = results[poll];
    std::vector<double> mid, low, high, order;
    for (const auto& s : r.samples) {
      mid.push_back(s.mid_ms);
      low.push_back(s.low_ms);
      high.push_back(s.high_ms);
      order.push_back(s.order_ms);
    }
    Stat m = Of(mid), l = Of(low), h = Of(high), o = Of(order), t = Of(r.run_s);
    const double rate = r.requests / r.order_s;
    char overhead[64], bounds[64], seen[64];
    std::snprintf(overhead, sizeof overhead, "%.1f [%.1f..%.1f]", m.median, m.min, m.max);
    std::snprintf(bounds, sizeof bounds, "%.1f..%.1f", l.median, h.median);
    std::snprintf(seen, sizeof seen, "%.0f [%.0f..%.0f]", o.median, o.min, o.max);
    std::printf("%8d %24s %14s %20s %10.2f %8.1f %9.1f\n", poll, overhead, bounds, seen, t.median,
                rate, r.throttled_ms_sum / args.runs);
  }
  std::printf(
      "(overhead: from the midpoint of the interval in which the watcher saw the pods become "
      "Ready; bounds of med: the medians from its end and from its start; as order saw it: its "
      "own batch times, ms resolution; req/s: the order's requests over its runs' time; "
      "thrtl ms: per run, waiting for the rate limit)\n");
  for (int poll : args.polls_ms) {
    const PollResult& r = results[poll];
    std::vector<double> mid;
    for (const auto& s : r.samples) mid.push_back(s.mid_ms);
    Stat m = Of(mid);
    std::printf(
        "RESULT poll_ms=%d overhead_median_ms=%.1f overhead_max_ms=%.1f requests_per_s=%.1f "
        "release_s=%.2f watcher_list_max_ms=%.1f\n",
        poll, m.median, m.max, r.requests / r.order_s, Of(r.run_s).median, r.watcher_list_ms_max);
  }
  return 0;
}

}  // namespace
}  // namespace pagoda

int main(int argc, char** argv) {
  return pagoda::bench::Main<pagoda::Args>(argc, argv, pagoda::ParseArgs, pagoda::Run);
}
