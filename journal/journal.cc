#include "journal/journal.h"

#include <rapidjson/document.h>
#include <rapidjson/reader.h>

#include <algorithm>
#include <array>
#include <cstdio>
#include <map>
#include <unordered_set>
#include <utility>

#include "base/json.h"
#include "journal/record_json.h"

namespace pagoda::journal {
namespace {

constexpr size_t kChunk = 64u << 10;
constexpr size_t kMaxLine = 4u << 20;  // a record larger than this is refused

// ---- CRC-32C (Castagnoli), as in iSCSI and LevelDB ----

std::array<uint32_t, 256> MakeTable() {
  std::array<uint32_t, 256> table{};
  for (uint32_t i = 0; i < 256; ++i) {
    uint32_t c = i;
    for (int k = 0; k < 8; ++k) c = (c & 1) != 0 ? (c >> 1) ^ 0x82F63B78u : c >> 1;
    table[i] = c;
  }
  return table;
}

uint32_t Crc32cPortable(uint32_t crc, const unsigned char* p, size_t n) {
  static const std::array<uint32_t, 256> table = MakeTable();
  for (size_t i = 0; i < n; ++i) crc = table[(crc ^ p[i]) & 0xFF] ^ (crc >> 8);
  return crc;
}

#if defined(__x86_64__)
__attribute__((target("sse4.2"))) uint32_t Crc32cHardware(uint32_t crc, const unsigned char* p,
                                                          size_t n) {
  uint64_t c = crc;
  while (n >= 8) {
    uint64_t word;
    __builtin_memcpy(&word, p, 8);
    c = __builtin_ia32_crc32di(c, word);
    p += 8;
    n -= 8;
  }
  uint32_t c32 = static_cast<uint32_t>(c);
  while (n > 0) {
    c32 = __builtin_ia32_crc32qi(c32, *p++);
    --n;
  }
  return c32;
}
#endif

// ---- lines ----

std::string Hex8(uint32_t v) {
  char buf[9];
  std::snprintf(buf, sizeof buf, "%08x", v);
  return buf;
}

// What a line holds, as far as the journal itself needs to know.
struct LineHead {
  std::string type;  // "release", "sync", or a newer kind to skip
  int64_t update = 0;
  std::string id;
  std::string app, env;  // of a release: "" when the line does not put them right after its id
};

// Reads only the envelope's head ("type", "update", "record.id", then the
// record's "app" and "env"), which the writer puts first, and stops there:
// verifying a large journal at open costs a checksum and a few dozen bytes
// of parsing per line.
class HeadHandler : public rapidjson::BaseReaderHandler<rapidjson::UTF8<>, HeadHandler> {
 public:
  explicit HeadHandler(LineHead* head) : head_(head) {}
  bool Default() { return Stop(); }
  bool StartObject() {
    ++depth_;
    return depth_ <= 2;
  }
  bool Key(const char* s, rapidjson::SizeType n, bool) {
    key_.assign(s, n);
    return true;
  }
  bool String(const char* s, rapidjson::SizeType n, bool) {
    if (depth_ == 1 && key_ == "type") {
      head_->type.assign(s, n);
      return head_->type == "release";  // nothing more to learn from other kinds
    }
    if (depth_ == 2 && key_ == "id" && head_->id.empty()) {
      head_->id.assign(s, n);
      return true;
    }
    if (depth_ == 2 && key_ == "app" && !head_->id.empty() && head_->app.empty()) {
      head_->app.assign(s, n);
      return true;
    }
    if (depth_ == 2 && key_ == "env" && !head_->app.empty()) {
      head_->env.assign(s, n);
      return false;  // done
    }
    return Stop();
  }
  bool Int(int v) { return Int64(v); }
  bool Uint(unsigned v) { return Int64(v); }
  bool Int64(int64_t v) {
    if (depth_ == 1 && key_ == "update") {
      head_->update = v;
      return true;
    }
    return Stop();
  }
  bool Uint64(uint64_t) { return Stop(); }

