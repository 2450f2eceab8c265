// The release order's decisions against a simulated environment whose pods
// start, become Ready and terminate with delays on a fake clock. The real
// thing against KWOK is in tests/integration/batches_test.cc.
#include <gtest/gtest.h>

#include "rollout/rollout.h"

namespace pagoda::rollout {
namespace {

using namespace std::chrono_literals;

// Pods of each revision: created when scaled up, Ready after `ready_after`
// (never for a broken revision), gone `gone_after` after a scale down.
class SimWorkloads final : public Workloads {
 public:
  SimWorkloads(FakeClock& clock, int64_t R, int64_t k) : clock_(clock), R_(R), k_(k) {}
  struct Pod {
    Clock::TimePoint started, ready_at, gone_at;
    bool terminating = false;
  };
  struct Rev {
    std::string deployment, created;
    int64_t replicas = 0;
    bool broken = false;
    std::vector<Pod> pods;
  };
  std::map<std::string, Rev> revs;
  std::chrono::milliseconds ready_after{700}, gone_after{300};
  bool begun = false;  // the release started: the Ready invariant applies
  int scales = 0;
  int64_t max_pods = 0, min_ready = 1 << 30;

  void Add(const std::string& rev, int64_t replicas, bool broken = false,
           std::string created = "1") {
    Rev r{"env-" + rev, created, 0, broken, {}};
    revs[rev] = r;
    SetReplicas(rev, replicas);
    for (auto& p : revs[rev].pods) p.ready_at = clock_.Now();  // already running
  }
  void SetReplicas(const std::string& rev, int64_t n) {
    Rev& r = revs[rev];
    int64_t live = 0;
    for (auto& p : r.pods) live += !p.terminating;
    for (auto it = r.pods.rbegin(); it != r.pods.rend() && live > n; ++it) {
      if (!it->terminating) {
        it->terminating = true;
        it->gone_at = clock_.Now() + gone_after;
        --live;
      }
    }
    for (; live < n; ++live)
      r.pods.push_back({clock_.Now(), clock_.Now() + ready_after, {}, false});
    r.replicas = n;
  }
  Result<std::map<std::string, RevisionState>> Read(const std::string&,
                                                    const std::string&) override {
    std::map<std::string, RevisionState> out;
    int64_t pods = 0, ready = 0;
    for (auto& [rev, r] : revs) {
      std::erase_if(r.pods,
                    [&](const Pod& p) { return p.terminating && clock_.Now() >= p.gone_at; });
      RevisionState& s = out[rev];
      s.deployment = r.deployment;
      s.replicas = r.replicas;
      s.created = r.created;
      int i = 0;
      for (const auto& p : r.pods) {
        ++s.pods;
        bool is_ready = !p.terminating && !r.broken && clock_.Now() >= p.ready_at;
        if (is_ready) {
          ++s.ready;
          s.ready_pods.push_back(rev + "-" + std::to_string(i));
        } else if (!p.terminating) {
          s.unready.push_back(rev + "-" + std::to_string(i) + ": Ready=False (ContainersNotReady)");
        }
        ++i;
      }
      pods += s.pods;
      ready += s.ready;
    }
    max_pods = std::max(max_pods, pods);
    if (begun) min_ready = std::min(min_ready, ready);
    return out;
  }
  Status Scale(const std::string&, const std::string& deployment, int64_t replicas) override {
    ++scales;
    begun = true;
    for (auto& [rev, r] : revs) {
      if (r.deployment == deployment) SetReplicas(rev, replicas);
    }
    return Status::Ok();
  }
  std::string LastEvent(const std::string&, const std::vector<std::string>& pods) override {
    return pods.empty() ? "" : pods[0] + ": Unhealthy: Readiness probe failed";
  }

