#include <gtest/gtest.h>
#include <rapidjson/document.h>

#include <algorithm>
#include <random>

#include "base/yaml.h"
#include "manifest/json.h"
#include "manifest/manifest.h"
#include "manifest/test_repo.h"
#include "source/source.h"

namespace pagoda::manifest {
namespace {

using source::NewDirectorySource;

using testing::BaseRepo;
using testing::kDeployFile;
using testing::kEnvFile;

const std::string kExamples = std::string(PAGODA_SOURCE_DIR) + "/examples/repo";

// Lists another source's files in a shuffled order.
class ShuffledSource : public FileSource {
 public:
  ShuffledSource(const FileSource& inner, unsigned seed) : inner_(inner), seed_(seed) {}
  Result<Listing> List(std::string_view dir, const ListLimits& limits) const override {
    Result<Listing> listing = inner_.List(dir, limits);
    if (listing.ok()) {
      auto by_path = [](const FileInfo& a, const FileInfo& b) { return a.path < b.path; };
      std::sort(listing->files.begin(), listing->files.end(), by_path);
      std::shuffle(listing->files.begin(), listing->files.end(), std::mt19937(seed_));
      std::sort(listing->directories.begin(), listing->directories.end());
      std::shuffle(listing->directories.begin(), listing->directories.end(), std::mt19937(seed_));
    }
    return listing;
  }
  Result<std::string> ReadFile(std::string_view path, size_t max_bytes) const override {
    return inner_.ReadFile(path, max_bytes);
  }

