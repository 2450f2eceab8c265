// The release journal (docs/architecture.md, "What is journalled when"): an
// append-only file in the state directory that holds every release record
// and every sync-log entry, durable before Append() returns, readable by other
// processes while the daemon writes it.
//
// It never rewrites or drops a line that was complete: on open, only a torn
// or corrupt *last* line is cut off (a crash while writing it); a bad line
// anywhere else is a Corruption error for a person to look at. It never logs
// (the caller reports what Open() recovered) and never throws.
//
// The line format, one line per record:
//
//   {"type":"release","update":2,"record":{…}}\t5c1f0a9e\n
//   {"type":"sync","entry":{…}}\t0b47d2c3\n
//
// the JSON of record.h (no raw tab or newline can occur in it), a tab, the
// CRC-32C of the JSON bytes as 8 lowercase hex digits, a newline. `update`
// counts the lines of one release (1 on the line that started it): a
// release's latest line is its current state, and readers fold by id. A
// release another replica started and this one took over (Adopt) has no
// start line here: its first line here counts 2.
//
// Start lines come in id order, and every release started here has a
// higher id than every release adopted before it; readers rely on both.
//
// Queries read backwards from the end of the file and stop as soon as they
// can answer, so their cost follows what they return, not the journal's size.
#pragma once

#include <cstdint>
#include <deque>
#include <map>
#include <memory>
#include <mutex>
#include <optional>
#include <string>
#include <string_view>
#include <unordered_map>
#include <vector>

#include "base/status.h"
#include "journal/record.h"

namespace pagoda::journal {

// ---- The filesystem, as the journal needs it --------------------------------

class JournalFile {
 public:
  virtual ~JournalFile() = default;
  virtual Result<uint64_t> Size() = 0;
  // Reads up to `n` bytes at `offset` into `out` (replacing it); fewer at EOF.
  virtual Status ReadAt(uint64_t offset, size_t n, std::string* out) = 0;
  // Appends all of `data` at the end, or fails (possibly after a part).
  virtual Status Append(std::string_view data) = 0;
  virtual Status Sync() = 0;  // data durable (fdatasync)
  virtual Status Truncate(uint64_t size) = 0;
};

class JournalFs {
 public:
  virtual ~JournalFs() = default;
  // Writable: created when missing (and its directory synced), locked
  // against a second writer (Unavailable when another process holds it).
  // Read-only: NotFound when missing.
  virtual Result<std::unique_ptr<JournalFile>> Open(const std::string& path, bool writable) = 0;
};

// POSIX: open/pread/write/fdatasync/ftruncate, flock for the one writer.
std::shared_ptr<JournalFs> PosixJournalFs();

// ---- Reading --------------------------------------------------------------------

struct ReleaseFilter {
  std::string app;  // "" = any
  std::string env;  // "" = any
  size_t limit = 50;
};

// Queries over a journal file, for any process. Lines being written are
// invisible until complete; a bad line other than the last is Corruption.
// Where each release's latest line is, by environment, for one process's
// journal: the writer (Journal) keeps it, so that one environment's history
// is read without reading the others'. Thread-safe.
class ReleaseIndex {
 public:
  struct Spot {
    uint64_t offset = 0;
    uint64_t length = 0;  // the framed line, its newline included
  };
  // The release `number` of `app`/`env` has its latest line at `spot`.
  void Note(const std::string& app, const std::string& env, int64_t number, Spot spot);
  // A line the index cannot place: it answers nothing from then on.
  void GiveUp();
  // The environment's releases, newest first, at most `limit`; nullopt when
  // the index cannot answer.
  std::optional<std::vector<Spot>> Newest(const std::string& app, const std::string& env,
                                          size_t limit) const;

 private:
  mutable std::mutex mu_;
  bool complete_ = true;
  std::map<std::pair<std::string, std::string>, std::map<int64_t, Spot>> by_env_;
};

class JournalReader {
 public:
  // With `index`, a query for one environment reads only its releases' lines.
  JournalReader(std::shared_ptr<JournalFs> fs, std::string path,
                std::shared_ptr<const ReleaseIndex> index = nullptr);

  // The releases (each in its latest state), newest (highest id) first.
  // A missing journal is empty.
  Result<std::vector<ReleaseRecord>> Releases(const ReleaseFilter& filter) const;
  // One release's latest state; NotFound when the journal has no such id.
  Result<ReleaseRecord> Release(std::string_view id) const;
  // Sync entries with time >= since, oldest first. Entries are appended in
  // time order; the scan stops at the first older one.
  Result<std::vector<SyncEntry>> SyncLog(TimeMs since) const;

