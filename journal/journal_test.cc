// The release journal on real files: lines are framed and checked, a crash
// at any byte is recovered, a damaged line that is not the last is refused,
// failed writes leave nothing behind, readers ignore a line being written.
#include "journal/journal.h"

#include <gtest/gtest.h>
#include <unistd.h>

#include <atomic>
#include <filesystem>
#include <fstream>
#include <map>
#include <random>
#include <thread>

#include "base/file.h"
#include "journal/journal_test_fixture.h"

namespace pagoda::journal {
namespace {

namespace fs = std::filesystem;

TEST(JournalLineTest, Framing) {
  std::string line = FrameLine("{\"a\":1}");
  ASSERT_EQ(line.back(), '\n');
  EXPECT_EQ(line.size(), 7u + 1 + 8 + 1);
  EXPECT_EQ(*UnframeLine(std::string_view(line).substr(0, line.size() - 1)), "{\"a\":1}");
  std::string damaged = line;
  damaged[3] = 'b';
  EXPECT_EQ(UnframeLine(std::string_view(damaged).substr(0, damaged.size() - 1)).status().code(),
            Status::Code::kCorruption);
  // The standard CRC-32C check value.
  EXPECT_EQ(Crc32c("123456789"), 0xE3069283u);
  EXPECT_EQ(Crc32c(std::string(1000, 'x')), Crc32c(std::string(1000, 'x')));
}

// ---- the journal ------------------------------------------------------------------

// A filter by app and environment matches names exactly, however much of
// them another name shares, and wherever else in a record they appear.
TEST_F(JournalTest, FiltersMatchWholeNamesOnly) {
  auto journal = Open();
  int64_t t = 1000;
  for (const char* app : {"shop", "shop-web", "myshop"}) {
    for (const char* env : {"prod", "prod-eu", "test"}) {
      ReleaseRecord r = Started(app, env, t += 10);
      r.errors = {R"("app":"shop","env":"prod")"};
      ASSERT_TRUE(journal->Append(&r).ok());
    }
  }
  auto found = journal->reader().Releases({.app = "shop", .env = "prod", .limit = 100});
  ASSERT_TRUE(found.ok());
  ASSERT_EQ(found->size(), 1u);
  EXPECT_EQ(found->front().app, "shop");
  EXPECT_EQ(found->front().env, "prod");
  EXPECT_EQ(journal->reader().Releases({.app = "shop-web", .limit = 100})->size(), 3u);
  EXPECT_EQ(journal->reader().Releases({.env = "prod-eu", .limit = 100})->size(), 3u);
  EXPECT_TRUE(journal->reader().Releases({.app = "shop-", .limit = 100})->empty());
}

// Counts the bytes read through it.
class CountingFs final : public JournalFs {
 public:
  std::shared_ptr<std::atomic<uint64_t>> read = std::make_shared<std::atomic<uint64_t>>(0);
  Result<std::unique_ptr<JournalFile>> Open(const std::string& path, bool writable) override {
    auto file = inner_->Open(path, writable);
    if (!file.ok()) return file.status();
    return std::unique_ptr<JournalFile>(std::make_unique<File>(std::move(*file), read));
  }

 private:
  class File final : public JournalFile {
   public:
    File(std::unique_ptr<JournalFile> inner, std::shared_ptr<std::atomic<uint64_t>> read)
        : inner_(std::move(inner)), read_(std::move(read)) {}
    Result<uint64_t> Size() override { return inner_->Size(); }
    Status ReadAt(uint64_t offset, size_t n, std::string* out) override {
      Status st = inner_->ReadAt(offset, n, out);
      *read_ += out->size();
      return st;
    }
    Status Append(std::string_view data) override { return inner_->Append(data); }
    Status Sync() override { return inner_->Sync(); }
    Status Truncate(uint64_t size) override { return inner_->Truncate(size); }

