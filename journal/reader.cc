// Queries over a journal file: from its end backward, or through the
// writer's index.
#include <rapidjson/stringbuffer.h>

#include <algorithm>
#include <map>
#include <unordered_set>
#include <utility>

#include "base/json.h"
#include "journal/journal.h"
#include "journal/lines.h"

namespace pagoda::journal {
namespace {

constexpr size_t kChunk = 64u << 10;

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

}  // namespace pagoda::journal
