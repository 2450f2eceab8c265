// The API server's half of the tenancy boundary (deploy/admission.yaml): with
// pagoda's own ServiceAccount credentials, through pagoda's REST client and
// not its sync engine, the API server refuses every write outside pagoda's
// namespaces even where RBAC allows it, but for its Leases in pagoda-system,
// and allows what pagoda does in its own, its Release objects included. An
// administrator sets up and checks that nothing was written.
#include <gtest/gtest.h>
#include <rapidjson/document.h>

#include <cstdio>
#include <fstream>
#include <string>
#include <string_view>
#include <vector>

#include "kube/kube.h"
#include "tests/integration/test_cluster.h"

namespace pagoda {
namespace {

using testing::Connect;
using testing::Json;
using testing::TestCluster;

constexpr char kPolicy[] = "ValidatingAdmissionPolicy 'pagoda-tenancy'";
constexpr char kPagodaUser[] = "system:serviceaccount:pagoda-system:pagoda";

std::string NamespaceJson(const std::string& name, const std::string& labels) {
  return R"({"apiVersion":"v1","kind":"Namespace","metadata":{"name":")" + name +
         R"(","labels":{)" + labels + "}}}";
}
// The labels pagoda gives an app's Namespace.
std::string PagodasLabels(const std::string& name) {
  return R"("app.kubernetes.io/managed-by":"pagoda","app.kubernetes.io/name":")" + name + "\"";
}

std::string ConfigMapJson(const std::string& name) {
  return R"({"apiVersion":"v1","kind":"ConfigMap","metadata":{"name":")" + name +
         R"("},"data":{"k":"v"}})";
}

std::string DeploymentJson(const std::string& name, int replicas) {
  return R"({"apiVersion":"apps/v1","kind":"Deployment","metadata":{"name":")" + name +
         R"("},"spec":{"replicas":)" + std::to_string(replicas) +
         R"(,"selector":{"matchLabels":{"app":")" + name +
         R"("}},"template":{"metadata":{"labels":{"app":")" + name +
         R"("}},"spec":{"containers":[{"name":"main","image":"example.com/web:1"}]}}}})";
}

// A 403 from the policy, by the rule named, about namespace `ns`.
::testing::AssertionResult RefusedByPolicy(const Status& status, std::string_view rule,
                                           std::string_view ns) {
  if (status.code() != Status::Code::kPermissionDenied) {
    return ::testing::AssertionFailure() << "not a 403: " << status.ToString();
  }
  for (const std::string& part :
       {std::string(kPolicy), "rule " + std::string(rule), "namespace " + std::string(ns)}) {
    if (status.message().find(part) == std::string::npos) {
      return ::testing::AssertionFailure()
             << "the message lacks \"" << part << "\": " << status.message();
    }
  }
  return ::testing::AssertionSuccess();
}

template <typename T>
::testing::AssertionResult RefusedByPolicy(const Result<T>& result, std::string_view rule,
                                           std::string_view ns) {
  if (result.ok()) return ::testing::AssertionFailure() << "the API server allowed it";
  return RefusedByPolicy(result.status(), rule, ns);
}

// kubectl as pagoda's ServiceAccount, through the administrator's right to
// impersonate, with group system:masters added so that RBAC lets through what
// it would refuse pagoda: what is left to refuse, the policy must. Returns
// kubectl's exit code; `out` gets what it printed.
int KubectlAsPagodaWithAllRights(std::vector<std::string> args, std::string* out) {
  args.insert(args.begin(), {"--as=" + std::string(kPagodaUser), "--as-group=system:masters"});
  return TestCluster::Get().Kubectl(args, out);
}

// Deletes, as the administrator and without waiting, a namespace pagoda made.
struct DeletesNamespace {
  std::string name;
  ~DeletesNamespace() {
    std::string out;
    TestCluster::Get().Kubectl({"delete", "namespace", name, "--wait=false", "--ignore-not-found"},
                               &out);
  }
};

