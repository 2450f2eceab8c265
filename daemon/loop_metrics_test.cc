#include "daemon/loop_metrics.h"

#include <gtest/gtest.h>

#include <string>

#include "pagoda/version.h"

namespace pagoda::daemon {
namespace {

// The value of one series in the exposition (`name{labels}` as written), or
// -1 when it is not there.
double Sample(const std::string& text, const std::string& series) {
  const std::string line = "\n" + series + " ";
  auto at = ("\n" + text).find(line);
  if (at == std::string::npos) return -1;
  return std::stod(text.substr(at + line.size() - 1));
}

EnvironmentStatus Env(const std::string& app, const std::string& env) {
  EnvironmentStatus e;
  e.app = app;
  e.env = env;
  e.revision = "rev-1";
  return e;
}

TEST(LoopMetricsTest, StartsWithTheSeriesThatAreAlwaysThere) {
  LoopMetrics m;
  const std::string text = m.Render();
  EXPECT_EQ(Sample(text, "pagoda_git_fetches_total{result=\"ok\"}"), 0) << text;
  EXPECT_EQ(Sample(text, "pagoda_git_fetches_total{result=\"error\"}"), 0);
  EXPECT_EQ(Sample(text, "pagoda_git_fetch_failures_total"), 0);
  EXPECT_EQ(Sample(text, "pagoda_reconciles_total"), 0);
  EXPECT_EQ(Sample(text, "pagoda_reconcile_duration_seconds_count"), 0);
  EXPECT_EQ(Sample(text, "pagoda_ready"), 0);
  EXPECT_EQ(Sample(text, "pagoda_build_info{version=\"" + std::string(kVersion) + "\"}"), 1);
  EXPECT_NE(text.find("# TYPE pagoda_reconcile_duration_seconds histogram\n"), std::string::npos);
  // Families whose series come with events are not written before them.
  EXPECT_EQ(text.find("pagoda_releases_total"), std::string::npos);
  EXPECT_EQ(text.find("pagoda_environments"), std::string::npos);
}

TEST(LoopMetricsTest, CountsWhatTheLoopReports) {
  LoopMetrics m;
  m.Fetched(true);
  m.Fetched(true);
  m.Fetched(false);
  SyncEntry cycle;
  cycle.duration_ms = 1500;
  cycle.drift = {"shop/prod", "shop/test", "shop/prod"};
  m.Reconciled(cycle);
  ReleaseRecord record;
  record.kind = ReleaseKind::kRollout;
  record.outcome = Outcome::kSucceeded;
  m.ReleaseEnded(record);
  m.ReleaseEnded(record);
  record.kind = ReleaseKind::kSelfHeal;
  record.outcome = Outcome::kFailed;
  m.ReleaseEnded(record);
  m.Webhook({.http_status = 401, .message = "bad signature", .result = "unauthorized"});
  const std::string text = m.Render();
  EXPECT_EQ(Sample(text, "pagoda_git_fetches_total{result=\"ok\"}"), 2) << text;
  EXPECT_EQ(Sample(text, "pagoda_git_fetches_total{result=\"error\"}"), 1);
  EXPECT_EQ(Sample(text, "pagoda_git_fetch_failures_total"), 1);
  EXPECT_EQ(Sample(text, "pagoda_reconciles_total"), 1);
  EXPECT_EQ(Sample(text, "pagoda_reconcile_duration_seconds_sum"), 1.5);
  EXPECT_EQ(Sample(text, "pagoda_reconcile_duration_seconds_bucket{le=\"1\"}"), 0);
  EXPECT_EQ(Sample(text, "pagoda_reconcile_duration_seconds_bucket{le=\"2.5\"}"), 1);
  EXPECT_EQ(Sample(text, "pagoda_drift_found_total{app=\"shop\",env=\"prod\"}"), 2);
  EXPECT_EQ(Sample(text, "pagoda_drift_found_total{app=\"shop\",env=\"test\"}"), 1);
  EXPECT_EQ(Sample(text, "pagoda_releases_total{kind=\"rollout\",outcome=\"succeeded\"}"), 2);
  EXPECT_EQ(Sample(text, "pagoda_releases_total{kind=\"self-heal\",outcome=\"failed\"}"), 1);
  EXPECT_EQ(Sample(text, "pagoda_webhook_requests_total{result=\"unauthorized\"}"), 1);
}

TEST(LoopMetricsTest, GaugesFollowTheStatusAndSyncTimesTheReconcile) {
  LoopMetrics m;
  LoopStatus status;
  status.last_reconcile_ms = 1712345678123;
  status.environments = {Env("shop", "prod"), Env("shop", "test"), Env("orders", "prod"),
                         Env("orders", "test")};
  status.environments[1].release = "r-000007";
  status.environments[1].release_phase = "held";
  status.environments[2].error = "cluster unreachable";
  status.environments[3].pinned_commit = "abc";
  m.Update(status, true, {});
  std::string text = m.Render();
  EXPECT_EQ(Sample(text, "pagoda_ready"), 1) << text;
  EXPECT_EQ(Sample(text, "pagoda_releases_in_flight"), 1);
  EXPECT_EQ(Sample(text, "pagoda_releases_held"), 2);
  EXPECT_EQ(Sample(text, "pagoda_environments{state=\"in_sync\"}"), 2);
  EXPECT_EQ(Sample(text, "pagoda_environments{state=\"drift\"}"), 1);
  EXPECT_EQ(Sample(text, "pagoda_environments{state=\"error\"}"), 1);
  EXPECT_EQ(Sample(text, "pagoda_last_sync_timestamp_seconds{app=\"shop\",env=\"prod\"}"),
            1712345678.123);
  EXPECT_EQ(Sample(text, "pagoda_last_sync_timestamp_seconds{app=\"shop\",env=\"test\"}"), -1);

  // Without a new reconcile the sync time stays where it was.
  status.time_ms = status.last_reconcile_ms + 5000;
  status.environments[1].release.clear();
  status.environments[1].release_phase.clear();
  m.Update(status, false, {});
  text = m.Render();
  EXPECT_EQ(Sample(text, "pagoda_ready"), 0);
  EXPECT_EQ(Sample(text, "pagoda_releases_in_flight"), 0);
  EXPECT_EQ(Sample(text, "pagoda_last_sync_timestamp_seconds{app=\"shop\",env=\"test\"}"), -1);
  status.last_reconcile_ms += 30'000;
  m.Update(status, true, {});
  EXPECT_EQ(Sample(m.Render(), "pagoda_last_sync_timestamp_seconds{app=\"shop\",env=\"test\"}"),
            1712345708.123);
}

TEST(LoopMetricsTest, NotificationsAreCountedByReceiverAndResultAndNeverGoDown) {
  LoopMetrics m;
  notify::ReceiverStats chat;
  chat.delivered = 3;
  chat.retried = 2;
  m.Notifications({{"chat", chat}});
  std::string text = m.Render();
  EXPECT_EQ(Sample(text, "pagoda_notifications_total{receiver=\"chat\",result=\"delivered\"}"), 3);
  EXPECT_EQ(Sample(text, "pagoda_notifications_total{receiver=\"chat\",result=\"retried\"}"), 2);
  EXPECT_EQ(Sample(text, "pagoda_notifications_total{receiver=\"chat\",result=\"dropped\"}"), 0);
  chat.delivered = 1;  // a count from a newer dispatcher that began again
  chat.dropped = 4;
  m.Notifications({{"chat", chat}});
  text = m.Render();
  EXPECT_EQ(Sample(text, "pagoda_notifications_total{receiver=\"chat\",result=\"delivered\"}"), 3);
  EXPECT_EQ(Sample(text, "pagoda_notifications_total{receiver=\"chat\",result=\"dropped\"}"), 4);
}

TEST(LoopMetricsTest, AFrozenEnvironmentHasASeriesUntilItThaws) {
  LoopMetrics m;
  LoopStatus status;
  status.environments = {Env("shop", "prod"), Env("shop", "test")};
  status.environments[0].frozen_by = "double-eleven";
  status.environments[0].frozen_until_ms = 1'794'240'000'000;
  m.Update(status, true, {});
  std::string text = m.Render();
  const std::string series =
      "pagoda_frozen_until_timestamp_seconds{app=\"shop\",env=\"prod\",window=\"double-eleven\"}";
  EXPECT_EQ(Sample(text, series), 1794240000) << text;
  EXPECT_EQ(Sample(text, "pagoda_environments{state=\"frozen\"}"), 1);
  // Held back by another window now: one series, of that window.
  status.environments[0].frozen_by = "maintenance";
  m.Update(status, true, {});
  text = m.Render();
  EXPECT_EQ(Sample(text, series), -1) << text;
  EXPECT_EQ(Sample(text,
                   "pagoda_frozen_until_timestamp_seconds{app=\"shop\",env=\"prod\",window="
                   "\"maintenance\"}"),
            1794240000);
  // Thawed: no series left.
  status.environments[0].frozen_by.clear();
  m.Update(status, true, {});
  text = m.Render();
  EXPECT_EQ(text.find("pagoda_frozen_until_timestamp_seconds{"), std::string::npos) << text;
  EXPECT_EQ(Sample(text, "pagoda_environments{state=\"frozen\"}"), 0);
}

TEST(LoopMetricsTest, RequestCountsNeverGoBackAcrossAReload) {
  const std::string a = "https://a.example:6443", b = "https://b.example:6443";
  kube::RequestStats first;
  first.by_verb = {{"LIST", 5}, {"PATCH", 2}};
  first.by_code = {{200, 7}};
  first.retries = 1;
  LoopMetrics m;
  m.Update({}, true, {{a, first}, {b, first}});
  std::string text = m.Render();
  const std::string list_a = "pagoda_api_requests_total{server=\"" + a + "\",verb=\"LIST\"}";
  EXPECT_EQ(Sample(text, list_a), 5) << text;
  // Labels are written in name order: code before server.
  EXPECT_EQ(Sample(text, "pagoda_api_responses_total{code=\"200\",server=\"" + a + "\"}"), 7);
  EXPECT_EQ(Sample(text, "pagoda_api_retries_total{server=\"" + a + "\"}"), 1);

  // A reload replaces the clients: the new ones count from zero, and the
  // totals go on from where the old ones were. b is no longer used.
  m.Retire({{a, first}, {b, first}});
  kube::RequestStats fresh;
  fresh.by_verb = {{"LIST", 1}, {"GET", 3}};
  m.Update({}, true, {{a, fresh}});
  text = m.Render();
  EXPECT_EQ(Sample(text, list_a), 6) << text;
  EXPECT_EQ(Sample(text, "pagoda_api_requests_total{server=\"" + a + "\",verb=\"GET\"}"), 3);
  EXPECT_EQ(Sample(text, "pagoda_api_requests_total{server=\"" + a + "\",verb=\"PATCH\"}"), 2);
  EXPECT_EQ(Sample(text, "pagoda_api_requests_total{server=\"" + b + "\",verb=\"LIST\"}"), 5);
  EXPECT_EQ(Sample(text, "pagoda_api_retries_total{server=\"" + a + "\"}"), 1);

  // A count lower than the counter (the clients' own counts are gone) leaves
  // the counter where it was.
  m.Update({}, true, {});
  EXPECT_EQ(Sample(m.Render(), list_a), 6);
}

}  // namespace
}  // namespace pagoda::daemon
