#include <gtest/gtest.h>
#include <rapidjson/stringbuffer.h>
#include <rapidjson/writer.h>

#include <thread>
#include <vector>

#include "diff/diff.h"

namespace pagoda::diff {
namespace {

constexpr char kDeployment[] = R"({"apiVersion":"apps/v1","kind":"Deployment",
  "metadata":{"name":"prod-b","namespace":"shop","uid":"u-1","resourceVersion":"42",
    "labels":{"app.kubernetes.io/name":"shop","app.kubernetes.io/instance":"prod",
              "app.kubernetes.io/managed-by":"pagoda","pagoda.dev/revision":"b"},
    "annotations":{"pagoda.dev/applied":"9f","pagoda.dev/prune":"true"},
    "managedFields":[{"manager":"pagoda","fieldsV1":{"f:spec":{}}}]},
  "spec":{"replicas":3,"template":{"spec":{"containers":[{"name":"web","image":"shop:2"}]}}},
  "status":{"readyReplicas":2}})";

rapidjson::Document Parsed(const char* json) {
  rapidjson::Document doc;
  doc.Parse(json);
  EXPECT_FALSE(doc.HasParseError());
  return doc;
}

std::string Compact(const rapidjson::Value& v) {
  rapidjson::StringBuffer buffer;
  rapidjson::Writer<rapidjson::StringBuffer> writer(buffer);
  v.Accept(writer);
  return buffer.GetString();
}

TEST(LiveObject, KeptAsTextItIsTheObjectWithoutManagedFieldsParsedOnlyWhenRead) {
  const rapidjson::Document doc = Parsed(kDeployment);
  const LiveObject kept(LiveObject::Keep(doc));
  EXPECT_FALSE(kept.parsed());
  EXPECT_EQ(kept.text()->json.find("managedFields"), std::string::npos);
  EXPECT_LT(kept.text()->json.size(), Compact(doc).size());

  const LiveFacts& f = kept.Facts();
  EXPECT_EQ(f.uid, "u-1");
  EXPECT_EQ(f.resource_version, "42");
  EXPECT_EQ(f.name, "shop");
  EXPECT_EQ(f.instance, "prod");
  EXPECT_EQ(f.managed_by, "pagoda");
  EXPECT_EQ(f.revision, "b");
  EXPECT_EQ(f.applied, "9f");
  EXPECT_EQ(f.replicas, 3);
  EXPECT_EQ(f.ready_replicas, 2);
  EXPECT_FALSE(kept.parsed()) << "facts are at hand without parsing";

  rapidjson::Document expected = Parsed(kDeployment);
  expected["metadata"].RemoveMember("managedFields");
  EXPECT_EQ(Compact(kept.Value()), Compact(expected));
  EXPECT_TRUE(kept.parsed());
}

TEST(LiveObject, ParsedFromTheStartItIsTheObjectAsGivenWithTheSameFacts) {
  auto doc = std::make_shared<rapidjson::Document>(Parsed(kDeployment));
  const LiveObject given(doc);
  EXPECT_TRUE(given.parsed());
  EXPECT_EQ(given.text(), nullptr);
  EXPECT_EQ(&given.Value(), doc.get());
  const LiveObject kept(LiveObject::Keep(*doc));
  EXPECT_EQ(given.Facts().uid, kept.Facts().uid);
  EXPECT_EQ(given.Facts().revision, kept.Facts().revision);
  EXPECT_EQ(given.Facts().replicas, kept.Facts().replicas);
}

TEST(LiveObject, AnUnparsedCopySharesTheTextAndNotTheParse) {
  const rapidjson::Document doc = Parsed(kDeployment);
  auto kept = std::make_shared<const LiveObject>(LiveObject::Keep(doc));
  kept->Value();
  auto copy = LiveObject::Unparsed(kept);
  EXPECT_NE(copy, kept);
  EXPECT_EQ(copy->text(), kept->text());
  EXPECT_FALSE(copy->parsed()) << "a plan's parse must go with the plan, not stay in the cache";

  auto given = std::make_shared<const LiveObject>(
      std::make_shared<rapidjson::Document>(Parsed(kDeployment)));
  EXPECT_EQ(LiveObject::Unparsed(given), given);
}

