// The reconcile loop: fetch the repository every interval,
// and on a new commit, every drift interval, or when asked, render every
// environment, compare it with its cluster and release what differs, one
// release order per environment, each recorded in the journal before it
// starts and again when it ends.
//
// Level-triggered and idempotent: each cycle reads the whole state it needs
// and acts on the difference, so a missed cycle or a restart loses nothing.
// Environments are independent: an app whose files do not load keeps what
// the cluster has, and an environment whose release fails is retried with
// backoff while the others go on.
//
// Written as a step function: Step() does what is due at the clock's now and
// says when it next has something to do, so a test drives it with a
// FakeClock and fakes of the Git source and the cluster.
#pragma once

#include <functional>
#include <map>
#include <memory>
#include <optional>
#include <random>
#include <set>
#include <string>
#include <unordered_set>
#include <vector>

#include "base/clock.h"
#include "base/memory.h"
#include "daemon/gates.h"
#include "daemon/loop_status.h"
#include "daemon/ownership.h"
#include "engine/clusters.h"
#include "engine/engine.h"
#include "journal/journal.h"
#include "kube/live_cache.h"
#include "rollout/rollout.h"
#include "source/source.h"

namespace pagoda::daemon {

struct ReleaseShape;        // daemon/release_shape.h
struct EnvironmentGroups;   // daemon/release_shape.h
struct EnvironmentChanges;  // daemon/release_shape.h

using engine::ClusterMapping;
using engine::DesiredState;
using engine::PlanServer;
using engine::RenderProblem;
using engine::Selection;
using engine::SelectTargets;
using engine::ServerDesired;
using engine::ServerPlan;

// The journal's vocabulary, as this module speaks it.
using journal::Change;
using journal::ChangeAction;
using journal::Journal;
using journal::Name;
using journal::Outcome;
using journal::RecordCommit;
using journal::ReleaseIdNumber;
using journal::ReleaseKind;
using journal::ReleaseRecord;
using journal::SyncEntry;
using journal::Trigger;

using source::CommitInfo;
using source::FetchResult;
using source::GitSource;

// The loop's side of the clusters: where a cluster name leads, and planning
// and applying there. The real one talks to API servers; a test may fake it.
class PrefetchedWorkloads;

// One plan for ClusterAccess::ExecuteAll, and the lane it goes in.
struct ExecuteJob {
  std::string server;
  const diff::Plan* plan = nullptr;
  std::string commit;  // as Execute() takes it
  // Plans of one lane are carried out one after another, in their order
  // (an app's environments: one of them carries the app's Namespace).
  std::string lane;
};

class ClusterAccess {
 public:
  virtual ~ClusterAccess() = default;
  // A server identity for a cluster name (equal for names that lead to one
  // server). A name that resolved keeps its server for the access's life.
  virtual Result<std::string> ServerOf(const std::string& cluster) = 0;
  virtual Result<std::unique_ptr<ServerPlan>> Plan(const ServerDesired& desired) = 0;
  // Carries `plan` out, `commit` recorded on every object written (apply::ExecuteOptions).
  virtual apply::ExecuteResult Execute(const std::string& server, const diff::Plan& plan,
                                       const std::string& commit) = 0;
  // How many Execute() calls may run at once, each on a thread of its own;
  // 1: one at a time, on the calling thread.
  virtual int Concurrency() const { return 1; }
  // Carries out every job as Execute() would, on up to Concurrency()
  // threads: the jobs of one lane one after another, in order, different
  // lanes at once. The results are in the jobs' order. Returns when all are done.
  std::vector<apply::ExecuteResult> ExecuteAll(const std::vector<ExecuteJob>& jobs);
  // A number that stays the same while what Plan() would read of `app`'s
  // namespace on `server` stays the same (kube::LiveCache::Version); nullopt
  // when it cannot tell, and the app is then planned on every pass.
  virtual std::optional<uint64_t> LiveVersion(const std::string& /*server*/,
                                              const std::string& /*app*/) {
    return std::nullopt;
  }
  // The apps whose LiveVersion() on `server` moved after `since`, a
  // LiveChanges::now it answered before (kube::LiveCache::ChangedSince);
  // `all` when it cannot tell.
  virtual kube::LiveChanges LiveChangedSince(const std::string& /*server*/, uint64_t /*since*/) {
    return {};
  }
  // API requests made so far, by server, for metrics. Called between steps.
  virtual std::map<std::string, kube::RequestStats> RequestStatsByServer() const { return {}; }
  // What batched release orders read and scale on `server` (after ServerOf).
  virtual rollout::Workloads& Workloads(const std::string& server) = 0;
  // What each schedulable node can allocate, for the capacity check.
  virtual Result<std::vector<manifest::NodeAllocatable>> Nodes(const std::string& server) = 0;
};

// API servers reached through `mapping`, one client per server, kept.
std::unique_ptr<ClusterAccess> NewClusterAccess(ClusterMapping mapping,
                                                kube::ClientOptions options);

// What the loop reports as it goes, for metrics. Called on the loop thread:
// it must be quick and must not call back into the Reconciler.
class LoopObserver {
 public:
  virtual ~LoopObserver() = default;
  virtual void Fetched(bool ok) = 0;
  virtual void Reconciled(const SyncEntry& entry) = 0;  // after each reconcile cycle
  // Every release record written with its final outcome (not in progress).
  virtual void ReleaseEnded(const ReleaseRecord& record) = 0;
  // Every write of a release record to the journal, in progress or not.
  virtual void ReleaseWritten(const ReleaseRecord& /*record*/) {}
};

// What a step asks of the loop that runs it, between one environment (or
// release order) and the next: whether to stop (a SIGTERM: the API call in
// hand is finished, what remains waits for the next process), and a moment
// to answer quick requests (a pause, an abort) in the middle of a long step.
class LoopHooks {
 public:
  virtual ~LoopHooks() = default;
  virtual bool Stopping() = 0;
  virtual void Between() = 0;
};

struct LoopOptions {
  int64_t interval_ms = 30'000;         // between fetches, jittered by ±10%
  int64_t drift_interval_ms = 300'000;  // between full reconciles without a new commit
  int64_t max_backoff_ms = 300'000;     // failing fetches and environments wait at most this
  // How the repository is read: the known clusters, budgets, tenancy.
  manifest::LoadOptions load;
  std::string repo_url;                // for status and records, credentials removed
  LoopObserver* observer = nullptr;    // not owned; nullptr: none
  LoopHooks* hooks = nullptr;          // not owned; nullptr: never stops, never yields
  std::chrono::milliseconds poll{50};  // how often a release in flight looks at its pods
  // Starts a fetch off the loop thread; its result comes back through
  // Reconciler::FetchDone() on the loop thread. Unset: Step() fetches in
  // line (tests, benchmarks).
  std::function<void()> start_fetch;
  // Gates between batches: where they ask (the daemon config's gates), and
  // who asks. `start_gate_check` hands a check to another thread, whose
  // answer comes back through Reconciler::GateAnswered() on the loop
  // thread; unset, `gate_asker` (not owned) asks in line (tests). With
  // neither, a gate cannot be asked and fails.
  std::string gate_prometheus;
  std::map<std::string, GateWebhook> gate_webhooks;  // by name
  int64_t gate_timeout_ms = 10'000;
  std::function<void(GateCheck)> start_gate_check;
  GateAsker* gate_asker = nullptr;
};

class Reconciler {
 public:
  // `pins_path`: where pins survive a restart ("" = memory only).
  Reconciler(LoopOptions options, GitSource& git, Journal& journal, ClusterAccess& clusters,
             Clock& clock, std::string pins_path = "");
  ~Reconciler();

