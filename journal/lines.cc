#include "journal/lines.h"

#include <rapidjson/document.h>
#include <rapidjson/reader.h>

#include <array>
#include <cstdio>

#include "journal/journal.h"
#include "journal/record_json.h"

namespace pagoda::journal {
namespace {

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

}  // namespace

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

}  // namespace pagoda::journal
