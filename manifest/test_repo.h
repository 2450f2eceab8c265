// A small valid app for tests to modify: apps/shop with DeployConfig web and
// Environment prod.
#pragma once

#include <map>
#include <string>

#include "manifest/manifest.h"

namespace pagoda::manifest::testing {

inline constexpr char kAppFile[] = "apps/shop/app.yaml";
inline constexpr char kDeployFile[] = "apps/shop/deploy/web.yaml";
inline constexpr char kEnvFile[] = "apps/shop/envs/prod.yaml";

inline std::map<std::string, std::string> BaseRepo() {
  return {
      {kAppFile,
       "apiVersion: pagoda.dev/v1\n"
       "kind: App\n"
       "metadata:\n"
       "  name: shop\n"
       "spec:\n"
       "  description: a test app\n"},
      {kDeployFile,
       "apiVersion: pagoda.dev/v1\n"
       "kind: DeployConfig\n"
       "metadata:\n"
       "  name: web\n"
       "spec:\n"
       "  image: registry.example.com/shop/web:1.4.2\n"
       "  cpu: \"0.5\"\n"
       "  memory: 512Mi\n"
       "  ports:\n"
       "    - {name: http, port: 8080}\n"},
      {kEnvFile,
       "apiVersion: pagoda.dev/v1\n"
       "kind: Environment\n"
       "metadata:\n"
       "  name: prod\n"
       "spec:\n"
       "  cluster: prod\n"
       "  deployConfig: web\n"
       "  replicas: 4\n"
       "  release:\n"
       "    batches: 2\n"
       "  traffic:\n"
       "    - {name: web, protocol: http, port: 80, targetPort: 8080}\n"},
  };
}

inline MemorySource ToSource(const std::map<std::string, std::string>& files) {
  MemorySource source;
  for (const auto& [path, content] : files) source.Add(path, content);
  return source;
}

inline LoadOptions TestOptions() {
  LoadOptions options;
  options.known_clusters = {"test", "prod"};
  options.node_allocatable = NodeAllocatable{4000, int64_t{8} << 30};
  return options;
}

}  // namespace pagoda::manifest::testing