  // Every call below is made on one thread, the loop's: the Reconciler owns
  // its state and guards none of it.

  // Does what is due now: a fetch, a reconcile, retries. Returns when
  // something is next due; a caller sleeps until then or until woken.
  Clock::TimePoint Step();

  // A fetch started through LoopOptions::start_fetch has ended.
  void FetchDone(Result<FetchResult> fetched);
  // A gate check handed to LoopOptions::start_gate_check has its answer.
  void GateAnswered(const GateCheck& check, const GateAnswer& answer);

  // Requests (from the control socket, the webhook). RequestSync() makes the
  // next Step() fetch and reconcile at once.
  void RequestSync();
  // Renders APP/ENV from `to` (a commit-ish or a release id), releases it as
  // a manual rollback, and pins the environment: auto-sync holds for it
  // until the repository changes what it renders, or Unpin(). Returns the
  // release id.
  Result<std::string> Rollback(const std::string& app, const std::string& env,
                               const std::string& to);
  Status Unpin(const std::string& app, const std::string& env);
  // Steer a batched release in flight by its id. Each decision is
  // journalled before it acts, so that it holds after a restart or a
  // reload; a journal that cannot be written refuses it.
  Status Pause(const std::string& id);
  Status Resume(const std::string& id);
  Status Abort(const std::string& id);
  // Lets the next release of APP/ENV through the freeze window it waits for;
  // its record says who asked and why.
  Status Override(const std::string& app, const std::string& env, const std::string& by,
                  const std::string& reason);
  // Lets the next release of APP/ENV go without waiting for the environment
  // its promotion follows; its record says who asked and why.
  Status Promote(const std::string& app, const std::string& env, const std::string& by,
                 const std::string& reason);

