#include <gtest/gtest.h>

#include "diff/diff.h"

namespace pagoda::diff {
namespace {

rapidjson::Document Parse(const std::string& text) {
  rapidjson::Document doc;
  doc.Parse(text.c_str());
  EXPECT_FALSE(doc.HasParseError()) << text;
  return doc;
}

// What pagoda renders for a Deployment, and what the API server returns for it
// after defaulting (abridged from a real kube-apiserver answer).
constexpr char kDesired[] = R"({"apiVersion":"apps/v1","kind":"Deployment",
 "metadata":{"name":"prod-abc","namespace":"shop","labels":{"app.kubernetes.io/name":"shop"},
   "annotations":{"pagoda.dev/commit":"1111111","pagoda.dev/applied":"h1"}},
 "spec":{"replicas":3,"selector":{"matchLabels":{"app.kubernetes.io/name":"shop"}},
  "template":{"spec":{"containers":[{"name":"web","image":"shop:1","resources":{"requests":{"cpu":"0.5","memory":"1Gi"}},
   "env":[{"name":"A","value":"1"}],"ports":[{"containerPort":8080,"name":"http"}]}],
   "volumes":[{"name":"cache","emptyDir":{}}]}}}})";

constexpr char kLive[] = R"({"apiVersion":"apps/v1","kind":"Deployment",
 "metadata":{"name":"prod-abc","namespace":"shop","uid":"u","resourceVersion":"42","generation":1,
   "labels":{"app.kubernetes.io/name":"shop"},
   "annotations":{"pagoda.dev/commit":"2222222","pagoda.dev/applied":"h1","deployment.kubernetes.io/revision":"1"},
   "managedFields":[{"manager":"pagoda"}]},
 "spec":{"replicas":3,"revisionHistoryLimit":10,"progressDeadlineSeconds":600,
  "selector":{"matchLabels":{"app.kubernetes.io/name":"shop"}},
  "template":{"metadata":{"creationTimestamp":null},"spec":{"containers":[
   {"name":"web","image":"shop:1","imagePullPolicy":"IfNotPresent","terminationMessagePath":"/dev/termination-log",
    "resources":{"requests":{"cpu":"500m","memory":"1Gi"}},"env":[{"name":"A","value":"1"}],
    "ports":[{"containerPort":8080,"name":"http","protocol":"TCP"}]},
   {"name":"sidecar","image":"mesh:1"}],
   "volumes":[{"name":"cache","emptyDir":{}}],"restartPolicy":"Always","dnsPolicy":"ClusterFirst"}}},
 "status":{"readyReplicas":3}})";

std::string WithReplace(std::string text, const std::string& from, const std::string& to) {
  auto pos = text.find(from);
  EXPECT_NE(pos, std::string::npos) << from;
  return text.replace(pos, from.size(), to);
}

TEST(Compare, ServerDefaultsStatusBookkeepingAndCommitAreNoise) {
  auto cmp = Compare(Parse(kDesired), Parse(kLive));
  EXPECT_TRUE(cmp.equal);
  for (const auto& c : cmp.changes)
    ADD_FAILURE() << c.path << ": " << c.desired << " vs " << c.live;
}

TEST(Compare, ScaledReplicasAreDrift) {
  auto cmp =
      Compare(Parse(kDesired), Parse(WithReplace(kLive, R"("replicas":3)", R"("replicas":5)")));
  ASSERT_FALSE(cmp.equal);
  ASSERT_EQ(cmp.changes.size(), 1u);
  EXPECT_EQ(cmp.changes[0].path, "spec.replicas");
  EXPECT_EQ(cmp.changes[0].desired, "3");
  EXPECT_EQ(cmp.changes[0].live, "5");
}

TEST(Compare, ChangedImageIsNamedByContainer) {
  auto cmp = Compare(Parse(kDesired),
                     Parse(WithReplace(kLive, R"("image":"shop:1")", R"("image":"shop:2")")));
  ASSERT_EQ(cmp.changes.size(), 1u);
  EXPECT_EQ(cmp.changes[0].path, "spec.template.spec.containers[name=web].image");
}

