// Notifications in the daemon: a LoopObserver in front of another (the
// metrics) that turns what the loop writes and shows into events
// (notify::EventTracker) and hands them to a notify::Dispatcher. Internal
// to daemon/. On the loop thread, like every LoopObserver; it never waits
// for a receiver.
#pragma once

#include <map>
#include <memory>
#include <string>

#include "daemon/loop.h"
#include "notify/notify.h"

namespace pagoda::daemon {

class Notifications final : public LoopObserver {
 public:
  explicit Notifications(LoopObserver& next) : next_(next) {}

  // Receivers from now on (none: nullptr). The counts of the one replaced
  // are kept, so that totals never go down; what it had queued is dropped.
  void SetDispatcher(std::unique_ptr<notify::Dispatcher> dispatcher);

  void Fetched(bool ok) override { next_.Fetched(ok); }
  void Reconciled(const SyncEntry& entry) override;
  void ReleaseEnded(const ReleaseRecord& record) override { next_.ReleaseEnded(record); }
  void ReleaseWritten(const ReleaseRecord& record) override;
  // After each step: environments that begin to wait for a freeze window
  // or a promotion.
  void Published(const LoopStatus& status);

  // By receiver, every dispatcher's counts summed.
  std::map<std::string, notify::ReceiverStats> Stats() const;

 private:
  void Send(const std::vector<notify::Event>& events);

  LoopObserver& next_;
  std::unique_ptr<notify::Dispatcher> dispatcher_;
  notify::EventTracker tracker_;
  std::map<std::string, std::string> cluster_of_;  // "app/env" -> cluster
  std::map<std::string, notify::ReceiverStats> retired_;
};

}  // namespace pagoda::daemon
