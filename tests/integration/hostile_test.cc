// The hostile repositories of tests/data/hostile-cluster against the real
// control plane, as pagoda's ServiceAccount under deploy/rbac.yaml and
// deploy/admission.yaml: what `pagoda sync` says, exactly, and, by listing
// the cluster afterwards, that nothing outside the apps' own namespaces was
// created or changed and that look-alikes kept their content, labels and
// managers (tests/data/hostile-cluster/README.md).
#include <gtest/gtest.h>
#include <rapidjson/document.h>

#include <filesystem>
#include <fstream>
#include <map>
#include <set>
#include <sstream>

#include "base/json.h"
#include "tests/integration/test_cluster.h"

namespace pagoda {
namespace {

namespace fs = std::filesystem;
using namespace std::chrono_literals;
using testing::TestCluster;

fs::path Root() {
  const char* source = std::getenv("PAGODA_SOURCE_DIR");
  return fs::path(source != nullptr ? source : ".") / "tests/data/hostile-cluster";
}

std::vector<std::string> CaseNames() {
  std::vector<std::string> out;
  for (const auto& entry : fs::directory_iterator(Root())) {
    if (entry.is_directory()) out.push_back(entry.path().filename().string());
  }
  std::sort(out.begin(), out.end());
  return out;
}

std::string Slurp(const fs::path& path) {
  std::ifstream in(path);
  return std::string(std::istreambuf_iterator<char>(in), {});
}

std::vector<std::string> Lines(const std::string& text) {
  std::vector<std::string> out;
  std::istringstream in(text);
  for (std::string line; std::getline(in, line);) {
    if (!line.empty()) out.push_back(line);
  }
  return out;
}

const rapidjson::Value* Get(const rapidjson::Value& v, const char* a, const char* b = nullptr) {
  if (!v.IsObject() || !v.HasMember(a)) return nullptr;
  const rapidjson::Value* x = &v[a];
  if (b == nullptr) return x;
  return x->IsObject() && x->HasMember(b) ? &(*x)[b] : nullptr;
}

// What an object is, as far as this test cares: its version (any write
// moves it), its labels and its field managers.
struct State {
  std::string version, labels, managers, expect;
  friend bool operator==(const State&, const State&) = default;
};

using Snapshot = std::map<std::string, State>;  // "Kind/namespace/name"

std::string KeyOf(const rapidjson::Value& item) {
  const auto* ns = Get(item, "metadata", "namespace");
  return std::string(Get(item, "kind")->GetString()) + "/" +
         (ns != nullptr ? std::string(ns->GetString()) + "/" : "") +
         Get(item, "metadata", "name")->GetString();
}

State StateOf(const rapidjson::Value& item) {
  State s;
  s.version = Get(item, "metadata", "resourceVersion")->GetString();
  const auto* labels = Get(item, "metadata", "labels");
  s.labels = labels != nullptr ? json::Compact(*labels) : "{}";
  if (const auto* fields = Get(item, "metadata", "managedFields"); fields != nullptr) {
    for (const auto& f : fields->GetArray())
      s.managers += std::string(f["manager"].GetString()) + ",";
  }
  if (const auto* expect = Get(item, "metadata", "annotations"); expect != nullptr) {
    if (expect->HasMember("test.pagoda.dev/expect")) {
      s.expect = (*expect)["test.pagoda.dev/expect"].GetString();
    }
  }
  return s;
}

// `kubectl get ARGS -o json --show-managed-fields` as a snapshot.
Snapshot Take(std::vector<std::string> args) {
  args.insert(args.begin(), "get");
  args.insert(args.end(), {"-o", "json", "--show-managed-fields", "--ignore-not-found"});
  std::string out;
  int code = TestCluster::Get().Kubectl(args, &out);
  EXPECT_EQ(code, 0) << out;
  Snapshot snapshot;
  // kubectl may warn on stderr (of a deprecated kind) before the JSON.
  const size_t start = out.find('{');
  if (start == std::string::npos) return snapshot;
  rapidjson::Document doc;
  doc.Parse(out.c_str() + start);
  EXPECT_FALSE(doc.HasParseError()) << out;
  if (doc.HasParseError()) return snapshot;
  if (doc.HasMember("items")) {
    for (const auto& item : doc["items"].GetArray()) snapshot[KeyOf(item)] = StateOf(item);
  } else if (doc.HasMember("metadata")) {
    snapshot[KeyOf(doc)] = StateOf(doc);
  }
  return snapshot;
}

// Every namespaced kind the administrator may list, for "nothing new in here".
std::string NamespacedKinds() {
  static const std::string kinds = [] {
    std::string out;
    TestCluster::Get().Kubectl({"api-resources", "--namespaced=true", "--verbs=list", "-o", "name"},
                               &out);
    std::string joined;
    for (const auto& line : Lines(out)) {
      if (line == "events" || line == "events.events.k8s.io" || line == "endpoints") continue;
      joined += (joined.empty() ? "" : ",") + line;
    }
    return joined;
  }();
  return kinds;
}

constexpr const char* kPlatformNamespaces[] = {"kube-system", "kube-public", "kube-node-lease",
                                               "default", "pagoda-system"};
constexpr char kPlatformKinds[] =
    "configmaps,secrets,services,serviceaccounts,deployments,daemonsets,statefulsets,jobs,"
    "cronjobs,roles,rolebindings,ingresses,networkpolicies,poddisruptionbudgets";
constexpr char kClusterKinds[] =
    "clusterroles,clusterrolebindings,customresourcedefinitions,validatingadmissionpolicies,"
    "validatingadmissionpolicybindings,validatingwebhookconfigurations,"
    "mutatingwebhookconfigurations,ingressclasses,priorityclasses,storageclasses";

// What no app may touch: the platform's namespaces and what is in them,
// and the cluster's own objects.
Snapshot Platform(const std::set<std::string>& extra_namespaces) {
  Snapshot all = Take({kClusterKinds});
  for (const char* ns : kPlatformNamespaces) {
    all.merge(Take({kPlatformKinds, "-n", ns}));
    all.merge(Take({"namespace", ns}));
  }
  for (const auto& ns : extra_namespaces) all.merge(Take({"namespace", ns}));
  return all;
}

// The objects other cases make first (their before.yaml): cases run at the
// same time, so what they make and delete is not the platform's.
std::set<std::string> OtherCasesFixtures(const fs::path& root, const std::string& self) {
  std::set<std::string> keys;
  for (const auto& entry : fs::directory_iterator(root)) {
    const fs::path before = entry.path() / "before.yaml";
    if (entry.path().filename() == self || !fs::exists(before)) continue;
    std::string out;
    int code = TestCluster::Get().Kubectl(
        {"create", "--dry-run=client", "-o", "json", "-f", before.string()}, &out);
    EXPECT_EQ(code, 0) << out;
    rapidjson::Document doc;
    doc.Parse(out.c_str(), out.size());
    if (doc.HasParseError() || !doc.IsObject()) continue;
    if (doc.HasMember("items")) {
      for (const auto& item : doc["items"].GetArray()) keys.insert(KeyOf(item));
    } else {
      keys.insert(KeyOf(doc));
    }
  }
  return keys;
}

std::string NamespaceOf(const std::string& key) {
  // "Kind/ns/name" or "Namespace/name".
  auto first = key.find('/');
  auto second = key.find('/', first + 1);
  if (key.starts_with("Namespace/")) return key.substr(first + 1);
  return second == std::string::npos ? "" : key.substr(first + 1, second - first - 1);
}

std::vector<std::string> AppNames(const fs::path& dir) {
  std::vector<std::string> apps;
  for (const auto& entry : fs::directory_iterator(dir / "apps")) {
    apps.push_back(entry.path().filename().string());
  }
  return apps;
}

void DeleteAndWait(const std::vector<std::string>& namespaces) {
  for (const auto& ns : namespaces) {
    if (ns.starts_with("kube-") || ns == "default") continue;
    std::string out;
    TestCluster::Get().Kubectl({"delete", "namespace", ns, "--ignore-not-found", "--wait=false"},
                               &out);
  }
  for (const auto& ns : namespaces) {
    if (ns.starts_with("kube-") || ns == "default") continue;
    EXPECT_TRUE(testing::WaitUntil(
        [&] {
          std::string out;
          TestCluster::Get().Kubectl({"get", "namespace", ns, "--ignore-not-found", "-o", "name"},
                                     &out);
          return out.empty();
        },
        120s))
        << "namespace " << ns << " is still there";
  }
}

// What `pagoda sync` says, as expected.txt holds it: its exit code, its
// pagoda: and warning: lines (stderr), then its change set (stdout).
std::string Said(int code, const std::string& output) {
  std::string errors, changes;
  for (const auto& line : Lines(output)) {
    if (line.starts_with("pagoda: ") || line.starts_with("warning: ") ||
        line.starts_with("apps/")) {
      errors += line + "\n";
    } else if (line.starts_with("  ")) {
      changes += line + "\n";
    }
  }
  return "exit " + std::to_string(code) + "\n" + errors + changes;
}

// What `pagoda diff` must say of a case before it is synced: the same
// refusals as sync (its pagoda: lines), and exit 3 where sync exits 3, else 1.
std::string DiffSaid(int code, const std::string& output) {
  std::string said = "exit " + std::to_string(code) + "\n";
  for (const auto& line : Lines(output)) {
    if (line.starts_with("pagoda: ")) said += line + "\n";
  }
  return said;
}

std::string DiffExpected(const std::string& expected) {
  std::vector<std::string> lines = Lines(expected);
  std::string said = lines.empty() || lines[0] != "exit 3" ? "exit 1\n" : "exit 3\n";
  for (const auto& line : lines) {
    if (line.starts_with("pagoda: ")) said += line + "\n";
  }
  return said;
}

class HostileCluster : public ::testing::TestWithParam<std::string> {};

TEST_P(HostileCluster, RefusedAndNothingOutsideTheAppChanges) {
  const fs::path dir = Root() / GetParam();
  const std::vector<std::string> apps = AppNames(dir);
  const bool has_before = fs::exists(dir / "before.yaml");
  // Leftovers of an interrupted run go first.
  std::string out;
  if (has_before) {
    TestCluster::Get().Kubectl(
        {"delete", "-f", (dir / "before.yaml").string(), "--ignore-not-found", "--wait=true"},
        &out);
  }
  DeleteAndWait(apps);

  // What someone else made first, and what it looks like then.
  std::set<std::string> their_namespaces;
  Snapshot theirs;
  if (has_before) {
    ASSERT_EQ(TestCluster::Get().Kubectl({"apply", "-f", (dir / "before.yaml").string()}, &out), 0)
        << out;
    theirs = Take({"-f", (dir / "before.yaml").string()});
    for (const auto& [key, state] : theirs) {
      if (key.starts_with("Namespace/")) their_namespaces.insert(NamespaceOf(key));
    }
  }
  Snapshot platform = Platform(their_namespaces);
  std::map<std::string, Snapshot> inside;  // what is in their namespaces that are not pagoda's
  for (const auto& ns : their_namespaces) {
    if (theirs["Namespace/" + ns].expect.empty()) inside[ns] = Take({NamespacedKinds(), "-n", ns});
  }

  std::vector<std::string> diff = {PAGODA_BINARY,
                                   "diff",
                                   "--repo",
                                   dir.string(),
                                   "--kubeconfig=" + TestCluster::Get().pagoda_kubeconfig,
                                   "--all-clusters-to=pagoda-test"};
  int diff_code = testing::Run(diff, &out);
  EXPECT_EQ(DiffSaid(diff_code, out), DiffExpected(Slurp(dir / "expected.txt"))) << out;

  std::vector<std::string> argv = {PAGODA_BINARY,
                                   "sync",
                                   "--repo",
                                   dir.string(),
                                   "--kubeconfig=" + TestCluster::Get().pagoda_kubeconfig,
                                   "--all-clusters-to=pagoda-test"};
  int code = testing::Run(argv, &out);
  if (std::getenv("PAGODA_WRITE_EXPECTED") != nullptr) {
    std::ofstream(dir / "expected.txt") << Said(code, out);  // a new case's first run, by hand
  }
  EXPECT_EQ(Said(code, out), Slurp(dir / "expected.txt")) << out;

  // Look-alikes kept their content, labels and managers; adopted ones are pagoda's now.
  Snapshot after = has_before ? Take({"-f", (dir / "before.yaml").string()}) : Snapshot{};
  for (const auto& [key, before] : theirs) {
    SCOPED_TRACE(key);
    ASSERT_TRUE(after.count(key)) << "deleted";
    const State& now = after[key];
    if (before.expect == "adopted" || before.expect == "pagodas") {
      EXPECT_NE(now.labels.find("\"app.kubernetes.io/managed-by\":\"pagoda\""), std::string::npos)
          << now.labels;
      if (before.expect == "adopted") {
        EXPECT_NE(now.managers.find("pagoda,"), std::string::npos);
      }
      continue;
    }
    EXPECT_EQ(now, before);
  }
  // Nothing of the platform was created or changed.
  Snapshot platform_after = Platform(their_namespaces);
  const std::set<std::string> others = OtherCasesFixtures(Root(), GetParam());
  for (const auto& [key, state] : platform_after) {
    SCOPED_TRACE(key);
    if (theirs.count(key) || others.count(key)) continue;  // judged above, or another case's
    ASSERT_TRUE(platform.count(key)) << "created";
    EXPECT_EQ(state, platform[key]);
  }
  for (const auto& [key, state] : platform) {
    if (others.count(key)) continue;
    EXPECT_TRUE(platform_after.count(key)) << key << " deleted";
  }
  // Nothing new in a namespace that is not pagoda's.
  for (const auto& [ns, before] : inside) {
    Snapshot now = Take({NamespacedKinds(), "-n", ns});
    for (const auto& [key, state] : now) {
      if (key.starts_with("ConfigMap/" + ns + "/kube-root-ca.crt") ||
          key.starts_with("ServiceAccount/" + ns + "/default")) {
        continue;  // the controllers' own, for every namespace
      }
      EXPECT_TRUE(before.count(key)) << key << " was created in " << ns;
    }
  }
  for (const auto& line : Lines(Slurp(dir / "absent.txt"))) {
    std::vector<std::string> args = {"get"};
    std::istringstream words(line);
    for (std::string w; words >> w;) args.push_back(w);
    args.insert(args.end(), {"-o", "name", "--ignore-not-found"});
    TestCluster::Get().Kubectl(args, &out);
    EXPECT_EQ(out, "") << "kubectl " << line;
  }

  if (has_before) {
    TestCluster::Get().Kubectl(
        {"delete", "-f", (dir / "before.yaml").string(), "--ignore-not-found", "--wait=false"},
        &out);
  }
  DeleteAndWait(apps);
}

INSTANTIATE_TEST_SUITE_P(Cases, HostileCluster, ::testing::ValuesIn(CaseNames()),
                         [](const ::testing::TestParamInfo<std::string>& param) {
                           std::string name = param.param;
                           for (char& c : name)
                             c = std::isalnum(static_cast<unsigned char>(c)) ? c : '_';
                           return name;
                         });

// The second line holds as well: the Namespace pagoda renders carries the
// app's Pod Security level, so that the API server refuses a privileged pod
// there even from pagoda's own credentials, whatever pagoda checked first.
TEST(HostileClusterPodSecurity, TheApiServerEnforcesTheAppsLevel) {
  const std::string app = testing::UniqueName("hc-psa");
  const fs::path dir = fs::temp_directory_path() / app;
  fs::create_directories(dir / "apps" / app / "deploy");
  fs::create_directories(dir / "apps" / app / "envs");
  std::ofstream(dir / "apps" / app / "app.yaml")
      << "apiVersion: pagoda.dev/v1\nkind: App\nmetadata: {name: " << app << "}\n";
  std::ofstream(dir / "apps" / app / "deploy/web.yaml")
      << "apiVersion: pagoda.dev/v1\nkind: DeployConfig\nmetadata: {name: web}\n"
         "spec: {image: registry.example.com/web:1, cpu: \"0.1\", memory: 64Mi}\n";
  std::ofstream(dir / "apps" / app / "envs/prod.yaml")
      << "apiVersion: pagoda.dev/v1\nkind: Environment\nmetadata: {name: prod}\n"
         "spec: {cluster: prod, deployConfig: web, replicas: 0}\n";
  std::string out;
  ASSERT_EQ(testing::Run({PAGODA_BINARY, "sync", "--repo", dir.string(),
                          "--kubeconfig=" + TestCluster::Get().pagoda_kubeconfig,
                          "--all-clusters-to=pagoda-test"},
                         &out),
            0)
      << out;
  TestCluster::Get().Kubectl({"get", "namespace", app, "-o",
                              "jsonpath={.metadata.labels.pod-security\\.kubernetes\\.io/enforce}"},
                             &out);
  EXPECT_EQ(out, "baseline");

  auto client = kube::KubeClient::Connect(TestCluster::Get().Pagoda());
  ASSERT_TRUE(client.ok());
  rapidjson::Document pod;
  pod.Parse(R"({"apiVersion":"v1","kind":"Pod","metadata":{"name":"root"},"spec":{)"
            R"("hostNetwork":true,"containers":[{"name":"c","image":"registry.example.com/x:1",)"
            R"("securityContext":{"privileged":true}}]}})");
  auto created = (*client)->Post("/api/v1/namespaces/" + app + "/pods", pod);
  ASSERT_FALSE(created.ok());
  // RBAC refuses pagoda pods before admission is asked; as the administrator,
  // Pod Security admission refuses it on its own.
  EXPECT_EQ(created.status().code(), Status::Code::kPermissionDenied)
      << created.status().ToString();
  auto admin = kube::KubeClient::Connect(TestCluster::Get().Admin());
  ASSERT_TRUE(admin.ok());
  created = (*admin)->Post("/api/v1/namespaces/" + app + "/pods", pod);
  ASSERT_FALSE(created.ok());
  EXPECT_NE(created.status().message().find("violates PodSecurity \"baseline:latest\""),
            std::string::npos)
      << created.status().ToString();
  TestCluster::Get().Kubectl({"delete", "namespace", app, "--wait=false"}, &out);
  fs::remove_all(dir);
}

}  // namespace
}  // namespace pagoda
