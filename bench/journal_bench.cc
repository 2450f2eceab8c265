// A benchmark, not a test: `pagoda_journal_bench [DIR] [RECORDS]`.
//
// Measures, on the filesystem of DIR (default: the system's temp directory):
// appends with fdatasync per record, open + verify of a journal of RECORDS
// release records (default 100,000) plus a sync entry per 10 records, and
// the reader's queries on it: the last 50 releases, a filtered last 50, one
// old release by id, the last minute of the sync log.
#include <unistd.h>

#include <chrono>
#include <cstdio>
#include <cstdlib>
#include <filesystem>
#include <string>

#include "journal/journal.h"

namespace {

using pagoda::journal::Journal;
using pagoda::journal::ReleaseRecord;
using Clock = std::chrono::steady_clock;

double MsSince(Clock::time_point start) {
  return std::chrono::duration<double, std::milli>(Clock::now() - start).count();
}

ReleaseRecord Record(int i) {
  ReleaseRecord r;
  static const char* apps[] = {"shop-web", "orders", "search", "payments", "catalog"};
  r.app = apps[i % 5];
  r.env = i % 2 == 0 ? "prod" : "test";
  r.cluster = r.env;
  r.to = {"2222222222222222222222222222222222222222", "Ada Lovelace <ada@example.com>",
          1714557600000 + i, "shop: raise the image to 1.4." + std::to_string(i)};
  r.from = {"1111111111111111111111111111111111111111", "Ada Lovelace <ada@example.com>",
            1714557500000 + i, "previous change"};
  r.from_revision = "3f2a9c1b0d";
  r.to_revision = "9e8d7c6b5a";
  r.changes = {
      {pagoda::journal::ChangeAction::kCreated, "Deployment/" + r.app + "/prod-9e8d7c6b5a"},
      {pagoda::journal::ChangeAction::kUnchanged, "Service/" + r.app + "/prod"}};
  r.batches = {{1,
                2,
                1714557601000 + i,
                {"prod-9e8d7c6b5a-abcde", "prod-9e8d7c6b5a-fghij"},
                1714557605000 + i,
                1714557606000 + i}};
  r.outcome = pagoda::journal::Outcome::kSucceeded;
  r.start = 1714557600000 + i;
  r.end = 1714557700000 + i;
  return r;
}

int Fail(const pagoda::Status& status) {
  std::fprintf(stderr, "journal_bench: %s\n", status.ToString().c_str());
  return 1;
}

}  // namespace

int main(int argc, char** argv) {
  namespace fs = std::filesystem;
  fs::path base = argc > 1 ? fs::path(argv[1]) : fs::temp_directory_path();
  int records = argc > 2 ? std::atoi(argv[2]) : 100000;
  fs::path dir = base / ("pagoda-journal-bench-" + std::to_string(::getpid()));
  fs::create_directories(dir);
  std::string path = (dir / "journal").string();

  // 1. Appends, each durable before the next.
  {
    auto journal = Journal::Open(path + ".small");
    if (!journal.ok()) return Fail(journal.status());
    const int n = 500;
    auto start = Clock::now();
    for (int i = 0; i < n; ++i) {
      ReleaseRecord r = Record(i);
      if (pagoda::Status s = (*journal)->Append(&r); !s.ok()) return Fail(s);
    }
    double ms = MsSince(start);
    std::printf("append + fdatasync: %d records in %.1f ms: %.0f records/s (%.3f ms each)\n", n, ms,
                n * 1000.0 / ms, ms / n);
  }

  // 2. A large journal: written in bulk (framed lines, one fsync at the end).
  {
    std::FILE* out = std::fopen(path.c_str(), "wb");
    if (out == nullptr) return 1;
    size_t bytes = 0;
    for (int i = 1; i <= records; ++i) {
      ReleaseRecord r = Record(i);
      r.id = pagoda::journal::ReleaseId(i);
      std::string line = pagoda::journal::FrameLine(
          "{\"type\":\"release\",\"update\":1,\"record\":" + pagoda::journal::ToJson(r) + "}");
      bytes += line.size();
      std::fwrite(line.data(), 1, line.size(), out);
      if (i % 10 == 0) {
        pagoda::journal::SyncEntry e{1714557600000 + i * 1000LL, r.to.id, 40, {}, {r.id}, {}, 12};
        line = pagoda::journal::FrameLine(
            "{\"type\":\"sync\",\"entry\":" + pagoda::journal::ToJson(e) + "}");
        bytes += line.size();
        std::fwrite(line.data(), 1, line.size(), out);
      }
    }
    std::fclose(out);
    std::printf("journal: %d release records + %d sync entries, %.1f MB\n", records, records / 10,
                static_cast<double>(bytes) / 1e6);
  }
  auto start = Clock::now();
  auto journal = Journal::Open(path);
  if (!journal.ok()) return Fail(journal.status());
  std::printf("open + verify: %.1f ms (%llu lines)\n", MsSince(start),
              static_cast<unsigned long long>((*journal)->recovery().lines));

  pagoda::journal::JournalReader reader(pagoda::journal::PosixJournalFs(), path);
  auto time_query = [&](const char* what, auto query) {
    query();  // warm the page cache as a CLI run right after another would
    const int runs = 20;
    auto t = Clock::now();
    size_t n = 0;
    for (int i = 0; i < runs; ++i) n = query();
    std::printf("%s: %.2f ms (%zu results)\n", what, MsSince(t) / runs, n);
  };
  time_query("last 50 releases", [&] { return reader.Releases({})->size(); });
  time_query("last 50 releases of app orders, env test",
             [&] { return reader.Releases({.app = "orders", .env = "test"})->size(); });
  time_query("release show (an id 1,000 back)", [&] {
    return reader.Release(pagoda::journal::ReleaseId(records - 1000)).ok() ? size_t{1} : size_t{0};
  });
  time_query("sync log, last 60 s",
             [&] { return reader.SyncLog(1714557600000 + records * 1000LL - 60000)->size(); });
  fs::remove_all(dir);
  return 0;
}
