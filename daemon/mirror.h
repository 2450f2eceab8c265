// The release records mirrored into the clusters (docs/architecture.md,
// "Beyond one daemon"): every record the journal takes is written, after
// it, as a Release object (daemon/release_objects.h) in its app's namespace
// of the cluster it ran in, and at most `history_limit` are kept per
// environment, the oldest pruned.
//
// Internal to daemon/. The journal is the write-ahead log and the mirror
// follows it: writes go out on a thread of their own, one record's states
// folded into its latest, so that a cluster that is slow or down never
// holds a release up. A write that fails is tried again with backoff; what
// waits, and why, shows in status and metrics. With leadership, a record is
// written only under the epoch its app's shard was held in when it was
// recorded: once another replica has held the shard since, this one's word
// on it is dropped, since the new holder's stands.
#pragma once

#include <chrono>
#include <condition_variable>
#include <cstdint>
#include <deque>
#include <functional>
#include <map>
#include <memory>
#include <mutex>
#include <optional>
#include <set>
#include <string>
#include <thread>

#include "base/clock.h"
#include "daemon/loop.h"
#include "daemon/release_objects.h"

namespace pagoda::daemon {

class Mirror {
 public:
  struct Options {
    int history_limit = 100;  // Releases kept per environment
    std::string identity;     // this replica, on every Release it writes
    std::string group;        // ha: the Lease the replicas share; "" without
    std::chrono::milliseconds first_retry{1000};
    std::chrono::milliseconds max_retry{60'000};
    // A record not written by then is given up (the journal keeps it).
    std::chrono::milliseconds give_up{3'600'000};
    size_t max_waiting = 100'000;  // records beyond are dropped, and counted
    Clock* clock = nullptr;        // nullptr: RealClock()
  };
  // The epoch under which this replica may write `app`'s releases now
  // (ReleaseWriter::epoch), or nullopt when it may not: another replica
  // leads the app. Called on any thread; must be quick and thread-safe.
  using EpochOf = std::function<std::optional<int64_t>(const std::string& app)>;

  Mirror(std::unique_ptr<ReleaseObjects> objects, Options options, EpochOf epoch_of);
  ~Mirror();  // stops at once; what waits is left to the journal
  Mirror(const Mirror&) = delete;
  Mirror& operator=(const Mirror&) = delete;

  // The record's latest state, for the cluster it ran in (record.cluster).
  // Returns at once. A record of an app this replica may not write is dropped.
  void Put(const journal::ReleaseRecord& record);

  struct Stats {
    size_t waiting = 0;
    int64_t oldest_waiting_ms = 0;  // since when the oldest has waited (Unix ms); 0: none
    int64_t written = 0;
    int64_t pruned = 0;
    int64_t failures = 0;     // writes that failed (each retried, until given up)
    int64_t given_up = 0;     // records never written: too long, or too many waiting
    int64_t handed_over = 0;  // dropped: another replica has led the app since
    std::string last_error;   // of the last write that failed; "" once one works
  };
  Stats stats() const;

  // Waits until nothing is waiting, or `timeout`; whether nothing is.
  bool Drain(std::chrono::milliseconds timeout);

 private:
  struct Item {
    journal::ReleaseRecord record;
    int64_t epoch = 0;
    int attempts = 0;
    Clock::TimePoint due{};
    int64_t since_ms = 0;  // first Put of this state not yet written
  };
  void Run();
  // Writes `item` (and prunes its environment when due); the error, if any.
  Status Write(const Item& item);
  Status Prune(const journal::ReleaseRecord& record);

  std::unique_ptr<ReleaseObjects> objects_;
  Options options_;
  EpochOf epoch_of_;
  Clock& clock_;
  mutable std::mutex mu_;  // guards what follows; never held across I/O
  std::condition_variable cv_;
  bool stop_ = false;
  bool busy_ = false;                  // a write is in hand
  std::map<std::string, Item> items_;  // by release id
  std::deque<std::string> order_;      // ids, oldest first
  // Releases known per environment ("cluster/app/env"): after a prune's
  // LIST, plus the ids written since. The next prune is due once past the limit.
  std::map<std::string, std::set<std::string>> known_;
  Stats stats_;
  std::thread thread_;
};

// A LoopObserver in front of another that hands every record the journal
// takes to the mirror.
class MirrorObserver final : public LoopObserver {
 public:
  explicit MirrorObserver(LoopObserver& next) : next_(next) {}
  void SetMirror(Mirror* mirror) { mirror_ = mirror; }  // on the loop thread
  void Fetched(bool ok) override { next_.Fetched(ok); }
  void Reconciled(const SyncEntry& entry) override { next_.Reconciled(entry); }
  void ReleaseEnded(const ReleaseRecord& record) override { next_.ReleaseEnded(record); }
  void ReleaseWritten(const ReleaseRecord& record) override {
    if (mirror_ != nullptr) mirror_->Put(record);
    next_.ReleaseWritten(record);
  }

 private:
  LoopObserver& next_;
  Mirror* mirror_ = nullptr;
};

}  // namespace pagoda::daemon