class AdmissionTest : public ::testing::Test {
 protected:
  void SetUp() override {
    pagoda = Connect(TestCluster::Get().Pagoda());
    admin = Connect(TestCluster::Get().Admin());
    ASSERT_NE(pagoda, nullptr);
    ASSERT_NE(admin, nullptr);
  }

  bool Exists(const std::string& path) {
    auto got = admin->Get(path);
    EXPECT_TRUE(got.ok() || got.status().code() == Status::Code::kNotFound)
        << got.status().ToString();
    return got.ok();
  }
  std::string LabelOf(const std::string& path, const char* label) {
    auto got = admin->Get(path);
    EXPECT_TRUE(got.ok()) << got.status().ToString();
    if (!got.ok() || !(*got)["metadata"].HasMember("labels")) return "";
    const auto& labels = (*got)["metadata"]["labels"];
    return labels.HasMember(label) ? labels[label].GetString() : "";
  }

  std::unique_ptr<kube::KubeClient> pagoda;
  std::unique_ptr<kube::KubeClient> admin;
};

TEST_F(AdmissionTest, RefusesAConfigMapInKubeSystem) {
  const std::string name = testing::UniqueName("it-admission");
  const std::string configmaps = "/api/v1/namespaces/kube-system/configmaps";
  EXPECT_TRUE(RefusedByPolicy(pagoda->Post(configmaps, Json(ConfigMapJson(name))),
                              "reserved-namespace", "kube-system"));
  EXPECT_TRUE(RefusedByPolicy(pagoda->Post(configmaps + "?dryRun=All", Json(ConfigMapJson(name))),
                              "reserved-namespace", "kube-system"));
  EXPECT_FALSE(Exists(configmaps + "/" + name));
  // RBAC grants it: the policy alone refuses, and only pagoda.
  EXPECT_TRUE(admin->Post(configmaps + "?dryRun=All", Json(ConfigMapJson(name))).ok());
}

TEST_F(AdmissionTest, RefusesLabellingDefaultAsPagodas) {
  auto patched = pagoda->Patch("/api/v1/namespaces/default", "application/merge-patch+json",
                               R"({"metadata":{"labels":{)" + PagodasLabels("default") + "}}}");
  EXPECT_TRUE(RefusedByPolicy(patched, "reserved-namespace", "default"));
  EXPECT_EQ(LabelOf("/api/v1/namespaces/default", "app.kubernetes.io/managed-by"), "");
  // pagoda's own namespace is reserved too.
  patched = pagoda->Patch("/api/v1/namespaces/pagoda-system", "application/merge-patch+json",
                          R"({"metadata":{"labels":{)" + PagodasLabels("pagoda-system") + "}}}");
  EXPECT_TRUE(RefusedByPolicy(patched, "reserved-namespace", "pagoda-system"));
  EXPECT_EQ(LabelOf("/api/v1/namespaces/pagoda-system", "app.kubernetes.io/managed-by"), "");
}

TEST_F(AdmissionTest, RefusesAReservedNamespaceEvenWithPagodasLabels) {
  const std::string name = testing::UniqueName("kube-evil");
  DeletesNamespace cleanup{name};
  auto created = pagoda->Post("/api/v1/namespaces", Json(NamespaceJson(name, PagodasLabels(name))));
  EXPECT_TRUE(RefusedByPolicy(created, "reserved-namespace", name));
  EXPECT_FALSE(Exists("/api/v1/namespaces/" + name));
}

