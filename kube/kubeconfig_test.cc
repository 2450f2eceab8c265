#include <gtest/gtest.h>
#include <stdlib.h>

#include <filesystem>
#include <fstream>

#include "base/base64.h"
#include "kube/kube.h"

namespace pagoda::kube {
namespace {

namespace fs = std::filesystem;

class KubeconfigTest : public ::testing::Test {
 protected:
  void SetUp() override {
    char tmpl[] = "/tmp/pagoda-kubeconfig-XXXXXX";
    dir_ = mkdtemp(tmpl);
  }
  void TearDown() override { fs::remove_all(dir_); }

  std::string Write(const std::string& name, const std::string& content) {
    fs::path p = dir_ / name;
    fs::create_directories(p.parent_path());
    std::ofstream(p) << content;
    return p.string();
  }

  fs::path dir_;
};

constexpr char kConfig[] = R"(apiVersion: v1
kind: Config
current-context: admin
clusters:
- name: local
  cluster:
    server: https://127.0.0.1:6443/
    certificate-authority: pki/ca.crt
contexts:
- name: admin
  context: {cluster: local, user: admin, namespace: shop}
- name: robot
  context: {cluster: local, user: robot}
- name: dangling
  context: {cluster: nowhere, user: admin}
users:
- name: admin
  user:
    client-certificate-data: Q0VSVA==
    client-key: pki/admin.key
- name: robot
  user: {token: s3cr3t}
)";

TEST_F(KubeconfigTest, ResolvesCurrentContextWithFilesAndInlineData) {
  Write("pki/ca.crt", "CA PEM");
  Write("pki/admin.key", "KEY PEM");
  auto path = Write("config", kConfig);
  auto creds = LoadKubeconfig({.paths = {path}, .context = ""});
  ASSERT_TRUE(creds.ok()) << creds.status().ToString();
  EXPECT_EQ(creds->server, "https://127.0.0.1:6443");
  EXPECT_EQ(creds->ca_pem, "CA PEM");
  EXPECT_EQ(creds->client_cert_pem, "CERT");
  EXPECT_EQ(creds->client_key_pem, "KEY PEM");
  EXPECT_EQ(creds->default_namespace, "shop");
  EXPECT_TRUE(creds->bearer_token.empty());
}

TEST_F(KubeconfigTest, SelectsNamedContext) {
  Write("pki/ca.crt", "CA PEM");
  auto path = Write("config", kConfig);
  auto creds = LoadKubeconfig({.paths = {path}, .context = "robot"});
  ASSERT_TRUE(creds.ok()) << creds.status().ToString();
  EXPECT_EQ(creds->bearer_token, "s3cr3t");
  EXPECT_EQ(creds->default_namespace, "default");
  EXPECT_TRUE(creds->client_cert_pem.empty());
}

TEST_F(KubeconfigTest, ErrorsNameTheMissingEntry) {
  Write("pki/ca.crt", "CA PEM");
  auto path = Write("config", kConfig);
  auto missing = LoadKubeconfig({.paths = {path}, .context = "nope"});
  ASSERT_FALSE(missing.ok());
  EXPECT_NE(missing.status().message().find("context \"nope\""), std::string::npos);
  auto dangling = LoadKubeconfig({.paths = {path}, .context = "dangling"});
  ASSERT_FALSE(dangling.ok());
  EXPECT_NE(dangling.status().message().find("cluster \"nowhere\""), std::string::npos);
}

TEST_F(KubeconfigTest, MissingReferencedFileIsAnError) {
  auto path = Write("config", kConfig);  // no pki/ca.crt
  auto creds = LoadKubeconfig({.paths = {path}, .context = ""});
  ASSERT_FALSE(creds.ok());
  EXPECT_NE(creds.status().message().find("certificate-authority"), std::string::npos);
}

TEST_F(KubeconfigTest, FirstFileWinsWhenMerging) {
  Write("pki/ca.crt", "CA PEM");
  auto first = Write("a", R"(current-context: robot
users:
- name: robot
  user: {token: from-a}
)");
  auto second = Write("config", kConfig);
  auto creds = LoadKubeconfig({.paths = {first, second}, .context = ""});
  ASSERT_TRUE(creds.ok()) << creds.status().ToString();
  EXPECT_EQ(creds->bearer_token, "from-a");
}

TEST_F(KubeconfigTest, MalformedYamlNamesFileAndLine) {
  auto path = Write("config", "clusters: [\n  - {name: x\n");
  auto creds = LoadKubeconfig({.paths = {path}, .context = ""});
  ASSERT_FALSE(creds.ok());
  EXPECT_NE(creds.status().message().find(path + ":"), std::string::npos)
      << creds.status().message();
}

TEST_F(KubeconfigTest, DuplicateKeysNameFileAndLine) {
  Write("pki/ca.crt", "CA PEM");
  auto path = Write("config", R"(current-context: admin
clusters:
- name: local
  cluster:
    server: https://127.0.0.1:6443
    server: https://evil.example.com
contexts:
- name: admin
  context: {cluster: local}
)");
  auto creds = LoadKubeconfig({.paths = {path}, .context = ""});
  ASSERT_FALSE(creds.ok());
  EXPECT_EQ(creds.status().message(), path + ":6:5: duplicate key \"server\" (first at line 5)");
  auto top = Write("top", "current-context: a\ncurrent-context: b\n");
  creds = LoadKubeconfig({.paths = {top}, .context = ""});
  ASSERT_FALSE(creds.ok());
  EXPECT_EQ(creds.status().message(),
            top + ":2:1: duplicate key \"current-context\" (first at line 1)");
}

TEST_F(KubeconfigTest, ShapesNameFileAndLine) {
  struct Case {
    std::string text, message;  // after the file's path
  } cases[] = {
      {"clusters: {name: x}\n", ":1:11: clusters must be a list"},
      {"users:\n- user: {token: t}\n", ":2:3: every entry of users needs a name"},
      {"current-context: a\n---\ncurrent-context: b\n", ":3:1: a kubeconfig is one YAML document"},
      {"hello\n", ": not a kubeconfig (not a map)"},
  };
  for (const Case& c : cases) {
    auto path = Write("config", c.text);
    EXPECT_EQ(LoadKubeconfig({.paths = {path}, .context = ""}).status().message(),
              path + c.message);
  }
  // kubectl writes an empty list as null.
  auto with_null_users = Write("null-users", R"(current-context: c
clusters:
- name: local
  cluster: {server: https://127.0.0.1:6443}
contexts:
- name: c
  context: {cluster: local}
users: null
)");
  auto creds = LoadKubeconfig({.paths = {with_null_users}, .context = ""});
  ASSERT_TRUE(creds.ok()) << creds.status().ToString();
  EXPECT_EQ(creds->server, "https://127.0.0.1:6443");
}

TEST_F(KubeconfigTest, InClusterReadsServiceAccountFiles) {
  Write("sa/token", "tok\n");
  Write("sa/ca.crt", "CA");
  Write("sa/namespace", "pagoda-system");
  setenv("KUBERNETES_SERVICE_HOST", "10.0.0.1", 1);
  setenv("KUBERNETES_SERVICE_PORT", "443", 1);
  auto creds = InClusterCredentials((dir_ / "sa").string());
  unsetenv("KUBERNETES_SERVICE_HOST");
  unsetenv("KUBERNETES_SERVICE_PORT");
  ASSERT_TRUE(creds.ok()) << creds.status().ToString();
  EXPECT_EQ(creds->server, "https://10.0.0.1:443");
  EXPECT_EQ(creds->ca_pem, "CA");
  EXPECT_EQ(creds->default_namespace, "pagoda-system");
  EXPECT_EQ(creds->bearer_token_file, (dir_ / "sa/token").string());
  EXPECT_FALSE(InClusterCredentials((dir_ / "sa").string()).ok());  // env unset again
}

TEST(StatusFromResponse, MapsApiServerStatus) {
  HttpResponse r;
  r.status = 404;
  r.body =
      R"({"kind":"Status","message":"deployments.apps \"web\" not found","reason":"NotFound"})";
  Status s = StatusFromResponse("GET", "/apis/apps/v1/namespaces/shop/deployments/web", r);
  EXPECT_EQ(s.code(), Status::Code::kNotFound);
  EXPECT_NE(s.message().find("deployments.apps \"web\" not found"), std::string::npos);
  r.status = 409;
  r.body = R"({"reason":"AlreadyExists","message":"exists"})";
  EXPECT_EQ(StatusFromResponse("POST", "/x", r).code(), Status::Code::kAlreadyExists);
  r.body = R"({"reason":"Conflict","message":"changed"})";
  EXPECT_EQ(StatusFromResponse("PUT", "/x", r).code(), Status::Code::kConflict);
  r.status = 429;
  r.body = "Too many requests";
  EXPECT_EQ(StatusFromResponse("GET", "/x", r).code(), Status::Code::kUnavailable);
  r.status = 403;
  EXPECT_EQ(StatusFromResponse("GET", "/x", r).code(), Status::Code::kPermissionDenied);
  r.status = 201;
  EXPECT_TRUE(StatusFromResponse("POST", "/x", r).ok());
}

}  // namespace
}  // namespace pagoda::kube
