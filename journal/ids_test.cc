// Release ids when several replicas share a history: reserved blocks, and
// releases another replica started taken over under their ids.
#include <gtest/gtest.h>

#include <map>
#include <string>

#include "journal/journal.h"
#include "journal/journal_test_fixture.h"

namespace pagoda::journal {
namespace {

// With reserved ids (several replicas), new releases number from the
// blocks given only, above every id held, and wait when none is left.
TEST_F(JournalTest, NewReleasesTakeTheirIdsFromReservedBlocksOnly) {
  auto journal = Open();
  ReleaseRecord before = Started("shop", "prod", 1000);
  ASSERT_TRUE(journal->Append(&before).ok());
  EXPECT_EQ(before.id, "r-000001");
  EXPECT_EQ(journal->IdsLeft(), -1);
  journal->NumberAbove(50);  // ids another journal used
  ReleaseRecord above = Started("shop", "prod", 1500);
  ASSERT_TRUE(journal->Append(&above).ok());
  EXPECT_EQ(above.id, "r-000051");
  EXPECT_EQ(journal->HighestId(), 51);
  journal->AddIdBlock({100, 103});
  EXPECT_EQ(journal->IdsLeft(), 3);
  std::vector<std::string> ids;
  for (int i = 0; i < 3; ++i) {
    ReleaseRecord r = Started("shop", "prod", 2000 + i);
    ASSERT_TRUE(journal->Append(&r).ok());
    ids.push_back(r.id);
  }
  EXPECT_EQ(ids, (std::vector<std::string>{"r-000100", "r-000101", "r-000102"}));
  EXPECT_EQ(journal->IdsLeft(), 0);
  ReleaseRecord waits = Started("shop", "test", 3000);
  Status spent = journal->Append(&waits);
  EXPECT_EQ(spent.code(), Status::Code::kUnavailable) << spent.ToString();
  EXPECT_TRUE(waits.id.empty());
  // Updates of releases it holds need no new number.
  before.outcome = Outcome::kSucceeded;
  ASSERT_TRUE(journal->Append(&before).ok());

  // A block below the ids held is used only above them.
  journal->AddIdBlock({50, 60});
  EXPECT_EQ(journal->IdsLeft(), 0);
  journal->AddIdBlock({200, 210});
  EXPECT_EQ(journal->IdsLeft(), 10);
  ASSERT_TRUE(journal->Append(&waits).ok());
  EXPECT_EQ(waits.id, "r-000200");
  journal->DropIdBlocks();
  EXPECT_EQ(journal->IdsLeft(), 0);
  ReleaseRecord dropped = Started("shop", "test", 4000);
  EXPECT_EQ(journal->Append(&dropped).code(), Status::Code::kUnavailable);
  EXPECT_EQ(journal->reader().Releases({})->size(), 6u);
}

// Releases another replica started are adopted under their ids, whatever
// their numbers, go on here as any other, and every query (the writer's
// index, a scan by another process, one release by id, after a reopen)
// answers as for releases started here; those started afterwards number on
// above them.
TEST_F(JournalTest, ReleasesAdoptedFromAnotherReplicaAreQueriedAsTheRest) {
  std::map<std::string, ReleaseRecord> expected;
  {
    auto journal = Open();
    for (int i = 0; i < 3; ++i) {
      ReleaseRecord r = Started("shop", i == 1 ? "test" : "prod", 1000 + i);
      ASSERT_TRUE(journal->Append(&r).ok());
      expected[r.id] = r;
    }
    // Another replica's, taken over: a higher number, then a lower one.
    ReleaseRecord far = Started("shop", "prod", 2000);
    far.id = "r-000050";
    far.batches.push_back({1, 2, 2000, {}, 2100, 2200});
    ReleaseRecord near = Started("cart", "prod", 1500);
    near.id = "r-000010";
    ASSERT_TRUE(journal->Adopt(far).ok());
    ASSERT_TRUE(journal->Adopt(near).ok());
    EXPECT_EQ(journal->Adopt(Started("shop", "prod", 1)).code(), Status::Code::kInvalidArgument);
    // Adopted releases go on under their ids.
    far.batches.push_back({2, 2, 2300, {}, 2400, 2500});
    far.outcome = Outcome::kSucceeded;
    ASSERT_TRUE(journal->Append(&far).ok());
    expected[far.id] = far;
    expected[near.id] = near;
    // A release started here afterwards numbers above them.
    ReleaseRecord next = Started("shop", "prod", 3000);
    ASSERT_TRUE(journal->Append(&next).ok());
    EXPECT_EQ(next.id, "r-000051");
    expected[next.id] = next;
    // The same release adopted again (its newer state from the mirror).
    near.outcome = Outcome::kFailed;
    ASSERT_TRUE(journal->Adopt(near).ok());
    expected[near.id] = near;
  }
  auto check = [&](const JournalReader& reader, const std::string& who) {
    for (const ReleaseFilter& filter :
         {ReleaseFilter{}, ReleaseFilter{"shop", "prod", 2}, ReleaseFilter{"shop", "prod", 10},
          ReleaseFilter{"cart", "prod", 1}, ReleaseFilter{"", "", 3}}) {
      std::vector<ReleaseRecord> want;
      for (auto it = expected.rbegin(); it != expected.rend() && want.size() < filter.limit; ++it) {
        if ((filter.app.empty() || it->second.app == filter.app) &&
            (filter.env.empty() || it->second.env == filter.env)) {
          want.push_back(it->second);
        }
      }
      auto got = reader.Releases(filter);
      ASSERT_TRUE(got.ok()) << got.status().ToString();
      EXPECT_EQ(*got, want) << who << ": " << filter.app << "/" << filter.env << " limit "
                            << filter.limit;
    }
    for (const auto& [id, record] : expected) {
      auto one = reader.Release(id);
      ASSERT_TRUE(one.ok()) << who << ": " << id << ": " << one.status().ToString();
      EXPECT_EQ(*one, record) << who;
    }
  };
  auto reopened = Open();
  check(reopened->reader(), "the writer's index");
  check(JournalReader(PosixJournalFs(), path_), "another process's scan");
  ReleaseRecord after = Started("cart", "test", 5000);
  ASSERT_TRUE(reopened->Append(&after).ok());
  EXPECT_EQ(after.id, "r-000052");
}

}  // namespace
}  // namespace pagoda::journal