 private:
  const FileSource& inner_;
  unsigned seed_;
};

std::string RenderAll(const FileSource& source, const RenderOptions& options = {}) {
  Repository repo = LoadRepository(source, testing::TestOptions());
  EXPECT_TRUE(repo.ok());
  std::vector<Object> objects;
  for (const AppResult& app : repo.apps) {
    Result<RenderedApp> rendered = RenderApp(app.model(), options);
    EXPECT_TRUE(rendered.ok()) << rendered.status().ToString();
    if (!rendered.ok()) continue;
    std::vector<Object> all = rendered->AllObjects();
    objects.insert(objects.end(), all.begin(), all.end());
  }
  return ToYaml(objects) + ToJsonList(objects);
}

RenderedApp RenderOne(const std::map<std::string, std::string>& files,
                      const RenderOptions& options = {}) {
  MemorySource source = testing::ToSource(files);
  Repository repo = LoadRepository(source, testing::TestOptions());
  EXPECT_TRUE(repo.ok());
  Result<RenderedApp> rendered = RenderApp(repo.apps.at(0).model(), options);
  EXPECT_TRUE(rendered.ok());
  return rendered.ok() ? std::move(rendered.value()) : RenderedApp{};
}

rapidjson::Document Parse(const Object& o) {
  rapidjson::Document doc;
  doc.Parse(o.json.c_str());
  return doc;
}

const Object* Find(const std::vector<Object>& objects, std::string_view kind) {
  for (const Object& o : objects) {
    if (o.kind == kind) return &o;
  }
  return nullptr;
}

std::string Edit(std::string text, std::string_view from, std::string_view to) {
  size_t at = text.find(from);
  EXPECT_NE(at, std::string::npos) << from;
  if (at != std::string::npos) text.replace(at, from.size(), to);
  return text;
}

TEST(Render, ExamplesAreValidWithoutWarnings) {
  std::unique_ptr<FileSource> source = NewDirectorySource(kExamples);
  Repository repo = LoadRepository(*source, testing::TestOptions());
  ASSERT_TRUE(repo.ok());
  EXPECT_TRUE(repo.AllDiagnostics().empty());
  ASSERT_EQ(repo.apps.size(), 2u);
  for (const AppResult& app : repo.apps) {
    ASSERT_EQ(app.model().environments.size(), 2u);
    EXPECT_EQ(app.model().environments[0].name.value, "prod");
    EXPECT_EQ(app.model().environments[1].name.value, "test");
  }
}

TEST(Render, IdenticalBytesTwiceAndFromAnyListingOrder) {
  std::unique_ptr<FileSource> source = NewDirectorySource(kExamples);
  std::string first = RenderAll(*source, {"abc123"});
  EXPECT_EQ(first, RenderAll(*source, {"abc123"}));
  for (unsigned seed = 1; seed <= 5; ++seed) {
    ShuffledSource shuffled(*source, seed);
    EXPECT_EQ(first, RenderAll(shuffled, {"abc123"})) << "seed " << seed;
  }
}

TEST(Render, ObjectsOfTheExample) {
  std::unique_ptr<FileSource> source = NewDirectorySource(kExamples);
  Repository repo = LoadRepository(*source, testing::TestOptions());
  Result<RenderedApp> web = RenderApp(repo.FindApp("shop-web")->model());
  ASSERT_TRUE(web.ok());
  ASSERT_EQ(web->clusters.size(), 2u);
  EXPECT_EQ(web->clusters[0].cluster, "prod");
  ASSERT_EQ(web->clusters[0].objects.size(), 1u);
  EXPECT_EQ(web->clusters[0].objects[0].Key(), "Namespace/shop-web");
  const RenderedEnvironment& prod = web->environments[0];
  EXPECT_EQ(prod.env, "prod");
  EXPECT_EQ(prod.cluster, "prod");
  EXPECT_EQ(prod.replicas, 4);
  EXPECT_EQ(prod.release.batches, 2);
  EXPECT_EQ(prod.release.pause, Pause::kFirst);
  EXPECT_EQ(prod.release.batch_timeout_ms, 300000);
  EXPECT_TRUE(prod.sync.self_heal);
  EXPECT_EQ(prod.revision.size(), 10u);
  std::vector<std::string> keys;
  for (const Object& o : prod.objects) keys.push_back(o.Key());
  EXPECT_EQ(keys, (std::vector<std::string>{
                      "ConfigMap/shop-web/prod-files-" + prod.files_hash,
                      "Service/shop-web/prod",
                      "Deployment/shop-web/prod-" + prod.revision,
                      "Ingress/shop-web/prod",
                  }));

  Result<RenderedApp> orders = RenderApp(repo.FindApp("orders")->model());
  ASSERT_TRUE(orders.ok());
  std::vector<std::string> shared;
  for (const Object& o : orders->clusters[0].objects) shared.push_back(o.Key());
  EXPECT_EQ(shared, (std::vector<std::string>{"Namespace/orders", "CronJob/orders/expire-carts"}));
  rapidjson::Document cron = Parse(orders->clusters[0].objects[1]);
  EXPECT_STREQ(cron["metadata"]["namespace"].GetString(), "orders");
  EXPECT_STREQ(cron["metadata"]["labels"]["app.kubernetes.io/managed-by"].GetString(), "pagoda");
  const Object* lb = nullptr;
  for (const Object& o : orders->environments[0].objects) {
    if (o.name == "prod-public") lb = &o;
  }
  ASSERT_NE(lb, nullptr);
  rapidjson::Document svc = Parse(*lb);
  EXPECT_STREQ(svc["spec"]["type"].GetString(), "LoadBalancer");
  EXPECT_EQ(svc["spec"]["ports"].Size(), 1u);
  EXPECT_EQ(svc["spec"]["ports"][0]["port"].GetInt(), 9443);
}

TEST(Render, LabelsSelectorsAndRevision) {
  RenderedApp app = RenderOne(BaseRepo());
  const RenderedEnvironment& env = app.environments.at(0);
  rapidjson::Document deploy = Parse(*Find(env.objects, "Deployment"));
  EXPECT_EQ(std::string(deploy["metadata"]["name"].GetString()), "prod-" + env.revision);
  const auto& selector = deploy["spec"]["selector"]["matchLabels"];
  EXPECT_STREQ(selector["app.kubernetes.io/name"].GetString(), "shop");
  EXPECT_STREQ(selector["app.kubernetes.io/instance"].GetString(), "prod");
  EXPECT_EQ(std::string(selector["pagoda.dev/revision"].GetString()), env.revision);
  EXPECT_EQ(
      std::string(
          deploy["spec"]["template"]["metadata"]["labels"]["pagoda.dev/revision"].GetString()),
      env.revision);
  EXPECT_EQ(deploy["spec"]["replicas"].GetInt(), 4);
  EXPECT_EQ(deploy["spec"]["revisionHistoryLimit"].GetInt(), 0);
  EXPECT_STREQ(deploy["spec"]["strategy"]["type"].GetString(), "RollingUpdate");
  const auto& container = deploy["spec"]["template"]["spec"]["containers"][0];
  EXPECT_STREQ(container["resources"]["limits"]["cpu"].GetString(), "500m");
  EXPECT_STREQ(container["resources"]["requests"]["memory"].GetString(), "512Mi");

  rapidjson::Document svc = Parse(*Find(env.objects, "Service"));
  EXPECT_FALSE(svc["spec"]["selector"].HasMember("pagoda.dev/revision"));
  EXPECT_STREQ(svc["spec"]["selector"]["app.kubernetes.io/instance"].GetString(), "prod");
  EXPECT_STREQ(svc["spec"]["sessionAffinity"].GetString(), "None");
  EXPECT_EQ(Find(env.objects, "Ingress"), nullptr);
  EXPECT_EQ(Find(env.objects, "ConfigMap"), nullptr);
  EXPECT_EQ(env.files_hash, "");
}

TEST(Render, CommitIsAnnotatedButNeverChangesTheRevision) {
  RenderedApp plain = RenderOne(BaseRepo());
  RenderedApp stamped = RenderOne(BaseRepo(), {"0123456789abcdef"});
  EXPECT_EQ(plain.environments[0].revision, stamped.environments[0].revision);
  rapidjson::Document deploy = Parse(*Find(stamped.environments[0].objects, "Deployment"));
  EXPECT_STREQ(deploy["metadata"]["annotations"]["pagoda.dev/commit"].GetString(),
               "0123456789abcdef");
  EXPECT_FALSE(deploy["spec"]["template"]["metadata"].HasMember("annotations"));
  EXPECT_EQ(Find(plain.environments[0].objects, "Deployment")->json.find("pagoda.dev/commit"),
            std::string::npos);
}

TEST(Render, ReplicasAreNotPartOfTheRevisionButTheImageIs) {
  auto files = BaseRepo();
  std::string revision = RenderOne(files).environments[0].revision;
  files[kEnvFile] = Edit(files[kEnvFile], "replicas: 4", "replicas: 6");
  EXPECT_EQ(RenderOne(files).environments[0].revision, revision);
  files[kDeployFile] = Edit(files[kDeployFile], "web:1.4.2", "web:1.4.3");
  EXPECT_NE(RenderOne(files).environments[0].revision, revision);
}

TEST(Render, AChangedFileIsANewConfigMapAndRevision) {
  auto files = BaseRepo();
  files[kDeployFile] =
      Edit(files[kDeployFile],
           "  ports:", "  files:\n    - {path: /etc/web.conf, content: a}\n  ports:");
  RenderedApp a = RenderOne(files);
  files[kDeployFile] = Edit(files[kDeployFile], "content: a}", "content: b}");
  RenderedApp b = RenderOne(files);
  EXPECT_NE(a.environments[0].files_hash, b.environments[0].files_hash);
  EXPECT_NE(a.environments[0].revision, b.environments[0].revision);
  rapidjson::Document cm = Parse(*Find(a.environments[0].objects, "ConfigMap"));
  EXPECT_EQ(std::string(cm["metadata"]["name"].GetString()),
            "prod-files-" + a.environments[0].files_hash);
  EXPECT_TRUE(cm["immutable"].GetBool());
  EXPECT_STREQ(cm["data"]["etc_web.conf"].GetString(), "a");
  rapidjson::Document deploy = Parse(*Find(a.environments[0].objects, "Deployment"));
  const auto& pod = deploy["spec"]["template"]["spec"];
  EXPECT_EQ(std::string(pod["volumes"][0]["configMap"]["name"].GetString()),
            "prod-files-" + a.environments[0].files_hash);
  const auto& mount = pod["containers"][0]["volumeMounts"][0];
  EXPECT_STREQ(mount["mountPath"].GetString(), "/etc/web.conf");
  EXPECT_STREQ(mount["subPath"].GetString(), "etc_web.conf");
  EXPECT_TRUE(mount["readOnly"].GetBool());
}

TEST(Render, ZeroCpuAndMemoryMeanNoReservation) {
  auto files = BaseRepo();
  files[kDeployFile] = Edit(files[kDeployFile], "cpu: \"0.5\"", "cpu: 0");
  rapidjson::Document deploy = Parse(*Find(RenderOne(files).environments[0].objects, "Deployment"));
  const auto& resources = deploy["spec"]["template"]["spec"]["containers"][0]["resources"];
  EXPECT_FALSE(resources["limits"].HasMember("cpu"));
  EXPECT_STREQ(resources["limits"]["memory"].GetString(), "512Mi");
  files[kDeployFile] = Edit(files[kDeployFile], "memory: 512Mi", "memory: 0");
  deploy = Parse(*Find(RenderOne(files).environments[0].objects, "Deployment"));
  EXPECT_FALSE(deploy["spec"]["template"]["spec"]["containers"][0].HasMember("resources"));
}

TEST(Render, HealthShutdownEnvAndMounts) {
  auto files = BaseRepo();
  files[kDeployFile] =
      Edit(files[kDeployFile], "  ports:",
           "  env:\n    A: \"1\"\n    DB: {secret: shop-db, key: password}\n"
           "  mounts:\n    - {path: /cache, type: emptyDir, medium: Memory}\n"
           "    - {path: /tls, type: secret, secret: shop-tls}\n"
           "  health:\n    http: {path: /healthz, port: 8080}\n    initialDelay: 10s\n"
           "  shutdown: {preStopSleep: 5s, gracePeriod: 40s}\n  ports:");
  rapidjson::Document deploy = Parse(*Find(RenderOne(files).environments[0].objects, "Deployment"));
  const auto& pod = deploy["spec"]["template"]["spec"];
  const auto& c = pod["containers"][0];
  EXPECT_EQ(pod["terminationGracePeriodSeconds"].GetInt(), 40);
  EXPECT_EQ(c["lifecycle"]["preStop"]["sleep"]["seconds"].GetInt(), 5);
  EXPECT_STREQ(c["readinessProbe"]["httpGet"]["path"].GetString(), "/healthz");
  EXPECT_EQ(c["livenessProbe"]["initialDelaySeconds"].GetInt(), 10);
  EXPECT_EQ(c["readinessProbe"]["periodSeconds"].GetInt(), 10);
  EXPECT_STREQ(c["env"][0]["value"].GetString(), "1");
  EXPECT_STREQ(c["env"][1]["valueFrom"]["secretKeyRef"]["name"].GetString(), "shop-db");
  EXPECT_STREQ(pod["volumes"][0]["emptyDir"]["medium"].GetString(), "Memory");
  EXPECT_STREQ(pod["volumes"][1]["secret"]["secretName"].GetString(), "shop-tls");
  EXPECT_STREQ(c["volumeMounts"][1]["mountPath"].GetString(), "/tls");
}

TEST(Render, SessionAffinitySpreadsInstancesAndSticksClients) {
  auto files = BaseRepo();
  files[kEnvFile] =
      Edit(files[kEnvFile], "targetPort: 8080}", "targetPort: 8080, sessionAffinity: true}");
  const RenderedEnvironment env = RenderOne(files).environments[0];
  rapidjson::Document svc = Parse(*Find(env.objects, "Service"));
  EXPECT_STREQ(svc["spec"]["sessionAffinity"].GetString(), "ClientIP");
  rapidjson::Document deploy = Parse(*Find(env.objects, "Deployment"));
  const auto& term = deploy["spec"]["template"]["spec"]["affinity"]["podAntiAffinity"]
                           ["preferredDuringSchedulingIgnoredDuringExecution"][0];
  EXPECT_STREQ(term["podAffinityTerm"]["topologyKey"].GetString(), "kubernetes.io/hostname");
}

TEST(Render, PublicWebListenersBecomeAnIngress) {
  auto files = BaseRepo();
  files[kEnvFile] =
      Edit(files[kEnvFile], "    - {name: web, protocol: http, port: 80, targetPort: 8080}\n",
           "    - {name: web, protocol: http, port: 80, targetPort: 8080, exposure: public, host: "
           "shop.example.com}\n    - {name: tls, protocol: https, port: 443, targetPort: 8080, "
           "exposure: public, host: shop.example.com, certificate: shop-tls}\n");
  rapidjson::Document ing = Parse(*Find(RenderOne(files).environments[0].objects, "Ingress"));
  EXPECT_EQ(ing["spec"]["rules"].Size(), 1u);
  EXPECT_STREQ(ing["spec"]["rules"][0]["host"].GetString(), "shop.example.com");
  EXPECT_STREQ(
      ing["spec"]["rules"][0]["http"]["paths"][0]["backend"]["service"]["name"].GetString(),
      "prod");
  EXPECT_STREQ(ing["spec"]["tls"][0]["secretName"].GetString(), "shop-tls");
}

TEST(Render, YamlOutputReadsBackAsTheSameObjects) {
  std::unique_ptr<FileSource> source = NewDirectorySource(kExamples);
  Repository repo = LoadRepository(*source, testing::TestOptions());
  std::vector<Object> objects;
  for (const AppResult& app : repo.apps) {
    std::vector<Object> all = RenderApp(app.model(), {"c0ffee"})->AllObjects();
    objects.insert(objects.end(), all.begin(), all.end());
  }
  // Tricky strings: YAML keywords, numbers, leading dashes, multi-line text.
  objects.push_back({"v1", "ConfigMap", "x", "tricky",
                     "{\"apiVersion\":\"v1\",\"data\":{\"a\":\"yes\",\"b\":\"0.5\",\"c\":\"-x\","
                     "\"d\":\"line\\n  indented\\n\\n\",\"e\":\"\",\"f\":\"a: b\",\"g\":\"  "
                     "lead\\n\",\"h\":\"x\\ny\",\"i\":\"#c\",\"j\":\"1e3\",\"k\":\"Null\"},"
                     "\"kind\":\"ConfigMap\",\"metadata\":{\"name\":\"tricky\"}}"});
  YamlResult back = ReadYaml(ToYaml(objects), YamlLimits{64, 1000000});
  ASSERT_TRUE(back.ok) << back.error;
  ASSERT_EQ(back.documents.size(), objects.size());
  for (size_t i = 0; i < objects.size(); ++i) {
    rapidjson::Document doc;
    rapidjson::Value value = YamlToJson(back.documents[i].root, doc.GetAllocator());
    EXPECT_EQ(CanonicalJson(value), objects[i].json) << objects[i].Key();
  }
}

TEST(Render, JsonListIsCanonical) {
  RenderedApp app = RenderOne(BaseRepo());
  std::string list = ToJsonList(app.AllObjects());
  rapidjson::Document doc;
  doc.Parse(list.c_str());
  ASSERT_FALSE(doc.HasParseError());
  EXPECT_STREQ(doc["kind"].GetString(), "List");
  EXPECT_EQ(CanonicalJson(doc) + "\n", list);
}

TEST(Render, AnInvalidModelIsRefused) {
  AppModel model;
  model.name = "shop";
  Environment env;
  env.name.value = "prod";
  env.cluster.value = "prod";
  env.deploy_config.value = "missing";
  model.environments.push_back(env);
  EXPECT_EQ(RenderApp(model).status().code(), Status::Code::kInvalidArgument);
}

}  // namespace
}  // namespace pagoda::manifest
