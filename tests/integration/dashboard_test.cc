// The dashboard in a real browser (Debian's Chromium, headless, driven by
// playwright-core: tests/browser/dashboard_test.cjs) against the daemon on
// the local control plane. Screenshots of each page are left in
// $PAGODA_SCREENSHOTS (default: build/screenshots), not committed.
#include <gtest/gtest.h>

#include <chrono>
#include <cstdlib>
#include <filesystem>
#include <fstream>
#include <regex>
#include <string>

#include "journal/journal.h"
#include "tests/integration/daemon_fixture.h"

namespace pagoda {
namespace {

using namespace std::chrono_literals;
using testing::ReadAll;

std::string Cache() {
  if (const char* c = std::getenv("PAGODA_CACHE"); c != nullptr && *c != '\0') return c;
  if (const char* x = std::getenv("XDG_CACHE_HOME"); x != nullptr && *x != '\0') {
    return std::string(x) + "/pagoda";
  }
  return std::string(std::getenv("HOME")) + "/.cache/pagoda";
}

class DashboardTest : public testing::DaemonFixture {
 protected:
  // The dashboard's address, from the daemon's log line.
  std::string Url() {
    std::string url;
    testing::WaitUntil(
        [&] {
          std::smatch m;
          const std::string log = ReadAll(Log());
          static const std::regex kListening(R"(http: listening on ([0-9.]+:[0-9]+))");
          if (!std::regex_search(log, m, kListening)) return false;
          url = "http://" + m[1].str();
          return true;
        },
        30s);
    return url;
  }
  std::string Shots() {
    const char* dir = std::getenv("PAGODA_SCREENSHOTS");
    std::string out =
        dir != nullptr && *dir != '\0' ? dir : std::string(PAGODA_BUILD_DIR) + "/screenshots";
    out += "/" + std::string(::testing::UnitTest::GetInstance()->current_test_info()->name());
    std::filesystem::create_directories(out);
    return out;
  }
  std::unique_ptr<testing::ChildProcess> Browser(const std::vector<std::string>& args) {
    std::string command = "NODE_PATH='" + Cache() +
                          "/browser/playwright-core-1.65.2/node_modules' exec node '" +
                          PAGODA_SOURCE_DIR + "/tests/browser/dashboard_test.cjs'";
    for (const std::string& a : args) command += " '" + a + "'";
    return std::make_unique<testing::ChildProcess>(
        std::vector<std::string>{"/bin/sh", "-c", command + " 2>&1"});
  }
};

TEST_F(DashboardTest, AHeldReleaseShowsWithoutAReloadAndTheTokenResumesIt) {
  const std::string token = "dashboard-token-0123456789abcdef";
  std::ofstream(state_root_ + "/dashboard-token") << token << "\n";
  // The fixture's http line, with the token file.
  std::string config = ReadAll(Config());
  config.replace(
      config.find("http: {listen: \"127.0.0.1:0\"}"),
      std::string("http: {listen: \"127.0.0.1:0\"}").size(),
      "http: {listen: \"127.0.0.1:0\", dashboardTokenFile: " + state_root_ + "/dashboard-token}");
  std::ofstream(Config()) << config;
  StartDaemon();
  std::string head;
  testing::Git(repo_.dir(), {"rev-parse", "HEAD"}, &head);
  ASSERT_TRUE(WaitForRelease("shop-web", "prod", head.substr(0, 40), 60s).has_value());
  const std::string env = repo_.App("shop-web") + "/prod";
  auto browser = Browser({"act", Url(), token, env, Shots()});
  ASSERT_EQ(browser->ReadLine(90s), "opened");

  repo_.Edit("shop-web", "envs/prod.yaml", "pause: none", "pause: first");
  repo_.Edit("shop-web", "deploy/web.yaml", "shop/web:1.4.2", "shop/web:1.7.0");
  const std::string gray = Commit("shop-web: web 1.7.0, gray first");
  const std::string held = browser->ReadLine(90s);
  ASSERT_TRUE(held.starts_with("held r-")) << held;
  const std::string id = held.substr(5);
  ASSERT_EQ(browser->ReadLine(120s), "done");
  int status = -1;
  const std::string after = browser->ReadLine(30s);
  ASSERT_TRUE(browser->WaitForExit(30s, &status));
  EXPECT_EQ(status, 0) << after;

  auto done = WaitForRelease("shop-web", "prod", gray, 30s);
  ASSERT_TRUE(done.has_value());
  EXPECT_EQ(done->id, id);
  EXPECT_EQ(done->outcome, journal::Outcome::kSucceeded);
  EXPECT_NE(ReadAll(Log()).find("dashboard: resume " + id + " (via dashboard)"), std::string::npos);
  for (const char* shot : {"environments", "held", "release", "history", "synclog"}) {
    EXPECT_TRUE(std::filesystem::exists(Shots() + "/" + shot + ".png")) << shot;
  }
}

TEST_F(DashboardTest, WithoutATokenTheButtonsAreAbsentAndTheApiRefuses) {
  StartDaemon();
  std::string head;
  testing::Git(repo_.dir(), {"rev-parse", "HEAD"}, &head);
  ASSERT_TRUE(WaitForRelease("shop-web", "prod", head.substr(0, 40), 60s).has_value());
  auto browser = Browser({"readonly", Url(), repo_.App("shop-web") + "/prod", Shots()});
  EXPECT_EQ(browser->ReadLine(90s), "done");
  int status = -1;
  const std::string after = browser->ReadLine(30s);
  ASSERT_TRUE(browser->WaitForExit(30s, &status));
  EXPECT_EQ(status, 0) << after;
}

}  // namespace
}  // namespace pagoda
