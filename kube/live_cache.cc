#include "kube/live_cache.h"

#include <spdlog/spdlog.h>

#include <algorithm>
#include <future>

#include "base/backoff.h"
#include "base/json.h"
#include "kube/live_internal.h"

namespace pagoda::kube {
namespace {

// What a request path writes: "/apis/apps/v1/namespaces/shop/deployments/
// web/scale?x=y" is {apps, deployments, shop, web, scale}.
struct WrittenPath {
  std::string group, version, plural, ns, name, subresource;
};

WrittenPath ParseWrittenPath(std::string_view path) {
  path = path.substr(0, path.find('?'));
  std::vector<std::string_view> parts;
  for (size_t start = 0; start <= path.size();) {
    size_t slash = path.find('/', start);
    if (slash == std::string_view::npos) slash = path.size();
    if (slash > start) parts.push_back(path.substr(start, slash - start));
    start = slash + 1;
  }
  WrittenPath out;
  size_t rest = 0;
  if (parts.size() >= 2 && parts[0] == "api") {
    out.version = std::string(parts[1]);
    rest = 2;
  } else if (parts.size() >= 3 && parts[0] == "apis") {
    out.group = std::string(parts[1]);
    out.version = std::string(parts[2]);
    rest = 3;
  } else {
    return out;
  }
  auto part = [&](size_t i) { return i < parts.size() ? std::string(parts[i]) : std::string(); };
  if (part(rest) == "namespaces" && parts.size() >= rest + 3) {
    out.ns = part(rest + 1);
    rest += 2;
  }
  out.plural = part(rest);
  out.name = part(rest + 1);
  out.subresource = part(rest + 2);
  return out;
}

// Resource versions compare as integers (KEP-5504, stable since Kubernetes
// 1.35): positive, without leading zeros. Others (older servers, other
// storage) are only equal or not.
bool Comparable(std::string_view rv) {
  if (rv.empty() || rv[0] == '0') return false;
  return std::all_of(rv.begin(), rv.end(), [](char c) { return c >= '0' && c <= '9'; });
}

// True when `a` is a later version than `b`; false when either is not comparable.
bool Later(std::string_view a, std::string_view b) {
  if (!Comparable(a) || !Comparable(b)) return false;
  return a.size() != b.size() ? a.size() > b.size() : a > b;
}

// `l`, its object to be parsed apart from the cache's text.
diff::Live Unparsed(const diff::Live& l) {
  return {l.key, l.api_version, diff::LiveObject::Unparsed(l.object)};
}

}  // namespace

struct LiveCache::Kind {
  ResourceInfo resource;
  bool cached = false;  // `objects` hold a cluster-wide list and the watch's changes since
  bool stale = true;    // list it before the next read
  bool denied = false;  // not ours to list cluster-wide, since `denied_at`
  Clock::TimePoint denied_at{};
  uint64_t generation = 0;  // bumped by every list; a watch of an older one stops
  std::string resource_version;
  // By {namespace, name}; each kept as text (diff::LiveObject), handed out
  // unparsed so that what a plan parses goes with the plan.
  std::map<std::pair<std::string, std::string>, diff::Live> objects;
  // Objects pagoda wrote whose new state the write's answer does not carry
  // (a subresource, a deletion): fetched before the next read.
  std::set<std::pair<std::string, std::string>> dirty;
  std::thread watcher;
  bool failing = false;  // the last watch broke off; logged once
};

LiveCache::LiveCache(KubeClient& client, LiveCacheOptions options)
    : client_(client), options_(options) {
  if (options_.clock == nullptr) options_.clock = &RealClock();
  client_.SetWriteObserver(
      [this](std::string_view method, std::string_view path, const rapidjson::Value& answer) {
        Written(method, path, answer);
      });
}

LiveCache::~LiveCache() {
  client_.SetWriteObserver(nullptr);
  {
    std::lock_guard<std::mutex> lock(mu_);
    stopping_ = true;
  }
  cv_.notify_all();
  for (auto& [name, kind] : kinds_) {
    if (kind->watcher.joinable()) kind->watcher.join();
  }
}

LiveCache::Kind& LiveCache::KindFor(const ResourceInfo& resource) {
  auto& slot = kinds_[{resource.group, resource.kind}];
  if (!slot) {
    slot = std::make_unique<Kind>();
    slot->resource = resource;
  } else if (slot->resource.version != resource.version) {
    // A new preferred version: what was cached is of the old one. (Changed
    // only then: a watch reads `resource` while it runs.)
    slot->stale = true;
    slot->resource = resource;
    TouchedAll();
  }
  return *slot;
}

LiveCache::Kind* LiveCache::KindServing(const std::string& group, const std::string& plural) {
  for (auto& [name, kind] : kinds_) {
    if (kind->resource.group == group && kind->resource.resource == plural) return kind.get();
  }
  return nullptr;
}

void LiveCache::Written(std::string_view method, std::string_view path,
                        const rapidjson::Value& answer) {
  const WrittenPath written = ParseWrittenPath(path);
  std::lock_guard<std::mutex> lock(mu_);
  Kind* k = KindServing(written.group, written.plural);
  if (k == nullptr || !k->cached) return;
  // The answer to a create, apply or update is the object as it now is (in
  // the version the cache holds, or it is fetched in that one).
  if (method != "DELETE" && written.subresource.empty() && written.version == k->resource.version &&
      answer.IsObject() && diff::MetadataString(answer, "resourceVersion").size() > 0) {
    auto kind = answer.FindMember("kind");
    if (kind != answer.MemberEnd() && kind->value.IsString() &&
        k->resource.kind == kind->value.GetString()) {
      if (!Comparable(diff::MetadataString(answer, "resourceVersion"))) {
        k->stale = true;  // cannot tell it from an older event: list again
        TouchedAll();
        return;
      }
      Store(*k, answer, /*written=*/true);
      return;
    }
  }
  if (written.name.empty()) {
    k->stale = true;
    TouchedAll();
    return;
  }
  k->dirty.insert({written.ns, written.name});
  Touched(*k, {written.ns, written.name});
}

bool LiveCache::Store(Kind& k, const rapidjson::Value& object, bool written) {
  auto key = diff::KeyOf(object);
  if (!key.ok()) return false;
  auto slot = std::make_pair(key->namespace_name, key->name);
  const std::string_view version = diff::MetadataString(object, "resourceVersion");
  auto existing = k.objects.find(slot);
  if (existing != k.objects.end()) {
    const std::string_view held = existing->second.object->Facts().resource_version;
    // A later one (pagoda's own write), or this very version: the event of
    // a write whose answer the cache holds already.
    if (Later(held, version) || (Comparable(version) && held == version)) return true;
  }
  if (written && existing == k.objects.end() && Comparable(version) &&
      !Later(version, k.resource_version)) {
    return true;  // the watch is past this version and has no such object: deleted since
  }
  if (!internal::Owned(object) || internal::ControlledByAnother(object)) {
    if (k.objects.erase(slot) > 0) Touched(k, slot);
    return true;
  }
  diff::Live live;
  live.key = std::move(*key);
  live.api_version = k.resource.ApiVersion();
  live.object = std::make_shared<const diff::LiveObject>(diff::LiveObject::Keep(object));
  Touched(k, slot);
  k.objects.insert_or_assign(std::move(slot), std::move(live));
  return true;
}

void LiveCache::Touched(const Kind& k, const std::pair<std::string, std::string>& slot) {
  const std::string& app = k.resource.kind == "Namespace" ? slot.second : slot.first;
  uint64_t& last = touched_[app];
  if (last != 0) by_change_.erase(last);
  last = ++changes_;
  by_change_.emplace(last, app);
}

uint64_t LiveCache::Version(const std::string& app) const {
  std::lock_guard<std::mutex> lock(mu_);
  auto it = touched_.find(app);
  return std::max(epoch_, it != touched_.end() ? it->second : 0);
}

LiveChanges LiveCache::ChangedSince(uint64_t since) const {
  std::lock_guard<std::mutex> lock(mu_);
  LiveChanges out;
  out.now = changes_;
  out.all = epoch_ > since;
  if (out.all) return out;
  for (auto it = by_change_.upper_bound(since); it != by_change_.end(); ++it) {
    out.apps.push_back(it->second);
  }
  return out;
}

LiveCache::Stats LiveCache::stats() const {
  std::lock_guard<std::mutex> lock(mu_);
  Stats out = stats_;
  out.kinds_cached = 0;
  for (const auto& [name, kind] : kinds_) out.kinds_cached += kind->cached && !kind->stale;
  return out;
}

Result<std::vector<diff::Live>> LiveCache::Read(
    const std::vector<std::string>& apps,
    const std::set<std::pair<std::string, std::string>>& kinds_wanted) {
  auto resources = client_.Resources();
  if (!resources.ok()) return resources.status();
  const std::vector<ResourceInfo> kinds = internal::KindsToRead(*resources, kinds_wanted);
  const std::set<std::string> in_scope(apps.begin(), apps.end());
  const auto now = options_.clock->Now();

  // Objects pagoda wrote that the cache cannot know the state of: fetched
  // one by one, or, when many, their kind is listed again.
  std::vector<std::pair<Kind*, std::pair<std::string, std::string>>> fetch;
  {
    std::lock_guard<std::mutex> lock(mu_);
    for (const auto& r : kinds) {
      Kind& k = KindFor(r);
      if (!k.cached || k.stale || k.dirty.empty()) continue;
      if (k.dirty.size() > options_.max_fetches) {
        k.stale = true;
        TouchedAll();
      } else {
        for (const auto& slot : k.dirty) fetch.push_back({&k, slot});
      }
      k.dirty.clear();
    }
  }
  for (const auto& [k, slot] : fetch) {
    auto object = client_.Get(k->resource.ObjectPath(slot.first, slot.second));
    std::lock_guard<std::mutex> lock(mu_);
    ++stats_.fetches;
    if (object.ok()) {
      Store(*k, *object, /*written=*/true);
    } else if (object.status().code() == Status::Code::kNotFound) {
      if (k->objects.erase(slot) > 0) Touched(*k, slot);
    } else {
      k->stale = true;
      TouchedAll();
    }
  }

  // The kinds to list now: new, written to beyond fetching, or no longer
  // watched; and denied ones when it is time to ask again, or wanted.
  std::vector<Kind*> reading, listing;
  {
    std::lock_guard<std::mutex> lock(mu_);
    for (const auto& r : kinds) {
      Kind& k = KindFor(r);
      const bool wanted = kinds_wanted.count({r.group, r.kind}) > 0;
      if (k.denied && now < k.denied_at + options_.recheck_denied) {
        if (wanted) listing.push_back(&k);
        continue;
      }
      reading.push_back(&k);
      if (!k.cached || k.stale) listing.push_back(&k);
    }
  }

  std::vector<diff::Live> out;
  constexpr size_t kParallel = 4;  // the client keeps several connections
  for (size_t i = 0; i < listing.size(); i += kParallel) {
    std::vector<std::future<Result<internal::Listing>>> batch;
    for (size_t j = i; j < std::min(listing.size(), i + kParallel); ++j) {
      const ResourceInfo resource = listing[j]->resource;
      const bool wanted = kinds_wanted.count({resource.group, resource.kind}) > 0;
      batch.push_back(std::async(std::launch::async, [this, resource, &apps, wanted] {
        return internal::ListKind(client_, resource, apps, wanted);
      }));
    }
    for (size_t j = i; j < std::min(listing.size(), i + kParallel); ++j) {
      Kind& k = *listing[j];
      auto listed = batch[j - i].get();
      if (!listed.ok()) return listed.status().WithContext("listing " + k.resource.kind);
      auto shared = std::make_shared<internal::Listing>(std::move(*listed));
      auto owned = internal::OwnedObjects(shared, k.resource);
      std::lock_guard<std::mutex> lock(mu_);
      ++stats_.lists;
      ++k.generation;  // whatever an older watch still says is older than this
      TouchedAll();
      if (shared->denied) {
        k.denied_at = now;  // asked again a while after this answer
        k.denied = true;
        k.cached = false;
        k.objects.clear();
        // Wanted, listed per namespace: for this read only.
        for (auto& l : owned) {
          if (in_scope.count(internal::AppOf(l.key))) out.push_back(std::move(l));
        }
        continue;
      }
      k.denied = false;
      k.dirty.clear();
      k.objects.clear();
      for (auto& l : owned) {
        auto slot = std::make_pair(l.key.namespace_name, l.key.name);
        l.object =
            std::make_shared<const diff::LiveObject>(diff::LiveObject::Keep(l.object->Value()));
        k.objects.emplace(std::move(slot), std::move(l));
      }
      k.resource_version = shared->resource_version;
      k.cached = true;
      k.stale = false;
      if (!k.watcher.joinable()) k.watcher = std::thread(&LiveCache::WatchLoop, this, &k);
      cv_.notify_all();
    }
  }

  {
    std::lock_guard<std::mutex> lock(mu_);
    for (Kind* k : reading) {
      if (k->cached) Collect(*k, in_scope, &out);
    }
  }
  return out;
}

void LiveCache::Collect(const Kind& k, const std::set<std::string>& in_scope,
                        std::vector<diff::Live>* out) {
  if (in_scope.size() * 8 >= k.objects.size()) {  // most of them: one pass over all
    for (const auto& [slot, l] : k.objects) {
      if (in_scope.count(internal::AppOf(l.key))) out->push_back(Unparsed(l));
    }
    return;
  }
  // A few apps: their namespaces' ranges (objects are by namespace, name).
  const bool namespaces = k.resource.kind == "Namespace";
  for (const std::string& app : in_scope) {
    if (namespaces) {
      if (auto it = k.objects.find({"", app}); it != k.objects.end()) {
        out->push_back(Unparsed(it->second));
      }
      continue;
    }
    for (auto it = k.objects.lower_bound({app, ""});
         it != k.objects.end() && it->first.first == app; ++it) {
      out->push_back(Unparsed(it->second));
    }
  }
}

void LiveCache::WatchLoop(Kind* k) {
  int failures = 0;
  std::unique_lock<std::mutex> lock(mu_);
  while (!stopping_) {
    if (!k->cached || k->stale) {
      cv_.wait(lock);  // until a Read lists it again
      continue;
    }
    const uint64_t generation = k->generation;
    const std::string path =
        k->resource.CollectionPath("") + "?" + internal::kOwnedSelector +
        "&watch=1&allowWatchBookmarks=true&resourceVersion=" + k->resource_version +
        "&timeoutSeconds=" + std::to_string(options_.watch_timeout.count());
    lock.unlock();
    bool expired = false, broken = false;
    const auto started = std::chrono::steady_clock::now();
    Status status = client_.Watch(
        path,
        [&](std::string_view line) {
          if (line.empty()) {
            std::lock_guard<std::mutex> guard(mu_);
            return !stopping_ && k->generation == generation;
          }
          return ApplyEvent(k, generation, line, &expired, &broken);
        },
        options_.watch_timeout + std::chrono::seconds(30));
    if (broken && status.ok()) status = Status::Internal("an event it could not take");
    lock.lock();
    if (stopping_) break;
    if (k->generation != generation) {  // listed again meanwhile: watch from there
      failures = 0;
      continue;
    }
    if (status.ok() && !expired) {  // the server's timeout: go on where it ended
      if (k->failing) spdlog::info("watching {} works again", k->resource.kind);
      k->failing = false;
      failures = 0;
      // A server that ends watches at once is not asked again at once.
      if (std::chrono::steady_clock::now() - started < std::chrono::seconds(1)) {
        cv_.wait_for(lock, std::chrono::seconds(1), [&] { return stopping_; });
      }
      continue;
    }
    // Events may have been missed: the next Read lists the kind again.
    k->stale = true;
    TouchedAll();
    ++stats_.watch_failures;
    if (expired) {
      spdlog::debug("watch of {}: resourceVersion {} expired; listing again", k->resource.kind,
                    k->resource_version);
      continue;
    }
    if (!k->failing) {
      spdlog::warn("watching {} failed, listing it on every read until it works again: {}",
                   k->resource.kind, status.ToString());
    }
    k->failing = true;
    ++failures;
    const auto backoff = Backoff(std::chrono::seconds(1), failures, std::chrono::seconds(30));
    cv_.wait_for(lock, backoff, [&] { return stopping_; });
  }
}

bool LiveCache::ApplyEvent(Kind* k, uint64_t generation, std::string_view line, bool* expired,
                           bool* broken) {
  rapidjson::Document event;
  *broken = true;  // until the event proves good
  if (!json::Parse(line, &event).ok() || !event.IsObject()) return false;
  const std::string type = json::StringAt(event, "type");
  auto object = event.FindMember("object");
  if (object == event.MemberEnd() || !object->value.IsObject()) return false;
  rapidjson::Value& o = object->value;
  if (type == "ERROR") {
    auto code = o.FindMember("code");
    *expired = code != o.MemberEnd() && code->value.IsInt() && code->value.GetInt() == 410;
    *broken = !*expired;
    if (*broken) {
      std::lock_guard<std::mutex> lock(mu_);
      spdlog::warn("watch of {}: {}", k->resource.kind, json::StringAt(o, "message"));
    }
    return false;
  }
  std::string version;
  auto meta = o.FindMember("metadata");
  if (meta != o.MemberEnd() && meta->value.IsObject()) {
    version = json::StringAt(meta->value, "resourceVersion");
    meta->value.RemoveMember("managedFields");
  }
  if (type == "BOOKMARK") {
    *broken = false;
    std::lock_guard<std::mutex> lock(mu_);
    if (stopping_ || k->generation != generation) return false;
    if (!version.empty()) k->resource_version = version;
    return true;
  }
  std::lock_guard<std::mutex> lock(mu_);
  if (stopping_ || k->generation != generation) {
    *broken = false;
    return false;
  }
  if (type == "DELETED") {
    auto key = diff::KeyOf(o);
    if (!key.ok()) return false;
    auto existing = k->objects.find({key->namespace_name, key->name});
    if (existing != k->objects.end() &&
        !Later(existing->second.object->Facts().resource_version, version)) {
      Touched(*k, existing->first);
      k->objects.erase(existing);
    }
  } else if (!Store(*k, o, /*written=*/false)) {
    return false;
  }
  *broken = false;
  if (!version.empty()) k->resource_version = version;
  ++stats_.events;
  return true;
}

}  // namespace pagoda::kube
