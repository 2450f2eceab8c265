// A standing copy of what pagoda owns on one API server, kept current by
// WATCH, so that a reconcile cycle with nothing to do sends the server
// nothing and parses nothing.
//
// Read() answers as ReadLive() does. A kind is listed the first time it is
// read, then watched from that list's resourceVersion. A read after
// pagoda's own writes never sees an older object: what a write answers (the
// object as it now is) goes straight into the cache, and an object whose
// answer does not say (a scale, a deletion) is fetched before the next read;
// a watch event older than what the cache holds is ignored (resource versions
// compare as integers, KEP-5504; where they do not, a write makes the kind be
// listed again). A kind is listed again, and watched anew from there, when
// its watch broke off (410 Gone, a dropped connection, an error event): while
// a kind cannot be watched, every Read() lists it, as ReadLive() would. Changes others make
// (kubectl scale, a controller) arrive by the watch within moments. Kinds
// pagoda may not list cluster-wide are asked again every `recheck_denied`;
// wanted ones are listed per namespace on every Read(), not cached.
#pragma once

#include <chrono>
#include <condition_variable>
#include <cstdint>
#include <map>
#include <memory>
#include <mutex>
#include <set>
#include <string>
#include <string_view>
#include <thread>
#include <unordered_map>
#include <utility>
#include <vector>

#include "diff/diff.h"
#include "kube/kube.h"

namespace pagoda::kube {

// The objects pagoda owns (label app.kubernetes.io/managed-by=pagoda) in the
// namespaces of `apps`, of every kind the API server lets pagoda list,
// apply and delete, plus the apps' Namespaces. Objects that a controller owns
// (pods of a ReplicaSet, EndpointSlices of a Service) are not pagoda's even
// when they copy its labels, and are left out. One cluster-wide LIST per kind
// (per namespace when RBAC allows only that): the cost does not grow with
// the number of objects. `kinds_wanted` ({group, kind}) are listed whatever
// their kind: the kinds of the desired objects.
Result<std::vector<diff::Live>> ReadLive(
    KubeClient& client, const std::vector<std::string>& apps,
    const std::set<std::pair<std::string, std::string>>& kinds_wanted);

struct LiveCacheOptions {
  // How long the server keeps one watch open before pagoda opens the next.
  std::chrono::seconds watch_timeout{300};
  std::chrono::seconds recheck_denied{300};
  // Objects written by pagoda whose new state the write's answer does not
  // carry (a scale, a deletion) are fetched one by one before the next read,
  // up to this many per kind; beyond, the kind is listed again.
  size_t max_fetches = 32;
  Clock* clock = nullptr;  // nullptr: RealClock()
};

// What moved LiveCache::Version() after a point: the apps whose number did,
// or every app's (`all`). `now` is the point to ask from next time.
struct LiveChanges {
  uint64_t now = 0;
  bool all = true;
  std::vector<std::string> apps;  // when !all: each once, in the order they last moved
};

class LiveCache {
 public:
  // Takes the client's write observer: `client` must outlive the cache and
  // have no other observer.
  explicit LiveCache(KubeClient& client, LiveCacheOptions options = {});
  ~LiveCache();  // ends the watches (within about a second)
  LiveCache(const LiveCache&) = delete;
  LiveCache& operator=(const LiveCache&) = delete;

  // What ReadLive(client, apps, kinds_wanted) would return now. One caller
  // at a time.
  Result<std::vector<diff::Live>> Read(
      const std::vector<std::string>& apps,
      const std::set<std::pair<std::string, std::string>>& kinds_wanted);

  // A number that stays the same while what Read() would return of `app`'s
  // namespace (and its Namespace) stays the same: it moves on every change
  // the cache takes there, and for every app when a kind is listed again or
  // may have missed changes (a broken watch, a write whose result it must
  // fetch). A kind read by listing on every Read() (denied cluster-wide)
  // moves it on every Read(). Equal numbers, from one cache, mean nothing
  // changed in between; safe to call from any thread.
  uint64_t Version(const std::string& app) const;
  // The apps whose Version() is above `since`, a LiveChanges::now this cache
  // answered before (0: its start): what moved since. The cost is in the
  // apps that moved, not in the apps the cache knows. Safe to call from any
  // thread.
  LiveChanges ChangedSince(uint64_t since) const;

  struct Stats {
    int kinds_cached = 0;  // listed and followed by a watch
    int64_t lists = 0;     // kinds listed by Read(), over the cache's life
    int64_t fetches = 0;   // objects fetched one by one after pagoda wrote them
    int64_t events = 0;    // watch events applied
    int64_t watch_failures = 0;
  };
  Stats stats() const;
  // The client it reads and watches through.
  KubeClient& client() { return client_; }

 private:
  struct Kind;
  Kind& KindFor(const ResourceInfo& resource);
  Kind* KindServing(const std::string& group, const std::string& plural);
  // A write pagoda made through the client: its answer goes into the cache,
  // or the object is fetched before the next read.
  void Written(std::string_view method, std::string_view path, const rapidjson::Value& answer);
  // Puts `object` in the cache unless it holds a later version; drops it
  // when it is no longer pagoda's. One pagoda `written` (a write's answer,
  // a fetch) that the cache lacks and the watch is already past was deleted
  // since, and stays out. False when it is not an object at all.
  bool Store(Kind& kind, const rapidjson::Value& object, bool written);
  void WatchLoop(Kind* kind);
  // Applies one watch event; false ends the watch: `*expired` when the
  // server no longer has the resourceVersion it started from, `*broken` when
  // the event could not be taken (both mean listing again).
  bool ApplyEvent(Kind* kind, uint64_t generation, std::string_view line, bool* expired,
                  bool* broken);
  // Version(): `app` changed, or every app may have (with mu_ held).
  void Touched(const Kind& kind, const std::pair<std::string, std::string>& slot);
  void TouchedAll() { epoch_ = ++changes_; }
  // Appends what `k` holds of `in_scope` to `out` (with mu_ held).
  static void Collect(const Kind& k, const std::set<std::string>& in_scope,
                      std::vector<diff::Live>* out);

  KubeClient& client_;
  LiveCacheOptions options_;
  mutable std::mutex mu_;  // guards everything below
  std::condition_variable cv_;
  bool stopping_ = false;
  std::map<std::pair<std::string, std::string>, std::unique_ptr<Kind>> kinds_;  // {group, kind}
  Stats stats_;
  uint64_t changes_ = 0, epoch_ = 0;
  std::unordered_map<std::string, uint64_t> touched_;  // by app: the change that last touched it
  std::map<uint64_t, std::string> by_change_;          // touched_, by change
};

}  // namespace pagoda::kube