 private:
  bool Stop() { return false; }
  LineHead* head_;
  int depth_ = 0;
  std::string key_;
};

Result<LineHead> ReadHead(std::string_view json) {
  LineHead head;
  HeadHandler handler(&head);
  rapidjson::Reader reader;
  rapidjson::MemoryStream stream(json.data(), json.size());
  reader.Parse(stream, handler);
  if (head.type.empty()) return Status::Corruption("a journal line without a type");
  if (head.type == "release" && (head.update < 1 || ReleaseIdNumber(head.id) < 0)) {
    return Status::Corruption("a release line without a valid update count and id");
  }
  return head;
}

struct Line {
  std::string type;
  int64_t update = 0;
  std::optional<ReleaseRecord> release;
  std::optional<SyncEntry> sync;
};

Result<Line> ParseLine(std::string_view json) {
  rapidjson::Document doc;
  doc.Parse(json.data(), json.size());
  if (doc.HasParseError() || !doc.IsObject()) return Status::Corruption("not a JSON object");
  Line line;
  auto type = doc.FindMember("type");
  if (type == doc.MemberEnd() || !type->value.IsString()) {
    return Status::Corruption("a journal line without a type");
  }
  line.type = type->value.GetString();
  if (line.type == "release") {
    auto update = doc.FindMember("update");
    auto record = doc.FindMember("record");
    if (update == doc.MemberEnd() || !update->value.IsInt64() || record == doc.MemberEnd()) {
      return Status::Corruption("a release line without update or record");
    }
    line.update = update->value.GetInt64();
    Result<ReleaseRecord> r = ReleaseFromJson(record->value);
    if (!r.ok()) return Status::Corruption("release record: " + r.status().message());
    line.release = std::move(*r);
  } else if (line.type == "sync") {
    auto entry = doc.FindMember("entry");
    if (entry == doc.MemberEnd()) return Status::Corruption("a sync line without entry");
    Result<SyncEntry> e = SyncFromJson(entry->value);
    if (!e.ok()) return Status::Corruption("sync entry: " + e.status().message());
    line.sync = std::move(*e);
  }
  return line;
}

// Complete lines of a journal file from the last to the first. The file's
// last line is tentative: incomplete (no newline yet, or a torn write) or
// failing its checksum, it is skipped, as the writer would cut it off.
constexpr std::string_view kReleasePrefix = "{\"type\":\"release\"";

class BackwardLines {
 public:
  explicit BackwardLines(JournalFile* file) : file_(file) {}

  // The next release line's JSON going backwards, or nullopt at the beginning.
  Result<std::optional<std::string>> PrevRelease() {
    for (;;) {
      Result<std::optional<std::string>> json = Prev();
      if (!json.ok() || !json->has_value() || (*json)->starts_with(kReleasePrefix)) return json;
    }
  }

  // The next line's JSON going backwards, or nullopt at the beginning.
  Result<std::optional<std::string>> Prev() {
    if (!started_) {
      started_ = true;
      Result<uint64_t> size = file_->Size();
      if (!size.ok()) return size.status();
      pos_ = buf_start_ = *size;
      if (pos_ == 0) return std::optional<std::string>();
      PAGODA_RETURN_IF_ERROR(Fill());
      if (buf_.back() != '\n') {  // an incomplete last line: skip it
        PAGODA_RETURN_IF_ERROR(SkipTo(pos_));
        tentative_ = false;  // the incomplete line was the tentative one
      }
    }
    for (;;) {
      if (pos_ == 0) return std::optional<std::string>();
      uint64_t end = pos_ - 1;  // the newline
      uint64_t start = 0;
      for (;;) {
        size_t rel = static_cast<size_t>(end - buf_start_);
        size_t nl = rel == 0 ? std::string::npos : buf_.rfind('\n', rel - 1);
        if (nl != std::string::npos) {
          start = buf_start_ + nl + 1;
          break;
        }
        if (buf_start_ == 0) break;
        if (end - buf_start_ > kMaxLine) return Status::Corruption("a journal line is too long");
        PAGODA_RETURN_IF_ERROR(Fill());
      }
      std::string_view raw(buf_.data() + (start - buf_start_), static_cast<size_t>(end - start));
      Result<std::string_view> json = UnframeLine(raw);
      bool tentative = tentative_;
      tentative_ = false;
      pos_ = start;
      if (!json.ok()) {
        if (tentative) continue;
        return Status::Corruption("journal line at byte " + std::to_string(start) + ": " +
                                  json.status().message());
      }
      std::string out(*json);
      buf_.resize(static_cast<size_t>(pos_ - buf_start_));
      return std::optional<std::string>(std::move(out));
    }
  }