TEST(Compare, RemovedLabelIsDrift) {
  std::string live = kLive;
  live = WithReplace(live, R"("labels":{"app.kubernetes.io/name":"shop"},
   "annotations")",
                     R"("labels":{},
   "annotations")");
  auto cmp = Compare(Parse(kDesired), Parse(live));
  ASSERT_EQ(cmp.changes.size(), 1u);
  EXPECT_EQ(cmp.changes[0].path, "metadata.labels.app.kubernetes.io/name");
  EXPECT_EQ(cmp.changes[0].live, "");
}

TEST(Compare, DifferentAppliedHashMeansFieldsWereRemoved) {
  auto cmp = Compare(
      Parse(WithReplace(kDesired, R"("pagoda.dev/applied":"h1")", R"("pagoda.dev/applied":"h2")")),
      Parse(kLive));
  ASSERT_EQ(cmp.changes.size(), 1u);
  EXPECT_EQ(cmp.changes[0].path, "metadata.annotations.pagoda.dev/applied");
}

TEST(Compare, KeyedListsMatchByKeyAndAllowOthersItems) {
  // The live sidecar container (another manager's) is not drift; a missing
  // env var of pagoda's container is.
  auto cmp = Compare(Parse(WithReplace(kDesired, R"([{"name":"A","value":"1"}])",
                                       R"([{"name":"A","value":"1"},{"name":"B","value":"2"}])")),
                     Parse(kLive));
  ASSERT_EQ(cmp.changes.size(), 1u);
  EXPECT_EQ(cmp.changes[0].path, "spec.template.spec.containers[name=web].env[name=B]");
}

TEST(Compare, PlainListsMatchItemForItem) {
  auto desired = Parse(R"({"spec":{"command":["a","b"]}})");
  EXPECT_TRUE(Compare(desired, Parse(R"({"spec":{"command":["a","b"]}})")).equal);
  EXPECT_FALSE(Compare(desired, Parse(R"({"spec":{"command":["a","b","c"]}})")).equal);
  EXPECT_FALSE(Compare(desired, Parse(R"({"spec":{"command":["b","a"]}})")).equal);
}

TEST(Compare, EmptyDesiredValuesMatchAbsentOnes) {
  EXPECT_TRUE(
      Compare(Parse(R"({"spec":{"a":{},"b":[],"c":null}})"), Parse(R"({"spec":{}})")).equal);
  EXPECT_FALSE(Compare(Parse(R"({"spec":{"a":{"x":1}}})"), Parse(R"({"spec":{}})")).equal);
}

TEST(Compare, ZeroValuesMatchFieldsTheServerOmits) {
  auto desired = Parse(R"({"spec":{"initialDelaySeconds":0,"hostNetwork":false,"x":""}})");
  EXPECT_TRUE(Compare(desired, Parse(R"({"spec":{}})")).equal);
  EXPECT_FALSE(Compare(desired, Parse(R"({"spec":{"initialDelaySeconds":5}})")).equal);
  EXPECT_FALSE(Compare(Parse(R"({"spec":{"a":1}})"), Parse(R"({"spec":{}})")).equal);
}

TEST(Compare, NumbersCompareByValue) {
  EXPECT_TRUE(Compare(Parse(R"({"spec":{"a":1}})"), Parse(R"({"spec":{"a":1.0}})")).equal);
  EXPECT_FALSE(Compare(Parse(R"({"spec":{"a":1}})"), Parse(R"({"spec":{"a":"1"}})")).equal);
}

TEST(Quantities, CompareByAmount) {
  EXPECT_TRUE(QuantitiesEqual("0.5", "500m"));
  EXPECT_TRUE(QuantitiesEqual("1Gi", "1073741824"));
  EXPECT_TRUE(QuantitiesEqual("1G", "1000M"));
  EXPECT_TRUE(QuantitiesEqual("2", "2000m"));
  EXPECT_TRUE(QuantitiesEqual("1e3", "1k"));
  EXPECT_FALSE(QuantitiesEqual("1Gi", "1G"));
  EXPECT_FALSE(QuantitiesEqual("500m", "0.6"));
  EXPECT_FALSE(QuantitiesEqual("abc", "500m"));
  EXPECT_TRUE(QuantitiesEqual("abc", "abc"));
}

