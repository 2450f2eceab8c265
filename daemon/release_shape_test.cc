#include "daemon/release_shape.h"

#include <gtest/gtest.h>

#include <memory>

namespace pagoda::daemon {
namespace {

using journal::Hold;
using journal::Outcome;
using journal::ReleaseKind;
using journal::ReleaseRecord;
using journal::Trigger;

std::string DeploymentJson(const std::string& revision, int replicas) {
  return R"({"apiVersion":"apps/v1","kind":"Deployment","metadata":{"name":"prod-)" + revision +
         R"(","namespace":"shop","labels":{"pagoda.dev/revision":")" + revision +
         R"("}},"spec":{"replicas":)" + std::to_string(replicas) + "}}";
}

// Kept as text, as the daemon's live cache keeps it: what a release's
// shape reads of it comes from its facts.
std::shared_ptr<const diff::LiveObject> Live(const std::string& json) {
  rapidjson::Document doc;
  doc.Parse(json.c_str());
  return std::make_shared<const diff::LiveObject>(diff::LiveObject::Keep(doc));
}

diff::PlannedChange Change(diff::Action action, const std::string& kind, const std::string& name) {
  diff::PlannedChange c;
  c.action = action;
  c.key = {kind == "Deployment" ? "apps" : "", kind, "shop", name};
  return c;
}

// A new revision "b" created at 4 replicas, "a" (3 running) retired, a
// ConfigMap unchanged and an old Service pruned.
struct NewRevision {
  diff::PlannedChange create = Change(diff::Action::kCreate, "Deployment", "prod-b");
  diff::PlannedChange retire = Change(diff::Action::kRetire, "Deployment", "prod-a");
  diff::PlannedChange same = Change(diff::Action::kUnchanged, "ConfigMap", "prod-files");
  diff::PlannedChange prune = Change(diff::Action::kDelete, "Service", "prod-old");
  NewRevision() {
    create.wanted = true;
    create.desired = std::make_shared<const std::string>(DeploymentJson("b", 4));
    retire.live = Live(DeploymentJson("a", 3));
    same.wanted = true;
    same.live = Live(R"({"metadata":{"name":"prod-files"}})");
    prune.live = Live(R"({"metadata":{"name":"prod-old"}})");
  }
  std::vector<const diff::PlannedChange*> group() const {
    return {&create, &retire, &same, &prune};
  }
};

TEST(ReleaseShapeTest, ANewRevisionRetiresTheRunningOneAndNamesBoth) {
  NewRevision plan;
  ReleaseShape shape = ShapeOf(plan.group(), "a");
  EXPECT_EQ(shape.to_revision, "b");
  EXPECT_EQ(shape.from_revision, "a");
  EXPECT_TRUE(shape.deployment_created);
  EXPECT_TRUE(shape.retired);
  EXPECT_FALSE(shape.only_deletes);
  EXPECT_FALSE(shape.only_replicas);
  ASSERT_EQ(shape.todo.changes.size(), 3u) << "the unchanged ConfigMap is not written";
  ASSERT_EQ(shape.target, 0);
  EXPECT_EQ(shape.todo.changes[shape.target].key.name, "prod-b");
  EXPECT_EQ(KindOf(shape, false, true), ReleaseKind::kRollout);
  EXPECT_TRUE(GoesOutInBatches(shape, ReleaseKind::kRollout, false));
}

TEST(ReleaseShapeTest, WithoutADeploymentTheRunningRevisionStands) {
  diff::PlannedChange prune = Change(diff::Action::kDelete, "Service", "prod-old");
  ReleaseShape shape = ShapeOf({&prune}, "a");
  EXPECT_EQ(shape.to_revision, "a");
  EXPECT_EQ(shape.target, -1);
  EXPECT_TRUE(shape.only_deletes);
  EXPECT_EQ(KindOf(shape, false, true), ReleaseKind::kPrune);
  EXPECT_FALSE(GoesOutInBatches(shape, ReleaseKind::kPrune, true));
}

