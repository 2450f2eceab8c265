#include "daemon/inbox.h"

namespace pagoda::daemon {

void Inbox::Post(Work work, Kind kind) {
  {
    std::lock_guard lock(mu_);
    if (closed_) return;
    items_.push_back({std::move(work), kind});
  }
  cv_.notify_all();
}

void Inbox::Close() {
  std::deque<Item> dropped;
  {
    std::lock_guard lock(mu_);
    closed_ = true;
    dropped.swap(items_);
  }
  cv_.notify_all();
}

bool Inbox::closed() const {
  std::lock_guard lock(mu_);
  return closed_;
}

int Inbox::Drain(bool quick_only) {
  int ran = 0;
  for (;;) {
    Work work;
    {
      std::lock_guard lock(mu_);
      auto it = items_.begin();
      if (quick_only) {
        while (it != items_.end() && it->kind != Kind::kQuick) ++it;
      }
      if (it == items_.end()) return ran;
      work = std::move(it->work);
      items_.erase(it);
    }
    work();  // without the lock: work may post more
    ++ran;
  }
}

void Inbox::WaitUntil(std::chrono::steady_clock::time_point until) {
  std::unique_lock lock(mu_);
  cv_.wait_until(lock, until, [&] { return woken_ || !items_.empty(); });
  woken_ = false;
}

void Inbox::Wake() {
  {
    std::lock_guard lock(mu_);
    woken_ = true;
  }
  cv_.notify_all();
}

}  // namespace pagoda::daemon
