// The reconcile loop's decisions, driven step by step with a fake clock, a
// Git source of in-memory commits, and an in-memory stand-in for the cluster
// that stores what is applied. What the loop does to a real cluster is
// proven by the integration tests; these prove when and why it acts, and
// what it records.
#include <algorithm>

#include "daemon/loop_test_fixture.h"

namespace pagoda::daemon::test {
namespace {

TEST_F(LoopTest, FirstStepFetchesReleasesAndRecords) {
  git_.Push(Repo(), "first");
  const auto fetched_at = clock_.Now();  // the fetch is the step's first act
  auto next = Step();
  EXPECT_EQ(git_.fetches, 1);
  auto releases = Releases();
  ASSERT_EQ(releases.size(), 1u);
  const auto& r = releases[0];
  EXPECT_EQ(r.app, "shop");
  EXPECT_EQ(r.env, "prod");
  EXPECT_EQ(r.kind, ReleaseKind::kRollout);
  EXPECT_EQ(r.trigger, Trigger::kCommit);
  EXPECT_EQ(r.outcome, Outcome::kSucceeded);
  EXPECT_EQ(r.to.id, git_.Last());
  EXPECT_EQ(r.to.summary, "first");
  EXPECT_FALSE(r.to_revision.empty());
  EXPECT_GE(r.changes.size(), 3u);  // Namespace, Service, Deployment
  // Next: a fetch within the jittered interval of the first.
  auto wait = std::chrono::duration_cast<std::chrono::milliseconds>(next - fetched_at);
  EXPECT_GE(wait, 27s);
  EXPECT_LE(wait, 33s);
  auto log = journal_->reader().SyncLog(0);
  ASSERT_TRUE(log.ok());
  ASSERT_EQ(log->size(), 1u);
  EXPECT_EQ((*log)[0].environments_checked, 1);
  EXPECT_EQ((*log)[0].releases, std::vector<std::string>{r.id});
}

// A Service someone made by hand under the name pagoda renders for prod.
std::string ForeignService() {
  return R"({"apiVersion":"v1","kind":"Service","metadata":{"name":"prod","namespace":"shop",)"
         R"("labels":{"team":"theirs"},"managedFields":[{"manager":"kubectl-client-side-apply"}]},)"
         R"("spec":{"ports":[{"port":80}]}})";
}

TEST_F(LoopTest, AConflictIsRecordedOnceShownInStatusAndNothingOfTheEnvironmentIsWritten) {
  cluster_.foreign[{"", "Service", "shop", "prod"}] = ForeignService();
  git_.Push(Repo(), "first");
  Step();
  auto releases = Releases();
  ASSERT_EQ(releases.size(), 1u);
  EXPECT_EQ(releases[0].outcome, Outcome::kFailed);
  ASSERT_EQ(releases[0].errors.size(), 1u);
  EXPECT_EQ(releases[0].errors[0],
            "conflict: Service/shop/prod exists without pagoda's labels for app shop, environment "
            "prod (it has none of them), managed by kubectl-client-side-apply; left alone (adopt: "
            "true on the environment takes it over)");
  bool deployment_skipped = false;
  for (const auto& c : releases[0].changes) {
    deployment_skipped |= c.key.starts_with("Deployment/shop/prod-") &&
                          c.action == ChangeAction::kSkipped &&
                          c.detail == "not written while Service/shop/prod is in conflict";
  }
  EXPECT_TRUE(deployment_skipped);
  EXPECT_EQ(DeploymentName(), "");
  EXPECT_FALSE(cluster_.objects.count({"", "Service", "shop", "prod"}));
  auto status = reconciler_->Snapshot().environments;
  ASSERT_EQ(status.size(), 1u);
  EXPECT_EQ(status[0].error, releases[0].errors[0]);

  // The same conflict at the next reconcile: shown, not recorded again.
  clock_.Advance(301s);
  Step();
  EXPECT_EQ(Releases().size(), 1u);
  EXPECT_EQ(reconciler_->Snapshot().environments[0].error, releases[0].errors[0]);

  // Its owner removes it: the environment is released.
  cluster_.foreign.clear();
  clock_.Advance(301s);
  Step();
  releases = Releases();
  ASSERT_EQ(releases.size(), 2u);
  EXPECT_EQ(releases[0].outcome, Outcome::kSucceeded);
  EXPECT_NE(DeploymentName(), "");
  EXPECT_EQ(reconciler_->Snapshot().environments[0].error, "");
}

TEST_F(LoopTest, AdoptionAndTheApiServersWarningsAreRecorded) {
  cluster_.foreign[{"", "Service", "shop", "prod"}] = ForeignService();
  cluster_.warn["Service/shop/prod"] = "spec.ports[0]: a port warning";
  auto files = Repo();
  files["apps/shop/envs/prod.yaml"] += "  adopt: true\n";
  git_.Push(files, "adopt");
  Step();
  auto releases = Releases();
  ASSERT_EQ(releases.size(), 1u);
  EXPECT_EQ(releases[0].outcome, Outcome::kSucceeded);
  bool adopted = false;
  for (const auto& c : releases[0].changes) {
    adopted |= c.key == "Service/shop/prod" && c.action == ChangeAction::kAdopted &&
               c.detail == "taken over from kubectl-client-side-apply";
  }
  EXPECT_TRUE(adopted);
  EXPECT_EQ(releases[0].warnings,
            std::vector<std::string>{"Service/shop/prod: spec.ports[0]: a port warning"});
  EXPECT_NE(DeploymentName(), "");
}
// The daemon's fetcher answers through the inbox, which the loop reads
// between two environments of a pass: a fetch that ends there is taken up
// by the next step, never by the rest of the pass, and its commit is
// released then, not a drift interval later.
TEST_F(LoopTest, AFetchEndingMidPassIsReleasedByTheNextStep) {
  struct MidPass final : LoopHooks {
    std::function<void()> between;
    bool Stopping() override { return false; }
    void Between() override {
      if (between) std::exchange(between, nullptr)();
    }
  } hooks;
  int fetches = 0;
  OpenJournal([&](LoopOptions& o) {
    o.hooks = &hooks;
    o.start_fetch = [&] { ++fetches; };
  });
  git_.Push(Repo("example.com/web:1", true, "cart"), "web 1");
  reconciler_->Step();
  ASSERT_EQ(fetches, 1);
  reconciler_->FetchDone(git_.Fetch());
  Step();
  const std::string v1 = git_.Last();
  ASSERT_EQ(Releases().size(), 2u);

  git_.Push(Repo("example.com/web:2", true, "cart"), "web 2");
  const std::string v2 = git_.Last();
  hooks.between = [&] { reconciler_->FetchDone(git_.Fetch()); };
  reconciler_->RequestSync();
  reconciler_->Step();  // a pass over web 1, during which the fetch of web 2 ends
  for (const auto& r : Releases()) EXPECT_NE(r.to.id, v2) << r.id << " released mid-pass";
  reconciler_->Step();
  int released = 0;
  for (const auto& r : Releases()) released += r.app == "shop" && r.to.id == v2;
  EXPECT_EQ(released, 1) << "web 2 is released at the next step";
  EXPECT_NE(v1, v2);
}

TEST_F(LoopTest, NothingDueNothingDone) {
  git_.Push(Repo());
  Step();
  int executes = cluster_.executes;
  clock_.Advance(40s);  // a fetch, no new commit, drift interval not reached
  Step();
  EXPECT_EQ(git_.fetches, 2);
  EXPECT_EQ(cluster_.executes, executes);
  EXPECT_EQ(Releases().size(), 1u);
}

TEST_F(LoopTest, ANewCommitIsReleasedAndTheOldRevisionRetired) {
  git_.Push(Repo("example.com/web:1"));
  Step();
  std::string old = DeploymentName();
  git_.Push(Repo("example.com/web:2"), "web 2");
  clock_.Advance(34s);  // past the jittered interval (30 s ± 10%)
  Step();
  auto releases = Releases();
  ASSERT_EQ(releases.size(), 2u);
  EXPECT_EQ(releases[0].kind, ReleaseKind::kRollout);
  EXPECT_EQ(releases[0].to.summary, "web 2");
  EXPECT_EQ(releases[0].from.id, releases[1].to.id);
  EXPECT_EQ(releases[0].from_revision, releases[1].to_revision);
  EXPECT_NE(DeploymentName(), old);
  EXPECT_EQ(cluster_.Replicas("shop", old), 0);
}

TEST_F(LoopTest, RevertIsRecordedAsARollbackNamingTheReleaseItRestores) {
  git_.Push(Repo("example.com/web:1"));
  Step();
  std::string first_id = Releases()[0].id;
  git_.Push(Repo("example.com/web:2"));
  reconciler_->RequestSync();
  Step();
  git_.Push(Repo("example.com/web:1"), "Revert \"web 2\"");
  reconciler_->RequestSync();
  Step();
  auto releases = Releases();
  ASSERT_EQ(releases.size(), 3u);
  EXPECT_EQ(releases[0].kind, ReleaseKind::kRollback);
  EXPECT_EQ(releases[0].trigger, Trigger::kRevert);
  EXPECT_EQ(releases[0].restores, first_id);
  EXPECT_EQ(releases[0].to_revision, releases[2].to_revision);
}

TEST_F(LoopTest, DriftIsHealedOnlyWithSelfHealAndRecordedAsSuch) {
  git_.Push(Repo("example.com/web:1", /*self_heal=*/true));
  Step();
  cluster_.Scale("shop", "prod-", 7);
  clock_.Advance(301s);  // drift interval
  Step();
  auto releases = Releases();
  ASSERT_EQ(releases.size(), 2u);
  EXPECT_EQ(releases[0].kind, ReleaseKind::kSelfHeal);
  EXPECT_EQ(releases[0].trigger, Trigger::kSelfHeal);
  EXPECT_EQ(cluster_.Replicas("shop", DeploymentName()), 3);
  auto log = journal_->reader().SyncLog(0);
  EXPECT_EQ(log->back().drift, std::vector<std::string>{"shop/prod"});
}

// The pagoda.dev/commit annotation of a Deployment in the cluster, and the
// Deployment of `ns` that has instances.
std::string CommitOf(const MemoryCluster& cluster, const std::string& ns) {
  for (const auto& [key, json] : cluster.objects) {
    if (key.kind != "Deployment" || key.namespace_name != ns) continue;
    rapidjson::Document d;
    d.Parse(json.c_str());
    if (d["spec"]["replicas"].GetInt() == 0) continue;
    return d["metadata"]["annotations"]["pagoda.dev/commit"].GetString();
  }
  return "";
}

// The repository of Repo(..., "cart") with cart's image at api:2.
std::map<std::string, std::string> CartAtApi2() {
  auto files = Repo("example.com/web:1", /*self_heal=*/true, "cart");
  std::string& api = files["apps/cart/deploy/api.yaml"];
  api.replace(api.find("api:1"), 5, "api:2");
  return files;
}

// A commit reads and renders only the apps it changes; whatever pagoda
// writes carries the commit it writes at, rendering reused or not.
TEST_F(LoopTest, ACommitReadsOnlyTheAppsItChangesAndWritesCarryTheirCommit) {
  git_.Push(Repo("example.com/web:1", /*self_heal=*/true, "cart"), "first");
  Step();
  const std::string first = git_.Last();
  LoopStatus status = reconciler_->Snapshot();
  EXPECT_EQ(status.apps_read, 2u);
  EXPECT_EQ(status.apps_unchanged, 0u);
  EXPECT_EQ(status.apps_rendered, 2u);
  EXPECT_EQ(CommitOf(cluster_, "cart"), first);
  EXPECT_EQ(CommitOf(cluster_, "shop"), first);

  git_.Push(CartAtApi2(), "api 2");
  clock_.Advance(34s);
  Step();
  const std::string second = git_.Last();
  status = reconciler_->Snapshot();
  EXPECT_EQ(status.apps_read, 1u);
  EXPECT_EQ(status.apps_unchanged, 1u);
  EXPECT_EQ(status.apps_rendered, 1u);
  EXPECT_EQ(status.apps_render_reused, 1u);
  EXPECT_EQ(CommitOf(cluster_, "cart"), second);
  EXPECT_EQ(CommitOf(cluster_, "shop"), first);  // not written again

  // shop's rendering is the first commit's; healed now, it is written at the second.
  cluster_.Scale("shop", "prod-", 7);
  clock_.Advance(301s);
  Step();
  EXPECT_EQ(cluster_.Replicas("shop", DeploymentName()), 3);
  EXPECT_EQ(CommitOf(cluster_, "shop"), second);
}

// With the cluster telling what moved since the last pass (an app that did
// not is not read again), or not (every app's version is read).
class QuietTest : public LoopTest, public ::testing::WithParamInterface<bool> {};
INSTANTIATE_TEST_SUITE_P(ChangesToldOrNot, QuietTest, ::testing::Bool());

TEST_P(QuietTest, AnAppInSyncIsPlannedAgainOnlyWhenItsFilesOrItsObjectsChange) {
  cluster_.changes_known = GetParam();
  git_.Push(Repo("example.com/web:1", /*self_heal=*/true, "cart"), "first");
  Step();  // releases both
  reconciler_->RequestSync();
  Step();  // finds both in sync
  ASSERT_EQ(cluster_.planned.size(), 2u);
  EXPECT_EQ(reconciler_->Snapshot().apps_quiet, 0u);

  const int version_reads = cluster_.version_reads;
  reconciler_->RequestSync();
  Step();  // nothing changed: nothing is planned
  EXPECT_EQ(cluster_.planned.size(), 2u);
  EXPECT_EQ(reconciler_->Snapshot().apps_quiet, 2u);
  if (GetParam()) {
    EXPECT_EQ(cluster_.version_reads, version_reads) << "nothing moved: no version is read";
  } else {
    EXPECT_EQ(cluster_.version_reads, version_reads + 2) << "each app's version is read";
  }
  auto log = journal_->reader().SyncLog(0);
  ASSERT_TRUE(log.ok());
  EXPECT_EQ(log->back().environments_checked, 2);

  // A commit that changes cart plans cart alone.
  git_.Push(CartAtApi2(), "api 2");
  clock_.Advance(34s);
  Step();
  ASSERT_EQ(cluster_.planned.size(), 3u);
  EXPECT_EQ(cluster_.planned.back(), std::vector<std::string>{"cart"});
  EXPECT_EQ(CommitOf(cluster_, "cart"), git_.Last());

  // Someone scales shop by hand: the change to its objects plans it, and heals it.
  reconciler_->RequestSync();
  Step();  // cart, written at the last pass, is found in sync
  cluster_.Scale("shop", "prod-", 7);
  reconciler_->RequestSync();
  Step();
  EXPECT_EQ(cluster_.planned.back(), std::vector<std::string>{"shop"});
  EXPECT_EQ(cluster_.Replicas("shop", DeploymentName()), 3);

  // An object of shop deleted by hand is made again.
  reconciler_->RequestSync();
  Step();
  auto service = std::find_if(cluster_.objects.begin(), cluster_.objects.end(), [](const auto& o) {
    return o.first.kind == "Service" && o.first.namespace_name == "shop";
  });
  ASSERT_NE(service, cluster_.objects.end());
  const diff::ObjectKey key = service->first;
  cluster_.objects.erase(service);
  reconciler_->RequestSync();
  Step();
  EXPECT_EQ(cluster_.planned.back(), std::vector<std::string>{"shop"});
  EXPECT_EQ(cluster_.objects.count(key), 1u);
}

TEST_F(LoopTest, AnAppThatCannotTellWhatChangedIsPlannedOnEveryPass) {
  cluster_.versions_known = false;
  git_.Push(Repo("example.com/web:1", /*self_heal=*/true, "cart"), "first");
  for (int i = 0; i < 3; ++i) {
    reconciler_->RequestSync();
    Step();
  }
  ASSERT_EQ(cluster_.planned.size(), 3u);
  EXPECT_EQ(cluster_.planned.back(), (std::vector<std::string>{"cart", "shop"}));
  EXPECT_EQ(reconciler_->Snapshot().apps_quiet, 0u);
}

TEST_F(LoopTest, WithoutSelfHealDriftIsOnlyReported) {
  git_.Push(Repo("example.com/web:1", /*self_heal=*/false));
  Step();
  std::string name = DeploymentName();
  cluster_.Scale("shop", "prod-", 7);
  clock_.Advance(301s);
  Step();
  EXPECT_EQ(Releases().size(), 1u);
  EXPECT_EQ(cluster_.Replicas("shop", name), 7);
  auto status = reconciler_->Snapshot();
  ASSERT_EQ(status.environments.size(), 1u);
  EXPECT_TRUE(status.environments[0].drift);
}

TEST_F(LoopTest, ABrokenAppKeepsItsLastGoodStateWhileOthersRelease) {
  git_.Push(Repo("example.com/web:1", true, "orders"));
  Step();
  auto before = cluster_.objects;
  auto files = Repo("example.com/web:2", true, "orders");
  files["apps/orders/envs/prod.yaml"] += "  replicas: [oops\n";
  git_.Push(files);
  reconciler_->RequestSync();
  Step();
  auto releases = Releases();
  ASSERT_EQ(releases.size(), 3u);  // shop twice, orders once: no release for broken orders
  EXPECT_EQ(releases[0].app, "shop");
  for (const auto& [key, json] : before) {
    if (key.namespace_name == "orders") {
      EXPECT_EQ(cluster_.objects[key], json) << key.ToString();
    }
  }
  auto log = journal_->reader().SyncLog(0);
  ASSERT_FALSE(log->back().errors.empty());
  EXPECT_NE(log->back().errors[0].find("apps/orders/envs/prod.yaml:"), std::string::npos)
      << log->back().errors[0];
  bool reported = false;
  for (const auto& e : reconciler_->Snapshot().environments) {
    if (e.app == "orders")
      reported = e.error.find("apps/orders/envs/prod.yaml:") != std::string::npos;
  }
  EXPECT_TRUE(reported);
}

TEST_F(LoopTest, FetchFailuresBackOffAndNeverStopTheLoop) {
  git_.Push(Repo());
  Step();
  git_.fail = true;
  std::vector<int64_t> waits;
  for (int i = 0; i < 4; ++i) {
    clock_.Advance(std::chrono::hours(1));
    auto next = Step();
    waits.push_back(std::chrono::duration_cast<std::chrono::seconds>(next - clock_.Now()).count());
  }
  EXPECT_EQ(waits, (std::vector<int64_t>{30, 60, 120, 240}));
  EXPECT_NE(reconciler_->Snapshot().repo_error.find("connection refused"), std::string::npos);
  git_.fail = false;
  git_.Push(Repo("example.com/web:3"));
  clock_.Advance(std::chrono::hours(1));
  Step();
  EXPECT_EQ(reconciler_->Snapshot().repo_error, "");
  EXPECT_EQ(Releases().size(), 2u);
}

TEST_F(LoopTest, AFailedReleaseIsRecordedAndRetriedWithBackoff) {
  git_.Push(Repo());
  cluster_.fail_execute = true;
  Step();
  auto releases = Releases();
  ASSERT_EQ(releases.size(), 1u);
  EXPECT_EQ(releases[0].outcome, Outcome::kFailed);
  EXPECT_NE(releases[0].errors[0].find("API server is down"), std::string::npos);
  clock_.Advance(2s);
  Step();  // not yet: backing off 5 s
  EXPECT_EQ(cluster_.executes, 1);
  cluster_.fail_execute = false;
  clock_.Advance(4s);
  Step();
  EXPECT_GT(cluster_.executes, 1);
  EXPECT_EQ(Releases()[0].outcome, Outcome::kSucceeded);
}

TEST_F(LoopTest, AReleaseLeftInProgressIsFinishedUnderItsIdAfterARestart) {
  git_.Push(Repo());
  // A process recorded the start of a release and died before applying it.
  ReleaseRecord started;
  started.app = "shop";
  started.env = "prod";
  started.cluster = "prod";
  started.to.id = git_.Last();
  ASSERT_TRUE(journal_->Append(&started).ok());
  OpenJournal();  // the next process
  Step();
  auto releases = Releases();
  ASSERT_EQ(releases.size(), 1u) << "no duplicate record";
  EXPECT_EQ(releases[0].id, started.id);
  EXPECT_EQ(releases[0].outcome, Outcome::kSucceeded);
  EXPECT_FALSE(DeploymentName().empty());
}

// `apps` apps app-0, app-1, ..., each with a test and a prod environment on one cluster.
std::map<std::string, std::string> ManyApps(int apps) {
  std::map<std::string, std::string> files;
  for (int i = 0; i < apps; ++i) {
    const std::string app = "app-" + std::to_string(i), dir = "apps/" + app;
    files[dir + "/app.yaml"] =
        "apiVersion: pagoda.dev/v1\nkind: App\nmetadata: {name: " + app + "}\nspec: {}\n";
    files[dir + "/deploy/web.yaml"] =
        "apiVersion: pagoda.dev/v1\nkind: DeployConfig\nmetadata: {name: web}\nspec:\n  image: "
        "example.com/web:1\n  cpu: 100m\n  memory: 64Mi\n  ports: [{name: http, port: 8080}]\n";
    for (const char* env : {"test", "prod"}) {
      files[dir + "/envs/" + env + ".yaml"] =
          "apiVersion: pagoda.dev/v1\nkind: Environment\nmetadata: {name: " + std::string(env) +
          "}\nspec:\n  cluster: prod\n  deployConfig: web\n  replicas: 1\n"
          "  traffic: [{name: http, protocol: http, port: 80, targetPort: 8080}]\n";
    }
  }
  return files;
}

TEST_F(LoopTest, EnvironmentsOfDifferentAppsAreWrittenAtOnceEachAppsInOrder) {
  cluster_.concurrency = 4;
  cluster_.fail_in = {"app-7"};            // one app the cluster refuses
  git_.Push(ManyApps(30), "thirty apps");  // 60 environments: more than one wave of writes
  Step();
  auto log = journal_->reader().SyncLog(0);
  ASSERT_TRUE(log.ok());
  ASSERT_EQ(log->size(), 1u);
  EXPECT_EQ((*log)[0].environments_checked, 60);
  EXPECT_EQ((*log)[0].releases.size(), 60u);  // each started release, the failed ones too
  int succeeded = 0;
  for (const auto& r : Releases()) {
    if (r.app == "app-7") {
      EXPECT_EQ(r.outcome, Outcome::kFailed) << r.env;
      ASSERT_FALSE(r.errors.empty());
      EXPECT_NE(r.errors.back().find("namespace app-7 refuses writes"), std::string::npos);
    } else {
      EXPECT_EQ(r.outcome, Outcome::kSucceeded) << r.app << "/" << r.env;
      ++succeeded;
    }
  }
  EXPECT_EQ(succeeded, 58);
  EXPECT_EQ(cluster_.node_reads, 1);  // the capacity of the nodes, once for the pass
  // Each app's Namespace went first: its environments are one lane.
  for (int i = 0; i < 30; ++i) {
    const std::string app = "app-" + std::to_string(i);
    if (app == "app-7") continue;
    const int ns = cluster_.created.at({"", "Namespace", "", app});
    for (const auto& [key, order] : cluster_.created) {
      if (key.namespace_name == app) {
        EXPECT_LT(ns, order) << key.ToString();
      }
    }
  }
  for (const auto& e : reconciler_->Snapshot().environments) {
    EXPECT_EQ(e.error.empty(), e.app != "app-7") << e.app << "/" << e.env << ": " << e.error;
  }
  // The others are in sync: the next pass writes only the refused app again, once it is due.
  cluster_.fail_in.clear();
  const int executes = cluster_.executes;
  clock_.Advance(std::chrono::minutes(10));
  reconciler_->RequestSync();
  Step();
  EXPECT_EQ(cluster_.executes - executes,
            2 + 2);  // its two environments: config, then the order's end
  for (const auto& e : reconciler_->Snapshot().environments) {
    EXPECT_TRUE(e.error.empty()) << e.app << "/" << e.env << ": " << e.error;
  }
}

}  // namespace
}  // namespace pagoda::daemon::test
