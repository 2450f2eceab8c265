#include <spdlog/spdlog.h>

#include "base/backoff.h"
#include "notify/notify.h"

namespace pagoda::notify {

struct Dispatcher::Lane {
  explicit Lane(Receiver r) : receiver(std::move(r)) {}
  struct Queued {
    Event event;
    Clock::TimePoint at;
  };
  Receiver receiver;
  std::unique_ptr<kube::HttpTransport> transport;  // null: none could be made, and
  std::string no_transport;                        // why
  mutable std::mutex mu;
  std::condition_variable cv;
  std::deque<Queued> queue;
  ReceiverStats stats;
  bool stop = false;
  std::thread thread;
};

namespace {

// `text` without anything secret the receiver holds: its URL (a chat
// robot's holds its key), its signing secret, its token.
std::string Scrubbed(std::string text, const Receiver& r) {
  for (const std::string* secret : {&r.url, &r.secret, &r.token}) {
    if (secret->empty()) continue;
    for (size_t at = text.find(*secret); at != std::string::npos; at = text.find(*secret, at)) {
      text.replace(at, secret->size(), "[redacted]");
    }
  }
  return text;
}

std::string Said(const Result<kube::HttpResponse>& answer, const Receiver& r) {
  if (!answer.ok()) return Scrubbed(answer.status().message(), r);
  return "HTTP " + std::to_string(answer->status);
}

}  // namespace

Dispatcher::Dispatcher(std::vector<Receiver> receivers, const NewTransport& new_transport,
                       Clock& clock, DispatchOptions options)
    : clock_(clock), options_(options) {
  for (Receiver& r : receivers) {
    lanes_.push_back(std::make_unique<Lane>(std::move(r)));
    Lane& lane = *lanes_.back();
    Result<std::unique_ptr<kube::HttpTransport>> transport = new_transport();
    if (transport.ok()) {
      lane.transport = std::move(*transport);
    } else {
      lane.no_transport = transport.status().ToString();
      lane.stats.last_error = lane.no_transport;
      spdlog::error("notify: {} cannot be told anything: {}", lane.receiver.name,
                    lane.no_transport);
    }
    lane.thread = std::thread([this, &lane] { Run(lane); });
  }
}

Dispatcher::~Dispatcher() {
  for (auto& lane : lanes_) {
    std::lock_guard lock(lane->mu);
    lane->stop = true;
    lane->cv.notify_all();
  }
  for (auto& lane : lanes_) lane->thread.join();
}

void Dispatcher::Send(const Event& event) {
  const Clock::TimePoint now = clock_.Now();
  for (auto& lane : lanes_) {
    if (!Wants(lane->receiver, event)) continue;
    std::lock_guard lock(lane->mu);
    if (lane->queue.size() >= options_.max_queued) {
      lane->stats.dropped += 1;
      continue;
    }
    lane->queue.push_back({event, now});
    lane->cv.notify_all();
  }
}

std::map<std::string, ReceiverStats> Dispatcher::Stats() const {
  std::map<std::string, ReceiverStats> out;
  for (const auto& lane : lanes_) {
    std::lock_guard lock(lane->mu);
    out[lane->receiver.name] = lane->stats;
  }
  return out;
}

void Dispatcher::Run(Lane& lane) {
  for (;;) {
    Lane::Queued next;
    {
      std::unique_lock lock(lane.mu);
      lane.cv.wait(lock, [&] { return lane.stop || !lane.queue.empty(); });
      if (lane.stop) return;
      next = std::move(lane.queue.front());
      lane.queue.pop_front();
    }
    Deliver(lane, next.event, next.at);
  }
}

// Tries until delivered, refused, past the receiver's deadline or stopped.
void Dispatcher::Deliver(Lane& lane, const Event& event, Clock::TimePoint queued) {
  const Receiver& r = lane.receiver;
  for (int failures = 0;; ++failures) {
    std::optional<kube::HttpRequest> request = Format(r, event, clock_.UnixMillis());
    if (!request) return;  // nothing to say of it
    Result<kube::HttpResponse> answer =
        lane.transport ? lane.transport->Do(*request)
                       : Result<kube::HttpResponse>(Status::Unavailable(lane.no_transport));
    const Delivery delivery = Judge(r, answer);
    std::unique_lock lock(lane.mu);
    if (delivery == Delivery::kDelivered) {
      lane.stats.delivered += 1;
      return;
    }
    lane.stats.last_error = Said(answer, r);
    const auto wait = Backoff(options_.retry_base, failures + 1, options_.retry_cap);
    const bool late = clock_.Now() + wait - queued > r.deadline;
    if (delivery == Delivery::kRefused || late) {
      lane.stats.failed += 1;
      spdlog::warn("notify: {} was not told that {} ({}): {}", r.name, Summary(event),
                   delivery == Delivery::kRefused ? "refused" : "past its deadline",
                   lane.stats.last_error);
      return;
    }
    lane.stats.retried += 1;
    if (lane.cv.wait_for(lock, wait, [&] { return lane.stop; })) return;
  }
}

}  // namespace pagoda::notify
