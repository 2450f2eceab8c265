// Telling people what releases do: the events a release record's writes
// and the loop's status make, the receivers that want them (chat robots, a
// generic signed webhook, commit statuses on a forge), the HTTP request
// each receiver is sent, and their delivery off the loop.
//
// EventTracker and Format are pure. Dispatcher owns one thread per
// receiver: the loop only queues, so a receiver that hangs or fails never
// slows a release. A secret (a signing key, a token, a webhook URL, which
// holds one) is never put in a payload, nor in anything Dispatcher reports.
#pragma once

#include <chrono>
#include <condition_variable>
#include <cstdint>
#include <deque>
#include <functional>
#include <map>
#include <memory>
#include <mutex>
#include <optional>
#include <set>
#include <string>
#include <string_view>
#include <thread>
#include <vector>

#include "base/clock.h"
#include "base/status.h"
#include "journal/record.h"
#include "kube/http.h"

namespace pagoda::notify {

enum class EventKind {
  kStarted,
  kBatchDone,
  kHeld,
  kResumed,
  kSucceeded,
  kFailed,
  kRolledBack,
  kAborted,
  kFrozen,
  kWaiting,  // for its promotion
  kDrift,
};
// "started", "batch-done", "held", "resumed", "succeeded", "failed",
// "rolled-back", "aborted", "frozen", "waiting", "drift".
std::string_view Name(EventKind kind);
Result<EventKind> ParseEventKind(std::string_view name);

struct Event {
  EventKind kind = EventKind::kStarted;
  std::string app, env, cluster;
  std::string release;       // its id; "" for frozen, waiting and drift
  std::string release_kind;  // "rollout", "rollback", …; "" without a release
  std::string commit;        // the commit it releases (or waits to release), full id
  std::string commit_summary;
  std::string revision;
  int batch = 0;       // batch done, held: the last batch ended
  int batches = 0;     // batches ended so far
  std::string detail;  // "held by its pause policy", the errors, "freeze window x until …"
  journal::TimeMs time = 0;

  friend bool operator==(const Event&, const Event&) = default;
};

// One line for people: "shop/prod: release r-000012 (rollout to 1a2b3c4d
// "fix checkout") succeeded".
std::string Summary(const Event& event);

// What an environment waits for, as the loop's status shows it.
struct Waiting {
  std::string app, env, cluster;
  std::string commit, commit_summary;  // what would go out
  std::string frozen_by;               // "" = no freeze window holds it
  journal::TimeMs frozen_until = 0;
  std::string waiting_for;  // "" = it waits for no promotion
  std::string waiting_reason;
};

// Turns what the loop writes and shows into events, each once. Records are
// compared with the previous write of the same id: a release first seen
// with a batch already ended or a hold (a restart or a reload took it up)
// makes no "started". Kept on the loop thread; bounded by the releases in
// flight and the environments.
class EventTracker {
 public:
  std::vector<Event> Record(const journal::ReleaseRecord& record);
  // "app/env" entries of `drift` not in the previous cycle's.
  std::vector<Event> Cycle(const journal::SyncEntry& entry,
                           const std::map<std::string, std::string>& cluster_of);
  // Environments that begin to wait for a freeze window or a promotion.
  std::vector<Event> Status(const std::vector<Waiting>& waiting, journal::TimeMs now);

 private:
  std::map<std::string, journal::ReleaseRecord> in_flight_;  // by id
  std::set<std::string> drifted_;
  std::map<std::string, std::string> frozen_, waiting_;  // "app/env" -> by / for
};

enum class ReceiverType { kGeneric, kSlack, kDingTalk, kFeishu, kWeCom, kGitHub, kGitLab, kGitea };
std::string_view Name(ReceiverType type);  // "generic", "slack", "dingtalk", …
Result<ReceiverType> ParseReceiverType(std::string_view name);
bool IsForge(ReceiverType type);  // a commit status receiver

struct Receiver {
  std::string name;
  ReceiverType type = ReceiverType::kGeneric;
  // The webhook's URL, or the forge's API base: https://api.github.com,
  // https://gitea.example.com/api/v1, https://gitlab.example.com/api/v4.
  std::string url;
  std::string repo;                     // forges: "owner/name"; GitLab: the project's path or id
  std::string secret;                   // signs: generic, dingtalk, feishu; "" = unsigned
  std::string token;                    // forges
  std::vector<EventKind> events;        // empty: every event
  std::vector<std::string> apps, envs;  // fnmatch(3) globs; empty: all
  std::chrono::milliseconds timeout{10'000};    // per request
  std::chrono::milliseconds deadline{600'000};  // an event not delivered by then is given up
  std::string target_url;                       // forges: where a status links to ("" = nowhere)

  friend bool operator==(const Receiver&, const Receiver&) = default;
};

bool Wants(const Receiver& receiver, const Event& event);

// The request that tells `receiver` of `event` at `now` (signatures with a
// timestamp are made at sending time). None when the receiver has nothing
// to say of it: a forge is told no drift, and nothing without a commit.
std::optional<kube::HttpRequest> Format(const Receiver& receiver, const Event& event,
                                        journal::TimeMs now);

// A forge's state for an event: "pending", "success", "failure" (GitLab's
// words: "running", "pending", "success", "failed"); "" when none.
std::string CommitState(ReceiverType type, EventKind kind);

// What became of an answer: delivered, worth another try, or refused for
// good (a 4xx other than 408 and 429). GitLab's 400 for a state its status
// already has counts as delivered.
enum class Delivery { kDelivered, kRetry, kRefused };
Delivery Judge(const Receiver& receiver, const Result<kube::HttpResponse>& answer);

struct ReceiverStats {
  uint64_t delivered = 0;
  uint64_t failed = 0;   // refused, or not delivered by the deadline
  uint64_t dropped = 0;  // the queue was full
  uint64_t retried = 0;
  std::string last_error;  // secrets removed
};

struct DispatchOptions {
  // Retries wait by base/backoff.h from `retry_base` to `retry_cap`.
  std::chrono::milliseconds retry_base{1'000};
  std::chrono::milliseconds retry_cap{60'000};
  size_t max_queued = 1024;  // per receiver; more are dropped and counted
};

// Delivers events to receivers, each on a thread of its own, in order.
// `clock` stamps signatures and measures deadlines; waits between retries
// are on the real clock and end at once when the Dispatcher is destroyed.
class Dispatcher {
 public:
  // Makes each receiver's transport: one each, so that one that hangs holds
  // no connection another needs.
  using NewTransport = std::function<Result<std::unique_ptr<kube::HttpTransport>>()>;
  Dispatcher(std::vector<Receiver> receivers, const NewTransport& new_transport, Clock& clock,
             DispatchOptions options = {});
  ~Dispatcher();  // waits for the requests in hand (bounded by their timeouts)

  // Queues `event` for each receiver that wants it. Never blocks on one.
  void Send(const Event& event);
  std::map<std::string, ReceiverStats> Stats() const;  // by receiver name

 private:
  struct Lane;
  void Run(Lane& lane);
  void Deliver(Lane& lane, const Event& event, Clock::TimePoint queued);

  Clock& clock_;
  DispatchOptions options_;
  std::vector<std::unique_ptr<Lane>> lanes_;
};

}  // namespace pagoda::notify