  // Leadership (daemon/leadership.h): the apps this replica may write from
  // now on. Orders of apps it no longer leads are dropped as they stand,
  // their records left in progress for the replica that leads them now;
  // apps it leads now are reconciled at the next step. Until called: every app.
  void SetOwnership(std::shared_ptr<const Ownership> ownership);
  // Releases another replica left in flight (the cluster's mirror of them),
  // taken over under their ids: adopted into the journal, and carried on
  // by the next reconcile as after a restart, where the cluster shows they
  // stand. A release this journal holds finished keeps that state.
  // `pinned`: rollbacks (`pagoda rollback`) that are the newest release of
  // their environment there: the environment is pinned here too, at the
  // commit they went back to, until the repository changes what it asks of
  // it (measured from now) or it is unpinned. `ended`: releases this
  // journal holds in flight that another replica finished meanwhile,
  // written here as the cluster has them and never carried on.
  Status Adopt(const std::vector<ReleaseRecord>& in_flight,
               const std::vector<ReleaseRecord>& pinned = {},
               const std::vector<ReleaseRecord>& ended = {});

  LoopStatus Snapshot() const;

 private:
  struct Env;
  struct Loaded;
  // An operator's pass through a gate for one release: by whom and why.
  struct Pass {
    std::string by, reason;
  };
  struct Pin {
    std::string commit;      // what it was rolled back to
    std::string tip_digest;  // the tip's rendering of it when pinned
    int64_t since_ms = 0;
  };