 private:
  FakeClock& clock_;
  int64_t R_, k_;
};

// Steps the order until it finishes or holds, advancing the clock as it asks.
OrderPhase Drive(ReleaseOrder& order, FakeClock& clock, int max_steps = 10000) {
  for (int i = 0; i < max_steps; ++i) {
    auto next = order.Step();
    if (Finished(order.phase()) || order.phase() == OrderPhase::kHeld ||
        order.phase() == OrderPhase::kFailed) {
      return order.phase();
    }
    if (next > clock.Now()) clock.Advance(next - clock.Now());
  }
  ADD_FAILURE() << "the order never finished";
  return order.phase();
}

OrderPolicy Policy(int64_t R, int B) {
  OrderPolicy p;
  p.replicas = R;
  p.batches = B;
  p.batch_timeout = 30s;
  return p;
}

TEST(ReleaseOrder, EveryReplicaAndBatchCountKeepsTheInvariants) {
  for (int64_t R : {1, 2, 4, 5, 10}) {
    for (int B : {1, 2, 3, static_cast<int>(R)}) {
      if (B > R) continue;
      SCOPED_TRACE("R=" + std::to_string(R) + " B=" + std::to_string(B));
      FakeClock clock;
      int64_t k = (R + B - 1) / B;
      SimWorkloads sim(clock, R, k);
      sim.Add("old", R, false, "1");
      sim.Add("new", 0, false, "2");
      ReleaseOrder order(sim, clock, "shop", "prod", "new", Policy(R, B));
      EXPECT_EQ(order.k(), k);
      EXPECT_EQ(Drive(order, clock), OrderPhase::kSucceeded);
      EXPECT_EQ(sim.revs["new"].replicas, R);
      EXPECT_EQ(sim.revs["old"].replicas, 0);
      EXPECT_LE(sim.max_pods, R) << "more than R instances existed";
      if (R > 1) {
        EXPECT_GE(sim.min_ready, R - k) << "fewer than R - k instances were Ready";
      }
      EXPECT_EQ(order.batches().size(), static_cast<size_t>((R + k - 1) / k));
      EXPECT_EQ(order.previous(), "old");
    }
  }
}

TEST(ReleaseOrder, PauseFirstHoldsAfterOneBatchUntilResumed) {
  FakeClock clock;
  SimWorkloads sim(clock, 4, 2);
  sim.Add("old", 4);
  sim.Add("new", 0);
  auto policy = Policy(4, 2);
  policy.pause = OrderPause::kFirst;
  ReleaseOrder order(sim, clock, "shop", "prod", "new", policy);
  ASSERT_EQ(Drive(order, clock), OrderPhase::kHeld);
  auto state = *sim.Read("", "");
  EXPECT_EQ(state["new"].ready, 2);
  EXPECT_EQ(state["old"].ready, 2);
  clock.Advance(90s);  // held means held
  order.Step();
  EXPECT_EQ(order.phase(), OrderPhase::kHeld);
  EXPECT_EQ(order.held_for(), 90s);
  order.Resume();
  EXPECT_EQ(Drive(order, clock), OrderPhase::kSucceeded);
  EXPECT_EQ(order.batches().size(), 2u);
}

// Steps a gated order until it waits at its gate (or ends).
bool DriveToGate(ReleaseOrder& order, FakeClock& clock) {
  for (int i = 0; i < 10000 && !order.AtGate() && !Finished(order.phase()); ++i) {
    auto next = order.Step();
    if (next > clock.Now() && !order.AtGate()) clock.Advance(next - clock.Now());
  }
  return order.AtGate();
}

TEST(ReleaseOrder, AGatedOrderWaitsAfterEachBatchButTheLastForTheVerdict) {
  FakeClock clock;
  SimWorkloads sim(clock, 6, 2);
  sim.Add("old", 6);
  sim.Add("new", 0);
  auto policy = Policy(6, 3);
  policy.gated = true;
  policy.pause = OrderPause::kEvery;  // a hold comes after the gate
  ReleaseOrder order(sim, clock, "shop", "prod", "new", policy);
  ASSERT_TRUE(DriveToGate(order, clock));
  EXPECT_EQ(order.batches().size(), 1u);
  const int scales = sim.scales;
  clock.Advance(std::chrono::hours(3));  // a gate that never answers holds the order there
  order.Step();
  EXPECT_TRUE(order.AtGate());
  EXPECT_EQ(sim.scales, scales);
  order.PassGate();
  EXPECT_FALSE(order.AtGate());
  EXPECT_EQ(order.phase(), OrderPhase::kHeld) << "the hold after the batch still holds";
  order.Resume();
  ASSERT_TRUE(DriveToGate(order, clock));
  EXPECT_EQ(order.batches().size(), 2u);
  order.PassGate();
  order.Resume();
  EXPECT_EQ(Drive(order, clock), OrderPhase::kSucceeded) << "no gate after the last batch";
  EXPECT_EQ(order.batches().size(), 3u);
}

TEST(ReleaseOrder, AFailedGateFailsTheBatchAndAGateDecidedBeforeWaitsAgain) {
  FakeClock clock;
  SimWorkloads sim(clock, 4, 2);
  sim.Add("old", 4);
  sim.Add("new", 0);
  auto policy = Policy(4, 2);
  policy.gated = true;
  ReleaseOrder order(sim, clock, "shop", "prod", "new", policy);
  ASSERT_TRUE(DriveToGate(order, clock));
  order.FailGate("gate success-rate: 0.9 is not >= 0.99");
  EXPECT_EQ(Drive(order, clock), OrderPhase::kRolledBack);
  EXPECT_EQ(order.error(), "gate success-rate: 0.9 is not >= 0.99");
  EXPECT_EQ(sim.revs["old"].replicas, 4);

  // A process stopped at the gate; the next one waits at it again.
  FakeClock later;
  SimWorkloads again(later, 4, 2);
  again.Add("old", 2);
  again.Add("new", 2);
  later.Advance(10s);
  ReleaseOrder resumed(again, later, "shop", "prod", "new", policy);
  resumed.SetRecordedBatches(1);
  resumed.GateNow();
  resumed.Step();
  EXPECT_TRUE(resumed.AtGate());
  EXPECT_EQ(again.scales, 0);
  resumed.PassGate();
  EXPECT_EQ(Drive(resumed, later), OrderPhase::kSucceeded);
}

TEST(ReleaseOrder, AHoldDecidedBeforeHoldsANewOrderFromTheStart) {
  // A process held after batch 1 and stopped; the next one is told so.
  FakeClock clock;
  SimWorkloads sim(clock, 4, 2);
  sim.Add("old", 2);
  sim.Add("new", 2);
  clock.Advance(10s);  // the new pods are Ready
  ReleaseOrder order(sim, clock, "shop", "prod", "new", Policy(4, 2));
  order.SetRecordedBatches(1);
  order.HoldNow();
  EXPECT_EQ(Drive(order, clock), OrderPhase::kHeld);
  clock.Advance(60s);
  order.Step();
  EXPECT_EQ(order.phase(), OrderPhase::kHeld);
  EXPECT_EQ(sim.scales, 0);  // nothing moved while held
  order.Resume();
  EXPECT_EQ(Drive(order, clock), OrderPhase::kSucceeded);
  ASSERT_EQ(order.batches().size(), 1u);  // only batch 2: batch 1 was recorded before
  EXPECT_EQ(order.batches()[0].index, 2);
  EXPECT_EQ(order.ready(), 4);

  // A failed, halted batch stays halted, with its reason.
  ReleaseOrder halted(sim, clock, "shop", "prod", "old", Policy(4, 2));
  halted.HaltNow("batch 1: 0 of 2 instances Ready");
  EXPECT_EQ(Drive(halted, clock), OrderPhase::kFailed);
  EXPECT_EQ(halted.error(), "batch 1: 0 of 2 instances Ready");
}

TEST(ReleaseOrder, APauseBetweenBatchesHoldsBeforeTheNextOne) {
  FakeClock clock;
  SimWorkloads sim(clock, 4, 2);
  sim.Add("old", 4);
  sim.Add("new", 0);
  auto policy = Policy(4, 2);
  policy.batch_interval = 30s;
  ReleaseOrder order(sim, clock, "shop", "prod", "new", policy);
  for (int i = 0; i < 1000 && order.batches().empty(); ++i) {
    auto next = order.Step();
    if (next > clock.Now()) clock.Advance(next - clock.Now());
  }
  ASSERT_EQ(order.batches().size(), 1u);  // batch 1 done, waiting out the interval
  const int scales = sim.scales;
  order.Pause();
  EXPECT_EQ(order.phase(), OrderPhase::kHeld);
  clock.Advance(60s);
  order.Step();
  EXPECT_EQ(order.phase(), OrderPhase::kHeld);
  EXPECT_EQ(sim.scales, scales);
  order.Resume();
  EXPECT_EQ(Drive(order, clock), OrderPhase::kSucceeded);
  EXPECT_EQ(order.batches().size(), 2u);
}

TEST(ReleaseOrder, AbortFromAHoldReturnsToAllOld) {
  FakeClock clock;
  SimWorkloads sim(clock, 4, 2);
  sim.Add("old", 4);
  sim.Add("new", 0);
  auto policy = Policy(4, 2);
  policy.pause = OrderPause::kEvery;
  ReleaseOrder order(sim, clock, "shop", "prod", "new", policy);
  ASSERT_EQ(Drive(order, clock), OrderPhase::kHeld);
  order.Abort();
  EXPECT_EQ(Drive(order, clock), OrderPhase::kAborted);
  EXPECT_EQ(sim.revs["old"].replicas, 4);
  EXPECT_EQ(sim.revs["new"].replicas, 0);
  EXPECT_LE(sim.max_pods, 4);
  EXPECT_TRUE(order.batches().back().rollback);
}

TEST(ReleaseOrder, ABrokenRevisionIsRolledBackBatchByBatchWithTheReason) {
  FakeClock clock;
  SimWorkloads sim(clock, 4, 2);
  sim.Add("old", 4);
  sim.Add("new", 0, /*broken=*/true);
  ReleaseOrder order(sim, clock, "shop", "prod", "new", Policy(4, 2));
  EXPECT_EQ(Drive(order, clock), OrderPhase::kRolledBack);
  EXPECT_EQ(sim.revs["old"].replicas, 4);
  EXPECT_EQ(sim.revs["new"].replicas, 0);
  EXPECT_NE(order.error().find("0 of 2 instances of revision new Ready"), std::string::npos)
      << order.error();
  EXPECT_NE(order.error().find("ContainersNotReady"), std::string::npos) << order.error();
  EXPECT_NE(order.error().find("Readiness probe failed"), std::string::npos) << order.error();
  EXPECT_LE(sim.max_pods, 4);
}

TEST(ReleaseOrder, HaltHoldsAFailedBatch) {
  FakeClock clock;
  SimWorkloads sim(clock, 4, 2);
  sim.Add("old", 4);
  sim.Add("new", 0, true);
  auto policy = Policy(4, 2);
  policy.on_failure = OrderFailure::kHalt;
  ReleaseOrder order(sim, clock, "shop", "prod", "new", policy);
  EXPECT_EQ(Drive(order, clock), OrderPhase::kFailed);
  EXPECT_EQ(sim.revs["new"].replicas, 2);
  EXPECT_EQ(sim.revs["old"].replicas, 2);
  order.Abort();
  EXPECT_EQ(Drive(order, clock), OrderPhase::kAborted);
  EXPECT_EQ(sim.revs["old"].replicas, 4);
}

TEST(ReleaseOrder, AFirstReleaseStartsKAtATimeAndAFailedOneStops) {
  FakeClock clock;
  SimWorkloads sim(clock, 6, 2);
  sim.Add("new", 0);
  ReleaseOrder order(sim, clock, "shop", "prod", "new", Policy(6, 3));
  EXPECT_EQ(Drive(order, clock), OrderPhase::kSucceeded);
  EXPECT_EQ(order.batches().size(), 3u);

  FakeClock clock2;
  SimWorkloads broken(clock2, 6, 2);
  broken.Add("new", 0, true);
  ReleaseOrder failing(broken, clock2, "shop", "prod", "new", Policy(6, 3));
  EXPECT_EQ(Drive(failing, clock2), OrderPhase::kRolledBack);
  EXPECT_EQ(broken.revs["new"].replicas, 0);
  EXPECT_EQ(broken.max_pods, 2) << "a broken first release stops after k instances";
}

TEST(ReleaseOrder, ANewOrderResumesWhereTheClusterStands) {
  // A process stopped after scaling the old revision down and before scaling
  // the new one up: the next one finishes that batch, then the rest.
  FakeClock clock;
  SimWorkloads sim(clock, 6, 2);
  sim.Add("old", 4);
  sim.Add("new", 0);
  sim.SetReplicas("new", 0);
  {
    // Batch 1 was done (2 new), batch 2 half done (old 4 → 2).
    sim.revs["new"].replicas = 0;
    sim.SetReplicas("new", 2);
    for (auto& p : sim.revs["new"].pods) p.ready_at = clock.Now();
    sim.SetReplicas("old", 2);
  }
  clock.Advance(1s);
  ReleaseOrder order(sim, clock, "shop", "prod", "new", Policy(6, 3));
  order.SetRecordedBatches(1);  // the journal holds batch 1
  EXPECT_EQ(Drive(order, clock), OrderPhase::kSucceeded);
  ASSERT_EQ(order.batches().size(), 2u);  // the rest of batch 2, then batch 3
  EXPECT_EQ(order.batches()[0].index, 2);
  EXPECT_EQ(order.batches()[0].instances, 2);
  EXPECT_EQ(order.batches()[1].index, 3);
  EXPECT_EQ(sim.revs["new"].replicas, 6);
  EXPECT_LE(sim.max_pods, 6);
}

TEST(ReleaseOrder, AFreshOrderAfterEveryStepNeverRepeatsABatchNorBreaksTheInvariants) {
  FakeClock clock;
  SimWorkloads sim(clock, 6, 2);
  sim.Add("old", 6, false, "1");
  sim.Add("new", 0, false, "2");
  std::vector<int> indices;
  for (int i = 0; i < 1000; ++i) {
    ReleaseOrder order(sim, clock, "shop", "prod", "new", Policy(6, 3));  // a restarted process
    order.SetRecordedBatches(static_cast<int>(indices.size()));           // what the journal holds
    auto next = order.Step();
    for (const auto& b : order.batches()) indices.push_back(b.index);
    if (Finished(order.phase())) break;
    if (next > clock.Now())
      clock.Advance(std::min<std::chrono::nanoseconds>(next - clock.Now(), 100ms));
  }
  EXPECT_EQ(sim.revs["new"].replicas, 6);
  EXPECT_EQ(indices, (std::vector<int>{1, 2, 3}));
  EXPECT_LE(sim.max_pods, 6);
  EXPECT_GE(sim.min_ready, 4);
}

}  // namespace
}  // namespace pagoda::rollout
