#include "daemon/shards.h"

#include <algorithm>
#include <map>
#include <utility>

#include "base/digest.h"

namespace pagoda::daemon {
namespace {

uint64_t Hash64(std::string_view data) {
  const Digest d = Sha256(data);
  uint64_t out = 0;
  for (int i = 0; i < 8; ++i) out = (out << 8) | d[i];
  return out;
}

// How much `replica` wants `shard`: rendezvous (highest random weight).
uint64_t Weight(const std::string& replica, int shard) {
  std::string key = replica;
  key += '\0';
  key += std::to_string(shard);
  return Hash64(key);
}

// `shards` ordered by how much `replica` wants them, most first; ties (never
// in practice) by shard number.
std::vector<int> ByPreference(const std::string& replica, std::vector<int> shards) {
  std::vector<std::pair<uint64_t, int>> weighted;
  weighted.reserve(shards.size());
  for (int s : shards) weighted.emplace_back(Weight(replica, s), s);
  std::sort(weighted.begin(), weighted.end(), [](const auto& a, const auto& b) {
    return a.first != b.first ? a.first > b.first : a.second < b.second;
  });
  for (size_t i = 0; i < weighted.size(); ++i) shards[i] = weighted[i].second;
  return shards;
}

}  // namespace

int JumpHash(uint64_t key, int buckets) {
  int64_t b = -1;
  int64_t j = 0;
  while (j < std::max(buckets, 1)) {
    b = j;
    key = key * 2862933555777941757ULL + 1;
    j = static_cast<int64_t>(static_cast<double>(b + 1) * (static_cast<double>(int64_t{1} << 31) /
                                                           static_cast<double>((key >> 33) + 1)));
  }
  return static_cast<int>(b);
}

int ShardOf(std::string_view app, int shards) { return JumpHash(Hash64(app), shards); }

ShardMoves Balance(const ShardView& view) {
  ShardMoves moves;
  const int n = static_cast<int>(view.holder.size());
  if (n == 0) return moves;
  // What each live replica holds, self included.
  std::map<std::string, int> held;
  for (const std::string& r : view.live) held.emplace(r, 0);
  held.emplace(view.self, 0);
  std::vector<int> mine, unheld;
  for (int s = 0; s < n; ++s) {
    const std::string& h = view.holder[s];
    if (h.empty()) {
      unheld.push_back(s);
    } else if (auto it = held.find(h); it != held.end()) {
      ++it->second;
      if (h == view.self) mine.push_back(s);
    }
  }
  const int m = static_cast<int>(held.size());
  const int low = n / m;             // floor(N / M)
  const int high = (n + m - 1) / m;  // ceil(N / M)
  const int h = static_cast<int>(mine.size());

  int most = 0, lacking = 0;
  bool all_at_floor = true;
  for (const auto& [replica, count] : held) {
    most = std::max(most, count);
    lacking += std::max(0, low - count);
    all_at_floor = all_at_floor && count >= low;
  }
  // The first by name among those holding `most` (held is ordered by name).
  std::string first_of_most;
  for (const auto& [replica, count] : held) {
    if (count == most) {
      first_of_most = replica;
      break;
    }
  }

  int give = 0;
  int take = 0;
  if (h > high) {
    give = h - high;
  } else if (h > low && lacking > static_cast<int>(unheld.size()) && first_of_most == view.self) {
    give = 1;
  } else if (h < low) {
    take = low - h;
  } else if (h < high && all_at_floor) {
    take = high - h;
  }
  if (give > 0) {
    std::vector<int> order = ByPreference(view.self, mine);
    moves.release.assign(order.rbegin(), order.rbegin() + give);
  }
  if (take > 0) {
    std::vector<int> order = ByPreference(view.self, unheld);
    order.resize(std::min<size_t>(order.size(), take));
    moves.acquire = std::move(order);
  }
  return moves;
}

}  // namespace pagoda::daemon