  void Fetch(Clock::TimePoint now);
  // Writes `record` to the journal; on failure remembers why (status and
  // readiness say so) and returns the error.
  Status Record(ReleaseRecord* record);
  // Final records and sync-log entries whose writing failed, tried again.
  void FlushUnsaved();
  void Reconcile(Clock::TimePoint now, bool new_commit);
  void ReconcileLoaded(Clock::TimePoint now, SyncEntry* entry, std::vector<std::string>* errors);
  // Renders APP/ENV at `commit` and releases it as a manual rollback;
  // a release in flight there is taken up under its id.
  Result<std::string> ReleaseAt(const std::string& app, const std::string& env,
                                const std::string& commit, std::vector<std::string>* errors);
  void ResumePinnedReleases(std::vector<std::string>* errors);
  Result<std::shared_ptr<const Loaded>> Load(const std::string& commit);
  std::map<std::string, std::string> ServersFor(const manifest::Repository& repo,
                                                const Selection& selection,
                                                std::vector<std::string>* errors);
  // What `app/env` renders to at `repo`, as a digest that ignores the commit:
  // equal digests mean the repository asks the same of the environment.
  Result<std::string> EnvDigest(const manifest::Repository& repo, const std::string& app,
                                const std::string& env);
  // One environment's release order: records it as started (durably), applies
  // `changes`, records how it ended. Returns the release id ("" when it could
  // not even be recorded).
  struct ReleaseRequest {
    std::string server, app, env, cluster;
    std::vector<const diff::PlannedChange*> group;  // all of the environment's planned changes
    bool repo_changed = true;
    Trigger trigger = Trigger::kCommit;
    std::string commit;  // what it releases
    bool rollback = false;
    const manifest::Environment* model = nullptr;  // its release policy
    std::string supersedes;  // the release in flight it takes over from, if any
    std::string freeze;      // how it passed a freeze window open now, if one is
    std::string follows;     // the upstream release its promotion followed
    std::string promotion;   // how it passed its promotion wait, if it has one
  };
  // A batched release order in flight, and the record it keeps up to date.
  struct ActiveOrder {
    std::shared_ptr<PrefetchedWorkloads> workloads;  // what `order` reads through
    std::unique_ptr<rollout::ReleaseOrder> order;
    ReleaseRecord record;
    std::string server;
    diff::Plan finish;  // run once it succeeds: earlier revisions beyond those kept
    Clock::TimePoint next{};
    std::string waiting;   // a newer commit for the environment, released after it
    bool unsaved = false;  // the record changed and is not in the journal yet: it waits
    // The environment's gates, as the order started, and where the checks
    // after batch `gated_batch` stand.
    std::vector<policy::Gate> gates;
    int gated_batch = 0;
    Clock::TimePoint gated_since{};
    int64_t gate_timeout_ms = 0;  // the batch timeout: how long checks may go without a verdict
    std::vector<policy::GateTally> tallies;
    std::vector<Clock::TimePoint> next_check;
    std::vector<bool> asking;
    std::string revision;  // what it releases, for the webhooks
  };
  // Starts a batched order for `request` (a new or kept revision replacing
  // the running one): recorded now, its first changes queued (QueueWrite).
  // Returns the release id, or "" with `errors` filled.
  std::string StartOrder(const ReleaseRequest& request, ReleaseRecord record, diff::Plan now_plan,
                         diff::Plan finish, const std::string& target,
                         std::vector<std::string>* errors);
  // The order of `request` once its first changes are carried out: in
  // flight, or failed.
  void OrderStarted(const ReleaseRequest& request, ReleaseRecord record, diff::Plan finish,
                    const std::string& target, apply::ExecuteResult result,
                    std::vector<std::string>* errors);
  // A write a pass decided on: carried out with the others queued, then
  // `done` gets its result, on the loop thread.
  struct PendingWrite {
    std::string server, app, commit;
    diff::Plan plan;
    std::function<void(apply::ExecuteResult)> done;
  };
  // Queues a write; the queue is carried out when it is full and by
  // FlushWrites().
  void QueueWrite(PendingWrite write);
  // Runs `then` once the writes queued so far are done: now when none are.
  void AfterWrites(std::function<void()> then);
  // Carries out the queued writes (ClusterAccess::ExecuteAll: each app's in
  // order, different apps' at once), then their `done`, then what waited
  // for them. Every pass and every release outside one ends with it.
  void FlushWrites();
  // Advances the orders whose time has come; returns when one is next due.
  // What each order due would read first is read for all of them at once.
  Clock::TimePoint AdvanceOrders(Clock::TimePoint now);
  // Reads at once (ClusterAccess::Concurrency) what each order due would
  // read first when it steps.
  void PrefetchDue();
  void StepOrder(ActiveOrder& a);
  // An order at its gate: asks what is due, and passes or fails the gate
  // once every check is in. Returns whether the record changed.
  bool StepGates(ActiveOrder& a);
  void AskGate(ActiveOrder& a, size_t gate);
  void FinishOrder(const std::pair<std::string, std::string>& key, ActiveOrder& a);
  rollout::OrderPolicy PolicyFor(const ReleaseRequest& req, const ReleaseRecord& record) const;
  void TakeDecisionsAgain(const ReleaseRecord& record, rollout::ReleaseOrder& order);
  Status Decide(ActiveOrder& a, const std::function<void(ReleaseRecord&)>& decide,
                const std::function<void()>& act);
  void EndRecord(ReleaseRecord record);
  void Backoff(Env& e);
  Status CheckCapacity(const std::string& server, const diff::PlannedChange& deployment);
  ActiveOrder* FindOrder(const std::string& id);
  // Why release `id` cannot be steered here: not in flight, or, with
  // leadership, perhaps led by another replica.
  Status NotInFlight(const std::string& id) const;
  // An error when this replica does not lead `app`.
  Status CheckLeads(const std::string& app) const;
  // What let an app be left out of planning: the model it was planned
  // from, the environments selected, and on each of its servers the
  // version of what pagoda owns in its namespace (ClusterAccess::LiveVersion)
  // and a digest of the listener claims there (ClaimDigests).
  struct QuietMark {
    std::shared_ptr<const manifest::AppModel> model;  // held: its address is its identity
    bool all_envs = true;
    std::set<std::string> envs;                    // when not all_envs
    std::map<std::string, uint64_t> live, claims;  // by server
    // The selected environments, in the model's order, set when the mark is
    // kept (envs_ never lets an Env go, so the pointers stay good).
    std::vector<const Env*> selected;
  };
  // ClaimDigests of the last pass, good while the repository's claims are
  // the same shared ones (a load keeps them while no app claims otherwise)
  // and the clusters lead where they did.
  struct ClaimDigestMemo {
    std::shared_ptr<const std::vector<manifest::ListenerClaim>> claims;  // held: its identity
    std::map<std::string, std::string> server_of;
    std::map<std::string, uint64_t> digests;
    bool valid = false;
  };
  const std::map<std::string, uint64_t>& ClaimDigestsOf(
      const manifest::Repository& repo, const std::map<std::string, std::string>& server_of);
  // Whether the environment needs nothing: in sync, settled, no release in
  // flight or refused, nothing it waits for, no error.
  bool Quiet(const Env& e) const;
  // Whether `mark` holds for `app` now, and its environments are all quiet.
  // `unmoved`: its servers, versions and claims are as when it last held.
  bool StillQuiet(const manifest::AppResult& app, const Selection& selection,
                  const std::map<std::string, std::string>& server_of,
                  const std::map<std::string, uint64_t>& claims, const QuietMark& mark,
                  bool unmoved);
  // What the marks were last checked against, and on each server the
  // LiveChanges::now of then.
  struct QuietBasis {
    std::map<std::string, std::string> server_of;
    std::map<std::string, uint64_t> claims, seen;
  };
  // The apps whose live version moved on a server of `server_of` since the
  // last pass. `*steady`: the servers and claims are as they were, and every
  // server could tell: an app not moved then keeps its mark's versions.
  std::unordered_set<std::string> MovedSinceLastPass(
      const std::map<std::string, std::string>& server_of,
      const std::map<std::string, uint64_t>& claims, bool* steady);
  // `selection` without the apps that were quiet at the last pass, all of
  // whose environments still are, and whose mark is the same now: neither
  // their files nor what pagoda owns of them changed. `planned` gets the
  // marks, taken before planning, of the others. The environments left out
  // count as checked in `entry`.
  Selection LeaveOutQuiet(const manifest::Repository& repo, const Selection& selection,
                          const std::map<std::string, std::string>& server_of,
                          const std::map<std::string, uint64_t>& claims,
                          std::map<std::string, QuietMark>* planned, SyncEntry* entry);
  // After a pass: the planned apps all of whose environments ended quiet,
  // and that rendered without problems, keep their marks for the next.
  void MarkQuiet(const manifest::Repository& repo, std::map<std::string, QuietMark> planned);
  void ReportInvalidApps(const manifest::Repository& repo, std::vector<std::string>* errors);
  void DropStalePins(const manifest::Repository& repo, std::vector<std::string>* errors);
  void RefreshDesired(const manifest::Repository& repo, const Selection& selection,
                      const std::map<std::string, std::string>& server_of,
                      std::vector<std::string>* errors);
  void ReconcileEnvironment(Clock::TimePoint now, const std::string& server,
                            const ServerPlan& planned, const EnvironmentGroups& grouped,
                            const std::string& app, const manifest::Environment& model,
                            SyncEntry* entry, std::vector<std::string>* errors);
  void QueueBehind(ActiveOrder& a, const manifest::Environment& model, SyncEntry* entry);
  // Whether a freeze window holds `request` back now (the status then says
  // until when); when it lets it through, `*note` says why for the record.
  bool HeldByFreeze(const ReleaseRequest& request, std::string* note);
  // Whether `request` brings a revision its promotion's environment has not
  // run (settled, for its soak) yet; the status then says what it waits
  // for. When it goes, `request` says whose release it follows and how.
  bool HeldByPromotion(ReleaseRequest* request);
  // Notes what `e` renders and whether it is settled (see Env::settled);
  // a change of an environment a promotion waits for reconciles again.
  void NoteSettled(Env& e, const std::string& server, const EnvironmentChanges& changes,
                   int64_t replicas);
  // When `upstream` has run its current revision since, settled, after its
  // last failed release: from the journal, and what this process saw of it.
  // 0 when no release of that revision is on record and it was not seen.
  int64_t SettledSince(const Env& upstream, std::string* release);
  // Takes an operator's pass for the release at hand: it is used once.
  Pass TakePass(Pass* pass);
  Status LetThrough(const std::string& app, const std::string& env, const std::string& by,
                    const std::string& reason, const char* what, Pass Env::*pass);
  // Marks when the first gate holding a release back (a freeze window, a
  // soak) opens, so that the loop reconciles then.
  void WakeAt(int64_t unix_ms);
  bool RestoresEarlierRelease(const ReleaseRequest& request);
  void RecordSkipped(const ActiveOrder& a, const std::string& commit, const std::string& cluster,
                     SyncEntry* entry);
  // Whether the repository now wants another revision of the environment
  // than the one its order in flight moves to.
  static bool WantsAnotherRevision(const ActiveOrder& a,
                                   const std::vector<const diff::PlannedChange*>& group);
  // Ends the order in flight of `key` as superseded by the tip; its record,
  // or nothing when the journal does not take it (the order then goes on).
  std::optional<ReleaseRecord> EndSuperseded(const std::pair<std::string, std::string>& key,
                                             const std::string& cluster, SyncEntry* entry);
  bool ResumeScaledOrder(const ReleaseRequest& request, std::vector<std::string>* errors);
  void CompleteLeftRelease(Env& e);
  // Releases `request`: a batched order, or its changes at once. Returns the
  // release id, or "" with `errors` filled.
  std::string Release(const ReleaseRequest& request, std::vector<std::string>* errors);
  // The record a new release of `shape` starts with: its kind, and the
  // release it goes back to when it brings back an earlier revision.
  ReleaseRecord NewRecord(const ReleaseRequest& request, const ReleaseShape& shape);
  // A batched release no node can hold: recorded as failed, and the
  // environment blocked at this commit.
  std::string RefuseRelease(const ReleaseRequest& request, ReleaseRecord record, const Status& why,
                            std::vector<std::string>* errors);
  // The changes applied in one go, recorded before (now) and after (once
  // the write queued is carried out: AtOnceDone).
  std::string ReleaseAtOnce(const ReleaseRequest& request, ReleaseRecord record,
                            const ReleaseShape& shape, std::vector<std::string>* errors);
  void AtOnceDone(ReleaseRecord record, const std::string& revision, apply::ExecuteResult result,
                  std::vector<std::string>* errors);
  // Records, once per commit and reasons, that nothing of `app`/`env` was
  // written, and why; the status says so every cycle.
  void RecordRefusal(const manifest::Environment& model, const std::string& app,
                     const std::string& env, const std::string& commit,
                     const std::vector<std::string>& refusals,
                     const std::vector<const diff::PlannedChange*>& group, SyncEntry* entry,
                     std::vector<std::string>* errors);
  RecordCommit DescribeCommit(const std::string& id);
  Status SavePins();
  Status AdoptEnded(const std::vector<ReleaseRecord>& ended);
  void LoadPins();
  Env& EnvFor(const std::string& app, const std::string& env);

