// The installed layout: `cmake --install` puts the binary, the unit, its
// system user and the example config where systemd and the unit look, and
// `systemd-analyze verify` accepts the unit as installed.
#include <gtest/gtest.h>
#include <stdlib.h>
#include <sys/stat.h>
#include <unistd.h>

#include <cstdio>
#include <filesystem>
#include <fstream>
#include <sstream>
#include <string>

namespace {

namespace fs = std::filesystem;

int Shell(const std::string& command, std::string* out) {
  out->clear();
  FILE* p = popen((command + " 2>&1").c_str(), "r");
  if (p == nullptr) return -1;
  char buf[4096];
  size_t n;
  while ((n = fread(buf, 1, sizeof buf, p)) > 0) out->append(buf, n);
  int rc = pclose(p);
  return WIFEXITED(rc) ? WEXITSTATUS(rc) : -1;
}

std::string Read(const fs::path& path) {
  std::ifstream in(path);
  std::stringstream ss;
  ss << in.rdbuf();
  return ss.str();
}

class InstallTest : public ::testing::Test {
 protected:
  void SetUp() override {
    char tmpl[] = "/tmp/pagoda-install-XXXXXX";
    root_ = mkdtemp(tmpl);
    std::string out;
    ASSERT_EQ(Shell("DESTDIR='" + root_.string() +
                        "' '" CMAKE_COMMAND "' --install '" PAGODA_BUILD_DIR "'",
                    &out),
              0)
        << out;
  }
  void TearDown() override { fs::remove_all(root_); }

  fs::path root_;
};

TEST_F(InstallTest, PutsBinaryUnitUserAndConfigInTheUsualPlaces) {
  const fs::path prefix = root_ / fs::path(PAGODA_INSTALL_PREFIX).relative_path();
  const fs::path sysconf = root_ / fs::path(PAGODA_INSTALL_SYSCONFDIR).relative_path();
  EXPECT_TRUE(fs::exists(prefix / "bin/pagoda"));
  EXPECT_EQ(access((prefix / "bin/pagoda").c_str(), X_OK), 0);
  const fs::path unit = prefix / "lib/systemd/system/pagoda.service";
  ASSERT_TRUE(fs::exists(unit));
  EXPECT_TRUE(fs::exists(prefix / "lib/sysusers.d/pagoda.conf"));
  ASSERT_TRUE(fs::exists(sysconf / "pagoda/config.yaml"));

  const std::string text = Read(unit);
  EXPECT_NE(
      text.find("ExecStart=" PAGODA_INSTALL_PREFIX
                "/bin/pagoda daemon --config " PAGODA_INSTALL_SYSCONFDIR "/pagoda/config.yaml"),
      std::string::npos)
      << text;
  for (const char* line :
       {"Type=notify", "Restart=on-failure", "User=pagoda", "StateDirectory=pagoda",
        "ConfigurationDirectory=pagoda", "ProtectSystem=strict", "ProtectHome=yes",
        "PrivateTmp=yes", "NoNewPrivileges=yes", "UMask=0077",
        "RestrictAddressFamilies=AF_UNIX AF_INET AF_INET6", "ExecReload=/bin/kill -HUP $MAINPID",
        "WatchdogSec=5min"}) {
    EXPECT_NE(text.find(std::string("\n") + line + "\n"), std::string::npos) << line;
  }
  EXPECT_EQ(text.find("@CMAKE_"), std::string::npos) << "an unconfigured @VAR@ is left";

  // The example config is one the daemon reads.
  std::string out;
  EXPECT_EQ(Shell("grep -q '^http: {listen: \"127.0.0.1:9420\"' '" +
                      (sysconf / "pagoda/config.yaml").string() + "'",
                  &out),
            0);

  // An existing config is kept on the next install.
  std::ofstream(sysconf / "pagoda/config.yaml") << "repo: /srv/mine\n";
  ASSERT_EQ(
      Shell("DESTDIR='" + root_.string() + "' '" CMAKE_COMMAND "' --install '" PAGODA_BUILD_DIR "'",
            &out),
      0)
      << out;
  EXPECT_EQ(Read(sysconf / "pagoda/config.yaml"), "repo: /srv/mine\n");
}

TEST_F(InstallTest, SystemdAnalyzeVerifiesTheInstalledUnit) {
  std::string out;
  if (Shell("command -v systemd-analyze", &out) != 0) {
    GTEST_SKIP() << "systemd-analyze is not installed (Debian package systemd)";
  }
  const fs::path prefix = root_ / fs::path(PAGODA_INSTALL_PREFIX).relative_path();
  std::string text = Read(prefix / "lib/systemd/system/pagoda.service");
  // The unit as installed, its ExecStart pointed at the binary installed
  // under root_ (verify checks that it is there and executable).
  const std::string installed = PAGODA_INSTALL_PREFIX "/bin/pagoda";
  auto at = text.find("ExecStart=" + installed);
  ASSERT_NE(at, std::string::npos);
  text.replace(at + 10, installed.size(), (prefix / "bin/pagoda").string());
  fs::create_directories(root_ / "verify");
  std::ofstream(root_ / "verify/pagoda.service") << text;
  int rc =
      Shell("systemd-analyze verify '" + (root_ / "verify/pagoda.service").string() + "'", &out);
  EXPECT_EQ(rc, 0) << out;
  EXPECT_EQ(out.find("pagoda.service:"), std::string::npos) << "warnings about the unit:\n" << out;
}

}  // namespace
