// Leadership among replicas (docs/architecture.md, "Beyond one daemon";
// DESIGN.md §11). Replicas compete for Leases (kube/lease.h) in one cluster:
// one per shard of apps (daemon/shards.h), and one heartbeat per replica, by
// which each knows how many are live and takes its share of the shards.
// Internal to daemon/.
//
// Leadership runs on a thread of its own and only tells the loop: when the
// shards it leads change, it publishes a new Ownership and hands the loop
// what it needs to take a shard up (the releases in flight there, from the
// cluster's mirror). It never touches the loop's state.
//
// Writes are fenced below the loop, in every client that writes to a
// cluster (kube::WriteGate): a write to an app's namespace goes out only
// while this replica holds the app's shard Lease and its last renewal began
// less than renewDeadline ago, so that a holder cut off from its Lease's
// cluster stops writing before any other can take over. Giving a shard up
// (to balance, or on SIGTERM) first stops the loop acting on it, closes its
// fence and waits for the writes in flight there, and only then empties the
// Lease, so that the next holder may take it at once.
//
// Release ids stay unique across replicas: each replica reserves blocks of
// them from a counter Lease (journal::Journal::IdBlock), and takes a fresh
// block whenever it takes a shard up, so that one environment's ids grow
// with time whoever released it.
#pragma once

#include <array>
#include <atomic>
#include <condition_variable>
#include <functional>
#include <map>
#include <memory>
#include <mutex>
#include <optional>
#include <set>
#include <string>
#include <thread>
#include <vector>

#include "base/clock.h"
#include "daemon/config.h"
#include "daemon/ownership.h"
#include "daemon/release_objects.h"
#include "journal/journal.h"
#include "kube/kube.h"
#include "kube/lease.h"

namespace pagoda::daemon {

// What status shows of leadership.
struct LeadershipStatus {
  std::string identity;
  std::vector<std::string> replicas;  // live, this one included
  struct Shard {
    int index = 0;
    std::string lease;
    std::string holder;    // "" when nobody holds it
    int64_t since_ms = 0;  // when the holder acquired it (its acquireTime), Unix ms
    int64_t transitions = 0;
    bool mine = false;  // held and taken up by this replica
  };
  std::vector<Shard> shards;
  std::string error;             // why the last round could not do all it should; "" when it could
  int64_t transitions_seen = 0;  // holders seen to change, since this process started
};

// How long a write behind the fence may take: the time a holder's Lease
// outlasts its renew deadline. A write let in just before the fence closes
// is then answered, or given up on, before another replica may take the
// Lease. (A server that holds a request in its queue past that can still
// carry it out later; no client can fence that.)
std::chrono::milliseconds WriteTimeout(const DaemonConfig::Ha& ha);

// The namespace a write to `path` is in ("" when the path names none): the
// namespace of a namespaced object, the name of a Namespace.
std::string NamespaceOfPath(std::string_view path);

class Leadership {
 public:
  struct Options {
    DaemonConfig::Ha ha;
    std::string identity;     // this replica, unique among them (Identity())
    int64_t id_block = 1000;  // release ids reserved at a time
  };
  // A shard just taken up: its epoch, the releases in flight there, and
  // the rollbacks that pin their environment (`pagoda rollback`: the
  // newest release there is one).
  struct Takeover {
    int shard = 0;
    int64_t epoch = 0;
    std::vector<journal::ReleaseRecord> in_flight;
    std::vector<journal::ReleaseRecord> pinned;
    // Releases this replica's journal holds in flight that the cluster
    // shows ended, as the cluster has them: another replica finished them
    // while this one was away (stopped, or leading other shards).
    std::vector<journal::ReleaseRecord> ended;
  };
  struct Hooks {
    // The ownership changed, with what the shards just taken need. Called on
    // the leadership thread: it must hand the work to the loop and return.
    std::function<void(std::shared_ptr<const Ownership>, std::vector<Takeover>)> changed;
    // Before a shard is given up: the loop must stop acting on what
    // `ownership` leaves out, and say so; false (or no answer in time)
    // keeps the shard for now.
    std::function<bool(std::shared_ptr<const Ownership>)> give_up;
  };