  uint64_t offset() const { return pos_; }

 private:
  // Prepends the chunk before buf_start_.
  Status Fill() {
    uint64_t from = buf_start_ > kChunk ? buf_start_ - kChunk : 0;
    std::string chunk;
    PAGODA_RETURN_IF_ERROR(file_->ReadAt(from, static_cast<size_t>(buf_start_ - from), &chunk));
    if (chunk.size() != buf_start_ - from) return Status::IOError("journal shrank while read");
    buf_ = chunk + buf_;
    buf_start_ = from;
    return Status::Ok();
  }

  // Moves pos_ back to the start of the line that ends at `end` (exclusive).
  Status SkipTo(uint64_t end) {
    for (;;) {
      size_t rel = static_cast<size_t>(end - buf_start_);
      size_t nl = rel == 0 ? std::string::npos : buf_.rfind('\n', rel - 1);
      if (nl != std::string::npos) {
        pos_ = buf_start_ + nl + 1;
        return Status::Ok();
      }
      if (buf_start_ == 0) {
        pos_ = 0;
        return Status::Ok();
      }
      PAGODA_RETURN_IF_ERROR(Fill());
    }
  }

  JournalFile* file_;
  bool started_ = false;
  bool tentative_ = true;
  uint64_t pos_ = 0;
  uint64_t buf_start_ = 0;
  std::string buf_;  // the bytes [buf_start_, buf_start_ + size)
};

}  // namespace

// ---- the line format ----

uint32_t Crc32c(std::string_view data) {
  const auto* p = reinterpret_cast<const unsigned char*>(data.data());
#if defined(__x86_64__)
  static const bool hardware = __builtin_cpu_supports("sse4.2");
  if (hardware) return ~Crc32cHardware(~0u, p, data.size());
#endif
  return ~Crc32cPortable(~0u, p, data.size());
}

std::string FrameLine(std::string_view json) {
  std::string line;
  line.reserve(json.size() + 10);
  line.append(json);
  line += '\t';
  line += Hex8(Crc32c(json));
  line += '\n';
  return line;
}

Result<std::string_view> UnframeLine(std::string_view line) {
  if (line.size() < 10 || line[line.size() - 9] != '\t') {
    return Status::Corruption("no checksum at the end of the line");
  }
  std::string_view json = line.substr(0, line.size() - 9);
  if (line.substr(line.size() - 8) != Hex8(Crc32c(json))) {
    return Status::Corruption("checksum mismatch");
  }
  return json;
}

// ---- JournalReader ----

void ReleaseIndex::Note(const std::string& app, const std::string& env, int64_t number, Spot spot) {
  std::lock_guard lock(mu_);
  by_env_[{app, env}][number] = spot;
}

void ReleaseIndex::GiveUp() {
  std::lock_guard lock(mu_);
  complete_ = false;
  by_env_.clear();
}

std::optional<std::vector<ReleaseIndex::Spot>> ReleaseIndex::Newest(const std::string& app,
                                                                    const std::string& env,
                                                                    size_t limit) const {
  std::lock_guard lock(mu_);
  if (!complete_) return std::nullopt;
  std::vector<Spot> out;
  auto it = by_env_.find({app, env});
  if (it == by_env_.end()) return out;
  for (auto r = it->second.rbegin(); r != it->second.rend() && out.size() < limit; ++r) {
    out.push_back(r->second);
  }
  return out;
}

JournalReader::JournalReader(std::shared_ptr<JournalFs> fs, std::string path,
                             std::shared_ptr<const ReleaseIndex> index)
    : fs_(std::move(fs)), path_(std::move(path)), index_(std::move(index)) {}

namespace {

// `"key":"value"` as a record's line spells it: a line without it is not
// that app's (or environment's), and is passed over unparsed.
std::string FieldText(std::string_view key, std::string_view value) {
  rapidjson::StringBuffer buffer;
  json::Writer w(buffer);
  w.StartObject();
  json::String(w, key, value);
  w.EndObject();
  std::string text = buffer.GetString();
  return text.substr(1, text.size() - 2);
}

}  // namespace

std::optional<Result<std::vector<ReleaseRecord>>> JournalReader::IndexedReleases(
    const ReleaseFilter& filter) const {
  if (index_ == nullptr || filter.app.empty() || filter.env.empty()) return std::nullopt;
  std::optional<std::vector<ReleaseIndex::Spot>> spots =
      index_->Newest(filter.app, filter.env, filter.limit);
  if (!spots) return std::nullopt;
  std::vector<ReleaseRecord> out;
  if (spots->empty()) return out;
  Result<std::unique_ptr<JournalFile>> file = fs_->Open(path_, /*writable=*/false);
  if (!file.ok()) return file.status();
  std::string raw;
  for (const ReleaseIndex::Spot& spot : *spots) {
    if (Status st = (*file)->ReadAt(spot.offset, spot.length, &raw); !st.ok()) {
      return st.WithContext(path_);
    }
    if (!raw.empty() && raw.back() == '\n') raw.pop_back();
    Result<std::string_view> json = UnframeLine(raw);
    if (!json.ok()) {
      return json.status().WithContext(path_ + ": byte " + std::to_string(spot.offset));
    }
    Result<Line> line = ParseLine(*json);
    if (!line.ok() || !line->release) {
      return Status::Corruption(path_ + ": byte " + std::to_string(spot.offset) +
                                ": not the release line the index names");
    }
    out.push_back(std::move(*line->release));
  }
  return out;
}

Result<std::vector<ReleaseRecord>> JournalReader::Releases(const ReleaseFilter& filter) const {
  if (auto indexed = IndexedReleases(filter)) return std::move(*indexed);
  std::vector<ReleaseRecord> out;
  Result<std::unique_ptr<JournalFile>> file = fs_->Open(path_, /*writable=*/false);
  if (!file.ok()) {
    if (file.status().code() == Status::Code::kNotFound) return out;
    return file.status();
  }
  if (filter.limit == 0) return out;
  BackwardLines lines(file->get());
  std::unordered_set<std::string> seen;
  std::map<int64_t, ReleaseRecord> found;  // matching the filter, by id number
  const std::string app = filter.app.empty() ? "" : FieldText("app", filter.app);
  const std::string env = filter.env.empty() ? "" : FieldText("env", filter.env);
  for (;;) {
    Result<std::optional<std::string>> json = lines.PrevRelease();
    if (!json.ok()) return json.status().WithContext(path_);
    if (!json->has_value()) break;
    const std::string& text = **json;
    if ((!app.empty() && text.find(app) == std::string::npos) ||
        (!env.empty() && text.find(env) == std::string::npos)) {
      continue;  // another environment's: found stays as it is
    }
    Result<Line> line = ParseLine(text);
    if (!line.ok()) {
      return line.status().WithContext(path_ + ": byte " + std::to_string(lines.offset()));
    }
    ReleaseRecord& record = *line->release;
    int64_t number = ReleaseIdNumber(record.id);
    if (seen.insert(record.id).second && (filter.app.empty() || record.app == filter.app) &&
        (filter.env.empty() || record.env == filter.env)) {
      found.emplace(number, std::move(record));
    }
    // Start lines come in id order, so every release with an id at least
    // this one's is complete by now: stop once `limit` of them match.
    if (line->update == 1 && found.size() >= filter.limit) {
      auto it = found.rbegin();
      std::advance(it, filter.limit - 1);
      if (it->first >= number) break;
    }
  }
  for (auto it = found.rbegin(); it != found.rend() && out.size() < filter.limit; ++it) {
    out.push_back(std::move(it->second));
  }
  return out;
}

Result<ReleaseRecord> JournalReader::Release(std::string_view id) const {
  int64_t wanted = ReleaseIdNumber(id);
  if (wanted < 0) return Status::InvalidArgument("'" + std::string(id) + "' is not a release id");
  Result<std::unique_ptr<JournalFile>> file = fs_->Open(path_, /*writable=*/false);
  if (!file.ok()) {
    if (file.status().code() == Status::Code::kNotFound) {
      return Status::NotFound("no release " + std::string(id) + ": the journal is empty");
    }
    return file.status();
  }
  BackwardLines lines(file->get());
  std::string needle = "\"record\":{\"id\":\"" + std::string(id) + "\"";
  for (;;) {
    Result<std::optional<std::string>> json = lines.PrevRelease();
    if (!json.ok()) return json.status().WithContext(path_);
    if (!json->has_value()) break;
    const std::string& text = **json;
    if (text.find(needle) == std::string::npos) {
      // Past the start of an older release: the wanted one would be later.
      Result<LineHead> head = ReadHead(text);
      if (head.ok() && head->update == 1 && ReleaseIdNumber(head->id) < wanted) break;
      continue;
    }
    Result<Line> line = ParseLine(text);
    if (!line.ok()) return line.status().WithContext(path_);
    return std::move(*line->release);
  }
  return Status::NotFound("no release " + std::string(id) + " in " + path_);
}

Result<std::vector<SyncEntry>> JournalReader::SyncLog(TimeMs since) const {
  std::vector<SyncEntry> out;
  Result<std::unique_ptr<JournalFile>> file = fs_->Open(path_, /*writable=*/false);
  if (!file.ok()) {
    if (file.status().code() == Status::Code::kNotFound) return out;
    return file.status();
  }
  BackwardLines lines(file->get());
  for (;;) {
    Result<std::optional<std::string>> json = lines.Prev();
    if (!json.ok()) return json.status().WithContext(path_);
    if (!json->has_value()) break;
    if (!(*json)->starts_with("{\"type\":\"sync\"")) continue;
    Result<Line> line = ParseLine(**json);
    if (!line.ok()) return line.status().WithContext(path_);
    if (line->sync->time < since) break;
    out.push_back(std::move(*line->sync));
  }
  std::reverse(out.begin(), out.end());
  return out;
}

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
  std::string id = fresh ? ReleaseId(last_id_ + 1) : record->id;
  int64_t update = fresh ? 1 : updates_[id] + 1;
  ReleaseRecord copy = *record;
  copy.id = id;
  const uint64_t at = size_;
  PAGODA_RETURN_IF_ERROR(AppendLine("{\"type\":\"release\",\"update\":" + std::to_string(update) +
                                    ",\"record\":" + ToJson(copy) + "}"));
  index_->Note(copy.app, copy.env, ReleaseIdNumber(id), {at, size_ - at});
  updates_[id] = update;
  if (fresh) {
    last_id_ += 1;
    record->id = id;
  }
  return Status::Ok();
}

Status Journal::Append(const SyncEntry& entry) {
  std::lock_guard lock(mu_);
  if (broken_) {
    return Status::IOError(path_ + ": an earlier write failed; the journal must be reopened");
  }
  return AppendLine("{\"type\":\"sync\",\"entry\":" + ToJson(entry) + "}");
}

}  // namespace pagoda::journal
