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

TEST(ConfigExamplesTest, TheInClusterConfigMapLoads) {
  auto text = ReadFile("deploy/pagoda.yaml", 1 << 20);
  ASSERT_TRUE(text.ok());
  YamlResult yaml = ReadYaml(*text, YamlLimits{});
  ASSERT_TRUE(yaml.ok) << yaml.error;
  std::string config_yaml;
  for (const YamlDocument& doc : yaml.documents) {
    const YamlNode* kind = doc.root.Find("kind");
    const YamlNode* data = doc.root.Find("data");
    if (kind != nullptr && kind->scalar == "ConfigMap" && data != nullptr &&
        data->Find("config.yaml") != nullptr) {
      config_yaml = data->Find("config.yaml")->scalar;
    }
  }
  ASSERT_FALSE(config_yaml.empty());
  auto config = ParseDaemonConfig(config_yaml, "/etc/pagoda/config.yaml");
  ASSERT_TRUE(config.ok()) << config.status().ToString();
  ASSERT_EQ(config->clusters.count("prod"), 1u);
  EXPECT_TRUE(config->clusters.at("prod").in_cluster);
  EXPECT_EQ(config->http_listen, "0.0.0.0:9420");
  EXPECT_EQ(config->log_format, "json");
}

}  // namespace
}  // namespace pagoda::daemon
