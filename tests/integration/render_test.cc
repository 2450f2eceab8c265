// Rendering and Kubernetes agree: every object rendered from examples/repo is
// accepted by the real kube-apiserver (a server-side dry-run create), and a
// name the API server would refuse is refused by pagoda first, with its own
// message, before any request.
#include <gtest/gtest.h>
#include <rapidjson/document.h>

#include "kube/kube.h"
#include "manifest/manifest.h"
#include "source/source.h"
#include "tests/integration/example_repo.h"
#include "tests/integration/test_cluster.h"

namespace pagoda {
namespace {

using testing::TestCluster;

std::unique_ptr<kube::KubeClient> Admin() {
  auto client = kube::KubeClient::Connect(TestCluster::Get().Admin());
  EXPECT_TRUE(client.ok());
  return client.ok() ? std::move(*client) : nullptr;
}

// A server-side dry-run create of `json`; namespaces are created for real
// when `real` is set.
Status Create(kube::KubeClient& client, const std::string& api_version, const std::string& kind,
              const std::string& ns, const std::string& json, bool real = false) {
  auto resource = client.Resource(api_version, kind);
  if (!resource.ok()) return resource.status();
  rapidjson::Document doc;
  doc.Parse(json.c_str());
  if (doc.HasParseError()) return Status::InvalidArgument("not JSON: " + json);
  auto created = client.Post(resource->CollectionPath(ns) + (real ? "" : "?dryRun=All"), doc);
  return created.ok() ? Status::Ok() : created.status();
}

TEST(RenderedObjects, EveryExampleObjectIsAcceptedByTheApiServer) {
  testing::ExampleRepo repo;
  auto source = source::NewDirectorySource(repo.dir());
  manifest::Repository loaded = manifest::LoadRepository(*source);
  ASSERT_TRUE(loaded.ok());
  auto client = Admin();
  ASSERT_NE(client, nullptr);
  int checked = 0;
  std::set<std::string> kinds;
  for (const auto& app : loaded.apps) {
    auto rendered = manifest::RenderApp(app.model(), {.commit = "0123456789abcdef"});
    ASSERT_TRUE(rendered.ok()) << rendered.status().ToString();
    std::set<std::string> seen;
    for (const auto& object : rendered->AllObjects()) {
      if (!seen.insert(object.Key()).second) continue;  // the Namespace of both clusters
      bool is_namespace = object.kind == "Namespace";
      Status st = Create(*client, object.api_version, object.kind, object.namespace_name,
                         object.json, /*real=*/is_namespace);
      EXPECT_TRUE(st.ok()) << object.Key() << ": " << st.ToString();
      ++checked;
      kinds.insert(object.kind);
    }
  }
  EXPECT_GE(checked, 15);
  EXPECT_EQ(kinds, (std::set<std::string>{"ConfigMap", "CronJob", "Deployment", "Ingress",
                                          "Namespace", "Service"}));
}

struct NameCase {
  std::string what;
  std::string file;         // the repository file to change
  std::string from, to;     // the change
  std::string diagnostic;   // part of pagoda's message
  std::string api_version;  // the object the API server is shown with that name
  std::string kind;
  std::string object_json;
};

std::map<std::string, std::string> SmallRepo() {
  return {
      {"apps/shop/app.yaml",
       "apiVersion: pagoda.dev/v1\nkind: App\nmetadata:\n  name: shop\nspec: {}\n"},
      {"apps/shop/deploy/web.yaml",
       "apiVersion: pagoda.dev/v1\nkind: DeployConfig\nmetadata:\n  name: web\nspec:\n"
       "  image: example.com/web:1\n  cpu: 100m\n  memory: 64Mi\n"
       "  ports: [{name: http, port: 8080}]\n"
       "  files:\n    - {path: /app/conf/app.properties, content: \"a=b\"}\n"},
      {"apps/shop/envs/prod.yaml",
       "apiVersion: pagoda.dev/v1\nkind: Environment\nmetadata:\n  name: prod\nspec:\n"
       "  cluster: prod\n  deployConfig: web\n  replicas: 2\n"
       "  traffic: [{name: http, protocol: http, port: 80, targetPort: 8080}]\n"},
  };
}

TEST(RenderedObjects, NamesTheApiServerRefusesPagodaRefusesFirst) {
  const std::string long_name(64, 'a');
  const std::vector<NameCase> cases = {
      {"an app name with capitals and an underscore", "apps/shop/app.yaml", "name: shop",
       "name: Shop_Web", "Shop_Web", "v1", "Namespace",
       R"({"apiVersion":"v1","kind":"Namespace","metadata":{"name":"Shop_Web"}})"},
      {"an environment name with a capital", "apps/shop/envs/prod.yaml", "name: prod", "name: Prod",
       "Prod", "v1", "Service",
       R"({"apiVersion":"v1","kind":"Service","metadata":{"name":"Prod"},"spec":{"ports":[{"port":80}]}})"},
      {"an environment name longer than 63 characters", "apps/shop/envs/prod.yaml", "name: prod",
       "name: " + long_name, long_name, "v1", "Service",
       R"({"apiVersion":"v1","kind":"Service","metadata":{"name":")" + long_name +
           R"("},"spec":{"ports":[{"port":80}]}})"},
      {"a file whose ConfigMap key would hold a space", "apps/shop/deploy/web.yaml",
       "/app/conf/app.properties", "/app/conf/app settings.properties", "app settings", "v1",
       "ConfigMap",
       R"({"apiVersion":"v1","kind":"ConfigMap","metadata":{"name":"x"},"data":{"app_conf_app settings.properties":"a=b"}})"},
      {"a port name longer than 15 characters", "apps/shop/deploy/web.yaml", "{name: http,",
       "{name: http-for-the-public,", "http-for-the-public", "apps/v1", "Deployment",
       R"({"apiVersion":"apps/v1","kind":"Deployment","metadata":{"name":"x"},"spec":{"selector":{"matchLabels":{"a":"b"}},"template":{"metadata":{"labels":{"a":"b"}},"spec":{"containers":[{"name":"c","image":"i","ports":[{"name":"http-for-the-public","containerPort":8080}]}]}}}})"},
  };

  auto client = Admin();
  ASSERT_NE(client, nullptr);
  testing::ScopedNamespace ns("it-names");
  for (const auto& c : cases) {
    SCOPED_TRACE(c.what);
    // The API server refuses the object.
    Status st = Create(*client, c.api_version, c.kind, c.kind == "Namespace" ? "" : ns.name(),
                       c.object_json);
    EXPECT_EQ(st.code(), Status::Code::kInvalidArgument) << st.ToString();

    // pagoda refuses the repository that would produce it, naming the file.
    manifest::MemorySource source;
    for (auto [path, content] : SmallRepo()) {
      if (path == c.file) {
        auto pos = content.find(c.from);
        ASSERT_NE(pos, std::string::npos) << c.from;
        content.replace(pos, c.from.size(), c.to);
      }
      source.Add(path, content);
    }
    manifest::Repository loaded = manifest::LoadRepository(source);
    EXPECT_FALSE(loaded.ok());
    bool named = false;
    std::string all;
    for (const auto& d : loaded.AllDiagnostics()) {
      all += d.ToString() + "\n";
      named |= d.severity == manifest::Severity::kError && d.line > 0 &&
               d.ToString().find(c.diagnostic) != std::string::npos;
    }
    EXPECT_TRUE(named) << "pagoda's diagnostics:\n" << all;
  }
}

}  // namespace
}  // namespace pagoda
