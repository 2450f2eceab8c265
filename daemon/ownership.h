// Which apps this replica may write: every app without leadership, the
// apps of the shards it has taken up with it (daemon/leadership.h).
// Internal to daemon/.
#pragma once

#include <cstdint>
#include <map>
#include <optional>
#include <string>
#include <string_view>

namespace pagoda::daemon {

// Which apps this replica may write now. Immutable once published.
struct Ownership {
  bool everything = true;  // no leadership: every app is this replica's
  int shards = 1;
  std::map<int, int64_t> held;  // shard → its epoch: the Lease's leaseTransitions when taken

  static Ownership All() { return {}; }
  bool Owns(std::string_view app) const;
  // The epoch `app`'s shard is held under (0 without leadership); nullopt
  // when this replica does not lead it.
  std::optional<int64_t> EpochOf(std::string_view app) const;
  // "shard 2 of 4" for messages; "" without leadership.
  std::string ShardName(std::string_view app) const;
  friend bool operator==(const Ownership&, const Ownership&) = default;
};

}  // namespace pagoda::daemon
