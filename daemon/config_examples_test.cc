// The configs pagoda ships as examples are ones it reads.
#include <gtest/gtest.h>

#include "base/file.h"
#include "base/yaml.h"
#include "daemon/config.h"

namespace pagoda::daemon {
namespace {

TEST(ConfigExamplesTest, TheSystemdExampleConfigLoads) {
  auto config = LoadDaemonConfig("systemd/config.yaml");
  ASSERT_TRUE(config.ok()) << config.status().ToString();
  EXPECT_EQ(config->http_listen, "127.0.0.1:9420");
  EXPECT_EQ(config->state_dir, "/var/lib/pagoda");
  EXPECT_EQ(config->clusters.size(), 2u);
}

// The daemon config a ConfigMap of a manifest file carries.
std::string ConfigMapConfig(const std::string& path) {
  auto text = ReadFile(path, 1 << 20);
  EXPECT_TRUE(text.ok()) << path;
  if (!text.ok()) return "";
  YamlResult yaml = ReadYaml(*text, YamlLimits{});
  EXPECT_TRUE(yaml.ok) << yaml.error;
  for (const YamlDocument& doc : yaml.documents) {
    const YamlNode* kind = doc.root.Find("kind");
    const YamlNode* data = doc.root.Find("data");
    if (kind != nullptr && kind->scalar == "ConfigMap" && data != nullptr &&
        data->Find("config.yaml") != nullptr) {
      return data->Find("config.yaml")->scalar;
    }
  }
  return "";
}

TEST(ConfigExamplesTest, TheInClusterConfigMapsLoad) {
  for (const char* path : {"deploy/pagoda.yaml", "examples/install/config.yaml"}) {
    std::string config_yaml = ConfigMapConfig(path);
    ASSERT_FALSE(config_yaml.empty()) << path;
    auto config = ParseDaemonConfig(config_yaml, "/etc/pagoda/config.yaml");
    ASSERT_TRUE(config.ok()) << path << ": " << config.status().ToString();
    ASSERT_EQ(config->clusters.count("prod"), 1u) << path;
    EXPECT_TRUE(config->clusters.at("prod").in_cluster) << path;
    EXPECT_EQ(config->http_listen, "0.0.0.0:9420") << path;
    EXPECT_EQ(config->log_format, "json") << path;
  }
}

}  // namespace
}  // namespace pagoda::daemon
