#include "daemon/notifications.h"

namespace pagoda::daemon {
namespace {

void Add(const notify::ReceiverStats& from, notify::ReceiverStats* to) {
  to->delivered += from.delivered;
  to->failed += from.failed;
  to->dropped += from.dropped;
  to->retried += from.retried;
  if (!from.last_error.empty()) to->last_error = from.last_error;
}

}  // namespace

void Notifications::SetDispatcher(std::unique_ptr<notify::Dispatcher> dispatcher) {
  if (dispatcher_ != nullptr) {
    for (const auto& [name, stats] : dispatcher_->Stats()) Add(stats, &retired_[name]);
  }
  dispatcher_ = std::move(dispatcher);
}

void Notifications::Reconciled(const SyncEntry& entry) {
  next_.Reconciled(entry);
  Send(tracker_.Cycle(entry, cluster_of_));
}

void Notifications::ReleaseWritten(const ReleaseRecord& record) {
  next_.ReleaseWritten(record);
  Send(tracker_.Record(record));
}

void Notifications::Published(const LoopStatus& status) {
  std::vector<notify::Waiting> waiting;
  for (const EnvironmentStatus& e : status.environments) {
    cluster_of_[e.app + "/" + e.env] = e.cluster;
    if (e.frozen_by.empty() && e.waiting_for.empty()) continue;
    notify::Waiting w;
    w.app = e.app;
    w.env = e.env;
    w.cluster = e.cluster;
    w.commit = status.commit;
    w.commit_summary = status.commit_summary;
    w.frozen_by = e.frozen_by;
    w.frozen_until = e.frozen_until_ms;
    w.waiting_for = e.waiting_for;
    w.waiting_reason = e.waiting_reason;
    waiting.push_back(std::move(w));
  }
  Send(tracker_.Status(waiting, status.time_ms));
}

std::map<std::string, notify::ReceiverStats> Notifications::Stats() const {
  std::map<std::string, notify::ReceiverStats> out = retired_;
  if (dispatcher_ != nullptr) {
    for (const auto& [name, stats] : dispatcher_->Stats()) Add(stats, &out[name]);
  }
  return out;
}

void Notifications::Send(const std::vector<notify::Event>& events) {
  if (dispatcher_ == nullptr) return;
  for (const notify::Event& e : events) dispatcher_->Send(e);
}

}  // namespace pagoda::daemon
