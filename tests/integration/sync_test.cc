// pagoda sync and pagoda diff against the real local control plane, as
// pagoda's own ServiceAccount (the RBAC of deploy/rbac.yaml): first sync,
// no-op sync, every kind of drift, revisions, prune, plain manifests.
#include <gtest/gtest.h>
#include <rapidjson/document.h>

#include <chrono>
#include <map>
#include <thread>

#include "engine/engine.h"
#include "source/source.h"
#include "tests/integration/example_repo.h"
#include "tests/integration/test_cluster.h"

namespace pagoda {
namespace {

using namespace std::chrono_literals;
using testing::ExampleRepo;
using testing::TestCluster;

// One pass of the sync engine over `repo`, every cluster sent to the test cluster.
struct Pass {
  std::unique_ptr<kube::KubeClient> client;
  std::unique_ptr<engine::ServerPlan> plan;
  apply::ExecuteResult result;
  kube::RequestStats stats;  // of planning and executing

  int Count(diff::Action a) const { return plan->plan.Count(a); }
  const diff::PlannedChange* Find(const std::string& key) const {
    for (const auto& c : plan->plan.changes) {
      if (c.key.ToString() == key) return &c;
    }
    return nullptr;
  }
};

Pass SyncPass(const ExampleRepo& repo, bool execute, std::vector<std::string> targets = {}) {
  Pass pass;
  auto source = source::NewDirectorySource(repo.dir());
  manifest::Repository loaded = manifest::LoadRepository(*source);
  EXPECT_TRUE(loaded.ok());
  for (const auto& d : loaded.AllDiagnostics()) {
    if (d.severity == manifest::Severity::kError) ADD_FAILURE() << d.ToString();
  }
  auto selection = engine::SelectTargets(loaded, targets);
  EXPECT_TRUE(selection.ok());
  const std::string server = TestCluster::Get().server;
  std::vector<engine::RenderProblem> problems;
  auto servers =
      engine::DesiredState(loaded, *selection, {}, {{"test", server}, {"prod", server}}, &problems);
  for (const auto& p : problems) ADD_FAILURE() << p.app << ": " << p.message;
  EXPECT_EQ(servers.size(), 1u);
  auto client = kube::KubeClient::Connect(TestCluster::Get().Pagoda());
  EXPECT_TRUE(client.ok());
  pass.client = std::move(*client);
  auto plan = engine::PlanServer(*pass.client, servers.begin()->second);
  EXPECT_TRUE(plan.ok()) << plan.status().ToString();
  if (!plan.ok()) return pass;
  pass.plan = std::move(*plan);
  if (execute) {
    pass.result = apply::Execute(*pass.client, pass.plan->plan, {});
    EXPECT_TRUE(pass.result.status.ok()) << pass.result.status.ToString();
  }
  pass.stats = pass.client->stats();
  return pass;
}

std::string Kubectl(const std::vector<std::string>& args) {
  std::string out;
  int rc = TestCluster::Get().Kubectl(args, &out);
  EXPECT_EQ(rc, 0) << out;
  return out;
}

// name → resourceVersion of every object pagoda owns in the namespaces.
std::map<std::string, std::string> ResourceVersions(const std::vector<std::string>& namespaces) {
  std::map<std::string, std::string> versions;
  for (const auto& ns : namespaces) {
    std::string json = Kubectl({"get", "deployments,services,configmaps,ingresses,cronjobs", "-n",
                                ns, "-l", "app.kubernetes.io/managed-by=pagoda", "-o", "json"});
    rapidjson::Document doc;
    doc.Parse(json.c_str());
    for (const auto& item : doc["items"].GetArray()) {
      const auto& meta = item["metadata"];
      const std::string kind = item["kind"].GetString();
      versions[kind + "/" + ns + "/" + meta["name"].GetString()] =
          kind == "Deployment" ? std::to_string(meta["generation"].GetInt64())
                               : meta["resourceVersion"].GetString();
    }
  }
  return versions;
}

// The name of the desired `kind` object of namespace `ns` whose name starts with `prefix`.
std::string DesiredName(const Pass& pass, const std::string& kind, const std::string& ns,
                        const std::string& prefix) {
  for (const auto& c : pass.plan->plan.changes) {
    if (c.key.kind == kind && c.key.namespace_name == ns && c.key.name.starts_with(prefix) &&
        c.wanted) {
      return c.key.name;
    }
  }
  ADD_FAILURE() << "no desired " << kind << " " << ns << "/" << prefix << "*";
  return "";
}

std::string DeploymentOf(const Pass& pass, const std::string& ns, const std::string& env) {
  return DesiredName(pass, "Deployment", ns, env + "-");
}

int PagodaCli(const std::vector<std::string>& args, std::string* out) {
  std::vector<std::string> argv = {PAGODA_BINARY};
  argv.insert(argv.end(), args.begin(), args.end());
  argv.push_back("--kubeconfig=" + TestCluster::Get().pagoda_kubeconfig);
  argv.push_back("--all-clusters-to=pagoda-test");
  return testing::Run(argv, out);
}

TEST(Sync, FirstSyncThenDiffIsEmptyAndASecondSyncWritesNothing) {
  ExampleRepo repo;
  Pass first = SyncPass(repo, /*execute=*/true);
  EXPECT_EQ(first.result.changes.Count(apply::ChangeAction::kCreated), 18)
      << first.result.changes.ToString();
  EXPECT_GE(first.stats.Writes(), 18);

  // Every Deployment rolls out on the fake nodes.
  const std::string web = repo.App("shop-web");
  const std::string prod = DeploymentOf(first, web, "prod");
  EXPECT_TRUE(testing::WaitUntil(
      [&] {
        std::string out;
        TestCluster::Get().Kubectl(
            {"get", "deployment", prod, "-n", web, "-o", "jsonpath={.status.readyReplicas}"}, &out);
        return out == "4";
      },
      60s));

  auto before = ResourceVersions(repo.Apps());
  Pass second = SyncPass(repo, /*execute=*/true);
  EXPECT_TRUE(second.plan->plan.InSync());
  EXPECT_EQ(second.result.changes.Count(apply::ChangeAction::kUnchanged), 18);
  EXPECT_EQ(second.stats.Writes(), 0) << "a sync with nothing to do wrote to the cluster";
  EXPECT_EQ(second.stats.by_verb["DRY-RUN"], 0);
  // Reads: discovery (2) and one LIST per kind, whatever the number of objects.
  auto resources = second.client->Resources();
  ASSERT_TRUE(resources.ok());
  EXPECT_LE(second.stats.Reads(), 2 + static_cast<int64_t>(resources->size()));
  EXPECT_EQ(ResourceVersions(repo.Apps()), before) << "an object was written without a change";

  std::string out;
  EXPECT_EQ(PagodaCli({"diff", "--repo", repo.dir()}, &out), 0) << out;
  EXPECT_EQ(out, "");
}

TEST(Sync, EveryKindOfDriftIsNamedAndRepaired) {
  ExampleRepo repo;
  Pass first = SyncPass(repo, true);
  const std::string web = repo.App("shop-web"), orders = repo.App("orders");
  const std::string web_prod = DeploymentOf(first, web, "prod");
  const std::string orders_test = DeploymentOf(first, orders, "test");

  Kubectl({"scale", "deployment", web_prod, "-n", web, "--replicas=7"});
  Kubectl({"set", "image", "deployment/" + orders_test, "-n", orders, "api=example.com/evil:1"});
  Kubectl({"label", "service", "prod", "-n", web, "app.kubernetes.io/name-"});
  Kubectl({"patch", "service", "test", "-n", orders, "--type=merge", "-p",
           R"({"spec":{"publishNotReadyAddresses":true}})"});
  Kubectl({"annotate", "ingress", "test", "-n", web, "pagoda.dev/prune=false", "--overwrite"});
  Kubectl({"delete", "cronjob", "expire-carts", "-n", orders});

  Pass drift = SyncPass(repo, false);
  auto path_of = [&](const std::string& key) -> std::string {
    const auto* c = drift.Find(key);
    if (c == nullptr || c->action != diff::Action::kUpdate) return "(not changed)";
    std::string paths;
    for (const auto& f : c->changes) paths += (paths.empty() ? "" : " ") + f.path;
    return paths;
  };
  EXPECT_EQ(path_of("Deployment/" + web + "/" + web_prod), "spec.replicas");
  EXPECT_EQ(path_of("Deployment/" + orders + "/" + orders_test),
            "spec.template.spec.containers[name=api].image");
  EXPECT_EQ(path_of("Service/" + web + "/prod"), "metadata.labels.app.kubernetes.io/name");
  EXPECT_EQ(path_of("Ingress/" + web + "/test"), "metadata.annotations.pagoda.dev/prune");
  ASSERT_NE(drift.Find("CronJob/" + orders + "/expire-carts"), nullptr);
  EXPECT_EQ(drift.Find("CronJob/" + orders + "/expire-carts")->action, diff::Action::kCreate);
  // A field pagoda does not set is not pagoda's drift.
  EXPECT_EQ(drift.Find("Service/" + orders + "/test")->action, diff::Action::kUnchanged);

  std::string out;
  EXPECT_EQ(PagodaCli({"diff", "--repo", repo.dir()}, &out), 1) << out;
  EXPECT_NE(out.find("-  replicas: 7\n+  replicas: 4"), std::string::npos) << out;
  EXPECT_NE(out.find("-          image: example.com/evil:1"), std::string::npos) << out;
  EXPECT_NE(out.find("diff CronJob/" + orders + "/expire-carts (not in the cluster)"),
            std::string::npos)
      << out;

  EXPECT_EQ(PagodaCli({"sync", "--repo", repo.dir()}, &out), 0) << out;
  EXPECT_NE(out.find("1 created, 4 configured, 13 unchanged"), std::string::npos) << out;
  Pass after = SyncPass(repo, false);
  EXPECT_TRUE(after.plan->plan.InSync());
  EXPECT_EQ(PagodaCli({"diff", "--repo", repo.dir()}, &out), 0) << out;
  EXPECT_EQ(Kubectl({"get", "deployment", web_prod, "-n", web, "-o", "jsonpath={.spec.replicas}"}),
            "4");
}

TEST(Sync, ANewRevisionRetiresTheOldOneAndKeepsIt) {
  ExampleRepo repo;
  Pass first = SyncPass(repo, true);
  const std::string web = repo.App("shop-web");
  const std::string old_rev = DeploymentOf(first, web, "test");
  repo.Edit("shop-web", "deploy/web.yaml", "shop/web:1.4.2", "shop/web:1.5.0");
  Pass second = SyncPass(repo, true, {web + "/test"});
  const std::string new_rev = DeploymentOf(second, web, "test");
  ASSERT_NE(old_rev, new_rev);
  EXPECT_EQ(second.Find("Deployment/" + web + "/" + new_rev)->action, diff::Action::kCreate);
  EXPECT_EQ(second.Find("Deployment/" + web + "/" + old_rev)->action, diff::Action::kRetire);
  EXPECT_EQ(Kubectl({"get", "deployment", old_rev, "-n", web, "-o", "jsonpath={.spec.replicas}"}),
            "0");
  // The selection was one environment: prod was neither planned nor touched.
  for (const auto& c : second.plan->plan.changes) {
    EXPECT_FALSE(c.key.name.starts_with("prod")) << c.key.ToString();
  }
  Pass third = SyncPass(repo, false, {web + "/test"});
  EXPECT_TRUE(third.plan->plan.InSync());
  EXPECT_EQ(third.Find("Deployment/" + web + "/" + old_rev)->reason,
            "earlier revision kept for rollback");
}

TEST(Sync, PruneRemovesExactlyTheDeletedEnvironment) {
  ExampleRepo repo;
  Pass first = SyncPass(repo, true);
  const std::string web = repo.App("shop-web");
  const std::string test_rev = DeploymentOf(first, web, "test");
  const std::string prod_rev = DeploymentOf(first, web, "prod");
  // Look-alikes without pagoda's labels, in the same namespace.
  Kubectl({"create", "service", "clusterip", "test-lookalike", "-n", web, "--tcp=80:8080"});
  Kubectl({"create", "configmap", "test-files-lookalike", "-n", web, "--from-literal=a=b"});
  auto prod_before = ResourceVersions({web});

  repo.Remove("shop-web", "envs/test.yaml");
  Pass pruned = SyncPass(repo, true);
  std::vector<std::string> deleted;
  for (const auto& e : pruned.result.changes.entries) {
    if (e.action == apply::ChangeAction::kDeleted) deleted.push_back(e.key);
  }
  std::sort(deleted.begin(), deleted.end());
  std::vector<std::string> expected = {
      "ConfigMap/" + web + "/" + DesiredName(first, "ConfigMap", web, "test-files-"),
      "Deployment/" + web + "/" + test_rev, "Ingress/" + web + "/test", "Service/" + web + "/test"};
  std::sort(expected.begin(), expected.end());
  EXPECT_EQ(deleted, expected) << pruned.result.changes.ToString();

  EXPECT_TRUE(testing::WaitUntil(
      [&] {
        std::string out;
        TestCluster::Get().Kubectl({"get", "deployment", test_rev, "-n", web}, &out);
        return out.find("NotFound") != std::string::npos;
      },
      30s));
  Kubectl({"get", "service", "test-lookalike", "-n", web});
  Kubectl({"get", "configmap", "test-files-lookalike", "-n", web});
  Kubectl({"get", "deployment", prod_rev, "-n", web});
  for (const auto& [key, version] : ResourceVersions({web})) {
    if (key.find("/prod") != std::string::npos) {
      EXPECT_EQ(version, prod_before[key]) << key;
    }
  }
}

TEST(Sync, WithPruneOffLeftoversAreReportedAndKept) {
  ExampleRepo repo;
  SyncPass(repo, true);
  const std::string orders = repo.App("orders");  // prune: false in both environments
  repo.Remove("orders", "manifests/cleanup.yaml");
  Pass pass = SyncPass(repo, true);
  const auto* cron = pass.Find("CronJob/" + orders + "/expire-carts");
  ASSERT_NE(cron, nullptr);
  EXPECT_EQ(cron->action, diff::Action::kOrphan);
  EXPECT_EQ(pass.result.changes.Count(apply::ChangeAction::kSkipped), 1);
  Kubectl({"get", "cronjob", "expire-carts", "-n", orders});
}

TEST(Sync, PlainManifestsOfAnyKindTheServerServesGoThroughDiscovery) {
  ExampleRepo repo;
  const std::string orders = repo.App("orders");
  repo.Write("orders", "manifests/budget.yaml", R"(apiVersion: policy/v1
kind: PodDisruptionBudget
metadata:
  name: api
spec:
  maxUnavailable: 1
  selector:
    matchLabels:
      app.kubernetes.io/name: )" + orders + "\n");
  repo.Write("orders", "manifests/scaler.yaml", R"(apiVersion: autoscaling/v2
kind: HorizontalPodAutoscaler
metadata:
  name: api
spec:
  scaleTargetRef: {apiVersion: apps/v1, kind: Deployment, name: not-managed-by-pagoda}
  minReplicas: 1
  maxReplicas: 3
  metrics:
    - type: Resource
      resource: {name: cpu, target: {type: Utilization, averageUtilization: 80}}
)");
  Pass pass = SyncPass(repo, true);
  EXPECT_EQ(pass.Find("PodDisruptionBudget/" + orders + "/api")->action, diff::Action::kCreate);
  EXPECT_EQ(pass.Find("HorizontalPodAutoscaler/" + orders + "/api")->action, diff::Action::kCreate);
  EXPECT_EQ(Kubectl({"get", "pdb", "api", "-n", orders, "-o", "jsonpath={.spec.maxUnavailable}"}),
            "1");
  EXPECT_EQ(Kubectl({"get", "hpa", "api", "-n", orders, "-o", "jsonpath={.spec.maxReplicas}"}),
            "3");
  EXPECT_TRUE(SyncPass(repo, false).plan->plan.InSync());
}

TEST(Sync, DryRunChangesNothing) {
  ExampleRepo repo;
  std::string out;
  EXPECT_EQ(PagodaCli({"sync", "--repo", repo.dir(), "--dry-run"}, &out), 0) << out;
  EXPECT_NE(out.find("18 created"), std::string::npos) << out;
  std::string ns;
  TestCluster::Get().Kubectl({"get", "namespace", repo.App("orders")}, &ns);
  EXPECT_NE(ns.find("NotFound"), std::string::npos) << ns;
}

}  // namespace
}  // namespace pagoda
