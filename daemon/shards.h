// Shards (DESIGN.md §11, Shards): apps split by a stable hash of their name,
// and which shards one replica takes, given what it sees of the others. Each
// shard is its own Lease (kube/lease.h); this file decides only which of
// them a replica goes for or gives up. Pure: no I/O, no clock. Internal to
// daemon/.
#pragma once

#include <cstdint>
#include <string>
#include <string_view>
#include <vector>

namespace pagoda::daemon {

// Jump consistent hash (Lamping and Veach, 2014): a bucket in [0, buckets)
// for `key`. Growing `buckets` by one moves about 1/buckets of the keys, all
// of them to the new bucket. `buckets` < 1 counts as 1.
int JumpHash(uint64_t key, int buckets);

// The shard of app `app` among `shards`: JumpHash of the first 8 bytes of the
// SHA-256 of its name (big-endian), the same on every host and build.
int ShardOf(std::string_view app, int shards);

// What one replica sees, each retry period.
struct ShardView {
  std::string self;
  // Replicas whose heartbeat Lease is live; self counts among them whether
  // listed or not.
  std::vector<std::string> live;
  // Per shard: its live holder, "" when free (released or expired).
  std::vector<std::string> holder;
};

struct ShardMoves {
  std::vector<int> acquire;  // try to take these (free now), most preferred first
  std::vector<int> release;  // give these up, least preferred first
};

// The moves for `view.self`. With N shards and M live replicas, floor = N / M,
// ceil = ceil(N / M), and h the shards self holds:
//  - h > ceil: release h - ceil of them;
//  - else h > floor, the live replicas below floor lack more shards than are
//    free, and self is the first (by name) of the replicas holding the most:
//    release one (those below floor take free shards themselves, so none is
//    given up while there are free ones for them);
//  - h < floor: acquire up to floor - h free shards;
//  - else h < ceil and every live replica holds at least floor: acquire up to
//    ceil - h free shards.
// Holders that are not live count as holding nothing; their shards are not
// free until their Leases expire (the view says "" then). Which shards:
// rendezvous hashing, highest SHA-256 of (replica, shard) first, so that
// replicas prefer different shards and each prefers the same ones over time;
// it gives up those it prefers least. Deterministic: the same view gives the
// same moves.
ShardMoves Balance(const ShardView& view);

}  // namespace pagoda::daemon