  LoopOptions options_;
  std::shared_ptr<const Ownership> ownership_ = std::make_shared<Ownership>();
  GitSource& git_;
  Journal& journal_;
  ClusterAccess& clusters_;
  Clock& clock_;
  std::string pins_path_;
  std::mt19937_64 rng_;

  bool sync_requested_ = true;
  bool fetch_in_flight_ = false;
  std::string journal_error_;                   // why the last write failed; "" after one works
  std::vector<ReleaseRecord> unsaved_records_;  // final states not in the journal yet
  std::vector<SyncEntry> unsaved_entries_;
  Clock::TimePoint next_fetch_{};
  Clock::TimePoint next_reconcile_{};
  int fetch_failures_ = 0;
  std::string rewritten_tip_;  // a tip reached by rewriting history: its releases say so
  std::string tip_;
  std::string fetched_tip_;  // a fetch ended: the tip from the next step on
  std::string last_reconciled_;
  int64_t last_fetch_ms_ = 0;
  std::string repo_error_;
  int64_t last_reconcile_ms_ = 0;
  std::set<std::string> unreachable_;             // clusters, at the last reconcile
  std::shared_ptr<const Loaded> loaded_;          // the tip's repository, rendered
  std::vector<policy::OpenWindow> open_windows_;  // of its freeze policy, at this pass
  int64_t first_gate_ms_ = 0;  // when the first gate holding a release back opens; 0: none
  std::map<std::string, std::shared_ptr<const Loaded>> pinned_loads_;  // by commit
  // The apps of the last load, by tree id: a commit reads only the apps it changed.
  manifest::LoadCache load_cache_;
  engine::RenderCache render_cache_;  // the apps of the last desired state, rendered
  // Apps left out of planning while their marks hold, and how many the last pass left out.
  std::map<std::string, QuietMark> quiet_;
  QuietBasis quiet_basis_;
  size_t quiet_apps_ = 0;
  FreeMemoryReturner free_memory_{16 << 20, std::chrono::seconds(10)};  // after each pass
  ClaimDigestMemo claim_digests_;
  // Environments a promotion waits for: a change of theirs reconciles again.
  std::set<std::pair<std::string, std::string>> awaited_;
  std::map<std::pair<std::string, std::string>, std::unique_ptr<Env>> envs_;
  std::map<std::pair<std::string, std::string>, Pin> pins_;
  std::map<std::pair<std::string, std::string>, ActiveOrder> orders_;
  // What the nodes of each server can allocate, read once per pass (and
  // per release outside one) by the capacity check.
  std::map<std::string, std::vector<manifest::NodeAllocatable>> nodes_;
  // Writes queued and not carried out yet, and what waits for them.
  static constexpr size_t kWriteWave = 32;
  std::vector<PendingWrite> writes_;
  std::vector<std::function<void()>> after_writes_;
  // The rendered desired state of the last cycle, and what it was rendered for.
  struct DesiredFor {
    std::string tip;
    std::map<std::string, std::set<std::string>> apps;  // Selection::apps
    std::map<std::string, std::string> server_of;
    friend bool operator==(const DesiredFor&, const DesiredFor&) = default;
  };
  std::optional<DesiredFor> desired_for_;
  std::map<std::string, ServerDesired> desired_;
  std::vector<RenderProblem> desired_problems_;
};

}  // namespace pagoda::daemon
