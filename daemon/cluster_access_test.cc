// The loop's access to real API servers, as far as it goes without one.
#include <gtest/gtest.h>

#include <filesystem>
#include <fstream>

#include "daemon/loop.h"

namespace pagoda::daemon {
namespace {

namespace fs = std::filesystem;

void WriteKubeconfig(const fs::path& path, const std::string& server) {
  std::ofstream(path) << "apiVersion: v1\nkind: Config\ncurrent-context: c\n"
                         "clusters: [{name: c, cluster: {server: \""
                      << server
                      << "\"}}]\n"
                         "users: [{name: u, user: {token: t}}]\n"
                         "contexts: [{name: c, context: {cluster: c, user: u}}]\n";
}

TEST(ClusterAccessTest, ANameThatResolvedIsNotReadAgainAndOneThatFailedIs) {
  const fs::path dir = fs::temp_directory_path() / ("pagoda-access-" + std::to_string(::getpid()));
  fs::create_directories(dir);
  ClusterMapping mapping;
  mapping.explicit_targets["prod"] = (dir / "prod.kubeconfig").string();
  mapping.explicit_targets["test"] = (dir / "test.kubeconfig").string();
  WriteKubeconfig(dir / "prod.kubeconfig", "https://127.0.0.1:1");
  auto access = NewClusterAccess(mapping, kube::ClientOptions{});

  auto prod = access->ServerOf("prod");
  ASSERT_TRUE(prod.ok()) << prod.status().ToString();
  EXPECT_FALSE(access->ServerOf("test").ok());  // no file yet

  // Each pass asks again: the answer stands without the file being read.
  fs::remove(dir / "prod.kubeconfig");
  auto again = access->ServerOf("prod");
  ASSERT_TRUE(again.ok()) << again.status().ToString();
  EXPECT_EQ(*again, *prod);

  // A name that failed is tried again, and resolves once its file is there.
  WriteKubeconfig(dir / "test.kubeconfig", "https://127.0.0.1:2");
  auto test = access->ServerOf("test");
  ASSERT_TRUE(test.ok()) << test.status().ToString();
  EXPECT_NE(*test, *prod);
  fs::remove_all(dir);
}

}  // namespace
}  // namespace pagoda::daemon