TEST_F(AdmissionTest, RefusesANamespaceWithoutPagodasLabels) {
  const std::string name = testing::UniqueName("it-admission");
  DeletesNamespace cleanup{name};
  EXPECT_TRUE(RefusedByPolicy(pagoda->Post("/api/v1/namespaces", Json(NamespaceJson(name, ""))),
                              "namespace-labels", name));
  // Half of them is not enough, nor a name label naming another namespace.
  EXPECT_TRUE(RefusedByPolicy(
      pagoda->Post("/api/v1/namespaces",
                   Json(NamespaceJson(name, R"("app.kubernetes.io/managed-by":"pagoda")"))),
      "namespace-labels", name));
  EXPECT_TRUE(RefusedByPolicy(
      pagoda->Post("/api/v1/namespaces", Json(NamespaceJson(name, PagodasLabels("shop")))),
      "namespace-labels", name));
  // Server-side apply, as pagoda writes, is held the same.
  EXPECT_TRUE(RefusedByPolicy(
      pagoda->Patch("/api/v1/namespaces/" + name + "?fieldManager=pagoda&force=true",
                    "application/apply-patch+yaml", NamespaceJson(name, "")),
      "namespace-labels", name));
  EXPECT_FALSE(Exists("/api/v1/namespaces/" + name));
}

TEST_F(AdmissionTest, RefusesWritesInANamespacePagodaDoesNotOwn) {
  testing::ScopedNamespace ns("it-admission");  // made by the administrator, unlabelled
  const std::string base = "/apis/apps/v1/namespaces/" + ns.name() + "/deployments";
  ASSERT_TRUE(admin->Post(base, Json(DeploymentJson("web", 0))).ok());

  const std::string configmaps = "/api/v1/namespaces/" + ns.name() + "/configmaps";
  EXPECT_TRUE(RefusedByPolicy(pagoda->Post(configmaps, Json(ConfigMapJson("files"))),
                              "pagoda-namespace", ns.name()));
  EXPECT_TRUE(RefusedByPolicy(pagoda->Patch(base + "/web/scale", "application/merge-patch+json",
                                            R"({"spec":{"replicas":3}})"),
                              "pagoda-namespace", ns.name()));
  EXPECT_TRUE(RefusedByPolicy(pagoda->Delete(base + "/web"), "pagoda-namespace", ns.name()));

  EXPECT_FALSE(Exists(configmaps + "/files"));
  auto web = admin->Get(base + "/web");
  ASSERT_TRUE(web.ok()) << web.status().ToString();
  EXPECT_EQ((*web)["spec"]["replicas"].GetInt(), 0);
  EXPECT_FALSE((*web)["metadata"].HasMember("deletionTimestamp"));
}

TEST_F(AdmissionTest, RefusesDeletingPagodasOwnNamespace) {
  const std::string name = testing::UniqueName("it-admission");
  DeletesNamespace cleanup{name};
  ASSERT_TRUE(
      pagoda->Post("/api/v1/namespaces", Json(NamespaceJson(name, PagodasLabels(name)))).ok());
  // RBAC already refuses pagoda the delete...
  auto deleted = pagoda->Delete("/api/v1/namespaces/" + name);
  ASSERT_FALSE(deleted.ok());
  EXPECT_EQ(deleted.status().code(), Status::Code::kPermissionDenied)
      << deleted.status().ToString();
  // ...and where RBAC would allow it, the policy refuses it.
  std::string out;
  EXPECT_NE(KubectlAsPagodaWithAllRights({"delete", "namespace", name, "--dry-run=server"}, &out),
            0);
  EXPECT_NE(out.find("(Forbidden)"), std::string::npos) << out;
  EXPECT_NE(out.find(kPolicy), std::string::npos) << out;
  EXPECT_NE(out.find("rule no-namespace-delete"), std::string::npos) << out;
  // Nor may pagoda take its labels off it.
  auto unlabelled =
      pagoda->Patch("/api/v1/namespaces/" + name, "application/merge-patch+json",
                    R"({"metadata":{"labels":{"app.kubernetes.io/managed-by":null}}})");
  EXPECT_TRUE(RefusedByPolicy(unlabelled, "namespace-labels", name));

  auto ns = admin->Get("/api/v1/namespaces/" + name);
  ASSERT_TRUE(ns.ok()) << ns.status().ToString();
  EXPECT_FALSE((*ns)["metadata"].HasMember("deletionTimestamp"));
  EXPECT_EQ(LabelOf("/api/v1/namespaces/" + name, "app.kubernetes.io/managed-by"), "pagoda");
}

