// What the release journal holds: release records, one per
// release order, and sync-log entries, one per reconcile cycle, with their
// JSON form. Plain data; no I/O.
//
// JSON: camelCase keys in a fixed order; times as RFC 3339 UTC with
// milliseconds ("2024-05-01T10:00:00.000Z"), absent when unset (0); closed
// enumerations as lowercase words ("rolled-back"). Parsing ignores unknown
// keys (a newer pagoda may add some) and refuses unknown enumeration values.
#pragma once

#include <cstdint>
#include <string>
#include <string_view>
#include <vector>

#include "base/status.h"

namespace pagoda::journal {

// Milliseconds since the Unix epoch, UTC. 0 means unset.
using TimeMs = int64_t;

enum class ReleaseKind { kRollout, kScale, kConfig, kRollback, kSelfHeal, kPrune };
enum class Trigger { kCommit, kRevert, kManualRollback, kSelfHeal, kManualSync };
enum class Outcome { kInProgress, kSucceeded, kFailed, kRolledBack, kAborted, kSuperseded };
enum class ChangeAction { kCreated, kConfigured, kUnchanged, kDeleted, kSkipped, kAdopted };
// Why a batched release in progress does not go on: its pause policy held it
// after a batch, an operator paused it, or a batch failed and onFailure is halt.
enum class Hold { kNone, kPolicy, kOperator, kFailed };

// "rollout", "self-heal"; "commit", "manual-rollback"; "in-progress",
// "rolled-back"; "created", "configured", …
std::string_view Name(ReleaseKind kind);
std::string_view Name(Trigger trigger);
std::string_view Name(Outcome outcome);
std::string_view Name(ChangeAction action);
std::string_view Name(Hold hold);  // "", "policy", "operator", "failed"
Result<ReleaseKind> ParseReleaseKind(std::string_view name);
Result<Trigger> ParseTrigger(std::string_view name);
Result<Outcome> ParseOutcome(std::string_view name);
Result<ChangeAction> ParseChangeAction(std::string_view name);

// A commit as a record names it. An empty id means none (a first release has
// no from-commit).
struct RecordCommit {
  std::string id;
  std::string author;  // "Name <email>"
  TimeMs time = 0;
  std::string summary;  // the message's first line

  friend bool operator==(const RecordCommit&, const RecordCommit&) = default;
};

// One entry of an apply's change set, named "Kind/namespace/name".
struct Change {
  ChangeAction action = ChangeAction::kUnchanged;
  std::string key;
  // Why it was skipped (a conflict: whose the object is); from whom it was
  // adopted. "" otherwise.
  std::string detail;
  // Configured: the fields it changed, "path: was -> now" (diff::FieldLines).
  std::vector<std::string> fields;

  friend bool operator==(const Change&, const Change&) = default;
};

struct BatchRecord {
  int index = 0;      // 1-based
  int instances = 0;  // moved in this batch
  TimeMs start = 0;
  std::vector<std::string> pods;  // the new pods of the batch
  TimeMs ready = 0;               // when they were all Ready; 0 if never
  TimeMs end = 0;
  // The gates asked after it, once they all passed or one failed:
  // "success-rate passed: 3 checks, the last 0.995 >= 0.99".
  std::vector<std::string> gates;

  friend bool operator==(const BatchRecord&, const BatchRecord&) = default;
};

// A release order's account. The journal may hold several lines for one id
// as the release goes on (started, each batch, finished): the latest is its
// current state.
struct ReleaseRecord {
  // "r-000123": the journal's counter, zero-padded to six digits (more when
  // it passes 999999); ids compare by their number. Journal::Append assigns them.
  std::string id;
  std::string app;
  std::string env;
  std::string cluster;
  ReleaseKind kind = ReleaseKind::kRollout;
  Trigger trigger = Trigger::kCommit;
  RecordCommit from;
  RecordCommit to;
  std::string from_revision;  // "" on a first release
  std::string to_revision;
  std::vector<Change> changes;
  std::vector<BatchRecord> batches;
  Outcome outcome = Outcome::kInProgress;
  std::vector<std::string> errors;
  // What the API server warned of as pagoda wrote ("Deployment/shop/prod-ab: ...").
  std::vector<std::string> warnings;
  TimeMs start = 0;
  TimeMs end = 0;
  std::string restores;  // a rollback: the id of the release whose revision it restores
  // A release a newer desired state took over at its next step: the id of
  // the release that did (superseded_by), and on that one, the id of the
  // release it took over from (supersedes).
  std::string superseded_by;
  std::string supersedes;
  // A release that went out while a freeze window was open: which, and why
  // it passed ("let through by alice: the checkout fix", "a rollback, which
  // it allows").
  std::string freeze;
  // A release that waited for its promotion: the release of the environment
  // it followed (follows), and how it passed ("test ran it for 30m0s",
  // "promoted by ada: the hotfix", "a rollback: no wait").
  std::string follows;
  std::string promotion;
  bool history_rewritten = false;
  // The decisions a batched release in progress has taken, each written
  // before it acts, so that a restart or a reload takes them again: held
  // (and why), an operator's pause asked for (it holds after the batch in
  // hand), an abort asked for (it rolls back).
  Hold hold = Hold::kNone;
  bool pause_requested = false;
  bool abort_requested = false;

  friend bool operator==(const ReleaseRecord&, const ReleaseRecord&) = default;
};

// One reconcile cycle.
struct SyncEntry {
  TimeMs time = 0;
  std::string commit;  // the tip the cycle rendered
  int environments_checked = 0;
  std::vector<std::string> drift;     // "app/env" whose live state differed
  std::vector<std::string> releases;  // ids of the releases it started
  std::vector<std::string> errors;
  int64_t duration_ms = 0;

  friend bool operator==(const SyncEntry&, const SyncEntry&) = default;
};

// Compact JSON, keys in a fixed order.
std::string ToJson(const ReleaseRecord& record);
std::string ToJson(const SyncEntry& entry);
// InvalidArgument naming the field when `json` is not a record of the kind.
Result<ReleaseRecord> ParseReleaseRecord(std::string_view json);
Result<SyncEntry> ParseSyncEntry(std::string_view json);

// "2024-05-01T10:00:00.000Z" for 1714557600000, and back.
std::string FormatTime(TimeMs time);
Result<TimeMs> ParseTime(std::string_view text);

// "r-000123" for 123 (more digits past 999999), and back: -1 when `id` is not
// a release id.
std::string ReleaseId(int64_t number);
int64_t ReleaseIdNumber(std::string_view id);

}  // namespace pagoda::journal