TEST(ReleaseShapeTest, TheKindFollowsWhatChanges) {
  diff::PlannedChange scale = Change(diff::Action::kUpdate, "Deployment", "prod-a");
  scale.wanted = true;
  scale.desired = std::make_shared<const std::string>(DeploymentJson("a", 5));
  scale.live = Live(DeploymentJson("a", 3));
  scale.changes = {{"spec.replicas", "3", "5"}};
  ReleaseShape shape = ShapeOf({&scale}, "a");
  EXPECT_EQ(shape.to_revision, "a");
  EXPECT_EQ(shape.from_revision, "a") << "updated in place";
  EXPECT_EQ(KindOf(shape, false, true), ReleaseKind::kScale);
  EXPECT_EQ(KindOf(shape, false, false), ReleaseKind::kSelfHeal) << "the repository is as it was";
  EXPECT_EQ(KindOf(shape, true, true), ReleaseKind::kRollback) << "asked for";
  EXPECT_FALSE(GoesOutInBatches(shape, ReleaseKind::kScale, false));
  EXPECT_TRUE(GoesOutInBatches(shape, ReleaseKind::kRollout, true)) << "a batched one goes on";

  scale.changes.push_back({"spec.template.spec.containers[0].env", "", "[]"});
  EXPECT_EQ(KindOf(ShapeOf({&scale}, "a"), false, true), ReleaseKind::kConfig);
}

ReleaseRecord Done(const std::string& id, const std::string& revision, Outcome outcome) {
  ReleaseRecord r;
  r.id = id;
  r.to_revision = revision;
  r.outcome = outcome;
  return r;
}

TEST(ReleaseShapeTest, BackToARevisionAnEarlierReleasePutOutRestoresIt) {
  // Newest first: r-3 put out c, r-2 failed to put out a, r-1 put out a.
  std::vector<ReleaseRecord> history = {Done("r-3", "c", Outcome::kSucceeded),
                                        Done("r-2", "a", Outcome::kFailed),
                                        Done("r-1", "a", Outcome::kSucceeded)};
  EXPECT_EQ(RestoredRelease(history, "a"), "r-1");
  EXPECT_EQ(RestoredRelease(history, "c"), "") << "what runs now is no rollback";
  EXPECT_EQ(RestoredRelease(history, "d"), "") << "a new revision";
  EXPECT_EQ(RestoredRelease({}, "a"), "");
}

TEST(ReleaseShapeTest, TakingUpARecordKeepsItsIdBatchesAndDecisions) {
  ReleaseRecord open = Done("r-7", "b", Outcome::kInProgress);
  open.kind = ReleaseKind::kRollback;
  open.trigger = Trigger::kRevert;
  open.restores = "r-2";
  open.from_revision = "a";
  open.start = 1000;
  open.batches = {{1, 2, 1000, {"p1", "p2"}, 1500, 1600}};
  open.hold = Hold::kOperator;
  open.abort_requested = true;

  ReleaseRecord record;
  record.kind = ReleaseKind::kRollout;
  record.trigger = Trigger::kCommit;
  EXPECT_TRUE(TakeUp(open, "b", &record));
  EXPECT_EQ(record.id, "r-7");
  EXPECT_EQ(record.start, 1000);
  EXPECT_EQ(record.batches, open.batches);
  EXPECT_EQ(record.hold, Hold::kOperator);
  EXPECT_TRUE(record.abort_requested);
  EXPECT_EQ(record.kind, ReleaseKind::kRollback);
  EXPECT_EQ(record.trigger, Trigger::kRevert);
  EXPECT_EQ(record.restores, "r-2");
  EXPECT_EQ(record.from_revision, "a");

  // Another revision now: the id and decisions stay, the rest is the new one's.
  ReleaseRecord other;
  other.kind = ReleaseKind::kConfig;
  EXPECT_FALSE(TakeUp(open, "z", &other));
  EXPECT_EQ(other.id, "r-7");
  EXPECT_EQ(other.hold, Hold::kOperator);
  EXPECT_EQ(other.kind, ReleaseKind::kConfig);
  EXPECT_EQ(other.restores, "");

  // A config change left in progress is finished, not batched.
  open.kind = ReleaseKind::kConfig;
  ReleaseRecord config;
  EXPECT_FALSE(TakeUp(open, "b", &config));

  // A failed batch's errors go with its hold.
  open.hold = Hold::kFailed;
  open.errors = {"batch 2: pods not Ready"};
  ReleaseRecord failed;
  TakeUp(open, "b", &failed);
  EXPECT_EQ(failed.errors, open.errors);
}