TEST_F(AdmissionTest, RefusesClusterScopedWrites) {
  // deploy/rbac.yaml grants pagoda no cluster-scoped write but namespaces, so
  // the policy is reached only where RBAC is out of the way.
  const std::string name = testing::UniqueName("it-admission");
  std::string out;
  EXPECT_NE(KubectlAsPagodaWithAllRights({"create", "clusterrole", name, "--verb=get",
                                          "--resource=secrets", "--dry-run=server"},
                                         &out),
            0);
  EXPECT_NE(out.find("(Forbidden)"), std::string::npos) << out;
  EXPECT_NE(out.find(kPolicy), std::string::npos) << out;
  EXPECT_NE(out.find("rule cluster-scoped"), std::string::npos) << out;
  // Questions that store nothing are not writes: `kubectl auth can-i` as
  // pagoda still answers (a SelfSubjectAccessReview).
  EXPECT_EQ(TestCluster::Get().Kubectl({"auth", "can-i", "--as=" + std::string(kPagodaUser),
                                        "create", "configmaps", "-n", "kube-system"},
                                       &out),
            0)
      << out;
  EXPECT_NE(out.find("yes"), std::string::npos) << out;
}

TEST_F(AdmissionTest, AllowsPagodasNamespaceAndWhatItManagesThere) {
  const std::string name = testing::UniqueName("it-admission");
  DeletesNamespace cleanup{name};
  auto created = pagoda->Post("/api/v1/namespaces", Json(NamespaceJson(name, PagodasLabels(name))));
  ASSERT_TRUE(created.ok()) << created.status().ToString();
  // Changing its own Namespace, by server-side apply as pagoda does.
  auto applied = pagoda->Patch("/api/v1/namespaces/" + name + "?fieldManager=pagoda&force=true",
                               "application/apply-patch+yaml",
                               NamespaceJson(name, PagodasLabels(name) + R"(,"team":"shop")"));
  ASSERT_TRUE(applied.ok()) << applied.status().ToString();

  const std::string configmaps = "/api/v1/namespaces/" + name + "/configmaps";
  auto configmap = pagoda->Post(configmaps, Json(ConfigMapJson("files")));
  ASSERT_TRUE(configmap.ok()) << configmap.status().ToString();
  auto updated =
      pagoda->Patch(configmaps + "/files", "application/merge-patch+json", R"({"data":{"k":"w"}})");
  ASSERT_TRUE(updated.ok()) << updated.status().ToString();

  const std::string deployments = "/apis/apps/v1/namespaces/" + name + "/deployments";
  auto deployment = pagoda->Post(deployments, Json(DeploymentJson("web", 0)));
  ASSERT_TRUE(deployment.ok()) << deployment.status().ToString();
  auto scaled = pagoda->Patch(deployments + "/web/scale", "application/merge-patch+json",
                              R"({"spec":{"replicas":2}})");
  ASSERT_TRUE(scaled.ok()) << scaled.status().ToString();

  auto cm = admin->Get(configmaps + "/files");
  ASSERT_TRUE(cm.ok()) << cm.status().ToString();
  EXPECT_STREQ((*cm)["data"]["k"].GetString(), "w");
  auto web = admin->Get(deployments + "/web");
  ASSERT_TRUE(web.ok()) << web.status().ToString();
  EXPECT_EQ((*web)["spec"]["replicas"].GetInt(), 2);
  EXPECT_EQ(LabelOf("/api/v1/namespaces/" + name, "team"), "shop");

  // And pruning what it owns there.
  EXPECT_TRUE(pagoda->Delete(configmaps + "/files").ok());
  EXPECT_FALSE(Exists(configmaps + "/files"));
}

std::string LeaseJson(const std::string& name, const std::string& holder,
                      const std::string& resource_version = "") {
  return R"({"apiVersion":"coordination.k8s.io/v1","kind":"Lease","metadata":{"name":")" + name +
         "\"" +
         (resource_version.empty() ? "" : R"(,"resourceVersion":")" + resource_version + "\"") +
         R"(},"spec":{"holderIdentity":")" + holder + R"(","leaseDurationSeconds":15}})";
}