TEST(LiveObject, APeekReadsTheWholeObjectAndKeepsNoParse) {
  const rapidjson::Document doc = Parsed(kDeployment);
  const LiveObject kept(LiveObject::Keep(doc));
  int replicas = 0;
  kept.Peek([&](const rapidjson::Value& v) { replicas = v["spec"]["replicas"].GetInt(); });
  EXPECT_EQ(replicas, 3);
  EXPECT_FALSE(kept.parsed());
  // Once parsed, a peek reads the parse.
  const rapidjson::Value* seen = nullptr;
  kept.Value();
  kept.Peek([&](const rapidjson::Value& v) { seen = &v; });
  EXPECT_EQ(seen, &kept.Value());
}

TEST(LiveObject, ReadersOnSeveralThreadsShareOneParse) {
  const rapidjson::Document doc = Parsed(kDeployment);
  const LiveObject kept(LiveObject::Keep(doc));
  std::vector<const rapidjson::Value*> seen(4);
  std::vector<std::thread> readers;
  for (size_t i = 0; i < seen.size(); ++i) {
    readers.emplace_back([&, i] { seen[i] = &kept.Value(); });
  }
  for (auto& t : readers) t.join();
  for (const auto* v : seen) EXPECT_EQ(v, seen[0]);
  EXPECT_EQ((*seen[0])["spec"]["replicas"].GetInt(), 3);
}

std::string ComparedVersionOf(const std::string& json) {
  return FactsOf(Parsed(json.c_str())).compared_version;
}

std::string Edited(std::string json, const std::string& from, const std::string& to) {
  const size_t at = json.find(from);
  EXPECT_NE(at, std::string::npos) << from;
  return json.replace(at, from.size(), to);
}

TEST(LiveFacts, TheComparedVersionMovesWithWhatACompareReadsAndNotWithStatus) {
  const std::string d = Edited(kDeployment, R"("resourceVersion":"42",)",
                               R"("resourceVersion":"42","generation":2,)");
  const std::string before = ComparedVersionOf(d);
  // A controller's status update: a new resourceVersion, the same generation.
  EXPECT_EQ(ComparedVersionOf(Edited(Edited(d, R"("readyReplicas":2)", R"("readyReplicas":3)"),
                                     R"("resourceVersion":"42")", R"("resourceVersion":"43")")),
            before);
  // A new spec moves the generation; labels and annotations do not, but are read.
  EXPECT_NE(ComparedVersionOf(Edited(d, R"("generation":2)", R"("generation":3)")), before);
  EXPECT_NE(
      ComparedVersionOf(Edited(d, R"("pagoda.dev/revision":"b")", R"("pagoda.dev/revision":"c")")),
      before);
  EXPECT_NE(
      ComparedVersionOf(Edited(d, R"("pagoda.dev/prune":"true")", R"("pagoda.dev/prune":"false")")),
      before);
}

TEST(LiveFacts, WithoutAGenerationThatCoversItAllTheComparedVersionIsTheResourceVersion) {
  // No generation (a ConfigMap), or fields outside spec that no generation counts.
  EXPECT_EQ(ComparedVersionOf(R"({"kind":"ConfigMap","metadata":{"name":"f","resourceVersion":"7"},
                                 "data":{"a":"1"}})"),
            "rv:7");
  EXPECT_EQ(ComparedVersionOf(R"({"kind":"Thing","metadata":{"name":"f","resourceVersion":"8",
                                 "generation":1},"spec":{},"rules":[]})"),
            "rv:8");
}

}  // namespace
}  // namespace pagoda::diff
