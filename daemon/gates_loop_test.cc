// Gates in the loop: after each batch but the last, every gate is asked
// every interval until it passes (the order goes on) or fails (the batch
// fails: rolled back); a restart at a gate asks again and repeats no batch.
#include "daemon/loop_test_fixture.h"

namespace pagoda::daemon::test {
namespace {

// Answers as told, and remembers what it was asked and when.
class ScriptedGates final : public GateAsker {
 public:
  explicit ScriptedGates(FakeClock& clock) : clock_(clock) {}
  GateAnswer Ask(const GateCheck& check) override {
    asked.push_back(check);
    at.push_back(clock_.Now());
    using policy::CheckResult;
    switch (result) {
      case CheckResult::kPassed:
        return {result, "webhook smoke: HTTP 204"};
      case CheckResult::kFailed:
        return {result, "webhook smoke: HTTP 503"};
      case CheckResult::kInconclusive:
        return {result, "Prometheus (HTTP 200): the query found no series"};
    }
    return {};
  }
  policy::CheckResult result = policy::CheckResult::kPassed;
  std::vector<GateCheck> asked;
  std::vector<Clock::TimePoint> at;

 private:
  FakeClock& clock_;
};

// shop/prod at `image`, 3 instances in 2 batches, with `gates`.
std::map<std::string, std::string> Gated(const std::string& image, const std::string& gates) {
  auto files = Repo(image);
  files["apps/shop/envs/prod.yaml"] += "  release:\n    batches: 2\n    gates:\n" + gates;
  return files;
}

constexpr char kSmoke[] = "      - {name: smoke, webhook: smoke, interval: 10s, count: 2}\n";

class GatesLoopTest : public LoopTest {
 protected:
  void SetUp() override {
    LoopTest::SetUp();
    Open();
  }
  void Open() {
    OpenJournal([this](LoopOptions& o) {
      o.gate_asker = &gates_;
      o.gate_webhooks = {{"smoke", GateWebhook{"http://127.0.0.1:1/smoke", "", 0}}};
      o.gate_prometheus = "http://127.0.0.1:1";
    });
  }
  // web:1 released, then web:2 pushed with `gates`; steps until `done`.
  bool ReleaseTwo(const std::string& gates, const std::function<bool()>& done) {
    git_.Push(Gated("example.com/web:1", gates), "first");
    Step();
    gates_.asked.clear();
    gates_.at.clear();
    git_.Push(Gated("example.com/web:2", gates), "web 2");
    clock_.Advance(31s);
    return StepUntil(done);
  }
  bool Ended(size_t releases) { return Releases().size() == releases && Shop()->release.empty(); }
  ScriptedGates gates_{clock_};
};

TEST_F(GatesLoopTest, AGatePassesAfterItsCountOfChecksAndTheReleaseGoesOn) {
  ASSERT_TRUE(ReleaseTwo(kSmoke, [&] { return Ended(2); }));
  const ReleaseRecord r = Releases().front();
  EXPECT_EQ(r.outcome, Outcome::kSucceeded);
  ASSERT_EQ(r.batches.size(), 2u);
  EXPECT_EQ(r.batches[0].gates,
            std::vector<std::string>{
                "smoke passed after 2 checks: webhook smoke: HTTP 204; webhook smoke: HTTP 204"});
  EXPECT_TRUE(r.batches[1].gates.empty()) << "no gate after the last batch";
  ASSERT_EQ(gates_.asked.size(), 2u);
  EXPECT_EQ(gates_.asked[0].release, r.id);
  EXPECT_EQ(gates_.asked[0].batch, 1);
  EXPECT_EQ(gates_.asked[0].endpoint, "http://127.0.0.1:1/smoke");
  EXPECT_EQ(gates_.asked[0].env, "prod");
  EXPECT_GE(gates_.at[1] - gates_.at[0], 10s) << "checks are an interval apart";
  EXPECT_GE(r.batches[1].start, r.batches[0].end + 10'000) << "batch 2 waited for the gate";
}

TEST_F(GatesLoopTest, AHoldAfterAPassedGateIsJournalledWithIt) {
  auto files = [](const std::string& image) {
    auto f = Gated(image, "      - {name: smoke, webhook: smoke}\n");
    f["apps/shop/envs/prod.yaml"] += "    pause: first\n";
    return f;
  };
  git_.Push(files("example.com/web:1"), "first");
  ASSERT_TRUE(StepUntil([&] { return Shop() != nullptr && Phase() == "held"; }));
  ReleaseRecord r = Releases().front();
  EXPECT_EQ(r.hold, journal::Hold::kPolicy) << "a crash now must not lose the hold";
  ASSERT_EQ(r.batches.size(), 1u);
  EXPECT_EQ(r.batches[0].gates.size(), 1u);
  ASSERT_TRUE(reconciler_->Resume(r.id).ok());
  ASSERT_TRUE(StepUntil([&] { return Ended(1); }));
  EXPECT_EQ(Releases().front().outcome, Outcome::kSucceeded);
}

TEST_F(GatesLoopTest, AFailedGateFailsTheBatchAndRollsItBack) {
  gates_.result = policy::CheckResult::kFailed;
  ASSERT_TRUE(ReleaseTwo(kSmoke, [&] { return Ended(2); }));
  const ReleaseRecord r = Releases().front();
  EXPECT_EQ(r.outcome, Outcome::kRolledBack);
  EXPECT_EQ(gates_.asked.size(), 1u) << "failureLimit 0: the first failed check fails it";
  ASSERT_FALSE(r.errors.empty());
  EXPECT_EQ(r.errors.back(),
            "batch 1: gate smoke failed: 1 of 1 check failed: webhook smoke: HTTP 503");
  EXPECT_NE(DeploymentName().find(r.from_revision), std::string::npos) << "back on web:1";
}

TEST_F(GatesLoopTest, ARestartAtAGateAsksAgainAndRepeatsNoBatch) {
  ASSERT_TRUE(ReleaseTwo(kSmoke, [&] { return gates_.asked.size() == 1; }));
  const std::string id = Shop()->release;
  EXPECT_EQ(Shop()->release_phase, "at gate");
  Open();  // a restart between two checks
  gates_.asked.clear();
  ASSERT_TRUE(StepUntil([&] { return Ended(2); }));
  const ReleaseRecord r = Releases().front();
  EXPECT_EQ(r.id, id);
  EXPECT_EQ(r.outcome, Outcome::kSucceeded);
  EXPECT_EQ(gates_.asked.size(), 2u) << "the checks after batch 1 start again";
  std::vector<int> indexes;
  for (const auto& b : r.batches) indexes.push_back(b.index);
  EXPECT_EQ(indexes, (std::vector<int>{1, 2}));
}

TEST_F(GatesLoopTest, AQueryNamesTheReleaseAndWaitsItsInitialDelay) {
  ASSERT_TRUE(
      ReleaseTwo("      - name: success-rate\n"
                 "        prometheus:\n"
                 "          query: 'ok{namespace=\"{{namespace}}\",revision=\"{{revision}}\"}'\n"
                 "          successCondition: 'result[0] >= 1'\n"
                 "        initialDelay: 1m\n",
                 [&] { return Ended(2); }));
  const ReleaseRecord r = Releases().front();
  EXPECT_EQ(r.outcome, Outcome::kSucceeded);
  ASSERT_EQ(gates_.asked.size(), 1u);
  EXPECT_EQ(gates_.asked[0].spec.query,
            "ok{namespace=\"shop\",revision=\"" + r.to_revision + "\"}");
  EXPECT_EQ(gates_.asked[0].endpoint, "http://127.0.0.1:1");
  EXPECT_GE(r.batches[1].start, r.batches[0].end + 60'000) << "the first check waited 1m";
}

TEST_F(GatesLoopTest, NoDataIsAskedAgainAndFailsOnlyAtTheBatchTimeout) {
  gates_.result = policy::CheckResult::kInconclusive;
  ASSERT_TRUE(
      ReleaseTwo("      - name: success-rate\n"
                 "        prometheus: {query: up, successCondition: '>= 1'}\n"
                 "        interval: 10s\n"
                 "    batchTimeout: 1m\n",
                 [&] { return Ended(2); }));
  const ReleaseRecord r = Releases().front();
  EXPECT_EQ(r.outcome, Outcome::kRolledBack);
  EXPECT_GE(gates_.asked.size(), 6u) << "asked every 10s for a minute";
  EXPECT_NE(r.errors.back().find("batch 1: gate success-rate failed: no verdict within the batch "
                                 "timeout of 1m00s (0 of 1 passed): "),
            std::string::npos)
      << r.errors.back();
}

TEST_F(GatesLoopTest, AGateWithNothingToAskFailsAndSaysWhy) {
  ASSERT_TRUE(ReleaseTwo("      - {name: bot, webhook: deploy-bot}\n", [&] { return Ended(2); }));
  const ReleaseRecord r = Releases().front();
  EXPECT_EQ(r.outcome, Outcome::kRolledBack);
  EXPECT_NE(r.errors.back().find("the daemon config has no webhook deploy-bot"), std::string::npos)
      << r.errors.back();
  EXPECT_TRUE(gates_.asked.empty());
}

}  // namespace
}  // namespace pagoda::daemon::test
