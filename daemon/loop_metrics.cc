#include "daemon/loop_metrics.h"

#include "pagoda/version.h"
#include "server/metrics.h"

namespace pagoda::daemon {
namespace {

using prometheus::Counter;
using prometheus::Family;
using prometheus::Gauge;
using prometheus::Histogram;
using prometheus::Registry;

Family<Counter>& Counters(Registry* r, const std::string& name, const std::string& help) {
  return prometheus::BuildCounter().Name(name).Help(help).Register(*r);
}

Family<Gauge>& Gauges(Registry* r, const std::string& name, const std::string& help) {
  return prometheus::BuildGauge().Name(name).Help(help).Register(*r);
}

Histogram& ReconcileDuration(Registry* r) {
  return prometheus::BuildHistogram()
      .Name("pagoda_reconcile_duration_seconds")
      .Help("Time one reconcile cycle took: render, compare and release every environment.")
      .Register(*r)
      .Add({}, Histogram::BucketBoundaries{0.01, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10, 30, 60, 120,
                                           300});
}

// A counter whose total is counted elsewhere: raised to `total`, never
// lowered. REQUIRES: one thread sets it (read, then add, is not atomic).
void RaiseTo(Counter* counter, int64_t total) {
  const double by = static_cast<double>(total) - counter->Value();
  if (by > 0) counter->Increment(by);
}

void AddStats(kube::RequestStats* to, const kube::RequestStats& from) {
  for (const auto& [verb, n] : from.by_verb) to->by_verb[verb] += n;
  for (const auto& [code, n] : from.by_code) to->by_code[code] += n;
  to->retries += from.retries;
}

}  // namespace

LoopMetrics::LoopMetrics()
    : reconcile_duration_(ReconcileDuration(&registry_)),
      reconciles_(Counters(&registry_, "pagoda_reconciles_total", "Reconcile cycles run.").Add({})),
      releases_(
          Counters(&registry_, "pagoda_releases_total", "Releases ended, by kind and outcome.")),
      drift_found_(Counters(&registry_, "pagoda_drift_found_total",
                            "Reconcile cycles that found an environment changed in its cluster.")),
      git_fetches_(Counters(&registry_, "pagoda_git_fetches_total",
                            "Fetches of the repository, by result.")),
      git_fetch_failures_(Counters(&registry_, "pagoda_git_fetch_failures_total",
                                   "Fetches of the repository that failed.")
                              .Add({})),
      api_requests_(Counters(&registry_, "pagoda_api_requests_total",
                             "Kubernetes API requests, by API server and verb.")),
      api_responses_(Counters(&registry_, "pagoda_api_responses_total",
                              "Kubernetes API answers, by API server and HTTP status.")),
      api_retries_(
          Counters(&registry_, "pagoda_api_retries_total", "Kubernetes API requests retried.")),
      last_sync_(Gauges(&registry_, "pagoda_last_sync_timestamp_seconds",
                        "When a reconcile last found the environment in sync (Unix time).")),
      releases_in_flight_(
          Gauges(&registry_, "pagoda_releases_in_flight", "Releases started and not yet ended.")),
      releases_held_(Gauges(&registry_, "pagoda_releases_held",
                            "Environments held: a release paused between batches or halted after "
                            "a failed batch, or auto-sync pinned by a rollback.")),
      environments_(Gauges(&registry_, "pagoda_environments",
                           "Environments by state at the last reconcile.")),
      frozen_until_(Gauges(&registry_, "pagoda_frozen_until_timestamp_seconds",
                           "When the freeze window an environment's automatic releases wait "
                           "for closes (Unix time; 0: when the freeze file loads again).")),
      ready_(Gauges(&registry_, "pagoda_ready", "1 when /readyz answers ready.").Add({})),
      webhook_requests_(
          Counters(&registry_, "pagoda_webhook_requests_total", "Webhook requests, by result.")),
      notifications_(Counters(&registry_, "pagoda_notifications_total",
                              "Notifications by receiver and result: delivered, failed (refused "
                              "or past the deadline), dropped (the queue was full), retried.")),
      leader_(Gauges(&registry_, "pagoda_leader",
                     "1 while this replica holds the shard's Lease and leads its apps.")),
      lease_transitions_(Counters(&registry_, "pagoda_lease_transitions_total",
                                  "Shard Leases seen to change hands since this process started.")
                             .Add({})),
      replicas_(Gauges(&registry_, "pagoda_replicas",
                       "Replicas whose heartbeat Lease is live, this one included.")
                    .Add({})),
      mirror_waiting_(Gauges(&registry_, "pagoda_mirror_waiting",
                             "Release records not yet written to their clusters as Releases.")
                          .Add({})),
      mirror_writes_(Counters(&registry_, "pagoda_mirror_writes_total",
                              "Release records mirrored into the clusters, by result: written, "
                              "failed (retried), given_up, handed_over (another replica leads "
                              "the app now).")) {
  Gauges(&registry_, "pagoda_build_info", "The running version.")
      .Add({{"version", kVersion}})
      .Set(1);
  for (const char* result : {"ok", "error"}) git_fetches_.Add({{"result", result}});
}

void LoopMetrics::Fetched(bool ok) {
  git_fetches_.Add({{"result", ok ? "ok" : "error"}}).Increment();
  if (!ok) git_fetch_failures_.Increment();
}

void LoopMetrics::Reconciled(const SyncEntry& entry) {
  reconciles_.Increment();
  reconcile_duration_.Observe(static_cast<double>(entry.duration_ms) / 1000.0);
  for (const auto& app_env : entry.drift) {
    auto slash = app_env.find('/');
    drift_found_
        .Add({{"app", app_env.substr(0, slash)},
              {"env", slash == std::string::npos ? "" : app_env.substr(slash + 1)}})
        .Increment();
  }
}

void LoopMetrics::ReleaseEnded(const ReleaseRecord& record) {
  releases_
      .Add({{"kind", std::string(Name(record.kind))},
            {"outcome", std::string(Name(record.outcome))}})
      .Increment();
}

void LoopMetrics::Webhook(const WebhookAnswer& answer) {
  webhook_requests_.Add({{"result", answer.result}}).Increment();
}

std::string LoopMetrics::Render() const { return server::RenderMetrics(registry_); }

void LoopMetrics::Retire(const std::map<std::string, kube::RequestStats>& requests) {
  for (const auto& [server, stats] : requests) AddStats(&base_[server], stats);
}

void LoopMetrics::Update(const LoopStatus& status, bool ready,
                         const std::map<std::string, kube::RequestStats>& requests) {
  ready_.Set(ready ? 1 : 0);
  int in_flight = 0, held = 0, in_sync = 0, drift = 0, error = 0, frozen = 0, waiting = 0;
  std::map<std::string, prometheus::Gauge*> still_frozen;
  const bool reconciled = status.last_reconcile_ms != last_reconcile_ms_;
  last_reconcile_ms_ = status.last_reconcile_ms;
  for (const auto& e : status.environments) {
    in_flight += !e.release.empty();
    waiting += !e.waiting_for.empty();
    if (!e.frozen_by.empty()) {
      ++frozen;
      const std::string key = e.app + "/" + e.env;
      if (auto it = frozen_.find(key); it != frozen_.end()) {
        frozen_until_.Remove(it->second);  // the window may have changed
        frozen_.erase(it);
      }
      prometheus::Gauge& g =
          frozen_until_.Add({{"app", e.app}, {"env", e.env}, {"window", e.frozen_by}});
      g.Set(static_cast<double>(e.frozen_until_ms) / 1000.0);
      still_frozen[key] = &g;
    }
    held += !e.pinned_commit.empty() || e.release_phase == "held" || e.release_phase == "failed";
    const bool synced = e.error.empty() && !e.drift && e.release.empty() && !e.revision.empty();
    if (!e.error.empty()) {
      ++error;
    } else if (e.drift || !e.release.empty()) {
      ++drift;
    } else {
      ++in_sync;
    }
    if (synced && reconciled && status.last_reconcile_ms > 0) {
      last_sync_.Add({{"app", e.app}, {"env", e.env}})
          .Set(static_cast<double>(status.last_reconcile_ms) / 1000.0);
    }
  }
  releases_in_flight_.Add({}).Set(in_flight);
  releases_held_.Add({}).Set(held);
  environments_.Add({{"state", "in_sync"}}).Set(in_sync);
  environments_.Add({{"state", "drift"}}).Set(drift);
  environments_.Add({{"state", "error"}}).Set(error);
  environments_.Add({{"state", "frozen"}}).Set(frozen);
  environments_.Add({{"state", "waiting"}}).Set(waiting);
  for (const auto& [key, gauge] : frozen_) frozen_until_.Remove(gauge);  // no longer frozen
  frozen_ = std::move(still_frozen);
  UpdateRequests(requests);
}

void LoopMetrics::UpdateRequests(const std::map<std::string, kube::RequestStats>& requests) {
  std::map<std::string, kube::RequestStats> totals = base_;
  for (const auto& [server, stats] : requests) AddStats(&totals[server], stats);
  for (const auto& [server, stats] : totals) {
    for (const auto& [verb, n] : stats.by_verb) {
      RaiseTo(&api_requests_.Add({{"server", server}, {"verb", verb}}), n);
    }
    for (const auto& [code, n] : stats.by_code) {
      RaiseTo(&api_responses_.Add({{"server", server}, {"code", std::to_string(code)}}), n);
    }
    RaiseTo(&api_retries_.Add({{"server", server}}), stats.retries);
  }
}

void LoopMetrics::Side(const std::optional<LeadershipStatus>& leadership,
                       const std::optional<Mirror::Stats>& mirror) {
  if (leadership) {
    for (const auto& shard : leadership->shards) {
      leader_.Add({{"shard", std::to_string(shard.index)}}).Set(shard.mine ? 1 : 0);
    }
    RaiseTo(&lease_transitions_, leadership->transitions_seen);
    replicas_.Set(static_cast<double>(leadership->replicas.size()));
  }
  if (mirror) {
    mirror_waiting_.Set(static_cast<double>(mirror->waiting));
    const std::pair<const char*, int64_t> counts[] = {{"written", mirror->written},
                                                      {"failed", mirror->failures},
                                                      {"given_up", mirror->given_up},
                                                      {"handed_over", mirror->handed_over}};
    for (const auto& [result, n] : counts) {
      RaiseTo(&mirror_writes_.Add({{"result", result}}), n);
    }
  }
}

void LoopMetrics::Notifications(const std::map<std::string, notify::ReceiverStats>& stats) {
  for (const auto& [receiver, s] : stats) {
    const std::pair<const char*, uint64_t> counts[] = {{"delivered", s.delivered},
                                                       {"failed", s.failed},
                                                       {"dropped", s.dropped},
                                                       {"retried", s.retried}};
    for (const auto& [result, n] : counts) {
      RaiseTo(&notifications_.Add({{"receiver", receiver}, {"result", result}}),
              static_cast<int64_t>(n));
    }
  }
}

}  // namespace pagoda::daemon