 private:
  // Releases() of one environment, from the index; nullopt when it cannot answer.
  std::optional<Result<std::vector<ReleaseRecord>>> IndexedReleases(
      const ReleaseFilter& filter) const;

  std::shared_ptr<JournalFs> fs_;
  std::string path_;
  std::shared_ptr<const ReleaseIndex> index_;
};

// ---- Writing ---------------------------------------------------------------------

// What Open() found and did.
struct JournalRecovery {
  uint64_t lines = 0;          // complete, verified lines kept
  bool truncated = false;      // a torn or corrupt last line was cut off
  uint64_t truncated_at = 0;   // its offset (the new size of the file)
  uint64_t dropped_bytes = 0;  // its length
  std::string reason;          // "incomplete last line", "checksum mismatch", …
};

// The one writer. Thread-safe.
class Journal {
 public:
  // Opens (creating when missing) and verifies the journal at `path`.
  // Corruption when a line other than the last fails its checksum or does not
  // parse; Unavailable when another process holds the journal.
  static Result<std::unique_ptr<Journal>> Open(std::string path,
                                               std::shared_ptr<JournalFs> fs = PosixJournalFs());

  const JournalRecovery& recovery() const { return recovery_; }

  // Appends one line and makes it durable; only then may the action it
  // describes be reported as done. On failure nothing of the line remains in
  // the file (it is cut back), or, if even that fails, the journal refuses
  // further appends until it is opened again.
  //
  // A record with an empty id is a new release: it gets the next id (one more
  // than the highest in the journal, see ReleaseId) and `record->id` is set,
  // so start lines are in id order. A record with an id updates that release;
  // InvalidArgument when the journal has no such id, or without app or env.
  Status Append(ReleaseRecord* record);
  Status Append(const SyncEntry& entry);

  // A release another replica recorded (taken over from the cluster's
  // mirror, docs/architecture.md "Beyond one daemon"): written as it
  // stands, under its id, as its next line here. Releases started here
  // afterwards get higher ids. InvalidArgument without a valid id, app or env.
  Status Adopt(const ReleaseRecord& record);

  // Ids reserved across replicas. With several replicas each number is
  // reserved cluster-wide before one of them uses it, a block at a time
  // (daemon/leadership.h). From the first AddIdBlock() on, new releases
  // take numbers only from the blocks given, in order: the lowest number
  // of a block that is above every id the journal holds. Append() of a new
  // release is then Unavailable when none is left, and is tried again
  // once a block comes.
  struct IdBlock {
    int64_t first = 0;
    int64_t end = 0;  // one past the last
  };
  void AddIdBlock(IdBlock block);
  // Forgets the blocks given so far: their numbers left are never used.
  void DropIdBlocks();
  // Numbers left in the blocks given; -1 when ids are not reserved.
  int64_t IdsLeft();
  // The highest release number the journal holds; 0 when none.
  int64_t HighestId();
  // New releases number on above `number` too: ids used elsewhere (the
  // clusters' mirror of a lost journal) are never handed out again.
  void NumberAbove(int64_t number);

  const JournalReader& reader() const { return reader_; }

 private:
  Journal(std::string path, std::shared_ptr<JournalFs> fs, std::unique_ptr<JournalFile> file);
  Status Verify();
  Status AppendLine(const std::string& json);
  // The number a new release gets now; -1 when the reserved ones are spent.
  // REQUIRES: mu_ held.
  int64_t NextNumber();
  Status AppendRelease(const ReleaseRecord& record, int64_t update);

  std::mutex mu_;
  std::string path_;
  std::unique_ptr<JournalFile> file_;
  std::shared_ptr<ReleaseIndex> index_ = std::make_shared<ReleaseIndex>();
  JournalReader reader_;
  JournalRecovery recovery_;
  uint64_t size_ = 0;  // the verified length: every byte below is complete lines
  bool broken_ = false;
  int64_t last_id_ = 0;
  std::unordered_map<std::string, int64_t> updates_;  // release id → lines so far
  bool reserved_ids_ = false;                         // numbers come from blocks_ only
  std::deque<IdBlock> blocks_;
};

// ---- The line format (for tests and tools) ---------------------------------

uint32_t Crc32c(std::string_view data);
// `json` + "\t" + 8 hex digits + "\n".
std::string FrameLine(std::string_view json);
// The JSON of a line (without its newline) whose checksum holds; Corruption
// otherwise.
Result<std::string_view> UnframeLine(std::string_view line);

}  // namespace pagoda::journal
