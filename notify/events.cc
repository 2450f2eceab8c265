#include <array>

#include "notify/notify.h"

namespace pagoda::notify {
namespace {

using journal::Hold;
using journal::Outcome;
using journal::ReleaseRecord;

constexpr std::array<std::string_view, 11> kEventNames = {
    "started",     "batch-done", "held",   "resumed", "succeeded", "failed",
    "rolled-back", "aborted",    "frozen", "waiting", "drift"};

Event FromRecord(EventKind kind, const ReleaseRecord& r) {
  Event e;
  e.kind = kind;
  e.app = r.app;
  e.env = r.env;
  e.cluster = r.cluster;
  e.release = r.id;
  e.release_kind = std::string(journal::Name(r.kind));
  e.commit = r.to.id;
  e.commit_summary = r.to.summary;
  e.revision = r.to_revision;
  e.time = r.start;
  for (const journal::BatchRecord& b : r.batches) {
    if (b.end == 0) continue;
    e.batch = b.index;
    e.batches += 1;
    e.time = b.end;
  }
  if (r.end != 0) e.time = r.end;
  return e;
}

std::string Errors(const ReleaseRecord& r) {
  std::string out;
  for (const std::string& error : r.errors) out += (out.empty() ? "" : "; ") + error;
  return out;
}

std::string HoldDetail(const ReleaseRecord& r, int batch) {
  const std::string after = " after batch " + std::to_string(batch);
  switch (r.hold) {
    case Hold::kPolicy:
      return "held by its pause policy" + after;
    case Hold::kOperator:
      return "paused by an operator" + after;
    case Hold::kFailed:
      return "a batch failed and its policy is to halt: " + Errors(r);
    case Hold::kNone:
      break;
  }
  return "";
}

std::optional<EventKind> Ending(Outcome outcome) {
  switch (outcome) {
    case Outcome::kSucceeded:
      return EventKind::kSucceeded;
    case Outcome::kFailed:
      return EventKind::kFailed;
    case Outcome::kRolledBack:
      return EventKind::kRolledBack;
    case Outcome::kAborted:
      return EventKind::kAborted;
    case Outcome::kInProgress:
    case Outcome::kSuperseded:  // the release that took over says what happens
      break;
  }
  return std::nullopt;
}

bool Ended(const ReleaseRecord& r, size_t i) {
  return i < r.batches.size() && r.batches[i].end != 0;
}

bool Fresh(const ReleaseRecord& r) {
  for (size_t i = 0; i < r.batches.size(); ++i) {
    if (Ended(r, i)) return false;
  }
  return r.hold == Hold::kNone;
}

}  // namespace

std::string_view Name(EventKind kind) { return kEventNames[static_cast<size_t>(kind)]; }

Result<EventKind> ParseEventKind(std::string_view name) {
  for (size_t i = 0; i < kEventNames.size(); ++i) {
    if (kEventNames[i] == name) return static_cast<EventKind>(i);
  }
  std::string known;
  for (std::string_view n : kEventNames) known += (known.empty() ? "" : ", ") + std::string(n);
  return Status::InvalidArgument("\"" + std::string(name) + "\" is not an event: use one of " +
                                 known);
}

std::vector<Event> EventTracker::Record(const ReleaseRecord& record) {
  std::vector<Event> out;
  auto it = in_flight_.find(record.id);
  const ReleaseRecord* before = it == in_flight_.end() ? nullptr : &it->second;
  const bool in_progress = record.outcome == Outcome::kInProgress;
  if (before == nullptr && Fresh(record)) out.push_back(FromRecord(EventKind::kStarted, record));
  if (before != nullptr && in_progress) {
    for (size_t i = 0; i < record.batches.size(); ++i) {
      if (!Ended(record, i) || Ended(*before, i)) continue;
      Event e = FromRecord(EventKind::kBatchDone, record);
      e.batch = record.batches[i].index;
      e.time = record.batches[i].end;
      out.push_back(std::move(e));
    }
  }
  const Hold was = before == nullptr ? Hold::kNone : before->hold;
  if (in_progress && record.hold != Hold::kNone && was != record.hold) {
    Event e = FromRecord(EventKind::kHeld, record);
    e.detail = HoldDetail(record, e.batch);
    out.push_back(std::move(e));
  } else if (in_progress && before != nullptr && was != Hold::kNone && record.hold == Hold::kNone) {
    out.push_back(FromRecord(EventKind::kResumed, record));
  }
  if (std::optional<EventKind> end = Ending(record.outcome);
      end && (before != nullptr || !in_progress)) {
    Event e = FromRecord(*end, record);
    e.detail = Errors(record);
    out.push_back(std::move(e));
  }
  if (in_progress) {
    in_flight_[record.id] = record;
  } else if (it != in_flight_.end()) {
    in_flight_.erase(it);
  }
  return out;
}

std::vector<Event> EventTracker::Cycle(const journal::SyncEntry& entry,
                                       const std::map<std::string, std::string>& cluster_of) {
  std::vector<Event> out;
  std::set<std::string> now(entry.drift.begin(), entry.drift.end());
  for (const std::string& key : now) {
    if (drifted_.contains(key)) continue;
    const size_t slash = key.find('/');
    Event e;
    e.kind = EventKind::kDrift;
    e.app = key.substr(0, slash);
    e.env = slash == std::string::npos ? "" : key.substr(slash + 1);
    if (auto c = cluster_of.find(key); c != cluster_of.end()) e.cluster = c->second;
    e.commit = entry.commit;
    e.detail = "the cluster differs from what the repository renders";
    e.time = entry.time;
    out.push_back(std::move(e));
  }
  drifted_ = std::move(now);
  return out;
}

std::vector<Event> EventTracker::Status(const std::vector<Waiting>& waiting, journal::TimeMs now) {
  std::vector<Event> out;
  std::map<std::string, std::string> frozen, promotion;
  auto event = [&](EventKind kind, const Waiting& w, std::string detail) {
    Event e;
    e.kind = kind;
    e.app = w.app;
    e.env = w.env;
    e.cluster = w.cluster;
    e.commit = w.commit;
    e.commit_summary = w.commit_summary;
    e.detail = std::move(detail);
    e.time = now;
    out.push_back(std::move(e));
  };
  for (const Waiting& w : waiting) {
    const std::string key = w.app + "/" + w.env;
    if (!w.frozen_by.empty()) {
      frozen[key] = w.frozen_by;
      if (frozen_[key] != w.frozen_by) {
        event(EventKind::kFrozen, w,
              "freeze window " + w.frozen_by +
                  (w.frozen_until == 0 ? "" : " until " + journal::FormatTime(w.frozen_until)));
      }
    }
    if (!w.waiting_for.empty()) {
      promotion[key] = w.waiting_for;
      if (waiting_[key] != w.waiting_for) {
        event(EventKind::kWaiting, w,
              "waits for " + w.waiting_for +
                  (w.waiting_reason.empty() ? "" : ": " + w.waiting_reason));
      }
    }
  }
  frozen_ = std::move(frozen);
  waiting_ = std::move(promotion);
  return out;
}

std::string Summary(const Event& e) {
  std::string what = e.app + "/" + e.env + ": ";
  std::string commit = e.commit.substr(0, 8);
  if (!e.commit_summary.empty()) commit += " \"" + e.commit_summary + "\"";
  if (!e.release.empty()) {
    what += "release " + e.release + " (" + e.release_kind +
            (commit.empty() ? "" : " to " + commit) + ")";
  } else if (!commit.empty()) {
    what += commit;
  }
  switch (e.kind) {
    case EventKind::kStarted:
      what += " started";
      break;
    case EventKind::kBatchDone:
      what += " finished batch " + std::to_string(e.batch);
      break;
    case EventKind::kHeld:
      what += " is held";
      break;
    case EventKind::kResumed:
      what += " resumed";
      break;
    case EventKind::kSucceeded:
      what += " succeeded";
      break;
    case EventKind::kFailed:
      what += " failed";
      break;
    case EventKind::kRolledBack:
      what += " failed and was rolled back";
      break;
    case EventKind::kAborted:
      what += " was aborted and rolled back";
      break;
    case EventKind::kFrozen:
      what += " waits for a freeze window";
      break;
    case EventKind::kWaiting:
      what += " waits for its promotion";
      break;
    case EventKind::kDrift:
      what += " drifted";
      break;
  }
  if (!e.detail.empty()) what += ": " + e.detail;
  return what;
}

}  // namespace pagoda::notify
