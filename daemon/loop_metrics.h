// The daemon's metrics: what the reconcile loop reports (LoopObserver), what
// its status shows, the API clients' request counts and the webhook's
// answers, kept in one MetricRegistry that `GET /metrics` renders.
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
//   pagoda_environments{health}              gauge      in_sync, drift, error
//   pagoda_ready                             gauge      what /readyz says
//   pagoda_webhook_requests_total{result}    counter
//   pagoda_build_info{version}               gauge      1
#pragma once

#include <map>
#include <string>

#include "daemon/loop.h"
#include "kube/kube.h"
#include "server/metrics.h"
#include "server/webhook.h"

namespace pagoda::daemon {

using server::MetricRegistry;
using server::MetricType;
using server::WebhookAnswer;

class LoopMetrics final : public LoopObserver {
 public:
  LoopMetrics();

  void Fetched(bool ok) override;
  void Reconciled(const SyncEntry& entry) override;
  void ReleaseEnded(const ReleaseRecord& record) override;

  // After each step, from the loop's thread: the gauges from the status, and
  // the request counts of the clients in use. `base` holds the counts of
  // clients a reload replaced, so totals never go down.
  void Update(const LoopStatus& status, bool ready,
              const std::map<std::string, kube::RequestStats>& requests);
  // Folds the counts of clients about to be replaced into the base.
  void Retire(const std::map<std::string, kube::RequestStats>& requests);

  void Webhook(const WebhookAnswer& answer);

  std::string Render() const { return registry_.Render(); }
  const MetricRegistry& registry() const { return registry_; }

 private:
  MetricRegistry registry_;
  std::map<std::string, kube::RequestStats> base_;  // by server
  int64_t last_reconcile_ms_ = 0;
};

}  // namespace pagoda::daemon
