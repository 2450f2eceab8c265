// Leases (coordination.k8s.io/v1) and leader election on them, with
// client-go's semantics (k8s.io/client-go/tools/leaderelection): optimistic
// updates by resourceVersion, and expiry measured on the local monotonic clock
// from the last observed change of the record, never from the times written
// in it (hosts' clocks differ). A holder that cannot renew stops leading
// before any other replica can take the Lease over (docs/architecture.md and
// DESIGN.md §11, Leadership).
//
// Start here: LeaseElector contends for one Lease kept in a LeaseStore;
// NewKubeLeaseStore() keeps them in an API server, MemoryLeaseStore in memory
// for tests.
#pragma once

#include <chrono>
#include <cstdint>
#include <map>
#include <memory>
#include <mutex>
#include <string>

#include "base/clock.h"
#include "base/status.h"

namespace pagoda::kube {

class KubeClient;

// Leader election's timing; client-go's defaults.
struct LeaseTiming {
  // How long others wait, from when they last saw the record change, before
  // they may take the Lease (spec.leaseDurationSeconds, so whole seconds).
  std::chrono::milliseconds lease{15000};
  // A holder that has not renewed by then (measured from the start of its
  // last successful attempt) stops leading.
  std::chrono::milliseconds renew_deadline{10000};
  // Between attempts.
  std::chrono::milliseconds retry{2000};

  // Ok when lease > renew_deadline > 1.2 x retry (client-go's JitterFactor),
  // all > 0, and lease is whole seconds; InvalidArgument naming the field
  // otherwise.
  Status Validate() const;
};

// The spec of a coordination.k8s.io/v1 Lease as leader election reads and
// writes it, and its annotations.
struct LeaseRecord {
  std::string holder;            // spec.holderIdentity; "" = nobody (released)
  int64_t duration_seconds = 0;  // spec.leaseDurationSeconds; 0 when absent
  std::string acquire_time;      // spec.acquireTime, MicroTime "2026-12-06T19:25:47.123456Z"
  std::string renew_time;        // spec.renewTime
  int64_t transitions = 0;       // spec.leaseTransitions; 0 when absent
  std::map<std::string, std::string> annotations;  // metadata.annotations

  friend bool operator==(const LeaseRecord&, const LeaseRecord&) = default;
};

// Where Leases are read and written. Names are DNS subdomain names (lower
// case letters, digits, '-' and '.'); another name is InvalidArgument, unsent.
class LeaseStore {
 public:
  struct Versioned {
    LeaseRecord record;
    std::string resource_version;  // metadata.resourceVersion; never "" from a store
  };

  virtual ~LeaseStore() = default;
  // NotFound when there is no such Lease.
  virtual Result<Versioned> Get(const std::string& name) = 0;
  // AlreadyExists (or Conflict) when it exists.
  virtual Result<Versioned> Create(const std::string& name, const LeaseRecord& record) = 0;
  // Replaces the Lease's spec and annotations only if it is still at
  // `v.resource_version`: Conflict otherwise (HTTP 409), NotFound when it is
  // gone. REQUIRES: v.resource_version is not "" (InvalidArgument otherwise:
  // a write without one would be unconditional).
  virtual Result<Versioned> Update(const std::string& name, const Versioned& v) = 0;
  // Every Lease whose name starts with `prefix`, by name.
  virtual Result<std::map<std::string, Versioned>> List(const std::string& prefix) = 0;
  // Deletes the Lease only if it is still at `resource_version`: Conflict
  // otherwise; Ok when it is gone already.
  virtual Status Delete(const std::string& name, const std::string& resource_version) = 0;
};

// The Leases in namespace `ns` of the API server `client` reaches: GET, POST,
// PUT with metadata.resourceVersion, and LIST of
// /apis/coordination.k8s.io/v1/namespaces/NS/leases. A PUT writes the
// Lease's name, namespace, annotations and spec, so labels or spec fields
// leader election does not know (preferredHolder, strategy) do not survive
// an update. `client` must outlive the store. Give it a timeout and retries
// that fit in LeaseTiming::retry (an attempt that takes longer is still safe,
// just late), and no WriteGate that leadership itself decides.
std::unique_ptr<LeaseStore> NewKubeLeaseStore(KubeClient& client, std::string ns);

// Leases in memory, for tests of whoever uses them. Thread-safe. Resource
// versions count up from 1 across all Leases, as the API server's do.
class MemoryLeaseStore final : public LeaseStore {
 public:
  Result<Versioned> Get(const std::string& name) override;
  Result<Versioned> Create(const std::string& name, const LeaseRecord& record) override;
  Result<Versioned> Update(const std::string& name, const Versioned& v) override;
  Result<std::map<std::string, Versioned>> List(const std::string& prefix) override;
  Status Delete(const std::string& name, const std::string& resource_version) override;

