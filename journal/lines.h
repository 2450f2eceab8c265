// The journal's line format, inside journal/: what the reader and the
// writer both read of a line. Crc32c, FrameLine and UnframeLine, which
// tests and tools use too, are in journal.h.
#pragma once

#include <cstdint>
#include <optional>
#include <string>
#include <string_view>

#include "base/status.h"
#include "journal/record.h"

namespace pagoda::journal {

constexpr size_t kMaxLine = 4u << 20;  // a record larger than this is refused

struct LineHead {
  std::string type;  // "release", "sync", or a newer kind to skip
  int64_t update = 0;
  std::string id;
  std::string app, env;  // of a release: "" when the line does not put them right after its id
};

// The envelope's head of one line's JSON, read without parsing the rest.
Result<LineHead> ReadHead(std::string_view json);

struct Line {
  std::string type;
  int64_t update = 0;
  std::optional<ReleaseRecord> release;
  std::optional<SyncEntry> sync;
};

// One line's JSON, whole.
Result<Line> ParseLine(std::string_view json);

}  // namespace pagoda::journal
