// Release policy end to end: the daemon as a real process releasing into the
// real local control plane, with prod promoted after test. A commit goes to
// test, soaks, then to prod by itself; a test release that fails never
// reaches prod; `pagoda release promote` skips a soak on purpose.
#include <gtest/gtest.h>
#include <rapidjson/document.h>

#include <chrono>
#include <string>

#include "journal/journal.h"
#include "tests/integration/daemon_fixture.h"

namespace pagoda {
namespace {

using namespace std::chrono_literals;
using journal::Outcome;
using testing::Git;

constexpr int64_t kSoakMs = 6000;

class PolicyTest : public testing::DaemonFixture {
 protected:
  void SetUp() override {
    DaemonFixture::SetUp();
    // A batch of test that never gets Ready fails after 4s; prod follows test.
    repo_.Edit("shop-web", "envs/test.yaml", "batchInterval: 0s",
               "batchInterval: 0s\n    batchTimeout: 4s");
    repo_.Edit("shop-web", "envs/prod.yaml",
               "  sync:", "  promotion: {after: test, soak: 6s}\n  sync:");
    head_ = Commit("shop-web: prod follows test after a 6s soak");
  }
  struct Wait {
    std::string after, reason;
    int soak_seconds = 0;
  };
  // What `pagoda status --json` says prod waits for, once it says it waits
  // (`reason` starting with `reason`).
  Wait WaitsFor(const std::string& reason) {
    Wait wait;
    std::string status;
    const bool waits = testing::WaitUntil(
        [&] {
          if (Cli({"status", "--json"}, &status) != 0) return false;
          rapidjson::Document doc;
          doc.Parse(status.c_str());
          if (doc.HasParseError() || !doc.HasMember("environments")) return false;
          for (const auto& e : doc["environments"].GetArray()) {
            if (repo_.App("shop-web") != e["app"].GetString() ||
                std::string(e["env"].GetString()) != "prod" || !e["waiting"].IsObject()) {
              continue;
            }
            wait = {e["waiting"]["for"].GetString(), e["waiting"]["reason"].GetString(),
                    e["waiting"]["soakSeconds"].GetInt()};
            return wait.reason.starts_with(reason);
          }
          return false;
        },
        20s);
    EXPECT_TRUE(waits) << status;
    return wait;
  }
  std::string head_;
};

TEST_F(PolicyTest, ACommitGoesToTestSoaksThenToProdAndAFailedOneNeverReachesProd) {
  StartDaemon();
  auto in_test = WaitForRelease("shop-web", "test", head_);
  ASSERT_TRUE(in_test.has_value());
  EXPECT_EQ(in_test->outcome, Outcome::kSucceeded);
  auto in_prod = WaitForRelease("shop-web", "prod", head_, 40s);
  ASSERT_TRUE(in_prod.has_value());
  EXPECT_EQ(in_prod->outcome, Outcome::kSucceeded);
  EXPECT_GE(in_prod->start, in_test->end + kSoakMs) << "prod went before test's soak ended";
  EXPECT_EQ(in_prod->follows, in_test->id);
  EXPECT_NE(in_prod->promotion.find("test ran it for "), std::string::npos) << in_prod->promotion;

  // A broken image fails in test and is rolled back; prod never gets it.
  repo_.Edit("shop-web", "deploy/web.yaml", "shop/web:1.4.2", "shop/web:broken");
  const std::string bad = Commit("shop-web: a broken image");
  auto failed = WaitForRelease("shop-web", "test", bad, 60s);
  ASSERT_TRUE(failed.has_value());
  EXPECT_EQ(failed->outcome, Outcome::kRolledBack);
  EXPECT_EQ(WaitsFor("test: release " + failed->id).after, "test");
  EXPECT_FALSE(WaitForRelease("shop-web", "prod", bad, 2 * kSoakMs * 1ms).has_value());
  std::string table;
  ASSERT_EQ(Cli({"status"}, &table), 0);
  EXPECT_NE(table.find("waiting for test: test: release " + failed->id), std::string::npos)
      << table;
}

TEST_F(PolicyTest, PromoteSkipsTheSoakOnPurposeAndItsRecordSaysWhoAndWhy) {
  repo_.Edit("shop-web", "envs/prod.yaml", "soak: 6s", "soak: 1h");
  const std::string first = Commit("shop-web: an hour's soak");
  StartDaemon();
  ASSERT_TRUE(WaitForRelease("shop-web", "test", first).has_value());
  const Wait wait = WaitsFor("soaking");
  EXPECT_EQ(wait.after, "test");
  EXPECT_EQ(wait.soak_seconds, 3600);
  std::string table;
  ASSERT_EQ(Cli({"status"}, &table), 0);
  EXPECT_NE(table.find("waiting for test: soaked "), std::string::npos) << table;
  EXPECT_NE(table.find(" of 1h00m"), std::string::npos) << table;

  std::string out;
  const std::string prod = repo_.App("shop-web") + "/prod";
  EXPECT_EQ(Cli({"release", "promote", prod}, &out), 2) << out;  // --reason is required
  ASSERT_EQ(Cli({"release", "promote", prod, "--reason", "the checkout fix"}, &out), 0) << out;
  auto promoted = WaitForRelease("shop-web", "prod", first, 20s);
  ASSERT_TRUE(promoted.has_value());
  EXPECT_EQ(promoted->outcome, Outcome::kSucceeded);
  EXPECT_NE(promoted->promotion.find("promoted by "), std::string::npos) << promoted->promotion;
  EXPECT_NE(promoted->promotion.find("without waiting for test: the checkout fix"),
            std::string::npos)
      << promoted->promotion;
  ASSERT_EQ(Cli({"release", "show", promoted->id}, &out), 0);
  EXPECT_NE(out.find("promotion promoted by "), std::string::npos) << out;
}

}  // namespace
}  // namespace pagoda