  // false: every call fails with Unavailable, as over a cut-off network.
  void SetReachable(bool reachable);
  // Calls made so far, reachable or not.
  int64_t calls() const;

 private:
  mutable std::mutex mu_;
  bool reachable_ = true;
  int64_t calls_ = 0;
  int64_t version_ = 0;
  std::map<std::string, Versioned> leases_;
};

// One Lease contended for with client-go's tryAcquireOrRenew:
//  - A holder still leading renews with the resourceVersion it last saw,
//    without reading first. Unavailable or DeadlineExceeded end the attempt
//    there (a read would fail too); any other failure (a Conflict, the Lease
//    gone) falls back to the steps below.
//  - Get. NotFound: Create it with holder = identity, transitions 0,
//    acquire and renew time now.
//  - The record seen changing (compared whole, with its resourceVersion) is
//    noted at the local monotonic clock's now, once the answer is in: the
//    "observed time". Expiry is measured from there.
//  - Held by another, non-empty holder whose record was observed to change
//    less than its leaseDurationSeconds ago: not acquired.
//  - Otherwise (free, expired, or ours) Update it with our identity and the
//    observed resourceVersion. When we already hold it, acquireTime and
//    transitions are kept; when taking it from another or from "",
//    transitions = old + 1 and acquireTime = now. The annotations are kept.
//    A Conflict is a lost race. Every successful write is an observation.
//  - Leading() holds while the last successful acquire or renewal began less
//    than renew_deadline ago, measured from when its attempt started, before
//    its request was sent: others wait a whole lease from when they observed
//    that write, which was later. An observation that someone else holds the
//    Lease, or that it is gone, ends leadership at once.
// Not thread-safe: one thread calls it. Requests are made on the calling
// thread, and take as long as the store's client lets them.
class LeaseElector {
 public:
  // REQUIRES: timing.Validate().ok(); `store` and `clock` outlive this.
  LeaseElector(LeaseStore& store, std::string name, std::string identity, LeaseTiming timing,
               Clock& clock);

  // One attempt to acquire or renew. With `acquire` false it only observes
  // (a Get) and never writes. Returns Leading() after it.
  bool Try(bool acquire = true);
  bool Leading() const;
  // The start of the last successful acquire or renewal + renew_deadline:
  // writes that begin before then are the holder's to make. No later than
  // now when not leading.
  Clock::TimePoint WritesUntil() const;
  // The start of the attempt that made Leading() true, not of renewals since.
  // Meaningful only while Leading().
  Clock::TimePoint LeadingSince() const;
  // Gives the Lease up when this elector's last observation says it holds it:
  // Get, and if it is still ours, Update with holder "", leaseDurationSeconds
  // 1, acquire and renew time now, transitions kept (client-go's
  // ReleaseOnCancel), so that another takes it at its next attempt. Leading()
  // is false from the call on, whatever the answer. Ok when there was nothing
  // to release.
  Status Release();

  // The record as last read or written.
  const LeaseRecord& observed() const { return observed_; }
  // The holder as last observed; "" when nobody holds it, or its record has
  // not been seen to change for its leaseDurationSeconds (expired).
  std::string LiveHolder() const;
  // Why the last attempt failed (a request's error: unreachable, a lost race
  // as Conflict or AlreadyExists); "" after one whose requests all worked,
  // even when it found the Lease held by another.
  const std::string& last_error() const { return last_error_; }
  const std::string& name() const { return name_; }
  const std::string& identity() const { return identity_; }

 private:
  // Notes `seen` as observed now when it differs from what was seen before.
  void Observe(const LeaseStore::Versioned& seen);
  // A write that began at `start` succeeded with `written`.
  void Succeeded(Clock::TimePoint start, const LeaseStore::Versioned& written);
  // Leading() ends now, if it has not yet.
  void StopLeading();
  // What an acquire or renewal at now writes over the observed record.
  LeaseRecord Claim() const;

  LeaseStore& store_;
  const std::string name_;
  const std::string identity_;
  const LeaseTiming timing_;
  Clock& clock_;
  LeaseRecord observed_;
  std::string observed_version_;  // "" before the first observation, and when it is gone
  Clock::TimePoint observed_time_{};
  Clock::TimePoint writes_until_ = Clock::TimePoint::min();
  Clock::TimePoint leading_since_ = Clock::TimePoint::min();
  std::string last_error_;
};

// `unix_millis` as a Kubernetes MicroTime: RFC 3339 in UTC with six fractional
// digits, "2026-12-06T19:25:47.123000Z". Exposed for tests.
std::string FormatMicroTime(int64_t unix_millis);

}  // namespace pagoda::kube