  // `store`: the Leases, in ha.cluster's ha.lease_namespace. `objects`: the
  // mirrored releases, read in `clusters` (every cluster name of the
  // config) when a shard is taken up. The journal gets id blocks.
  Leadership(Options options, std::unique_ptr<kube::LeaseStore> store, journal::Journal& journal,
             ReleaseObjects& objects, std::vector<std::string> clusters, Hooks hooks, Clock& clock);
  ~Leadership();  // Stop()

  // The fence, for every client that writes to a cluster.
  std::shared_ptr<kube::WriteGate> gate() const;
  std::shared_ptr<const Ownership> ownership() const;
  LeadershipStatus status() const;

  // The config's cluster names, where releases in flight are looked for
  // when a shard is taken up (a reload may change them).
  void SetClusters(std::vector<std::string> clusters);

  // Starts the thread that calls Round() every retry period (jittered).
  // Without it, the caller calls Round() (tests).
  void Start();
  // One round: renew, observe, balance, take up, give up.
  void Round();
  // Ends the thread, then gives up every shard held (after `hooks.give_up`)
  // and the heartbeat, so that another replica takes over at once. Call it
  // once the loop has stopped writing.
  void Stop();

  // This replica's name: `configured`, else $POD_NAME, else the host
  // name, lower-cased to a DNS label, with a random suffix per process.
  static std::string Identity(const std::string& configured);

 private:
  class Gate;
  struct ShardState {
    std::unique_ptr<kube::LeaseElector> elector;
    bool taken = false;  // taken up: the loop owns it
    int64_t epoch = 0;
    std::string last_holder;  // as last seen, to count transitions
    bool seen_free = false;   // seen with no holder since this process started
  };
  void Run();
  std::vector<std::string> LiveReplicas();
  // Reserves `n` release ids from the counter Lease.
  Result<journal::Journal::IdBlock> ReserveIds(int64_t n);
  Result<Takeover> PrepareTakeover(int shard);
  // Fills t->ended; `in_flight`: the ids the cluster shows in flight.
  Status FindEnded(const std::vector<std::string>& clusters, const std::set<std::string>& in_flight,
                   Takeover* t);
  Result<std::vector<journal::ReleaseRecord>> PinsIn(const std::string& cluster, int shard);
  // Gives `shard` up: the loop first, then the fence, then the Lease.
  // Returns whether it was given up.
  bool GiveUp(int shard, bool stopping);
  void NoteLost(const std::string& error);
  void Publish(std::vector<Takeover> takeovers, const std::string& error);
  Ownership OwnershipNow() const;
  std::string LeaseName(int shard) const;

  Options options_;
  std::unique_ptr<kube::LeaseStore> store_;
  journal::Journal& journal_;
  ReleaseObjects& objects_;
  Hooks hooks_;
  Clock& clock_;
  std::shared_ptr<Gate> gate_;
  kube::LeaseTiming timing_;
  std::unique_ptr<kube::LeaseElector> heartbeat_;
  std::vector<ShardState> shards_;  // the leadership thread's (or Round()'s caller's) alone
  // Heartbeats as seen: name → (resourceVersion, when it last changed).
  std::map<std::string, std::pair<std::string, Clock::TimePoint>> seen_;
  std::vector<std::string> live_;  // replicas, at the last round

  mutable std::mutex mu_;  // guards what follows; never held across I/O
  std::shared_ptr<const Ownership> ownership_;
  LeadershipStatus status_;
  std::vector<std::string> clusters_;
  int rounds_ = 0;  // the first takes nothing: the others' heartbeats are not seen yet
  bool stop_ = false;
  std::condition_variable cv_;
  std::thread thread_;
};

}  // namespace pagoda::daemon
