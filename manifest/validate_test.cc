// Every validation rule with a failing and a passing variant of the same
// small repository (test_repo.h).
#include <gtest/gtest.h>

#include "manifest/manifest.h"
#include "manifest/test_repo.h"

namespace pagoda::manifest {
namespace {

using testing::BaseRepo;
using testing::kAppFile;
using testing::kDeployFile;
using testing::kEnvFile;

constexpr char kManifestFile[] = "apps/shop/manifests/extra.yaml";

struct Rule {
  const char* name;
  const char* file;
  const char* from;  // "" : `bad`/`good` are the whole file
  const char* bad;
  const char* good;
  const char* message;  // a part of the bad variant's diagnostic
  Severity severity = Severity::kError;
};

const Rule kRules[] = {
    {"duplicate key", kEnvFile, "  replicas: 4\n", "  replicas: 4\n  replicas: 2\n",
     "  replicas: 2\n", "duplicate key \"replicas\" (first at line 8)"},
    {"unknown field", kEnvFile, "  replicas: 4\n", "  replicas: 4\n  replica: 4\n",
     "  replicas: 4\n", "spec.replica: unknown field; did you mean \"replicas\"?"},
    {"wrong type", kEnvFile, "replicas: 4", "replicas: four", "replicas: 0x4",
     "expected a whole number, found \"four\""},
    {"quoted number", kEnvFile, "replicas: 4", "replicas: \"4\"", "replicas: 4",
     "found the string \"4\""},
    {"required field", kEnvFile, "  deployConfig: web\n", "", "  deployConfig: \"web\"\n",
     "spec.deployConfig: is required"},
    {"apiVersion", kDeployFile, "pagoda.dev/v1", "pagoda.dev/v2", "'pagoda.dev/v1'",
     "\"pagoda.dev/v2\" is not pagoda.dev/v1"},
    {"kind by directory", kEnvFile, "kind: Environment", "kind: DeployConfig",
     "kind: \"Environment\"", "must hold kind Environment"},
    {"app name is a DNS label", kAppFile, "name: shop", "name: shop-", "name: shop",
     "\"shop-\" is not a valid name"},
    {"app name matches its directory", kAppFile, "name: shop", "name: store", "name: shop",
     "\"store\" does not match its directory apps/shop"},
    {"environment name starts with a letter", kEnvFile, "name: prod", "name: 1prod", "name: prod1",
     "starting with a letter"},
    {"environment name leaves room for the revision", kEnvFile, "name: prod",
     "name: ppppppppppppppppppppppppppppppppppppppppppppppppppppp",
     "name: pppppppppppppppppppppppppppppppppppppppppppppppppppp", "so at most 52"},
    {"deploy config name is a DNS label", kDeployFile, "name: web", "name: Web", "name: web",
     "\"Web\" is not a valid name"},
    {"known cluster", kEnvFile, "cluster: prod", "cluster: staging", "cluster: test",
     "\"staging\" is not a known cluster (known: prod, test)"},
    {"cluster name", kEnvFile, "cluster: prod", "cluster: Prod", "cluster: prod",
     "\"Prod\" is not a valid name"},
    {"deployConfig reference", kEnvFile, "deployConfig: web", "deployConfig: api",
     "deployConfig: web", "no DeployConfig named \"api\" in apps/shop/deploy (have: web)"},
    {"replicas >= 0", kEnvFile, "replicas: 4", "replicas: -1", "replicas: 2",
     "-1 is out of range: use 0 to 10000"},
    {"batches <= replicas", kEnvFile, "batches: 2", "batches: 5", "batches: 4",
     "spec.release.batches: 5 is more than replicas (4)"},
    {"batches >= 1", kEnvFile, "batches: 2", "batches: 0", "batches: 1",
     "0 is out of range: use 1 to 10000"},
    {"batches with no replicas", kEnvFile, "replicas: 4\n  release:\n    batches: 2",
     "replicas: 0\n  release:\n    batches: 0", "replicas: 0\n  release:\n    batches: 3",
     "0 is out of range"},
    {"cpu negative", kDeployFile, "cpu: \"0.5\"", "cpu: \"-0.5\"", "cpu: 500m",
     "\"-0.5\" is negative"},
    {"cpu unparsable", kDeployFile, "cpu: \"0.5\"", "cpu: 1.5.0", "cpu: 0",
     "\"1.5.0\" is not a cpu quantity"},
    {"cpu finer than 1m", kDeployFile, "cpu: \"0.5\"", "cpu: 0.0001", "cpu: 0.001",
     "finer than 1m"},
    {"memory suffix", kDeployFile, "memory: 512Mi", "memory: 512m", "memory: 1G",
     "\"512m\" means thousandths of a byte; did you mean 512Mi or 512M?"},
    {"memory unparsable", kDeployFile, "memory: 512Mi", "memory: lots", "memory: 0",
     "\"lots\" is not a memory quantity"},
    {"memory required", kDeployFile, "  memory: 512Mi\n", "", "  memory: 1Gi\n",
     "spec.memory: is required (0 for no reservation)"},
    {"image", kDeployFile, "image: registry.example.com/shop/web:1.4.2", "image: \"a b\"",
     "image: web", "\"a b\" is not an image reference"},
    {"listener port range", kEnvFile, "port: 80,", "port: 65536,", "port: 65535,",
     "65536 is out of range: use 1 to 65535"},
    {"container port range", kDeployFile, "port: 8080}", "port: 0}", "port: 8080, protocol: udp}",
     "0 is out of range: use 1 to 65535"},
    {"container port name", kDeployFile, "name: http,", "name: HTTP,", "name: http-alt,",
     "\"HTTP\" is not a valid port name"},
    {"container ports unique", kDeployFile, "    - {name: http, port: 8080}\n",
     "    - {name: http, port: 8080}\n    - {name: admin, port: 8080}\n",
     "    - {name: http, port: 8080}\n    - {name: admin, port: 8081}\n",
     "8080 is already a port (line 10)"},
    {"targetPort is a container port", kEnvFile, "targetPort: 8080", "targetPort: 9090",
     "targetPort: 8080", "9090 is not a port of DeployConfig web (it has 8080)"},
    {"duration", kEnvFile, "    batches: 2\n", "    batches: 2\n    batchInterval: 1m30\n",
     "    batches: 2\n    batchInterval: 1m30s\n", "\"1m30\" is not a duration"},
    {"batchTimeout above 0", kEnvFile, "    batches: 2\n", "    batches: 2\n    batchTimeout: 0\n",
     "    batches: 2\n    batchTimeout: 500ms\n", "must be longer than 0"},
    {"probe durations in whole seconds", kDeployFile,
     "  ports:", "  health:\n    http: {path: /healthz, port: 8080}\n    period: 1500ms\n  ports:",
     "  health:\n    http: {path: /healthz, port: 8080}\n    period: 2s\n  ports:",
     "\"1500ms\" is not a whole number of seconds"},
    {"one health check", kDeployFile, "  ports:",
     "  health:\n    http: {path: /healthz, port: 8080}\n    tcp: {port: 8080}\n  ports:",
     "  health:\n    tcp: {port: 8080}\n  ports:", "has more than one check"},
    {"a health check", kDeployFile, "  ports:", "  health:\n    period: 5s\n  ports:",
     "  health:\n    exec: {command: [/bin/true]}\n    period: 5s\n  ports:",
     "needs a check: one of http, tcp or exec"},
    {"preStopSleep below gracePeriod", kDeployFile,
     "  ports:", "  shutdown:\n    preStopSleep: 30s\n    gracePeriod: 30s\n  ports:",
     "  shutdown:\n    preStopSleep: 29s\n    gracePeriod: 30s\n  ports:",
     "30s is not less than gracePeriod (30s)"},
    {"file path absolute", kDeployFile,
     "  ports:", "  files:\n    - {path: etc/app.conf, content: x}\n  ports:",
     "  files:\n    - {path: /etc/app.conf, content: x}\n  ports:",
     "\"etc/app.conf\" is not an absolute path"},
    {"file path normalised", kDeployFile,
     "  ports:", "  files:\n    - {path: /etc/./app.conf, content: x}\n  ports:",
     "  files:\n    - {path: /etc/app.conf, content: x}\n  ports:", "is not normalised"},
    {"file path without ..", kDeployFile,
     "  ports:", "  files:\n    - {path: /etc/../app.conf, content: x}\n  ports:",
     "  files:\n    - {path: /etc/..app.conf, content: x}\n  ports:", "contains \"..\""},
    {"file paths unique", kDeployFile, "  ports:",
     "  files:\n    - {path: /a.conf, content: x}\n    - {path: /a.conf, content: y}\n  ports:",
     "  files:\n    - {path: /a.conf, content: x}\n    - {path: /b.conf, content: y}\n  ports:",
     "\"/a.conf\" is already a file (line 10)"},
    {"ConfigMap keys unique", kDeployFile, "  ports:",
     "  files:\n    - {path: /a_b, content: x}\n    - {path: /a/b, content: y}\n  ports:",
     "  files:\n    - {path: /a_b, content: x}\n    - {path: /a/c, content: y}\n  ports:",
     "its ConfigMap key \"a_b\" is the same as the file's on line 10"},
    {"ConfigMap key characters", kDeployFile,
     "  ports:", "  files:\n    - {path: /etc/my app.conf, content: x}\n  ports:",
     "  files:\n    - {path: /etc/my-app.conf, content: x}\n  ports:",
     "is not a valid ConfigMap key"},
    {"file not under a mount", kDeployFile, "  ports:",
     "  files:\n    - {path: /data/x, content: x}\n  mounts:\n    - {path: /data, type: "
     "emptyDir}\n  ports:",
     "  files:\n    - {path: /etc/x, content: x}\n  mounts:\n    - {path: /data, type: "
     "emptyDir}\n  ports:",
     "\"/data/x\" lies in the mount at /data"},
    {"mount paths unique", kDeployFile, "  ports:",
     "  mounts:\n    - {path: /a, type: emptyDir}\n    - {path: /a, type: emptyDir}\n  ports:",
     "  mounts:\n    - {path: /a, type: emptyDir}\n    - {path: /b, type: emptyDir}\n  ports:",
     "\"/a\" is already mounted (line 10)"},
    {"secret mount names its Secret", kDeployFile,
     "  ports:", "  mounts:\n    - {path: /tls, type: secret}\n  ports:",
     "  mounts:\n    - {path: /tls, type: secret, secret: shop-tls}\n  ports:",
     "is required for a mount of type secret"},
    {"mount type", kDeployFile, "  ports:", "  mounts:\n    - {path: /a, type: hostPath}\n  ports:",
     "  mounts:\n    - {path: /a, type: configMap, configMap: settings}\n  ports:",
     "\"hostPath\" is not one of emptyDir, secret, configMap"},
    {"env var name", kDeployFile, "  ports:", "  env:\n    1X: a\n  ports:",
     "  env:\n    X_1.a-b: a\n  ports:", "\"1X\" is not a valid environment variable name"},
    {"env var from a Secret needs a key", kDeployFile,
     "  ports:", "  env:\n    DB: {secret: shop-db}\n  ports:",
     "  env:\n    DB: {secret: shop-db, key: password}\n  ports:", "spec.env.DB.key: is required"},
    {"https needs a certificate", kEnvFile, "{name: web, protocol: http, port: 80,",
     "{name: web, protocol: https, exposure: public, port: 80,",
     "{name: web, protocol: https, exposure: public, certificate: shop-tls, port: 80,",
     "public https needs a certificate"},
    {"host only on public web listeners", kEnvFile, "targetPort: 8080}",
     "targetPort: 8080, host: shop.example.com}",
     "targetPort: 8080, host: shop.example.com, exposure: public}",
     "applies to public http and https listeners only"},
    {"host is a DNS name", kEnvFile, "targetPort: 8080}",
     "targetPort: 8080, exposure: public, host: shop_example}",
     "targetPort: 8080, exposure: public, host: \"*.example.com\"}", "is not a valid host"},
    {"listener names unique", kEnvFile, "targetPort: 8080}\n",
     "targetPort: 8080}\n    - {name: web, protocol: tcp, port: 81, targetPort: 8080}\n",
     "targetPort: 8080}\n    - {name: raw, protocol: tcp, port: 81, targetPort: 8080}\n",
     "\"web\" is already a listener (line 12)"},
    {"listener ports unique", kEnvFile, "targetPort: 8080}\n",
     "targetPort: 8080}\n    - {name: raw, protocol: tcp, port: 80, targetPort: 8080}\n",
     "targetPort: 8080}\n    - {name: raw, protocol: udp, port: 80, targetPort: 8080}\n",
     "port 80 is already taken by another listener (line 12)"},
    {"sync flags are booleans", kEnvFile, "  traffic:", "  sync: {auto: yes}\n  traffic:",
     "  sync: {auto: false, selfHeal: true, prune: true}\n  traffic:",
     "expected true or false, found \"yes\""},
    {"pause policy", kEnvFile, "    batches: 2\n", "    batches: 2\n    pause: sometimes\n",
     "    batches: 2\n    pause: every\n", "\"sometimes\" is not one of none, first, every"},
    {"onFailure policy", kEnvFile, "    batches: 2\n", "    batches: 2\n    onFailure: retry\n",
     "    batches: 2\n    onFailure: halt\n", "\"retry\" is not one of rollback, halt"},
    {"manifests are namespaced", kManifestFile, "",
     "apiVersion: rbac.authorization.k8s.io/v1\nkind: ClusterRole\nmetadata: {name: r}\n",
     "apiVersion: rbac.authorization.k8s.io/v1\nkind: Role\nmetadata: {name: r}\n",
     "ClusterRole is cluster-scoped"},
    {"manifests stay in the app's namespace", kManifestFile, "",
     "apiVersion: v1\nkind: ConfigMap\nmetadata: {name: c, namespace: other}\n",
     "apiVersion: v1\nkind: ConfigMap\nmetadata: {name: c, namespace: shop}\n",
     "\"other\" is not the app's namespace (shop)"},
    {"manifests are unique", kManifestFile, "",
     "apiVersion: v1\nkind: ConfigMap\nmetadata: {name: c}\n---\napiVersion: v1\nkind: "
     "ConfigMap\nmetadata: {name: c}\n",
     "apiVersion: v1\nkind: ConfigMap\nmetadata: {name: c}\n---\napiVersion: v1\nkind: "
     "Secret\nmetadata: {name: c}\n",
     "ConfigMap \"c\" is already defined"},
    {"manifests need a kind", kManifestFile, "", "apiVersion: v1\nmetadata: {name: c}\n",
     "apiVersion: v1\nkind: ConfigMap\nmetadata: {name: c}\n", "kind: is required"},
    {"manifest label values", kManifestFile, "",
     "apiVersion: v1\nkind: ConfigMap\nmetadata: {name: c, labels: {tier: -x}}\n",
     "apiVersion: v1\nkind: ConfigMap\nmetadata: {name: c, labels: {tier: x}}\n",
     "is not a valid label value"},
    {"manifest names are strings", kManifestFile, "",
     "apiVersion: v1\nkind: ConfigMap\nmetadata: {name: 123}\n",
     "apiVersion: v1\nkind: ConfigMap\nmetadata: {name: \"123\"}\n",
     "metadata.name: expected a string, found \"123\", which YAML reads as a number; quote it"},
    {"manifest kinds are strings", kManifestFile, "",
     "apiVersion: v1\nkind: true\nmetadata: {name: c}\n",
     "apiVersion: v1\nkind: ConfigMap\nmetadata: {name: c}\n",
     "kind: expected a string, found \"true\", which YAML reads as a bool"},
    {"manifest apiVersions are strings", kManifestFile, "",
     "apiVersion: 1.0\nkind: ConfigMap\nmetadata: {name: c}\n",
     "apiVersion: v1\nkind: ConfigMap\nmetadata: {name: c}\n",
     "apiVersion: expected a string, found \"1.0\""},
    {"manifest label values are strings", kManifestFile, "",
     "apiVersion: v1\nkind: ConfigMap\nmetadata: {name: c, labels: {tier: 1}}\n",
     "apiVersion: v1\nkind: ConfigMap\nmetadata: {name: c, labels: {tier: \"1\"}}\n",
     "metadata.labels.tier: expected a string"},
    {"manifest labels are a mapping", kManifestFile, "",
     "apiVersion: v1\nkind: ConfigMap\nmetadata: {name: c, labels: [a]}\n",
     "apiVersion: v1\nkind: ConfigMap\nmetadata: {name: c, labels: {a: b}}\n",
     "metadata.labels: expected a mapping, found a list"},
    {"manifest annotation values are strings", kManifestFile, "",
     "apiVersion: v1\nkind: ConfigMap\nmetadata: {name: c, annotations: {a: [x]}}\n",
     "apiVersion: v1\nkind: ConfigMap\nmetadata: {name: c, annotations: {a: \"yes\"}}\n",
     "metadata.annotations.a: expected a string"},
    {"replicas 1 warns", kEnvFile, "replicas: 4\n  release:\n    batches: 2",
     "replicas: 1\n  release:\n    batches: 1", "replicas: 2\n  release:\n    batches: 1",
     "the service is down during every release", Severity::kWarning},
    {"instance bigger than a node warns", kDeployFile, "cpu: \"0.5\"", "cpu: \"4.001\"",
     "cpu: \"4\"", "more than a node can allocate (4)", Severity::kWarning},
    {"memory bigger than a node warns", kDeployFile, "memory: 512Mi", "memory: 9Gi", "memory: 8Gi",
     "more than a node can allocate (8Gi)", Severity::kWarning},
};

std::map<std::string, std::string> Variant(const Rule& rule, const char* replacement) {
  std::map<std::string, std::string> files = BaseRepo();
  if (std::string(rule.from).empty()) {
    files[rule.file] = replacement;
    return files;
  }
  std::string& text = files[rule.file];
  size_t at = text.find(rule.from);
  EXPECT_NE(at, std::string::npos) << rule.name << ": \"" << rule.from << "\" not in the base";
  if (at != std::string::npos) text.replace(at, std::string(rule.from).size(), replacement);
  return files;
}

std::string Dump(const std::vector<Diagnostic>& diagnostics) {
  std::string out;
  for (const Diagnostic& d : diagnostics) out += "  " + d.ToString() + "\n";
  return out;
}

TEST(Validate, BaseRepositoryIsValidAndQuiet) {
  MemorySource source = testing::ToSource(BaseRepo());
  Repository repo = LoadRepository(source, testing::TestOptions());
  EXPECT_TRUE(repo.ok());
  EXPECT_TRUE(repo.AllDiagnostics().empty()) << Dump(repo.AllDiagnostics());
}

TEST(Validate, EveryRuleFailsItsBadVariantAndPassesItsGoodOne) {
  for (const Rule& rule : kRules) {
    SCOPED_TRACE(rule.name);
    MemorySource bad = testing::ToSource(Variant(rule, rule.bad));
    std::vector<Diagnostic> found = LoadRepository(bad, testing::TestOptions()).AllDiagnostics();
    bool hit = std::any_of(found.begin(), found.end(), [&](const Diagnostic& d) {
      return d.severity == rule.severity && d.ToString().find(rule.message) != std::string::npos;
    });
    EXPECT_TRUE(hit) << "expected \"" << rule.message << "\" in:\n" << Dump(found);

    MemorySource good = testing::ToSource(Variant(rule, rule.good));
    std::vector<Diagnostic> clean = LoadRepository(good, testing::TestOptions()).AllDiagnostics();
    EXPECT_TRUE(clean.empty()) << "the good variant should be clean:\n" << Dump(clean);
  }
}

TEST(Validate, DiagnosticsAreSortedAndPrintedWithFileLineColumnField) {
  auto files = BaseRepo();
  files[kEnvFile].replace(files[kEnvFile].find("batches: 2"), 10, "batches: 5");
  files[kDeployFile].replace(files[kDeployFile].find("memory: 512Mi"), 13, "memory: x");
  MemorySource source = testing::ToSource(files);
  std::vector<Diagnostic> all = LoadRepository(source, testing::TestOptions()).AllDiagnostics();
  ASSERT_EQ(all.size(), 2u) << Dump(all);
  EXPECT_EQ(all[0].ToString().substr(0, 42), "apps/shop/deploy/web.yaml:8:11: spec.memor");
  EXPECT_EQ(all[1].ToString(),
            "apps/shop/envs/prod.yaml:10:14: spec.release.batches: 5 is more than replicas (4)");
}

TEST(Validate, UnknownClustersAreAcceptedWhenNoneAreKnown) {
  auto files = BaseRepo();
  files[kEnvFile].replace(files[kEnvFile].find("cluster: prod"), 13, "cluster: staging");
  MemorySource source = testing::ToSource(files);
  EXPECT_TRUE(LoadRepository(source, LoadOptions{}).ok());
  EXPECT_FALSE(LoadRepository(source, testing::TestOptions()).ok());
}

TEST(Validate, MissingAppsDirectoryIsAnError) {
  MemorySource empty;
  Repository repo = LoadRepository(empty);
  EXPECT_FALSE(repo.ok());
  ASSERT_EQ(repo.diagnostics.size(), 1u);
  EXPECT_EQ(repo.diagnostics[0].file, "apps");
}

TEST(Validate, BatchTimeoutIsDerivedFromTheHealthCheck) {
  auto files = BaseRepo();
  std::string& deploy = files[kDeployFile];
  deploy.replace(deploy.find("  ports:"), 8,
                 "  health:\n    http: {path: /healthz, port: 8080}\n    initialDelay: 10s\n"
                 "    period: 5s\n    failureThreshold: 4\n  ports:");
  MemorySource source = testing::ToSource(files);
  Repository repo = LoadRepository(source, testing::TestOptions());
  ASSERT_TRUE(repo.ok()) << Dump(repo.AllDiagnostics());
  EXPECT_EQ(repo.apps[0].model().environments[0].release.batch_timeout_ms,
            10000 + 5000 * 4 + 120000);
}

}  // namespace
}  // namespace pagoda::manifest