TEST(PrepareForApply, AddsPruneAndAHashThatIgnoresTheCommit) {
  const std::string a =
      R"({"apiVersion":"v1","kind":"Service","metadata":{"name":"s","annotations":{"pagoda.dev/commit":"c1"}},"spec":{"x":1}})";
  const std::string b = WithReplace(a, "c1", "c2");
  const std::string c = WithReplace(a, R"("x":1)", R"("x":2)");
  auto pa = PrepareForApply(a, true), pb = PrepareForApply(b, true), pc = PrepareForApply(c, true);
  auto pn = PrepareForApply(a, false);
  ASSERT_TRUE(pa.ok() && pb.ok() && pc.ok() && pn.ok());
  auto hash = [](const std::string& json) {
    return std::string(Parse(json)["metadata"]["annotations"]["pagoda.dev/applied"].GetString());
  };
  EXPECT_EQ(hash(*pa), hash(*pb));
  EXPECT_NE(hash(*pa), hash(*pc));
  EXPECT_NE(hash(*pa), hash(*pn));
  EXPECT_STREQ(Parse(*pa)["metadata"]["annotations"]["pagoda.dev/prune"].GetString(), "true");
  EXPECT_STREQ(Parse(*pb)["metadata"]["annotations"]["pagoda.dev/commit"].GetString(), "c2");
  // Idempotent: preparing a prepared object changes nothing.
  EXPECT_EQ(*PrepareForApply(*pa, true), *pa);
  EXPECT_FALSE(PrepareForApply("[1]", true).ok());
}

// What is written carries the commit it is written at, whatever the
// rendering had; its applied hash is the one planned.
TEST(WithCommit, SetsTheCommitAndNothingElse) {
  const std::string plain =
      R"({"apiVersion":"v1","kind":"Service","metadata":{"name":"s"},"spec":{"x":1}})";
  auto prepared = PrepareForApply(plain, true);
  ASSERT_TRUE(prepared.ok());
  auto stamped = WithCommit(*prepared, "c3");
  ASSERT_TRUE(stamped.ok());
  auto doc = Parse(*stamped);
  EXPECT_STREQ(doc["metadata"]["annotations"]["pagoda.dev/commit"].GetString(), "c3");
  EXPECT_STREQ(doc["metadata"]["annotations"]["pagoda.dev/applied"].GetString(),
               Parse(*prepared)["metadata"]["annotations"]["pagoda.dev/applied"].GetString());
  EXPECT_TRUE(Compare(Parse(*prepared), doc).equal);
  auto again = WithCommit(*stamped, "c4");
  ASSERT_TRUE(again.ok());
  EXPECT_STREQ(Parse(*again)["metadata"]["annotations"]["pagoda.dev/commit"].GetString(), "c4");
  EXPECT_FALSE(WithCommit("[1]", "c").ok());
}

TEST(ForDisplay, DropsBookkeeping) {
  auto shown = Parse(ForDisplay(Parse(kLive)));
  EXPECT_FALSE(shown.HasMember("status"));
  EXPECT_FALSE(shown["metadata"].HasMember("managedFields"));
  EXPECT_FALSE(shown["metadata"].HasMember("resourceVersion"));
  EXPECT_FALSE(shown["metadata"]["annotations"].HasMember("pagoda.dev/applied"));
  EXPECT_TRUE(shown["metadata"]["annotations"].HasMember("pagoda.dev/commit"));
}

TEST(KeyOf, NamesObjects) {
  auto key = KeyOf(Parse(
      R"({"apiVersion":"apps/v1","kind":"Deployment","metadata":{"name":"d","namespace":"n"}})"));
  ASSERT_TRUE(key.ok());
  EXPECT_EQ(key->group, "apps");
  EXPECT_EQ(key->ToString(), "Deployment/n/d");
  EXPECT_EQ(
      KeyOf(Parse(R"({"apiVersion":"v1","kind":"Namespace","metadata":{"name":"n"}})"))->ToString(),
      "Namespace/n");
  EXPECT_FALSE(KeyOf(Parse(R"({"kind":"X"})")).ok());
}

}  // namespace
}  // namespace pagoda::diff
