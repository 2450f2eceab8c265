#include "daemon/loop_metrics.h"

#include "pagoda/version.h"

namespace pagoda::daemon {
namespace {

void AddStats(kube::RequestStats* to, const kube::RequestStats& from) {
  for (const auto& [verb, n] : from.by_verb) to->by_verb[verb] += n;
  for (const auto& [code, n] : from.by_code) to->by_code[code] += n;
  to->retries += from.retries;
}

}  // namespace

LoopMetrics::LoopMetrics() {
  using T = MetricType;
  auto& r = registry_;
  r.Declare("pagoda_reconcile_duration_seconds", T::kHistogram,
            "Time one reconcile cycle took: render, compare and release every environment.", {},
            {0.01, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10, 30, 60, 120, 300});
  r.Declare("pagoda_reconciles_total", T::kCounter, "Reconcile cycles run.");
  r.Declare("pagoda_releases_total", T::kCounter, "Releases ended, by kind and outcome.",
            {"kind", "outcome"});
  r.Declare("pagoda_drift_found_total", T::kCounter,
            "Reconcile cycles that found an environment changed in its cluster.", {"app", "env"});
  r.Declare("pagoda_git_fetches_total", T::kCounter, "Fetches of the repository, by result.",
            {"result"});
  r.Declare("pagoda_git_fetch_failures_total", T::kCounter,
            "Fetches of the repository that failed.");
  r.Declare("pagoda_api_requests_total", T::kCounter,
            "Kubernetes API requests, by API server and verb.", {"server", "verb"});
  r.Declare("pagoda_api_responses_total", T::kCounter,
            "Kubernetes API answers, by API server and HTTP status.", {"server", "code"});
  r.Declare("pagoda_api_retries_total", T::kCounter, "Kubernetes API requests retried.",
            {"server"});
  r.Declare("pagoda_last_sync_timestamp_seconds", T::kGauge,
            "When a reconcile last found the environment in sync (Unix time).", {"app", "env"});
  r.Declare("pagoda_releases_in_flight", T::kGauge, "Releases started and not yet ended.");
  r.Declare("pagoda_releases_held", T::kGauge,
            "Environments held: a release paused between batches or halted after a failed batch, "
            "or auto-sync pinned by a rollback.");
  r.Declare("pagoda_environments", T::kGauge, "Environments by state at the last reconcile.",
            {"state"});
  r.Declare("pagoda_ready", T::kGauge, "1 when /readyz answers ready.");
  r.Declare("pagoda_webhook_requests_total", T::kCounter, "Webhook requests, by result.",
            {"result"});
  r.Declare("pagoda_build_info", T::kGauge, "The running version.", {"version"});
  r.Set("pagoda_build_info", {kVersion}, 1);
  for (const char* result : {"ok", "error"}) r.Add("pagoda_git_fetches_total", {result}, 0);
  r.Add("pagoda_git_fetch_failures_total", {}, 0);
  r.Add("pagoda_reconciles_total", {}, 0);
  r.Set("pagoda_ready", {}, 0);
}

void LoopMetrics::Fetched(bool ok) {
  registry_.Add("pagoda_git_fetches_total", {ok ? "ok" : "error"});
  if (!ok) registry_.Add("pagoda_git_fetch_failures_total", {});
}

void LoopMetrics::Reconciled(const SyncEntry& entry) {
  registry_.Add("pagoda_reconciles_total", {});
  registry_.Observe("pagoda_reconcile_duration_seconds", {},
                    static_cast<double>(entry.duration_ms) / 1000.0);
  for (const auto& app_env : entry.drift) {
    auto slash = app_env.find('/');
    registry_.Add(
        "pagoda_drift_found_total",
        {app_env.substr(0, slash), slash == std::string::npos ? "" : app_env.substr(slash + 1)});
  }
}

void LoopMetrics::ReleaseEnded(const ReleaseRecord& record) {
  registry_.Add("pagoda_releases_total",
                {std::string(Name(record.kind)), std::string(Name(record.outcome))});
}

void LoopMetrics::Webhook(const WebhookAnswer& answer) {
  registry_.Add("pagoda_webhook_requests_total", {answer.result});
}

void LoopMetrics::Retire(const std::map<std::string, kube::RequestStats>& requests) {
  for (const auto& [server, stats] : requests) AddStats(&base_[server], stats);
}

void LoopMetrics::Update(const LoopStatus& status, bool ready,
                         const std::map<std::string, kube::RequestStats>& requests) {
  auto& r = registry_;
  r.Set("pagoda_ready", {}, ready ? 1 : 0);
  int in_flight = 0, held = 0, in_sync = 0, drift = 0, error = 0;
  const bool reconciled = status.last_reconcile_ms != last_reconcile_ms_;
  last_reconcile_ms_ = status.last_reconcile_ms;
  for (const auto& e : status.environments) {
    in_flight += !e.release.empty();
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
      r.Set("pagoda_last_sync_timestamp_seconds", {e.app, e.env},
            static_cast<double>(status.last_reconcile_ms) / 1000.0);
    }
  }
  r.Set("pagoda_releases_in_flight", {}, in_flight);
  r.Set("pagoda_releases_held", {}, held);
  r.Set("pagoda_environments", {"in_sync"}, in_sync);
  r.Set("pagoda_environments", {"drift"}, drift);
  r.Set("pagoda_environments", {"error"}, error);

  std::map<std::string, kube::RequestStats> totals = base_;
  for (const auto& [server, stats] : requests) AddStats(&totals[server], stats);
  for (const auto& [server, stats] : totals) {
    for (const auto& [verb, n] : stats.by_verb) {
      r.Set("pagoda_api_requests_total", {server, verb}, static_cast<double>(n));
    }
    for (const auto& [code, n] : stats.by_code) {
      r.Set("pagoda_api_responses_total", {server, std::to_string(code)}, static_cast<double>(n));
    }
    r.Set("pagoda_api_retries_total", {server}, static_cast<double>(stats.retries));
  }
}

}  // namespace pagoda::daemon
