#include "daemon/mirror.h"

#include <spdlog/spdlog.h>

#include <algorithm>
#include <tuple>

#include "base/backoff.h"

namespace pagoda::daemon {
namespace {

std::string EnvKey(const journal::ReleaseRecord& r) {
  return r.cluster + "/" + r.app + "/" + r.env;
}

}  // namespace

Mirror::Mirror(std::unique_ptr<ReleaseObjects> objects, Options options, EpochOf epoch_of)
    : objects_(std::move(objects)),
      options_(std::move(options)),
      epoch_of_(std::move(epoch_of)),
      clock_(options_.clock != nullptr ? *options_.clock : RealClock()),
      thread_([this] { Run(); }) {}

Mirror::~Mirror() {
  {
    std::lock_guard lock(mu_);
    stop_ = true;
  }
  cv_.notify_all();
  thread_.join();
}

void Mirror::Put(const journal::ReleaseRecord& record) {
  const std::optional<int64_t> epoch = epoch_of_(record.app);
  std::lock_guard lock(mu_);
  if (!epoch) {
    ++stats_.handed_over;
    return;
  }
  auto it = items_.find(record.id);
  if (it == items_.end()) {
    if (items_.size() >= options_.max_waiting) {
      ++stats_.given_up;
      return;
    }
    it = items_.emplace(record.id, Item{}).first;
    it->second.since_ms = clock_.UnixMillis();
    order_.push_back(record.id);
  }
  // The newest state replaces what waited; a retry's backoff stays.
  it->second.record = record;
  it->second.epoch = *epoch;
  cv_.notify_all();
}

Mirror::Stats Mirror::stats() const {
  std::lock_guard lock(mu_);
  Stats out = stats_;
  out.waiting = items_.size() + (busy_ ? 1 : 0);
  for (const auto& [id, item] : items_) {
    if (out.oldest_waiting_ms == 0 || item.since_ms < out.oldest_waiting_ms) {
      out.oldest_waiting_ms = item.since_ms;
    }
  }
  return out;
}

bool Mirror::Drain(std::chrono::milliseconds timeout) {
  std::unique_lock lock(mu_);
  return cv_.wait_for(lock, timeout, [&] { return items_.empty() && !busy_; });
}

void Mirror::Run() {
  std::unique_lock lock(mu_);
  while (!stop_) {
    // The first item due, oldest first; else sleep until one is.
    const auto now = clock_.Now();
    auto next = Clock::TimePoint::max();
    auto due = order_.end();
    for (auto it = order_.begin(); it != order_.end(); ++it) {
      const Item& item = items_.at(*it);
      if (item.due <= now) {
        due = it;
        break;
      }
      next = std::min(next, item.due);
    }
    if (due == order_.end()) {
      if (next == Clock::TimePoint::max()) {
        cv_.wait(lock);
      } else {
        cv_.wait_for(lock, std::min<std::chrono::nanoseconds>(next - now, std::chrono::seconds(1)));
      }
      continue;
    }
    const std::string id = *due;
    order_.erase(due);
    Item item = std::move(items_.at(id));
    items_.erase(id);
    busy_ = true;
    lock.unlock();
    const std::optional<int64_t> epoch = epoch_of_(item.record.app);
    Status written = Status::Ok();
    if (epoch && *epoch == item.epoch) written = Write(item);
    lock.lock();
    busy_ = false;
    if (!epoch || *epoch != item.epoch) {
      ++stats_.handed_over;
    } else if (written.ok()) {
      ++stats_.written;
      stats_.last_error.clear();
    } else {
      ++stats_.failures;
      stats_.last_error = "release " + id + ": " + written.ToString();
      if (clock_.UnixMillis() - item.since_ms >= options_.give_up.count()) {
        ++stats_.given_up;
        spdlog::warn("release={} app={} env={} not mirrored into cluster {}, given up: {}", id,
                     item.record.app, item.record.env, item.record.cluster, written.ToString());
      } else if (!items_.count(id)) {  // else a newer state came meanwhile: it goes next
        ++item.attempts;
        item.due = clock_.Now() + Backoff(options_.first_retry, item.attempts, options_.max_retry);
        items_.emplace(id, std::move(item));
        order_.push_back(id);
      }
    }
    cv_.notify_all();
  }
}

Status Mirror::Write(const Item& item) {
  const journal::ReleaseRecord& r = item.record;
  PAGODA_RETURN_IF_ERROR(
      objects_->Put(r.cluster, r, {options_.identity, item.epoch, options_.group}));
  if (r.outcome == journal::Outcome::kInProgress || options_.history_limit <= 0) {
    return Status::Ok();
  }
  return Prune(r);
}

// Keeps the newest `history_limit` Releases of the record's environment,
// by start time, then id; one LIST per environment, then only once the
// Releases written since pass the limit.
Status Mirror::Prune(const journal::ReleaseRecord& record) {
  const std::string key = EnvKey(record);
  {
    std::lock_guard lock(mu_);
    auto known = known_.find(key);
    if (known != known_.end()) {
      known->second.insert(record.id);
      if (known->second.size() <= static_cast<size_t>(options_.history_limit)) {
        return Status::Ok();
      }
    }
  }
  auto listed = objects_->List(record.cluster, {record.app, record.env, false});
  if (!listed.ok()) return listed.status().WithContext("listing releases to prune");
  std::vector<const MirroredRelease*> finished;
  std::set<std::string> ids;
  for (const MirroredRelease& m : *listed) {
    ids.insert(m.record.id);
    if (m.record.outcome != journal::Outcome::kInProgress) finished.push_back(&m);
  }
  std::sort(finished.begin(), finished.end(), [](const auto* a, const auto* b) {
    return std::make_tuple(a->record.start, journal::ReleaseIdNumber(a->record.id)) <
           std::make_tuple(b->record.start, journal::ReleaseIdNumber(b->record.id));
  });
  size_t excess = ids.size() > static_cast<size_t>(options_.history_limit)
                      ? ids.size() - static_cast<size_t>(options_.history_limit)
                      : 0;
  int64_t pruned = 0;
  for (size_t i = 0; i < excess && i < finished.size(); ++i) {
    const std::string& id = finished[i]->record.id;
    PAGODA_RETURN_IF_ERROR(
        objects_->Delete(record.cluster, record.app, id).WithContext("pruning release " + id));
    ids.erase(id);
    ++pruned;
  }
  std::lock_guard lock(mu_);
  known_[key] = std::move(ids);
  stats_.pruned += pruned;
  return Status::Ok();
}

}  // namespace pagoda::daemon
