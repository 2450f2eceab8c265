// What the daemon's end-to-end tests share: a Git repository made from
// examples/repo, a state directory, a config, and the daemon as a real
// process of the built binary, syncing into the local control plane under
// pagoda's own RBAC; the command line talking to it; its journal read back.
#pragma once

#include <gtest/gtest.h>

#include <chrono>
#include <memory>
#include <optional>
#include <string>
#include <vector>

#include "journal/journal.h"
#include "tests/integration/example_repo.h"
#include "tests/integration/test_cluster.h"

namespace pagoda::testing {

std::string ReadAll(const std::string& path);
// git -C DIR ARGS, as the user Dev; a failed test when it fails.
int Git(const std::string& dir, const std::vector<std::string>& args, std::string* out = nullptr);
// kubectl as the administrator; a failed test when it fails.
std::string Kubectl(const std::vector<std::string>& args);

class DaemonFixture : public ::testing::Test {
 protected:
  void SetUp() override;
  void TearDown() override;

  std::string StateDir() const { return state_root_ + "/state"; }
  std::string Log() const { return state_root_ + "/daemon.log"; }
  std::string Config() const { return state_root_ + "/config.yaml"; }

  // `extra`: more lines of the config (e.g. "fetchTimeout: 60s\n").
  void WriteConfig(const std::string& kubeconfig, const std::string& repo = "",
                   const std::string& extra = "");
  std::string Commit(const std::string& message);
  void StartDaemon();
  int Cli(const std::vector<std::string>& args, std::string* out);
  std::vector<journal::ReleaseRecord> Releases();
  // A release of app/env (example app name) to `commit` that has ended.
  std::optional<journal::ReleaseRecord> WaitForRelease(
      const std::string& app, const std::string& env, const std::string& commit,
      std::chrono::milliseconds timeout = std::chrono::seconds(30));
  std::string RunningRevision(const std::string& app, const std::string& env);

  ExampleRepo repo_;
  std::string state_root_;
  std::unique_ptr<ChildProcess> daemon_;
};

}  // namespace pagoda::testing
