// A release order's batches: instances move from the revisions
// an environment runs to a new revision k = ceil(R / B) at a time, old
// stopped before new started. Each revision is its own Deployment, so the
// state of a release is visible in the cluster as replica counts, and the
// order is level-based: every Step() reads the counts and does the one thing
// that comes next. A process that stops anywhere and starts again picks the
// release up where the cluster shows it stands; no batch is done twice.
//
// Invariants, checked by the integration tests at every pod event: never
// more than R instances exist (counting pods still terminating), and once
// the release has begun never fewer than R - k are Ready (R = 1 excepted).
#pragma once

#include <chrono>
#include <map>
#include <optional>
#include <string>
#include <vector>

#include "base/clock.h"
#include "kube/kube.h"

namespace pagoda::rollout {

// One revision's Deployment and its pods, as last read.
struct RevisionState {
  std::string deployment;
  int64_t replicas = 0;  // spec.replicas
  int64_t pods = 0;      // every pod, terminating ones included
  int64_t ready = 0;     // Ready and not terminating
  std::string created;   // creationTimestamp, to order old revisions
  std::vector<std::string> ready_pods;
  std::vector<std::string> unready;  // "pod: reason" for pods not Ready
};

// What a release order needs of the cluster; KubeWorkloads is the real one.
class Workloads {
 public:
  virtual ~Workloads() = default;
  // Every revision of environment `env` in namespace `ns`, by revision.
  virtual Result<std::map<std::string, RevisionState>> Read(const std::string& ns,
                                                            const std::string& env) = 0;
  virtual Status Scale(const std::string& ns, const std::string& deployment, int64_t replicas) = 0;
  // The newest event about one of `pods`, for a person: "pod-x: Unhealthy: Readiness probe failed".
  virtual std::string LastEvent(const std::string& ns, const std::vector<std::string>& pods) = 0;
};

class KubeWorkloads final : public Workloads {
 public:
  explicit KubeWorkloads(kube::KubeClient& client) : client_(client) {}
  Result<std::map<std::string, RevisionState>> Read(const std::string& ns,
                                                    const std::string& env) override;
  Status Scale(const std::string& ns, const std::string& deployment, int64_t replicas) override;
  std::string LastEvent(const std::string& ns, const std::vector<std::string>& pods) override;

 private:
  kube::KubeClient& client_;
};

enum class OrderPause { kNone, kFirst, kEvery };
enum class OrderFailure { kRollback, kHalt };

struct OrderPolicy {
  int64_t replicas = 1;  // R
  int batches = 1;       // B
  OrderPause pause = OrderPause::kNone;
  std::chrono::milliseconds batch_interval{0};
  std::chrono::milliseconds batch_timeout{std::chrono::minutes(5)};
  OrderFailure on_failure = OrderFailure::kRollback;
  std::chrono::milliseconds poll{50};  // how often to look while waiting
  // Instances the target runs beyond the batches recorded count as batches
  // done (by a process that stopped before it recorded them). Off for an
  // order that takes over from another: they were the other's.
  bool adopt_scaled = true;
  // After each forward batch but the last, wait at the gate until
  // PassGate() or FailGate() (the caller asks the gates).
  bool gated = false;
};

enum class OrderPhase {
  kRunning,      // moving forward
  kHeld,         // after a batch, until Resume() or Abort()
  kRollingBack,  // moving back to the previous revision, batch by batch
  kSucceeded,
  kFailed,      // the new revision failed its deadline and onFailure is halt: held, failed
  kRolledBack,  // back on the previous revision after a failure
  kAborted,     // back on the previous revision after Abort()
};
std::string_view OrderPhaseName(OrderPhase phase);
bool Finished(OrderPhase phase);

// A batch as it happened.
struct BatchEvent {
  int index = 0;  // 1-based, in the direction of travel
  int64_t instances = 0;
  int64_t start_ms = 0;  // when its first API call was made
  int64_t ready_ms = 0;  // when all its new pods were Ready; 0 if never
  int64_t end_ms = 0;
  std::vector<std::string> pods;
  bool rollback = false;  // a batch of the way back
};

class ReleaseOrder {
 public:
  // Moves `env` in `ns` to revision `target` (its Deployment must exist,
  // typically at 0 replicas). Every other revision with replicas is old.
  ReleaseOrder(Workloads& workloads, Clock& clock, std::string ns, std::string env,
               std::string target, OrderPolicy policy);

  // Does the next thing and returns when to call again. Never blocks on the
  // cluster beyond one request.
  Clock::TimePoint Step();

  OrderPhase phase() const { return phase_; }
  // Batches finished since the last call (to record them), in order.
  std::vector<BatchEvent> TakeBatches();
  const std::vector<BatchEvent>& batches() const { return all_batches_; }
  const std::string& error() const { return error_; }  // why it failed or was rolled back
  std::chrono::milliseconds held_for() const;
  int64_t k() const { return k_; }
  const std::string& target() const { return target_; }
  const std::string& previous() const { return previous_; }

  // The forward batches a record already holds (a release picked up after a
  // restart), so that the ones the cluster shows beyond them are recorded.
  void SetRecordedBatches(int batches);

  void Pause();   // hold now when between batches, else after the batch in hand
  void Resume();  // go on from a hold (also a failed, halted one: retries the batch)
  void Abort();   // roll back, batch by batch
  // A hold decided before (by a process that stopped since): held from
  // the start, as it was; or failed and halted, for `error`.
  void HoldNow();
  void HaltNow(const std::string& error);

  // Gates (OrderPolicy::gated): whether it waits at the gate after a batch;
  // the verdict: on as after any batch (a hold, an interval), or failed as
  // a batch fails (rolled back, or halted). GateNow(): a batch recorded
  // before a restart whose gates had not passed waits at them again.
  bool AtGate() const;
  void PassGate();
  void FailGate(const std::string& reason);
  void GateNow();

  // Ready instances of the target revision, as last read.
  int64_t ready() const { return ready_; }

 private:
  // Moves instances from the revisions other than `to` into `to`.
  Clock::TimePoint Move(const std::map<std::string, RevisionState>& state, const std::string& to,
                        bool back);
  void Fail(const std::string& reason);
  // After a forward batch that is not the last: a hold, an interval, or on.
  Clock::TimePoint AfterBatch(Clock::TimePoint now);

  Workloads& workloads_;
  Clock& clock_;
  std::string ns_, env_, target_;
  std::string previous_;  // the revision that ran before: where a rollback returns
  OrderPolicy policy_;
  int64_t k_;
  OrderPhase phase_ = OrderPhase::kRunning;
  bool pause_requested_ = false;
  bool aborted_ = false;

  // The batch in hand.
  enum class Stage { kIdle, kDown, kUp, kBetween, kGated } stage_ = Stage::kIdle;
  int64_t goal_ = 0;  // replicas `to` must reach in this batch
  BatchEvent batch_;
  Clock::TimePoint deadline_{};
  Clock::TimePoint between_until_{};
  Clock::TimePoint held_since_{};
  int forward_batches_ = 0, back_batches_ = 0;
  int64_t ready_ = 0;
  std::vector<BatchEvent> new_batches_, all_batches_;
  std::string error_;
};

}  // namespace pagoda::rollout
