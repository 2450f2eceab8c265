// The daemon's metrics: what the reconcile loop reports (LoopObserver), what
// its status shows, the API clients' request counts and the webhook's
// answers, kept in one prometheus::Registry that `GET /metrics` renders.
//
//   pagoda_reconcile_duration_seconds        histogram  one full reconcile cycle
//   pagoda_reconciles_total                  counter
//   pagoda_releases_total{kind,outcome}      counter    releases ended
//   pagoda_drift_found_total{app,env}        counter    cycles that found the cluster changed
//   pagoda_git_fetches_total{result}         counter    ok, error
//   pagoda_git_fetch_failures_total          counter
//   pagoda_api_requests_total{server,verb}   counter    GET, LIST, PATCH, DRY-RUN, ...
//   pagoda_api_responses_total{server,code}  counter    by HTTP status
//   pagoda_api_retries_total{server}         counter
//   pagoda_last_sync_timestamp_seconds{app,env}  gauge  last cycle that found it in sync
//   pagoda_releases_in_flight                gauge
//   pagoda_releases_held                     gauge      pinned by a rollback
//   pagoda_environments{state}               gauge      in_sync, drift, error; and frozen,
//                                            waiting (for a promotion)
//   pagoda_frozen_until_timestamp_seconds{app,env,window}  gauge  while a freeze window
//                                            holds its automatic releases (0: until the
//                                            freeze file loads)
//   pagoda_ready                             gauge      what /readyz says
//   pagoda_webhook_requests_total{result}    counter
//   pagoda_leader{shard}                     gauge      1 while this replica leads the shard (ha)
//   pagoda_lease_transitions_total           counter    shard Leases seen to change hands (ha)
//   pagoda_replicas                          gauge      live replicas, by their heartbeats (ha)
//   pagoda_mirror_waiting                    gauge      release records not yet in the clusters
//   pagoda_mirror_writes_total{result}       counter    written, failed (retried), given_up,
//                                            handed_over (another replica leads the app now)
//   pagoda_build_info{version}               gauge      1
//
// Every name, label name and bucket is a constant the constructor declares
// (and loop_metrics_test constructs): prometheus-cpp throws
// std::invalid_argument only for invalid ones, never for label values, so
// nothing recorded at run time throws.
#pragma once

#include <prometheus/counter.h>
#include <prometheus/family.h>
#include <prometheus/gauge.h>
#include <prometheus/histogram.h>
#include <prometheus/registry.h>

#include <map>
#include <string>

#include "daemon/leadership.h"
#include "daemon/loop.h"
#include "daemon/mirror.h"
#include "kube/kube.h"
#include "notify/notify.h"
#include "server/webhook.h"

namespace pagoda::daemon {

using server::WebhookAnswer;

class LoopMetrics final : public LoopObserver {
 public:
  LoopMetrics();

  // From the loop's thread, as LoopObserver says.
  void Fetched(bool ok) override;
  void Reconciled(const SyncEntry& entry) override;
  void ReleaseEnded(const ReleaseRecord& record) override;

  // After each step, from the loop's thread: the gauges from the status, and
  // the request counts of the clients in use, to which the counts of clients
  // a reload replaced (Retire) are added, so totals never go down.
  void Update(const LoopStatus& status, bool ready,
              const std::map<std::string, kube::RequestStats>& requests);
  // Folds the counts of clients about to be replaced into the base. From the
  // loop's thread.
  void Retire(const std::map<std::string, kube::RequestStats>& requests);

  // From the loop's thread: each receiver's notifications delivered,
  // failed, dropped and retried so far.
  void Notifications(const std::map<std::string, notify::ReceiverStats>& stats);

  // From the loop's thread: leadership and the mirror, when there are.
  void Side(const std::optional<LeadershipStatus>& leadership,
            const std::optional<Mirror::Stats>& mirror);

  // From any thread.
  void Webhook(const WebhookAnswer& answer);

  // The text exposition. From any thread.
  std::string Render() const;

 private:
  using CounterFamily = prometheus::Family<prometheus::Counter>;
  using GaugeFamily = prometheus::Family<prometheus::Gauge>;

  void UpdateRequests(const std::map<std::string, kube::RequestStats>& requests);

  // Declared first: the references below are into it.
  prometheus::Registry registry_;
  prometheus::Histogram& reconcile_duration_;
  prometheus::Counter& reconciles_;
  CounterFamily& releases_;
  CounterFamily& drift_found_;
  CounterFamily& git_fetches_;
  prometheus::Counter& git_fetch_failures_;
  CounterFamily& api_requests_;
  CounterFamily& api_responses_;
  CounterFamily& api_retries_;
  GaugeFamily& last_sync_;
  GaugeFamily& releases_in_flight_;  // these three: a series from the first Update on
  GaugeFamily& releases_held_;
  GaugeFamily& environments_;
  GaugeFamily& frozen_until_;
  std::map<std::string, prometheus::Gauge*> frozen_;  // by "app/env", the series set now
  prometheus::Gauge& ready_;
  CounterFamily& webhook_requests_;
  CounterFamily& notifications_;
  GaugeFamily& leader_;
  prometheus::Counter& lease_transitions_;
  prometheus::Gauge& replicas_;
  prometheus::Gauge& mirror_waiting_;
  CounterFamily& mirror_writes_;

  std::map<std::string, kube::RequestStats> base_;  // by server
  int64_t last_reconcile_ms_ = 0;
};

}  // namespace pagoda::daemon