// A release record mirrored as deploy/releases.yaml describes it.
std::string ReleaseJson(const std::string& name, const std::string& app) {
  return R"({"apiVersion":"pagoda.dev/v1","kind":"Release","metadata":{"name":")" + name +
         R"(","labels":{"pagoda.dev/app":")" + app +
         R"(","pagoda.dev/env":"prod","pagoda.dev/kind":"rollout","pagoda.dev/outcome":"succeeded"}},)" +
         R"("spec":{"id":")" + name + R"(","app":")" + app +
         R"(","env":"prod","cluster":"prod","kind":"rollout","trigger":"commit","from":null,)" +
         R"("to":{"id":"0123456789abcdef0123456789abcdef01234567","summary":"first"},)" +
         R"("toRevision":"1","outcome":"succeeded","errors":[],"start":"2026-01-02T03:04:05.000Z"}})";
}

// Leader election: Leases in pagoda-system, the one reserved namespace pagoda
// writes in (variable ownLease, and the Role pagoda-leases of deploy/rbac.yaml).
TEST_F(AdmissionTest, AllowsPagodaItsLeasesInPagodaSystem) {
  const std::string name = testing::UniqueName("it-admission");
  const std::string leases = "/apis/coordination.k8s.io/v1/namespaces/pagoda-system/leases";
  struct DeletesLease {
    kube::KubeClient* admin;
    std::string path;
    // NotFound when the test got as far as deleting it itself.
    ~DeletesLease() {
      auto deleted = admin->Delete(path);
      if (!deleted.ok() && deleted.status().code() != Status::Code::kNotFound) {
        ADD_FAILURE() << "the Lease was left behind: " << deleted.status().ToString();
      }
    }
  } cleanup{admin.get(), leases + "/" + name};

  auto created = pagoda->Post(leases, Json(LeaseJson(name, "replica-a")));
  ASSERT_TRUE(created.ok()) << created.status().ToString();
  const std::string version = (*created)["metadata"]["resourceVersion"].GetString();
  auto updated = pagoda->Put(leases + "/" + name, Json(LeaseJson(name, "replica-b", version)));
  ASSERT_TRUE(updated.ok()) << updated.status().ToString();
  auto lease = admin->Get(leases + "/" + name);
  ASSERT_TRUE(lease.ok()) << lease.status().ToString();
  EXPECT_STREQ((*lease)["spec"]["holderIdentity"].GetString(), "replica-b");
  // Optimistic concurrency holds: an update of the version it replaced loses.
  auto stale = pagoda->Put(leases + "/" + name, Json(LeaseJson(name, "replica-c", version)));
  ASSERT_FALSE(stale.ok());
  EXPECT_EQ(stale.status().code(), Status::Code::kConflict) << stale.status().ToString();

  auto deleted = pagoda->Delete(leases + "/" + name);
  ASSERT_TRUE(deleted.ok()) << deleted.status().ToString();
  EXPECT_FALSE(Exists(leases + "/" + name));
}

