#include "tests/integration/daemon_fixture.h"

#include <filesystem>
#include <fstream>
#include <sstream>

namespace pagoda::testing {

std::string ReadAll(const std::string& path) {
  std::ifstream in(path);
  std::stringstream ss;
  ss << in.rdbuf();
  return ss.str();
}

int Git(const std::string& dir, const std::vector<std::string>& args, std::string* out) {
  std::vector<std::string> argv = {
      "/usr/bin/git", "-C", dir, "-c", "user.name=Dev", "-c", "user.email=dev@example.com"};
  argv.insert(argv.end(), args.begin(), args.end());
  std::string ignored;
  int rc = testing::Run(argv, out != nullptr ? out : &ignored);
  EXPECT_EQ(rc, 0) << (out != nullptr ? *out : ignored);
  return rc;
}

std::string Kubectl(const std::vector<std::string>& args) {
  std::string out;
  EXPECT_EQ(TestCluster::Get().Kubectl(args, &out), 0) << out;
  return out;
}

void DaemonFixture::SetUp() {
  char tmpl[] = "/tmp/pagoda-daemon-XXXXXX";
  state_root_ = mkdtemp(tmpl);
  Git(repo_.dir(), {"init", "-q", "-b", "main"});
  repo_.ReleaseWithoutHolds();  // the tests that hold set it themselves
  Commit("initial apps");
  WriteConfig(TestCluster::Get().pagoda_kubeconfig);
}

void DaemonFixture::TearDown() {
  daemon_.reset();
  if (HasFailure()) std::cerr << "---- daemon log ----\n" << ReadAll(Log()) << "\n";
  std::filesystem::remove_all(state_root_);
}

void DaemonFixture::WriteConfig(const std::string& kubeconfig, const std::string& repo,
                                const std::string& extra) {
  std::ofstream(Config()) << "repo: " << (repo.empty() ? repo_.dir() : repo) << "\n"
                          << "interval: 1s\ndriftInterval: 4s\n"
                          << "stateDir: " << StateDir() << "\n"
                          << "http: {listen: \"127.0.0.1:0\"}\n"  // tests run side by side
                          << "clusters:\n"
                          << "  test: {kubeconfig: " << kubeconfig << "}\n"
                          << "  prod: {kubeconfig: " << kubeconfig << "}\n"
                          << extra;
}

std::string DaemonFixture::Commit(const std::string& message) {
  Git(repo_.dir(), {"add", "-A"});
  Git(repo_.dir(), {"commit", "-q", "-m", message});
  std::string id;
  Git(repo_.dir(), {"rev-parse", "HEAD"}, &id);
  return id.substr(0, 40);
}

void DaemonFixture::StartDaemon() {
  daemon_ = std::make_unique<ChildProcess>(
      std::vector<std::string>{"/bin/sh", "-c",
                               std::string("exec '") + PAGODA_BINARY + "' daemon --config '" +
                                   Config() + "' 2>>'" + Log() + "'"});
}

int DaemonFixture::Cli(const std::vector<std::string>& args, std::string* out) {
  std::vector<std::string> argv = {PAGODA_BINARY};
  argv.insert(argv.end(), args.begin(), args.end());
  argv.push_back("--state-dir=" + StateDir());
  return testing::Run(argv, out);
}

std::vector<journal::ReleaseRecord> DaemonFixture::Releases() {
  journal::JournalReader reader(journal::PosixJournalFs(), StateDir() + "/journal");
  auto r = reader.Releases({.app = "", .env = "", .limit = 1000});
  return r.ok() ? *r : std::vector<journal::ReleaseRecord>{};
}

std::optional<journal::ReleaseRecord> DaemonFixture::WaitForRelease(
    const std::string& app, const std::string& env, const std::string& commit,
    std::chrono::milliseconds timeout) {
  std::optional<journal::ReleaseRecord> found;
  WaitUntil(
      [&] {
        for (const auto& r : Releases()) {
          if (r.app == repo_.App(app) && r.env == env && r.to.id == commit &&
              r.outcome != journal::Outcome::kInProgress) {
            found = r;
            return true;
          }
        }
        return false;
      },
      timeout);
  return found;
}

std::string DaemonFixture::RunningRevision(const std::string& app, const std::string& env) {
  return Kubectl(
      {"get", "deployments", "-n", repo_.App(app), "-l", "app.kubernetes.io/instance=" + env, "-o",
       R"(jsonpath={range .items[?(@.spec.replicas>0)]}{.metadata.labels.pagoda\.dev/revision}{end})"});
}

}  // namespace pagoda::testing
