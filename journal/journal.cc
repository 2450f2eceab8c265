// The one writer: opening and verifying a journal (and building its
// index), and appending lines to it durably.
#include "journal/journal.h"

#include <algorithm>
#include <utility>

#include "journal/lines.h"
#include "journal/record_json.h"

namespace pagoda::journal {

// ---- Journal ----

Journal::Journal(std::string path, std::shared_ptr<JournalFs> fs, std::unique_ptr<JournalFile> file)
    : path_(path), file_(std::move(file)), reader_(std::move(fs), std::move(path), index_) {}

Result<std::unique_ptr<Journal>> Journal::Open(std::string path, std::shared_ptr<JournalFs> fs) {
  Result<std::unique_ptr<JournalFile>> file = fs->Open(path, /*writable=*/true);
  if (!file.ok()) return file.status();
  std::unique_ptr<Journal> journal(new Journal(path, fs, std::move(*file)));
  PAGODA_RETURN_IF_ERROR(journal->Verify());
  return journal;
}

Status Journal::Verify() {
  Result<uint64_t> size = file_->Size();
  if (!size.ok()) return size.status();
  uint64_t offset = 0;  // of buf[0]
  std::string buf, chunk;
  std::optional<std::pair<uint64_t, std::string>> bad;  // a complete line that failed
  while (offset + buf.size() < *size) {
    uint64_t at = offset + buf.size();
    PAGODA_RETURN_IF_ERROR(
        file_->ReadAt(at, static_cast<size_t>(std::min<uint64_t>(*size - at, 1u << 20)), &chunk));
    if (chunk.empty()) break;
    buf += chunk;
    size_t start = 0;
    for (size_t nl; (nl = buf.find('\n', start)) != std::string::npos; start = nl + 1) {
      uint64_t line_at = offset + start;
      if (bad) {
        return Status::Corruption(path_ + ": the line at byte " + std::to_string(bad->first) +
                                  " (line " + std::to_string(recovery_.lines + 1) +
                                  ") is damaged (" + bad->second +
                                  ") and is not the last; the journal needs a person's look");
      }
      std::string_view raw(buf.data() + start, nl - start);
      Result<std::string_view> json = UnframeLine(raw);
      if (!json.ok()) {
        bad.emplace(line_at, json.status().message());
        continue;
      }
      Result<LineHead> head = ReadHead(*json);
      if (!head.ok()) {
        // The checksum holds, so this is what was written: never cut it off.
        return Status::Corruption(path_ + ": line " + std::to_string(recovery_.lines + 1) +
                                  " at byte " + std::to_string(line_at) + ": " +
                                  head.status().message());
      }
      if (head->type == "release") {
        int64_t& updates = updates_[head->id];
        updates = std::max(updates, head->update);
        last_id_ = std::max(last_id_, ReleaseIdNumber(head->id));
        if (head->env.empty()) {
          index_->GiveUp();  // queries scan the file, as other processes' do
        } else {
          index_->Note(head->app, head->env, ReleaseIdNumber(head->id), {line_at, raw.size() + 1});
        }
      }
      ++recovery_.lines;
      size_ = line_at + raw.size() + 1;
    }
    buf.erase(0, start);
    offset += start;
  }
  if (bad && !buf.empty()) {
    return Status::Corruption(
        path_ + ": the line at byte " + std::to_string(bad->first) + " is damaged (" + bad->second +
        ") and an incomplete line follows it; the journal needs a person's look");
  }
  uint64_t tail = bad ? bad->first : size_;
  if (tail < *size) {
    recovery_.truncated = true;
    recovery_.truncated_at = tail;
    recovery_.dropped_bytes = *size - tail;
    recovery_.reason = bad ? bad->second : "incomplete last line";
    PAGODA_RETURN_IF_ERROR(file_->Truncate(tail));
    PAGODA_RETURN_IF_ERROR(file_->Sync());
  }
  size_ = tail;
  return Status::Ok();
}

Status Journal::AppendLine(const std::string& json) {
  std::string line = FrameLine(json);
  if (line.size() > kMaxLine) {
    return Status::InvalidArgument("a journal record of " + std::to_string(line.size()) +
                                   " bytes is over the bound of " + std::to_string(kMaxLine));
  }
  Status status = file_->Append(line);
  bool synced = false;
  if (status.ok()) {
    status = file_->Sync();
    synced = status.ok();
    // After a failed fsync the kernel may have dropped the data and cleared
    // the error: only a fresh open (which verifies) can be trusted.
    if (!synced) broken_ = true;
  }
  if (!status.ok()) {
    Status cut = file_->Truncate(size_);
    if (cut.ok()) cut = file_->Sync();
    if (!cut.ok()) broken_ = true;
    return status.WithContext("append to " + path_);
  }
  size_ += line.size();
  return Status::Ok();
}

Status Journal::Append(ReleaseRecord* record) {
  if (record->app.empty() || record->env.empty()) {
    return Status::InvalidArgument("a release record needs an app and an env");
  }
  std::lock_guard lock(mu_);
  if (broken_) {
    return Status::IOError(path_ + ": an earlier write failed; the journal must be reopened");
  }
  bool fresh = record->id.empty();
  if (!fresh && !updates_.contains(record->id)) {
    return Status::InvalidArgument("release " + record->id +
                                   " is not in the journal; new releases get their id from it");
  }
  const int64_t number = fresh ? NextNumber() : ReleaseIdNumber(record->id);
  if (number < 0) {
    return Status::Unavailable(
        "no release id is reserved for this replica yet (they come from the leader's Lease "
        "cluster); the release waits for one");
  }
  ReleaseRecord copy = *record;
  copy.id = fresh ? ReleaseId(number) : record->id;
  PAGODA_RETURN_IF_ERROR(AppendRelease(copy, fresh ? 1 : updates_[copy.id] + 1));
  if (fresh) {
    last_id_ = number;
    record->id = copy.id;
  }
  return Status::Ok();
}

Status Journal::Adopt(const ReleaseRecord& record) {
  const int64_t number = ReleaseIdNumber(record.id);
  if (number < 0 || record.app.empty() || record.env.empty()) {
    return Status::InvalidArgument("a release to adopt needs an id, an app and an env");
  }
  std::lock_guard lock(mu_);
  if (broken_) {
    return Status::IOError(path_ + ": an earlier write failed; the journal must be reopened");
  }
  auto known = updates_.find(record.id);
  // Never 1: the line that started it is in another replica's journal.
  PAGODA_RETURN_IF_ERROR(AppendRelease(record, (known != updates_.end() ? known->second : 1) + 1));
  last_id_ = std::max(last_id_, number);
  return Status::Ok();
}

Status Journal::AppendRelease(const ReleaseRecord& record, int64_t update) {
  const uint64_t at = size_;
  PAGODA_RETURN_IF_ERROR(AppendLine("{\"type\":\"release\",\"update\":" + std::to_string(update) +
                                    ",\"record\":" + ToJson(record) + "}"));
  index_->Note(record.app, record.env, ReleaseIdNumber(record.id), {at, size_ - at});
  updates_[record.id] = update;
  return Status::Ok();
}

int64_t Journal::NextNumber() {
  if (!reserved_ids_) return last_id_ + 1;
  while (!blocks_.empty()) {
    const int64_t n = std::max(last_id_ + 1, blocks_.front().first);
    if (n < blocks_.front().end) return n;
    blocks_.pop_front();
  }
  return -1;
}

void Journal::AddIdBlock(IdBlock block) {
  std::lock_guard lock(mu_);
  reserved_ids_ = true;
  if (block.end > block.first) blocks_.push_back(block);
}

void Journal::DropIdBlocks() {
  std::lock_guard lock(mu_);
  blocks_.clear();
}

int64_t Journal::HighestId() {
  std::lock_guard lock(mu_);
  return last_id_;
}

void Journal::NumberAbove(int64_t number) {
  std::lock_guard lock(mu_);
  last_id_ = std::max(last_id_, number);
}

int64_t Journal::IdsLeft() {
  std::lock_guard lock(mu_);
  if (!reserved_ids_) return -1;
  int64_t left = 0;
  for (const IdBlock& b : blocks_)
    left += std::max<int64_t>(0, b.end - std::max(last_id_ + 1, b.first));
  return left;
}

Status Journal::Append(const SyncEntry& entry) {
  std::lock_guard lock(mu_);
  if (broken_) {
    return Status::IOError(path_ + ": an earlier write failed; the journal must be reopened");
  }
  return AppendLine("{\"type\":\"sync\",\"entry\":" + ToJson(entry) + "}");
}

}  // namespace pagoda::journal