TEST_F(AdmissionTest, RefusesAnythingButLeasesInPagodaSystem) {
  const std::string name = testing::UniqueName("it-admission");
  // RBAC grants pagoda ConfigMaps and Deployments everywhere: the policy refuses them here.
  const std::string configmaps = "/api/v1/namespaces/pagoda-system/configmaps";
  EXPECT_TRUE(RefusedByPolicy(pagoda->Post(configmaps, Json(ConfigMapJson(name))),
                              "reserved-namespace", "pagoda-system"));
  EXPECT_TRUE(RefusedByPolicy(pagoda->Patch(configmaps + "/" + name + "?fieldManager=pagoda",
                                            "application/apply-patch+yaml", ConfigMapJson(name)),
                              "reserved-namespace", "pagoda-system"));
  const std::string deployments = "/apis/apps/v1/namespaces/pagoda-system/deployments";
  EXPECT_TRUE(RefusedByPolicy(pagoda->Post(deployments, Json(DeploymentJson(name, 0))),
                              "reserved-namespace", "pagoda-system"));
  EXPECT_FALSE(Exists(configmaps + "/" + name));
  EXPECT_FALSE(Exists(deployments + "/" + name));
  // Where RBAC would allow anything, the policy still refuses all but
  // Leases: pagoda's own ServiceAccount, say.
  std::string out;
  EXPECT_NE(
      KubectlAsPagodaWithAllRights(
          {"create", "serviceaccount", name, "-n", "pagoda-system", "--dry-run=server"}, &out),
      0);
  EXPECT_NE(out.find(kPolicy), std::string::npos) << out;
  EXPECT_NE(out.find("rule reserved-namespace"), std::string::npos) << out;
  EXPECT_NE(out.find("namespace pagoda-system"), std::string::npos) << out;
  // And a Lease is pagoda's in pagoda-system only: RBAC refuses one in an
  // app's namespace, the policy one in another reserved namespace.
  auto elsewhere = pagoda->Post("/apis/coordination.k8s.io/v1/namespaces/kube-system/leases",
                                Json(LeaseJson(name, "replica-a")));
  ASSERT_FALSE(elsewhere.ok());
  EXPECT_EQ(elsewhere.status().code(), Status::Code::kPermissionDenied)
      << elsewhere.status().ToString();
  const std::string file = ::testing::TempDir() + "/" + name + ".json";
  std::ofstream(file) << LeaseJson(name, "replica-a");
  EXPECT_NE(KubectlAsPagodaWithAllRights(
                {"create", "-f", file, "-n", "kube-system", "--dry-run=server"}, &out),
            0);
  std::remove(file.c_str());
  EXPECT_NE(out.find(kPolicy), std::string::npos) << out;
  EXPECT_NE(out.find("rule reserved-namespace"), std::string::npos) << out;
  EXPECT_NE(out.find("namespace kube-system"), std::string::npos) << out;
}

// Release records in an app's namespace (deploy/releases.yaml), as pagoda
// mirrors them, and reads and prunes them.
TEST_F(AdmissionTest, AllowsReleasesInPagodasNamespacesOnly) {
  testing::ScopedNamespace ns("it-admission", testing::ScopedNamespace::Labels::kPagodas);
  const std::string releases = "/apis/pagoda.dev/v1/namespaces/" + ns.name() + "/releases";
  auto created = pagoda->Post(releases, Json(ReleaseJson("r-000001", ns.name())));
  ASSERT_TRUE(created.ok()) << created.status().ToString();
  auto listed = pagoda->List(releases + "?labelSelector=pagoda.dev%2Fenv%3Dprod");
  ASSERT_TRUE(listed.ok()) << listed.status().ToString();
  ASSERT_EQ(listed->size(), 1u);
  EXPECT_STREQ((*listed)[0]["spec"]["toRevision"].GetString(), "1");
  EXPECT_TRUE((*listed)[0]["spec"]["from"].IsNull());  // kept: a first release has none
  ASSERT_TRUE(pagoda->Delete(releases + "/r-000001").ok());
  EXPECT_FALSE(Exists(releases + "/r-000001"));

  testing::ScopedNamespace other("it-admission");  // made by the administrator, unlabelled
  const std::string elsewhere = "/apis/pagoda.dev/v1/namespaces/" + other.name() + "/releases";
  EXPECT_TRUE(RefusedByPolicy(pagoda->Post(elsewhere, Json(ReleaseJson("r-000001", other.name()))),
                              "pagoda-namespace", other.name()));
  ASSERT_TRUE(admin->Post(elsewhere, Json(ReleaseJson("r-000002", other.name()))).ok());
  EXPECT_TRUE(
      RefusedByPolicy(pagoda->Delete(elsewhere + "/r-000002"), "pagoda-namespace", other.name()));
  EXPECT_FALSE(Exists(elsewhere + "/r-000001"));
  EXPECT_TRUE(Exists(elsewhere + "/r-000002"));
}

}  // namespace
}  // namespace pagoda