   private:
    std::unique_ptr<JournalFile> inner_;
    std::shared_ptr<std::atomic<uint64_t>> read_;
  };
  std::shared_ptr<JournalFs> inner_ = PosixJournalFs();
};

// The writer's reader answers one environment's history from its index,
// reading that environment's lines alone, and answers what a scan of the
// file answers: after appends, updates in any order, and a reopen.
TEST_F(JournalTest, OneEnvironmentsHistoryIsReadFromItsOwnLinesAndMatchesAScan) {
  auto counting = std::make_shared<CountingFs>();
  auto opened = Journal::Open(path_, counting);
  ASSERT_TRUE(opened.ok()) << opened.status().ToString();
  std::unique_ptr<Journal> journal = std::move(*opened);
  std::mt19937 rng(7);
  std::vector<ReleaseRecord> open;
  int64_t t = 1000;
  for (int i = 0; i < 400; ++i) {
    const std::string app = "app-" + std::to_string(rng() % 4);
    const std::string env = rng() % 2 ? "prod" : "test";
    if (open.empty() || rng() % 3 == 0) {
      ReleaseRecord r = Started(app, env, t += 10);
      ASSERT_TRUE(journal->Append(&r).ok());
      open.push_back(r);
    } else {
      ReleaseRecord& r = open[rng() % open.size()];
      r.batches.push_back({static_cast<int>(r.batches.size()) + 1, 1, t += 10, {}, t, t, {}});
      r.outcome = rng() % 2 ? Outcome::kSucceeded : Outcome::kInProgress;
      ASSERT_TRUE(journal->Append(&r).ok());
    }
  }
  auto same_as_a_scan = [&](const Journal& j) {
    JournalReader scan(PosixJournalFs(), path_);
    for (int a = 0; a < 4; ++a) {
      for (const char* env : {"prod", "test"}) {
        for (size_t limit : {1, 5, 1000}) {
          const ReleaseFilter f{.app = "app-" + std::to_string(a), .env = env, .limit = limit};
          auto indexed = j.reader().Releases(f);
          auto scanned = scan.Releases(f);
          ASSERT_TRUE(indexed.ok() && scanned.ok());
          ASSERT_EQ(indexed->size(), scanned->size()) << f.app << "/" << f.env << " " << limit;
          for (size_t i = 0; i < indexed->size(); ++i) {
            EXPECT_EQ(ToJson((*indexed)[i]), ToJson((*scanned)[i]));
          }
        }
      }
    }
  };
  same_as_a_scan(*journal);
  const uint64_t file_size = std::filesystem::file_size(path_);
  const uint64_t before = *counting->read;
  auto one = journal->reader().Releases({.app = "app-1", .env = "prod", .limit = 2});
  ASSERT_TRUE(one.ok());
  ASSERT_EQ(one->size(), 2u);
  EXPECT_LT(*counting->read - before, file_size / 10);  // two lines of 400
  journal.reset();
  opened = Journal::Open(path_, counting);  // the index, from the file
  ASSERT_TRUE(opened.ok());
  journal = std::move(*opened);
  same_as_a_scan(*journal);
  const uint64_t again = *counting->read;
  ASSERT_TRUE(journal->reader().Releases({.app = "app-1", .env = "prod", .limit = 2}).ok());
  EXPECT_LT(*counting->read - again, file_size / 10);
}

TEST_F(JournalTest, AppendsFoldsAndQueries) {
  auto journal = Open();
  EXPECT_EQ(journal->recovery().lines, 0u);
  ReleaseRecord shop = Started("shop", "prod", 1000);
  ASSERT_TRUE(journal->Append(&shop).ok());
  EXPECT_EQ(shop.id, "r-000001");
  ReleaseRecord orders = Started("orders", "test", 2000);
  ASSERT_TRUE(journal->Append(&orders).ok());
  EXPECT_EQ(orders.id, "r-000002");
  ASSERT_TRUE(journal->Append(SyncEntry{3000, "abc", 2, {"shop/prod"}, {shop.id}, {}, 5}).ok());

  shop.batches.push_back({1, 2, 1100, {"p1", "p2"}, 1200, 1300});
  ASSERT_TRUE(journal->Append(&shop).ok());
  shop.outcome = Outcome::kSucceeded;
  shop.end = 4000;
  ASSERT_TRUE(journal->Append(&shop).ok());
  EXPECT_EQ(shop.id, "r-000001");
  ASSERT_TRUE(journal->Append(SyncEntry{5000, "abd", 2, {}, {}, {"apps/x: broken"}, 3}).ok());

  Result<std::vector<ReleaseRecord>> all = journal->reader().Releases({});
  ASSERT_TRUE(all.ok()) << all.status().ToString();
  ASSERT_EQ(all->size(), 2u);
  EXPECT_EQ((*all)[0], orders);  // newest first
  EXPECT_EQ((*all)[1], shop);    // its latest line
  EXPECT_EQ(*journal->reader().Release("r-000001"), shop);
  EXPECT_EQ(journal->reader().Release("r-000009").status().code(), Status::Code::kNotFound);
  EXPECT_EQ(journal->reader().Release("nine").status().code(), Status::Code::kInvalidArgument);
  EXPECT_EQ(journal->reader().Releases({.app = "shop"})->size(), 1u);
  EXPECT_EQ(journal->reader().Releases({.env = "test"})->front().id, "r-000002");
  EXPECT_EQ(journal->reader().Releases({.app = "shop", .env = "test"})->size(), 0u);
  Result<std::vector<SyncEntry>> log = journal->reader().SyncLog(0);
  ASSERT_EQ(log->size(), 2u);
  EXPECT_EQ((*log)[0].time, 3000);  // oldest first
  EXPECT_EQ(journal->reader().SyncLog(4000)->size(), 1u);

  // Every line is the framed JSON the header documents.
  std::string content = Content();
  EXPECT_TRUE(
      content.starts_with("{\"type\":\"release\",\"update\":1,\"record\":{\"id\":\"r-000001\""));
  EXPECT_NE(content.find("{\"type\":\"release\",\"update\":3,\"record\":{\"id\":\"r-000001\""),
            std::string::npos);
  EXPECT_NE(content.find("{\"type\":\"sync\",\"entry\":{\"time\":"), std::string::npos);

  // Ids come from the journal: an unknown one is refused.
  ReleaseRecord stranger = Started("shop", "prod", 1);
  stranger.id = "r-000777";
  EXPECT_EQ(journal->Append(&stranger).code(), Status::Code::kInvalidArgument);
  ReleaseRecord nameless;
  EXPECT_EQ(journal->Append(&nameless).code(), Status::Code::kInvalidArgument);

  // Reopened, it carries on: ids, update counts, everything readable.
  journal.reset();
  journal = Open();
  EXPECT_EQ(journal->recovery().lines, 6u);
  EXPECT_FALSE(journal->recovery().truncated);
  ReleaseRecord next = Started("shop", "test", 6000);
  ASSERT_TRUE(journal->Append(&next).ok());
  EXPECT_EQ(next.id, "r-000003");
  shop.errors.push_back("late note");
  ASSERT_TRUE(journal->Append(&shop).ok());
  EXPECT_NE(Content().find("\"update\":4,\"record\":{\"id\":\"r-000001\""), std::string::npos);
  EXPECT_EQ(*journal->reader().Release("r-000001"), shop);
}

TEST_F(JournalTest, ListsTheNewestReleasesWhateverOrderTheirUpdatesCameIn) {
  auto journal = Open();
  std::map<std::string, ReleaseRecord> expected;  // id → latest
  std::vector<ReleaseRecord> open;
  const char* apps[] = {"shop", "orders", "search"};
  const char* envs[] = {"test", "prod"};
  for (int i = 0; i < 300; ++i) {
    ReleaseRecord r = Started(apps[i % 3], envs[(i / 3) % 2], 1000 + i);
    ASSERT_TRUE(journal->Append(&r).ok());
    expected[r.id] = r;
    open.push_back(r);
    // Long releases: some are updated long after newer ones started.
    if (i % 7 == 0 && open.size() > 5) {
      ReleaseRecord& old = open[open.size() - 5];
      old.outcome = Outcome::kSucceeded;
      old.end = 5000 + i;
      ASSERT_TRUE(journal->Append(&old).ok());
      expected[old.id] = old;
    }
    if (i % 50 == 0) {
      ReleaseRecord& oldest = open.front();
      oldest.batches.push_back({static_cast<int>(oldest.batches.size()) + 1, 1, 1, {}, 0, 0});
      ASSERT_TRUE(journal->Append(&oldest).ok());
      expected[oldest.id] = oldest;
    }
  }
  for (const ReleaseFilter& filter :
       {ReleaseFilter{}, ReleaseFilter{"shop", "", 10}, ReleaseFilter{"", "prod", 7},
        ReleaseFilter{"orders", "test", 1000}, ReleaseFilter{"", "", 1},
        ReleaseFilter{"nope", "", 5}}) {
    std::vector<ReleaseRecord> want;
    for (auto it = expected.rbegin(); it != expected.rend() && want.size() < filter.limit; ++it) {
      if ((filter.app.empty() || it->second.app == filter.app) &&
          (filter.env.empty() || it->second.env == filter.env)) {
        want.push_back(it->second);
      }
    }
    Result<std::vector<ReleaseRecord>> got = journal->reader().Releases(filter);
    ASSERT_TRUE(got.ok()) << got.status().ToString();
    EXPECT_EQ(*got, want) << filter.app << "/" << filter.env << " limit " << filter.limit;
  }
  EXPECT_EQ(*journal->reader().Release(open.front().id), expected[open.front().id]);
  EXPECT_EQ(*journal->reader().Release("r-000150"), expected["r-000150"]);
}

// The proof that a crash at any byte loses at most the line being written.
TEST_F(JournalTest, RecoversFromATruncationAtEveryByte) {
  std::vector<uint64_t> line_ends;  // offset after each complete line
  std::vector<std::string> ids;
  {
    auto journal = Open();
    for (int i = 0; i < 24; ++i) {
      if (i % 3 == 2) {
        ASSERT_TRUE(journal->Append(SyncEntry{1000 + i, "c", i, {"a/b"}, {}, {}, i}).ok());
      } else {
        ReleaseRecord r = Started(i % 2 == 0 ? "shop" : "orders", "prod", 1000 + i);
        ASSERT_TRUE(journal->Append(&r).ok());
        ids.push_back(r.id);
      }
      line_ends.push_back(fs::file_size(path_));
    }
  }
  const std::string full = Content();
  ASSERT_EQ(full.size(), line_ends.back());
  const std::string copy = (dir_ / "copy").string();
  for (uint64_t cut = 0; cut <= full.size(); ++cut) {
    SCOPED_TRACE("cut at byte " + std::to_string(cut));
    {
      std::ofstream out(copy, std::ios::binary | std::ios::trunc);
      out.write(full.data(), static_cast<std::streamsize>(cut));
    }
    size_t complete = 0;
    while (complete < line_ends.size() && line_ends[complete] <= cut) ++complete;
    uint64_t kept = complete == 0 ? 0 : line_ends[complete - 1];

    // A reader of the torn file sees the complete lines only.
    JournalReader reader(PosixJournalFs(), copy);
    Result<std::vector<ReleaseRecord>> before = reader.Releases({.limit = 100});
    ASSERT_TRUE(before.ok()) << before.status().ToString();

    Result<std::unique_ptr<Journal>> journal = Journal::Open(copy);
    ASSERT_TRUE(journal.ok()) << journal.status().ToString();
    EXPECT_EQ((*journal)->recovery().lines, complete);
    EXPECT_EQ((*journal)->recovery().truncated, cut != kept);
    EXPECT_EQ(fs::file_size(copy), kept);
    EXPECT_EQ(*pagoda::ReadFile(copy), full.substr(0, kept));

    size_t releases = 0;
    for (size_t i = 0; i < complete; ++i) releases += (i % 3 == 2) ? 0 : 1;
    Result<std::vector<ReleaseRecord>> listed = (*journal)->reader().Releases({.limit = 100});
    ASSERT_TRUE(listed.ok()) << listed.status().ToString();
    ASSERT_EQ(listed->size(), releases);
    EXPECT_EQ(*before, *listed);
    if (releases > 0) {
      EXPECT_EQ(listed->front().id, ids[releases - 1]);
    }

    ReleaseRecord after = Started("search", "test", 9999);
    ASSERT_TRUE((*journal)->Append(&after).ok());
    EXPECT_EQ(after.id, ReleaseId(static_cast<int64_t>(releases) + 1));
    ASSERT_TRUE((*journal)->Append(&after).ok());
    EXPECT_EQ((*journal)->reader().Releases({.limit = 1})->front(), after);
    journal->reset();
    Result<std::unique_ptr<Journal>> again = Journal::Open(copy);
    ASSERT_TRUE(again.ok()) << again.status().ToString();
    EXPECT_FALSE((*again)->recovery().truncated);
    EXPECT_EQ((*again)->recovery().lines, complete + 2);
  }
}

TEST_F(JournalTest, ADamagedLineThatIsNotTheLastIsCorruptionAndLeftAlone) {
  {
    auto journal = Open();
    for (int i = 0; i < 5; ++i) {
      ReleaseRecord r = Started("shop", "prod", 1000 + i);
      ASSERT_TRUE(journal->Append(&r).ok());
    }
  }
  std::string content = Content();
  size_t second = content.find('\n') + 1;
  std::string damaged = content;
  damaged[second + 40] ^= 0x01;  // one bit in line 2
  std::ofstream(path_, std::ios::binary | std::ios::trunc) << damaged;

  Result<std::unique_ptr<Journal>> journal = Journal::Open(path_);
  EXPECT_EQ(journal.status().code(), Status::Code::kCorruption);
  EXPECT_NE(journal.status().message().find("byte " + std::to_string(second)), std::string::npos)
      << journal.status().ToString();
  EXPECT_EQ(Content(), damaged);  // never rewritten
  JournalReader reader(PosixJournalFs(), path_);
  EXPECT_EQ(reader.Releases({.limit = 100}).status().code(), Status::Code::kCorruption);
  // The newest releases lie after the damage and can still be listed.
  EXPECT_EQ(reader.Releases({.limit = 2})->size(), 2u);

  // Damage in the last complete line, followed by a line being written: the
  // damage is not the writer's doing, so it is refused too.
  std::string torn_after = content;
  torn_after[content.size() - 20] ^= 0x01;
  torn_after += "{\"type\":\"sync\"";
  std::ofstream(path_, std::ios::binary | std::ios::trunc) << torn_after;
  EXPECT_EQ(Journal::Open(path_).status().code(), Status::Code::kCorruption);
  EXPECT_EQ(Content(), torn_after);
}

TEST_F(JournalTest, ADamagedLastLineIsCutOffAndReported) {
  {
    auto journal = Open();
    for (int i = 0; i < 3; ++i) {
      ReleaseRecord r = Started("shop", "prod", 1000 + i);
      ASSERT_TRUE(journal->Append(&r).ok());
    }
  }
  std::string content = Content();
  size_t last = content.rfind('\n', content.size() - 2) + 1;
  std::string damaged = content;
  damaged[last + 30] = 'X';
  std::ofstream(path_, std::ios::binary | std::ios::trunc) << damaged;
  JournalReader reader(PosixJournalFs(), path_);
  EXPECT_EQ(reader.Releases({})->size(), 2u);  // readers skip it too

  auto journal = Open();
  EXPECT_TRUE(journal->recovery().truncated);
  EXPECT_EQ(journal->recovery().truncated_at, last);
  EXPECT_EQ(journal->recovery().dropped_bytes, content.size() - last);
  EXPECT_EQ(journal->recovery().reason, "checksum mismatch");
  EXPECT_EQ(Content(), content.substr(0, last));

  // A tail of zeros (a crash after the size grew but before the data landed).
  journal.reset();
  std::ofstream(path_, std::ios::binary | std::ios::app) << std::string(4096, '\0');
  journal = Open();
  EXPECT_TRUE(journal->recovery().truncated);
  EXPECT_EQ(journal->recovery().reason, "incomplete last line");
  EXPECT_EQ(Content(), content.substr(0, last));
}

TEST_F(JournalTest, AReaderIgnoresTheLineBeingWritten) {
  auto journal = Open();
  ReleaseRecord r = Started("shop", "prod", 1000);
  ASSERT_TRUE(journal->Append(&r).ok());
  ASSERT_TRUE(journal->Append(SyncEntry{2000, "c", 1, {}, {}, {}, 1}).ok());
  // Half of a line, as a reader may see it while the writer's write() runs.
  std::string next =
      FrameLine("{\"type\":\"sync\",\"entry\":{\"time\":\"2024-05-01T10:00:00.000Z\"}}");
  std::ofstream(path_, std::ios::binary | std::ios::app) << next.substr(0, next.size() / 2);
  JournalReader reader(PosixJournalFs(), path_);
  EXPECT_EQ(reader.Releases({})->size(), 1u);
  EXPECT_EQ(reader.SyncLog(0)->size(), 1u);
  EXPECT_EQ(*reader.Release(r.id), r);
  // A missing journal reads as empty.
  JournalReader none(PosixJournalFs(), (dir_ / "none").string());
  EXPECT_TRUE(none.Releases({})->empty());
  EXPECT_TRUE(none.SyncLog(0)->empty());
  EXPECT_EQ(none.Release("r-000001").status().code(), Status::Code::kNotFound);
}

TEST_F(JournalTest, ReadersKeepReadingWhileTheWriterAppends) {
  auto journal = Open();
  std::atomic<bool> done{false};
  std::atomic<int> reads{0}, failures{0};
  std::thread reader([&] {
    JournalReader r(PosixJournalFs(), path_);
    size_t last = 0;
    while (!done) {
      Result<std::vector<ReleaseRecord>> list = r.Releases({.limit = 5});
      Result<std::vector<SyncEntry>> log = r.SyncLog(0);
      if (!list.ok() || !log.ok() || log->size() < last) ++failures;
      if (log.ok()) last = log->size();
      ++reads;
    }
  });
  while (reads.load() == 0) std::this_thread::yield();  // the reader has started
  for (int i = 0; i < 400; ++i) {
    ReleaseRecord rec = Started("shop", "prod", i);
    rec.errors.assign(static_cast<size_t>(i % 7), std::string(300, 'e'));  // lines of many sizes
    ASSERT_TRUE(journal->Append(&rec).ok());
    ASSERT_TRUE(journal->Append(SyncEntry{i, "c", 1, {}, {rec.id}, {}, 1}).ok());
  }
  const int before = reads.load();
  while (reads.load() < before + 2) std::this_thread::yield();  // and read the whole journal
  done = true;
  reader.join();
  EXPECT_GT(reads.load(), 0);
  EXPECT_EQ(failures.load(), 0);
}

TEST_F(JournalTest, OneWriterAtATime) {
  auto journal = Open();
  Result<std::unique_ptr<Journal>> second = Journal::Open(path_);
  EXPECT_EQ(second.status().code(), Status::Code::kUnavailable);
  journal.reset();
  EXPECT_TRUE(Journal::Open(path_).ok());
}

// ---- failures of the filesystem ------------------------------------------------------

// The real files, with failures injected on demand.
class FaultFs : public JournalFs {
 public:
  struct Faults {
    int fail_append = 0;  // the next N appends write half, then fail
    int fail_sync = 0;
    int fail_truncate = 0;
  };
  Faults faults;

