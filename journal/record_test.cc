// Release records and sync entries through their JSON form (record.h):
// every field and enumeration value round-trips, the form is stable, and
// what is not a record is refused.
#include "journal/record.h"

#include <gtest/gtest.h>

#include <string>

#include "journal/record_json.h"

namespace pagoda::journal {
namespace {

ReleaseRecord FullRecord() {
  ReleaseRecord r;
  r.id = "r-000042";
  r.app = "shop";
  r.env = "prod";
  r.cluster = "prod-eu";
  r.kind = ReleaseKind::kRollback;
  r.trigger = Trigger::kRevert;
  r.from = {"1111111111111111111111111111111111111111", "Ada <ada@example.com>", 1714557600000,
            "shop: image 1.4.2"};
  r.to = {"2222222222222222222222222222222222222222", "Bob \"B\" <bob@example.com>", 1714557700123,
          "Revert \"shop: image 1.4.2\"\ttab"};
  r.from_revision = "3f2a9c1b0d";
  r.to_revision = "9e8d7c6b5a";
  r.changes = {{ChangeAction::kCreated, "Deployment/shop/prod-9e8d7c6b5a"},
               {ChangeAction::kConfigured,
                "Service/shop/prod",
                "",
                {"spec.ports[name=web].port: 80 -> 8080"}},
               {ChangeAction::kConfigured, "Service/shop/prod"},
               {ChangeAction::kUnchanged, "Namespace//shop"},
               {ChangeAction::kDeleted, "ConfigMap/shop/prod-files-1"},
               {ChangeAction::kSkipped, "Ingress/shop/prod"}};
  r.batches = {{1,
                2,
                1714557701000,
                {"prod-9e8d7c6b5a-abc", "prod-9e8d7c6b5a-def"},
                1714557705000,
                1714557706000,
                {"success-rate passed: 3 checks, the last 0.995 >= 0.99"}},
               {2, 2, 1714557736000, {"prod-9e8d7c6b5a-ghi"}, 0, 1714557796000}};
  r.outcome = Outcome::kRolledBack;
  r.errors = {"batch 2: pods not Ready within 60s", "line\nbreak ünïcode"};
  r.start = 1714557700500;
  r.end = 1714557800999;
  r.restores = "r-000040";
  r.superseded_by = "r-000043";
  r.supersedes = "r-000041";
  r.freeze = "double-eleven: let through by ada: the checkout fix";
  r.follows = "r-000040";
  r.promotion = "test ran it for 30m0s (r-000040)";
  r.history_rewritten = true;
  r.hold = Hold::kOperator;
  r.pause_requested = true;
  r.abort_requested = true;
  r.warnings = {"Deployment/shop/prod-9e8d7c6b5a: a deprecated field"};
  r.changes[4].detail = "taken over from kubectl-client-side-apply";
  return r;
}

TEST(JournalRecordTest, EveryFieldRoundTrips) {
  ReleaseRecord r = FullRecord();
  std::string json = ToJson(r);
  EXPECT_EQ(json.find('\n'), std::string::npos);
  EXPECT_EQ(json.find('\t'), std::string::npos);
  Result<ReleaseRecord> back = ParseReleaseRecord(json);
  ASSERT_TRUE(back.ok()) << back.status().ToString();
  EXPECT_EQ(*back, r);
  EXPECT_EQ(ToJson(*back), json);

  SyncEntry e{1714557600001,
              "2222222222222222222222222222222222222222",
              12,
              {"shop/prod", "orders/test"},
              {"r-000042", "r-000043"},
              {"apps/x: bad yaml"},
              37};
  Result<SyncEntry> entry = ParseSyncEntry(ToJson(e));
  ASSERT_TRUE(entry.ok()) << entry.status().ToString();
  EXPECT_EQ(*entry, e);
}

TEST(JournalRecordTest, TheJsonFormIsStable) {
  ReleaseRecord r;
  r.id = "r-000001";
  r.app = "shop";
  r.env = "test";
  r.cluster = "test";
  r.to = {"abc", "Ada <ada@example.com>", 1714557600000, "first"};
  r.to_revision = "3f2a9c1b0d";
  r.changes = {{ChangeAction::kCreated, "Namespace//shop"}};
  r.batches = {{1, 1, 1714557600000, {"test-3f2a9c1b0d-x"}, 1714557601000, 1714557602000}};
  r.outcome = Outcome::kSucceeded;
  r.start = 1714557600000;
  r.end = 1714557602000;
  EXPECT_EQ(ToJson(r),
            R"({"id":"r-000001","app":"shop","env":"test","cluster":"test","kind":"rollout",)"
            R"("trigger":"commit","from":null,"to":{"id":"abc","author":"Ada <ada@example.com>",)"
            R"("time":"2024-05-01T10:00:00.000Z","summary":"first"},"toRevision":"3f2a9c1b0d",)"
            R"("changes":[{"action":"created","key":"Namespace//shop"}],"batches":[{"index":1,)"
            R"("instances":1,"start":"2024-05-01T10:00:00.000Z","pods":["test-3f2a9c1b0d-x"],)"
            R"("ready":"2024-05-01T10:00:01.000Z","end":"2024-05-01T10:00:02.000Z"}],)"
            R"("outcome":"succeeded","errors":[],"start":"2024-05-01T10:00:00.000Z",)"
            R"("end":"2024-05-01T10:00:02.000Z","historyRewritten":false})");
}

TEST(JournalRecordTest, EveryEnumerationValueRoundTrips) {
  for (int i = 0; i <= static_cast<int>(ReleaseKind::kPrune); ++i) {
    ReleaseRecord r = FullRecord();
    r.kind = static_cast<ReleaseKind>(i);
    EXPECT_EQ(ParseReleaseRecord(ToJson(r))->kind, r.kind) << Name(r.kind);
    EXPECT_EQ(*ParseReleaseKind(Name(r.kind)), r.kind);
  }
  for (int i = 0; i <= static_cast<int>(Trigger::kManualSync); ++i) {
    ReleaseRecord r = FullRecord();
    r.trigger = static_cast<Trigger>(i);
    EXPECT_EQ(ParseReleaseRecord(ToJson(r))->trigger, r.trigger) << Name(r.trigger);
  }
  for (int i = 0; i <= static_cast<int>(Outcome::kSuperseded); ++i) {
    ReleaseRecord r = FullRecord();
    r.outcome = static_cast<Outcome>(i);
    EXPECT_EQ(ParseReleaseRecord(ToJson(r))->outcome, r.outcome) << Name(r.outcome);
  }
  for (int i = 0; i <= static_cast<int>(Hold::kFailed); ++i) {
    ReleaseRecord r = FullRecord();
    r.hold = static_cast<Hold>(i);
    EXPECT_EQ(ParseReleaseRecord(ToJson(r))->hold, r.hold) << Name(r.hold);
  }
  for (int i = 0; i <= static_cast<int>(ChangeAction::kAdopted); ++i) {
    ReleaseRecord r = FullRecord();
    r.changes = {{static_cast<ChangeAction>(i), "Service/shop/prod"}};
    EXPECT_EQ(ParseReleaseRecord(ToJson(r))->changes, r.changes);
  }
  EXPECT_EQ(Name(ReleaseKind::kSelfHeal), "self-heal");
  EXPECT_EQ(Name(Trigger::kManualRollback), "manual-rollback");
  EXPECT_EQ(Name(Trigger::kManualSync), "manual-sync");
  EXPECT_EQ(Name(Outcome::kInProgress), "in-progress");
  EXPECT_EQ(Name(Outcome::kRolledBack), "rolled-back");
  EXPECT_EQ(ParseOutcome("done").status().code(), Status::Code::kInvalidArgument);
}

TEST(JournalRecordTest, RefusesWhatIsNotARecordAndIgnoresNewKeys) {
  std::string json = ToJson(FullRecord());
  auto with = [&](const std::string& from, const std::string& to) {
    std::string copy = json;
    size_t at = copy.find(from);
    EXPECT_NE(at, std::string::npos) << from;
    return copy.replace(at, from.size(), to);
  };
  EXPECT_EQ(
      ParseReleaseRecord(with("\"kind\":\"rollback\"", "\"kind\":\"deploy\"")).status().code(),
      Status::Code::kInvalidArgument);
  EXPECT_NE(ParseReleaseRecord(with("\"kind\":\"rollback\"", "\"kind\":\"deploy\""))
                .status()
                .message()
                .find("kind"),
            std::string::npos);
  EXPECT_FALSE(ParseReleaseRecord(with("\"app\":\"shop\",", "")).ok());
  EXPECT_FALSE(ParseReleaseRecord(with("\"id\":\"r-000042\"", "\"id\":\"42\"")).ok());
  EXPECT_FALSE(ParseReleaseRecord(with("\"index\":1", "\"index\":\"1\"")).ok());
  EXPECT_FALSE(ParseReleaseRecord(with("2024-05-01T10:00:00.000Z", "yesterday")).ok());
  EXPECT_FALSE(ParseReleaseRecord("{").ok());
  EXPECT_FALSE(ParseReleaseRecord("[]").ok());
  Result<ReleaseRecord> newer = ParseReleaseRecord(with("{\"id\"", "{\"future\":[1,2],\"id\""));
  ASSERT_TRUE(newer.ok()) << newer.status().ToString();
  EXPECT_EQ(*newer, FullRecord());
}

TEST(JournalRecordTest, TimesAndIds) {
  EXPECT_EQ(FormatTime(1714557600123), "2024-05-01T10:00:00.123Z");
  EXPECT_EQ(FormatTime(0), "1970-01-01T00:00:00.000Z");
  EXPECT_EQ(*ParseTime("2024-05-01T10:00:00.123Z"), 1714557600123);
  EXPECT_EQ(*ParseTime("2024-05-01T10:00:00Z"), 1714557600000);
  EXPECT_FALSE(ParseTime("2024-05-01 10:00:00Z").ok());
  EXPECT_FALSE(ParseTime("2024-13-01T10:00:00Z").ok());
  EXPECT_FALSE(ParseTime("2024-05-01T10:00:00+02:00").ok());
  EXPECT_EQ(ReleaseId(123), "r-000123");
  EXPECT_EQ(ReleaseId(1234567), "r-1234567");
  EXPECT_EQ(ReleaseIdNumber("r-000123"), 123);
  EXPECT_EQ(ReleaseIdNumber("r-1234567"), 1234567);
  EXPECT_EQ(ReleaseIdNumber("r-"), -1);
  EXPECT_EQ(ReleaseIdNumber("x-1"), -1);
  EXPECT_EQ(ReleaseIdNumber("r-12a"), -1);
}

}  // namespace
}  // namespace pagoda::journal