TEST(ReleaseShapeTest, ABatchedPlanStartsTheTargetWhereItIsAndPrunesAtTheEnd) {
  NewRevision plan;
  BatchedPlan split = SplitForBatches(ShapeOf(plan.group(), "a"));
  ASSERT_EQ(split.now.changes.size(), 1u) << "the retirement is the order's";
  const diff::PlannedChange& target = split.now.changes[0];
  EXPECT_EQ(target.action, diff::Action::kCreate);
  rapidjson::Document d = ParseOrEmpty(target.desired_json());
  EXPECT_EQ(IntField(d, "spec", "replicas"), 0) << "created empty: the order scales it up";
  ASSERT_EQ(split.finish.changes.size(), 1u);
  EXPECT_EQ(split.finish.changes[0].key.name, "prod-old");

  // Taken up with 2 of 4 already out: updated at 2, not at 4.
  diff::PlannedChange update = Change(diff::Action::kUpdate, "Deployment", "prod-b");
  update.wanted = true;
  update.desired = std::make_shared<const std::string>(DeploymentJson("b", 4));
  update.live = Live(DeploymentJson("b", 2));
  BatchedPlan again = SplitForBatches(ShapeOf({&update, &plan.retire}, "a"));
  ASSERT_EQ(again.now.changes.size(), 1u);
  EXPECT_EQ(again.now.changes[0].action, diff::Action::kUpdate);
  EXPECT_EQ(IntField(ParseOrEmpty(again.now.changes[0].desired_json()), "spec", "replicas"), 2);
}

manifest::Environment EnvNamed(const std::string& name) {
  manifest::Environment env;
  env.name.value = name;
  return env;
}

std::shared_ptr<const manifest::AppModel> WithEnvironments(
    std::vector<manifest::Environment> envs) {
  auto model = std::make_shared<manifest::AppModel>();
  model->environments = std::move(envs);
  return model;
}

TEST(ReleaseShapeTest, APinnedEnvironmentIsLeftOutAndItsSiblingsStay) {
  manifest::Repository repo;
  repo.apps.resize(3);
  repo.apps[0].name = "cart";
  repo.apps[0].shared_model = WithEnvironments({EnvNamed("prod")});
  repo.apps[1].name = "shop";
  repo.apps[1].shared_model = WithEnvironments({EnvNamed("prod"), EnvNamed("test")});
  repo.apps[2].name = "tax";
  repo.apps[2].shared_model = WithEnvironments({EnvNamed("prod")});
  EXPECT_TRUE(SelectUnpinned(repo, {}).everything);

  engine::Selection s = SelectUnpinned(repo, {{"shop", "prod"}, {"tax", "prod"}});
  EXPECT_FALSE(s.everything);
  EXPECT_TRUE(s.AllEnvironments("cart"));
  EXPECT_TRUE(s.HasEnv("shop", "test"));
  EXPECT_FALSE(s.HasEnv("shop", "prod"));
  EXPECT_FALSE(s.HasApp("tax")) << "its only environment is pinned";
}

TEST(ReleaseShapeTest, ChangesGoToTheirEnvironmentAndAnAppsOwnToItsFirst) {
  manifest::Environment prod = EnvNamed("prod"), test = EnvNamed("test");
  std::map<std::string, std::vector<const manifest::Environment*>> envs = {
      {"shop", {&prod, &test}}};
  diff::Plan plan;
  plan.changes.push_back(Change(diff::Action::kCreate, "Deployment", "test-b"));
  plan.changes.back().instance = "test";
  plan.changes.push_back(Change(diff::Action::kUpdate, "Namespace", "shop"));
  plan.changes.back().key.namespace_name = "";
  plan.changes.push_back(Change(diff::Action::kConflict, "ConfigMap", "theirs"));
  plan.changes.push_back(Change(diff::Action::kCreate, "Deployment", "prod-b"));
  plan.changes.back().key.namespace_name = "cart";  // no environment of it here
  EnvironmentGroups g = GroupByEnvironment(plan, envs);
  const auto& shop_test = g.groups[EnvKey{"shop", "test"}];
  const auto& shop_prod = g.groups[EnvKey{"shop", "prod"}];
  ASSERT_EQ(shop_test.size(), 1u);
  EXPECT_EQ(shop_test[0]->key.name, "test-b");
  ASSERT_EQ(shop_prod.size(), 1u);
  EXPECT_EQ(shop_prod[0]->key.kind, "Namespace");
  EXPECT_EQ(g.groups.size(), 2u);
  ASSERT_EQ(g.app_conflicts["shop"].size(), 1u) << "it holds every environment of the app";
  EXPECT_EQ(g.app_conflicts.count("cart"), 0u);
}