  Result<std::unique_ptr<JournalFile>> Open(const std::string& path, bool writable) override {
    Result<std::unique_ptr<JournalFile>> file = PosixJournalFs()->Open(path, writable);
    if (!file.ok()) return file.status();
    return std::unique_ptr<JournalFile>(new File(std::move(*file), &faults));
  }

 private:
  class File : public JournalFile {
   public:
    File(std::unique_ptr<JournalFile> base, Faults* faults)
        : base_(std::move(base)), faults_(faults) {}
    Result<uint64_t> Size() override { return base_->Size(); }
    Status ReadAt(uint64_t offset, size_t n, std::string* out) override {
      return base_->ReadAt(offset, n, out);
    }
    Status Append(std::string_view data) override {
      if (faults_->fail_append > 0) {
        --faults_->fail_append;
        PAGODA_RETURN_IF_ERROR(base_->Append(data.substr(0, data.size() / 2)));
        return Status::IOError("injected: no space left on device");
      }
      return base_->Append(data);
    }
    Status Sync() override {
      if (faults_->fail_sync > 0) {
        --faults_->fail_sync;
        return Status::IOError("injected: fdatasync failed");
      }
      return base_->Sync();
    }
    Status Truncate(uint64_t size) override {
      if (faults_->fail_truncate > 0) {
        --faults_->fail_truncate;
        return Status::IOError("injected: truncate failed");
      }
      return base_->Truncate(size);
    }

   private:
    std::unique_ptr<JournalFile> base_;
    Faults* faults_;
  };
};

TEST_F(JournalTest, AFailedAppendLeavesNothingBehind) {
  auto faults = std::make_shared<FaultFs>();
  Result<std::unique_ptr<Journal>> journal = Journal::Open(path_, faults);
  ASSERT_TRUE(journal.ok());
  ReleaseRecord a = Started("shop", "prod", 1);
  ASSERT_TRUE((*journal)->Append(&a).ok());
  std::string before = Content();

  faults->faults.fail_append = 1;
  ReleaseRecord b = Started("shop", "prod", 2);
  Status failed = (*journal)->Append(&b);
  EXPECT_EQ(failed.code(), Status::Code::kIOError);
  EXPECT_TRUE(b.id.empty());  // not given an id: it was never recorded
  EXPECT_EQ(Content(), before);
  ASSERT_TRUE((*journal)->Append(&b).ok());
  EXPECT_EQ(b.id, "r-000002");

  // The cut-back itself fails: the half line stays, appends are refused, and
  // the next open cuts it off.
  faults->faults.fail_append = 1;
  faults->faults.fail_truncate = 1;
  ReleaseRecord c = Started("shop", "prod", 3);
  EXPECT_FALSE((*journal)->Append(&c).ok());
  EXPECT_NE(Content().size(), before.size());
  EXPECT_EQ((*journal)->Append(SyncEntry{}).code(), Status::Code::kIOError);
  journal->reset();
  journal = Journal::Open(path_, faults);
  ASSERT_TRUE(journal.ok()) << journal.status().ToString();
  EXPECT_TRUE((*journal)->recovery().truncated);
  EXPECT_EQ((*journal)->recovery().lines, 2u);
  ASSERT_TRUE((*journal)->Append(&c).ok());
  EXPECT_EQ(c.id, "r-000003");

  // A failed fsync: the line is cut back, and the journal wants reopening.
  faults->faults.fail_sync = 1;
  std::string synced = Content();
  ReleaseRecord d = Started("shop", "prod", 4);
  EXPECT_FALSE((*journal)->Append(&d).ok());
  EXPECT_EQ(Content(), synced);
  EXPECT_EQ((*journal)->Append(&d).code(), Status::Code::kIOError);
  journal->reset();
  journal = Journal::Open(path_, faults);
  ASSERT_TRUE(journal.ok());
  EXPECT_FALSE((*journal)->recovery().truncated);
  ASSERT_TRUE((*journal)->Append(&d).ok());
  EXPECT_EQ(d.id, "r-000004");
}

}  // namespace
}  // namespace pagoda::journal