TEST(ReleaseShapeTest, AnAppsOwnObjectsGoWithAnEnvironmentThatWaitsForNoOtherHere) {
  manifest::Environment prod = EnvNamed("prod"), staging = EnvNamed("staging"),
                        test = EnvNamed("test");
  prod.promotion.after.value = "staging";
  staging.promotion.after.value = "test";
  diff::Plan plan;
  plan.changes.push_back(Change(diff::Action::kCreate, "Namespace", "shop"));
  plan.changes.back().key.namespace_name = "";
  auto carrier = [&](std::vector<const manifest::Environment*> list) {
    EnvironmentGroups g = GroupByEnvironment(plan, {{"shop", list}});
    return g.groups.size() == 1 ? g.groups.begin()->first.second : "";
  };
  EXPECT_EQ(carrier({&prod, &staging, &test}), "test");
  // test is on another cluster: staging follows no environment here.
  EXPECT_EQ(carrier({&prod, &staging}), "staging");
  EXPECT_EQ(carrier({&prod}), "prod");
}

TEST(ReleaseShapeTest, WhatTheRepositoryChangedIsToldFromDrift) {
  // Someone scaled the running revision by hand: the applied hash is the same.
  diff::PlannedChange drift = Change(diff::Action::kUpdate, "Deployment", "prod-a");
  drift.wanted = true;
  drift.desired = std::make_shared<const std::string>(DeploymentJson("a", 3));
  drift.live = Live(DeploymentJson("a", 5));
  EnvironmentChanges changes = ChangesOf({&drift}, {"Deployment/shop/prod-a"}, true, "");
  EXPECT_TRUE(changes.todo);
  EXPECT_FALSE(changes.repo_changed) << "drift, healed as such";
  EXPECT_EQ(changes.revision, "a");
  EXPECT_EQ(changes.desired_keys, std::set<std::string>{drift.key.ToString()});

  // A changed applied hash is the repository's.
  diff::PlannedChange edited = drift;
  edited.desired = std::make_shared<const std::string>(
      R"({"metadata":{"annotations":{"pagoda.dev/applied":"new"}}})");
  EXPECT_TRUE(ChangesOf({&edited}, {}, true, "").repo_changed);

  // An object the environment did not have is the repository's; one it had
  // and someone deleted is drift.
  diff::PlannedChange gone = Change(diff::Action::kCreate, "ConfigMap", "prod-files");
  gone.wanted = true;
  EXPECT_FALSE(ChangesOf({&gone}, {gone.key.ToString()}, true, "a").repo_changed);
  EXPECT_TRUE(ChangesOf({&gone}, {}, true, "a").repo_changed);
  EXPECT_TRUE(ChangesOf({&gone}, {gone.key.ToString()}, false, "a").repo_changed)
      << "before the first pass nothing is known";
  EXPECT_EQ(ChangesOf({&gone}, {}, true, "a").revision, "a") << "no Deployment: it stands";

  // In sync: nothing to do; the revision running the most instances is live.
  NewRevision plan;
  diff::PlannedChange running = plan.retire;
  running.action = diff::Action::kUnchanged;
  EnvironmentChanges quiet = ChangesOf({&running, &plan.same}, {}, true, "");
  EXPECT_FALSE(quiet.todo);
  EXPECT_EQ(quiet.revision, "a");
}

}  // namespace
}  // namespace pagoda::daemon
