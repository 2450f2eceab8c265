#include <gtest/gtest.h>

#include "diff/diff.h"

namespace pagoda::diff {
namespace {

std::string Meta(const std::string& name, const std::string& ns, const std::string& env,
                 const std::string& extra_annotations = "") {
  std::string labels =
      R"("app.kubernetes.io/name":")" + ns + R"(","app.kubernetes.io/managed-by":"pagoda")";
  if (!env.empty()) labels += R"(,"app.kubernetes.io/instance":")" + env + "\"";
  return R"("metadata":{"name":")" + name + R"(","namespace":")" + ns + R"(","labels":{)" + labels +
         R"(},"annotations":{)" + extra_annotations + "}";
}

std::string DeploymentJson(const std::string& name, const std::string& ns, const std::string& env,
                           int replicas, const std::string& created = "2026-01-01T00:00:00Z",
                           const std::string& files = "") {
  std::string volumes =
      files.empty() ? "[]" : R"([{"name":"files","configMap":{"name":")" + files + R"("}}])";
  std::string meta = Meta(name, ns, env);
  meta.insert(meta.size(), R"(,"creationTimestamp":")" + created + "\"");
  return R"({"apiVersion":"apps/v1","kind":"Deployment",)" + meta + R"(},"spec":{"replicas":)" +
         std::to_string(replicas) + R"(,"template":{"spec":{"volumes":)" + volumes + "}}}}";
}

std::string Simple(const std::string& kind, const std::string& name, const std::string& ns,
                   const std::string& env, const std::string& annotations = "") {
  std::string api =
      kind == "Ingress" ? "networking.k8s.io/v1" : (kind == "CronJob" ? "batch/v1" : "v1");
  return R"({"apiVersion":")" + api + R"(","kind":")" + kind + R"(",)" +
         Meta(name, ns, env, annotations) + "}}";
}

Desired D(const std::string& json) {
  rapidjson::Document doc;
  doc.Parse(json.c_str());
  return Desired{*KeyOf(doc), doc["apiVersion"].GetString(),
                 std::make_shared<const std::string>(json)};
}

Live L(const std::string& json) {
  rapidjson::Document doc;
  doc.Parse(json.c_str());
  EXPECT_FALSE(doc.HasParseError()) << json;
  auto live = LiveFromDocument(std::move(doc));
  EXPECT_TRUE(live.ok()) << json;
  return std::move(*live);
}

Scope ShopScope(bool prune, int keep = 3) {
  Scope scope;
  auto& app = scope.apps["shop"];
  app.environments = {"prod"};
  app.prune = {{"prod", prune}};
  app.keep_revisions = {{"prod", keep}};
  app.prune_app_objects = prune;
  return scope;
}

const PlannedChange* Find(const Plan& plan, const std::string& key) {
  for (const auto& c : plan.changes) {
    if (c.key.ToString() == key) return &c;
  }
  return nullptr;
}

TEST(MakePlan, CreatesUpdatesAndLeavesEqualObjectsAlone) {
  std::vector<Desired> desired = {
      D(DeploymentJson("prod-b", "shop", "prod", 3)), D(Simple("Service", "prod", "shop", "prod")),
      D(R"({"apiVersion":"v1","kind":"Namespace","metadata":{"name":"shop"}})")};
  std::vector<Live> live;
  live.push_back(L(DeploymentJson("prod-b", "shop", "prod", 5)));
  live.push_back(L(Simple("Service", "prod", "shop", "prod")));
  Plan plan = MakePlan(desired, live, ShopScope(true));
  EXPECT_EQ(plan.Count(Action::kCreate), 1);
  EXPECT_EQ(plan.Count(Action::kUpdate), 1);
  EXPECT_EQ(plan.Count(Action::kUnchanged), 1);
  ASSERT_EQ(plan.changes.size(), 3u);
  // Apply order: Namespace, Service, Deployment.
  EXPECT_EQ(plan.changes[0].key.kind, "Namespace");
  EXPECT_EQ(plan.changes[1].key.kind, "Service");
  EXPECT_EQ(plan.changes[2].key.kind, "Deployment");
  EXPECT_EQ(plan.changes[2].changes[0].path, "spec.replicas");
  EXPECT_FALSE(plan.InSync());
}

TEST(MakePlan, EarlierRevisionsAreRetiredKeptThenDeletedWithTheirFiles) {
  std::vector<Desired> desired = {
      D(DeploymentJson("prod-new", "shop", "prod", 3, "", "prod-files-n"))};
  std::vector<Live> live;
  live.push_back(
      L(DeploymentJson("prod-r3", "shop", "prod", 3, "2026-01-03T00:00:00Z", "prod-files-3")));
  live.push_back(
      L(DeploymentJson("prod-r2", "shop", "prod", 0, "2026-01-02T00:00:00Z", "prod-files-2")));
  live.push_back(
      L(DeploymentJson("prod-r1", "shop", "prod", 0, "2026-01-01T00:00:00Z", "prod-files-1")));
  live.push_back(L(Simple("ConfigMap", "prod-files-3", "shop", "prod")));
  live.push_back(L(Simple("ConfigMap", "prod-files-2", "shop", "prod")));
  live.push_back(L(Simple("ConfigMap", "prod-files-1", "shop", "prod")));
  Plan plan = MakePlan(desired, live, ShopScope(/*prune=*/false, /*keep=*/2));
  EXPECT_EQ(Find(plan, "Deployment/shop/prod-r3")->action, Action::kRetire);
  EXPECT_EQ(Find(plan, "Deployment/shop/prod-r2")->action, Action::kUnchanged);
  EXPECT_EQ(Find(plan, "Deployment/shop/prod-r1")->action, Action::kDelete);
  // Files of kept revisions stay; the deleted revision's files go, even with prune off.
  EXPECT_EQ(Find(plan, "ConfigMap/shop/prod-files-3"), nullptr);
  EXPECT_EQ(Find(plan, "ConfigMap/shop/prod-files-2"), nullptr);
  EXPECT_EQ(Find(plan, "ConfigMap/shop/prod-files-1")->action, Action::kDelete);
  // Deletions come last, in reverse apply order: Deployment before ConfigMap.
  EXPECT_EQ(plan.changes.back().key.kind, "ConfigMap");
}

TEST(MakePlan, PruneFollowsThePolicy) {
  std::vector<Desired> desired = {D(DeploymentJson("prod-b", "shop", "prod", 3))};
  std::vector<Live> live;
  live.push_back(L(Simple("Service", "prod-public", "shop", "prod")));
  live.push_back(L(Simple("CronJob", "cleanup", "shop", "")));
  Plan on = MakePlan(desired, live, ShopScope(true));
  EXPECT_EQ(Find(on, "Service/shop/prod-public")->action, Action::kDelete);
  EXPECT_EQ(Find(on, "CronJob/shop/cleanup")->action, Action::kDelete);
  Plan off = MakePlan(desired, live, ShopScope(false));
  EXPECT_EQ(Find(off, "Service/shop/prod-public")->action, Action::kOrphan);
  EXPECT_EQ(Find(off, "CronJob/shop/cleanup")->action, Action::kOrphan);
  EXPECT_NE(Find(off, "CronJob/shop/cleanup")->reason.find("prune is off"), std::string::npos);
}

TEST(MakePlan, RemovedEnvironmentUsesThePolicyItWasAppliedWith) {
  std::vector<Live> live;
  live.push_back(L(DeploymentJson("gone-x", "shop", "staging", 2)));
  live.push_back(
      L(Simple("Service", "staging", "shop", "staging", R"("pagoda.dev/prune":"true")")));
  Plan plan = MakePlan({}, live, ShopScope(false));
  EXPECT_EQ(Find(plan, "Service/shop/staging")->action, Action::kDelete);
  EXPECT_EQ(Find(plan, "Deployment/shop/gone-x")->action, Action::kOrphan);
}

TEST(MakePlan, NeverTouchesObjectsOutsideTheScope) {
  std::vector<Live> live;
  live.push_back(L(Simple("Service", "web", "other-app", "prod")));  // an app not selected
  std::string foreign = Simple("Service", "web", "shop", "prod");
  const std::string name_label = R"("app.kubernetes.io/name":"shop")";
  ASSERT_NE(foreign.find(name_label), std::string::npos);
  foreign.replace(foreign.find(name_label), name_label.size(),
                  R"("app.kubernetes.io/name":"not-shop")");
  live.push_back(L(foreign));  // claims another app inside shop's namespace
  Plan plan = MakePlan({}, live, ShopScope(true));
  EXPECT_TRUE(plan.changes.empty());
}

TEST(MakePlan, EnvironmentSelectionLeavesOtherEnvironmentsAndAppObjectsAlone) {
  Scope scope = ShopScope(true);
  scope.apps["shop"].all_environments = false;
  std::vector<Live> live;
  live.push_back(L(Simple("Service", "test", "shop", "test")));
  live.push_back(L(Simple("CronJob", "cleanup", "shop", "")));
  live.push_back(L(Simple("Service", "prod-public", "shop", "prod")));
  Plan plan = MakePlan({}, live, scope);
  ASSERT_EQ(plan.changes.size(), 1u);
  EXPECT_EQ(plan.changes[0].key.ToString(), "Service/shop/prod-public");
}

TEST(MakePlan, NamespacesAreNeverDeleted) {
  Live l = L(R"({"apiVersion":"v1","kind":"Namespace","metadata":{"name":"shop","labels":{)"
             R"("app.kubernetes.io/name":"shop","app.kubernetes.io/managed-by":"pagoda"}}})");
  std::vector<Live> live;
  live.push_back(std::move(l));
  Plan plan = MakePlan({}, live, ShopScope(true));
  ASSERT_EQ(plan.changes.size(), 1u);
  EXPECT_EQ(plan.changes[0].action, Action::kOrphan);
  EXPECT_TRUE(plan.InSync());
}

// The object as the API server would return it: with a uid and a resourceVersion.
std::string Versioned(std::string json, const std::string& version) {
  const std::string meta = R"("metadata":{)";
  json.insert(json.find(meta) + meta.size(),
              R"("uid":"u-1","resourceVersion":")" + version + R"(",)");
  return json;
}

TEST(MakePlan, AnObjectLabelledForAnotherAppOrEnvironmentIsAConflict) {
  std::vector<Desired> desired = {D(Simple("Service", "prod", "shop", "prod")),
                                  D(Simple("ConfigMap", "prod-files-a", "shop", "prod")),
                                  D(Simple("Service", "test", "shop", "test"))};
  std::vector<Live> live;
  live.push_back(L(Simple("Service", "prod", "shop", "canary")));  // another environment's
  std::string foreign = Simple("ConfigMap", "prod-files-a", "shop", "prod");
  const std::string shop = R"("app.kubernetes.io/name":"shop")";
  foreign.replace(foreign.find(shop), shop.size(), R"("app.kubernetes.io/name":"other")");
  live.push_back(L(foreign));
  Scope scope = ShopScope(true);
  scope.apps["shop"].environments = {"prod", "test"};
  Plan plan = MakePlan(desired, live, scope);
  const PlannedChange* svc = Find(plan, "Service/shop/prod");
  ASSERT_NE(svc, nullptr);
  EXPECT_EQ(svc->action, Action::kConflict);
  EXPECT_EQ(svc->reason,
            "exists without pagoda's labels for app shop, environment prod (it says "
            "app.kubernetes.io/managed-by=pagoda, app.kubernetes.io/name=shop, "
            "app.kubernetes.io/instance=canary); left alone (adopt: true on the environment "
            "takes it over)");
  EXPECT_FALSE(svc->desired_json().empty());  // should a lookup show it is pagoda's after all
  EXPECT_EQ(Find(plan, "ConfigMap/shop/prod-files-a")->action, Action::kConflict);
  EXPECT_EQ(Find(plan, "Service/shop/test")->action, Action::kCreate);

  // Held: the environment with the conflict writes nothing, the other goes on.
  EXPECT_EQ(HoldConflicts(&plan), 0);  // prod has nothing else to write here
  desired.push_back(D(DeploymentJson("prod-b", "shop", "prod", 3)));
  plan = MakePlan(desired, live, scope);
  EXPECT_EQ(HoldConflicts(&plan), 1);
  EXPECT_EQ(Find(plan, "Deployment/shop/prod-b")->action, Action::kBlocked);
  EXPECT_EQ(Find(plan, "Deployment/shop/prod-b")->reason,
            "not written while ConfigMap/shop/prod-files-a is in conflict");
  EXPECT_EQ(Find(plan, "Service/shop/test")->action, Action::kCreate);
}

TEST(MakePlan, AConflictOfTheAppsOwnObjectsHoldsEveryEnvironment) {
  std::vector<Desired> desired = {
      D(R"({"apiVersion":"v1","kind":"Namespace","metadata":{"name":"shop","labels":{)"
        R"("app.kubernetes.io/name":"shop","app.kubernetes.io/managed-by":"pagoda"}}})"),
      D(Simple("Service", "prod", "shop", "prod")), D(Simple("Service", "test", "shop", "test"))};
  std::vector<Live> live;
  live.push_back(L(R"({"apiVersion":"v1","kind":"Namespace","metadata":{"name":"shop",)"
                   R"("labels":{"app.kubernetes.io/managed-by":"pagoda"}}})"));
  Scope scope = ShopScope(true);
  scope.apps["shop"].environments = {"prod", "test"};
  Plan plan = MakePlan(desired, live, scope);
  EXPECT_EQ(Find(plan, "Namespace/shop")->action, Action::kConflict);
  EXPECT_EQ(HoldConflicts(&plan), 2);
  EXPECT_EQ(Find(plan, "Service/shop/prod")->action, Action::kBlocked);
  EXPECT_EQ(Find(plan, "Service/shop/test")->action, Action::kBlocked);
  EXPECT_TRUE(plan.InSync());  // nothing will be written
}

TEST(MakePlan, AdoptTakesOverWhatExistsWhereTheEnvironmentSaysSo) {
  std::vector<Desired> desired = {D(Simple("Service", "prod", "shop", "prod"))};
  std::vector<Live> live;
  live.push_back(L(Simple("Service", "prod", "shop", "")));  // made without an environment
  Scope scope = ShopScope(true);
  scope.apps["shop"].adopt = {{"prod", true}};
  Plan plan = MakePlan(desired, live, scope);
  const PlannedChange* svc = Find(plan, "Service/shop/prod");
  ASSERT_NE(svc, nullptr);
  EXPECT_EQ(svc->action, Action::kAdopt);
  EXPECT_FALSE(svc->desired_json().empty());
  EXPECT_FALSE(plan.InSync());
  EXPECT_EQ(HoldConflicts(&plan), 0);
}

TEST(MakePlan, HeldBackEnvironmentsAndObjectsAreLeftAsTheyAre) {
  std::vector<Live> live;
  live.push_back(L(Simple("Ingress", "prod", "shop", "prod")));
  live.push_back(L(Simple("Ingress", "edge", "shop", "")));
  Scope scope = ShopScope(true);
  scope.apps["shop"].held_environments = {"prod"};
  scope.apps["shop"].held_objects = {"Ingress/shop/edge"};
  Plan plan = MakePlan({}, live, scope);
  EXPECT_TRUE(plan.changes.empty());
  scope.apps["shop"].held_environments.clear();
  EXPECT_EQ(MakePlan({}, live, scope).Count(Action::kDelete), 1);
}

TEST(Ownership, ManagersOfListsEachOnce) {
  rapidjson::Document doc;
  doc.Parse(R"({"metadata":{"managedFields":[{"manager":"kubectl-client-side-apply"},)"
            R"({"manager":"kube-controller-manager"},{"manager":"kubectl-client-side-apply"}]}})");
  EXPECT_EQ(ManagersOf(doc), "kubectl-client-side-apply, kube-controller-manager");
  doc.Parse(R"({"metadata":{}})");
  EXPECT_EQ(ManagersOf(doc), "");
}

// As the live cache hands them out: kept as text, not parsed yet.
Live Kept(const std::string& json) {
  Live l = L(json);
  l.object = std::make_shared<const LiveObject>(LiveObject::Keep(l.object->Value()));
  return l;
}

// A Deployment wanted at 3 replicas and a Service, as MemoLive has them
// live: the Deployment at 5.
std::vector<Desired> MemoDesired() {
  return {D(DeploymentJson("prod-b", "shop", "prod", 3, "", "files-b")),
          D(Simple("Service", "prod", "shop", "prod"))};
}

std::vector<Live> MemoLive(Live (*make)(const std::string&)) {
  std::vector<Live> live;
  live.push_back(make(Versioned(DeploymentJson("prod-b", "shop", "prod", 5), "10")));
  live.push_back(make(Versioned(Simple("Service", "prod", "shop", "prod"), "11")));
  return live;
}

TEST(PlanMemo, ComparesAgainOnlyWhatChangedAndPlansTheSame) {
  std::vector<Desired> desired = MemoDesired();
  std::vector<Live> live = MemoLive(L);
  PlanMemo memo;
  Plan first = MakePlan(desired, live, ShopScope(true), &memo);
  EXPECT_EQ(memo.misses, 2);
  EXPECT_EQ(memo.hits, 0);

  // Nothing changed: nothing compared, the same plan.
  Plan again = MakePlan(desired, live, ShopScope(true), &memo);
  EXPECT_EQ(memo.misses, 2);
  EXPECT_EQ(memo.hits, 2);
  ASSERT_EQ(again.changes.size(), first.changes.size());
  for (size_t i = 0; i < first.changes.size(); ++i) {
    EXPECT_EQ(again.changes[i].key, first.changes[i].key);
    EXPECT_EQ(again.changes[i].action, first.changes[i].action);
    EXPECT_EQ(again.changes[i].instance, "prod");
    EXPECT_EQ(again.changes[i].changes.size(), first.changes[i].changes.size());
  }
  EXPECT_EQ(Find(again, "Deployment/shop/prod-b")->action, Action::kUpdate);
  EXPECT_EQ(Find(again, "Deployment/shop/prod-b")->changes[0].path, "spec.replicas");

  // The live Deployment moved (a new resourceVersion): compared again, now equal.
  live[0] = L(Versioned(DeploymentJson("prod-b", "shop", "prod", 3, "", "files-b"), "12"));
  Plan moved = MakePlan(desired, live, ShopScope(true), &memo);
  EXPECT_EQ(memo.misses, 3);
  EXPECT_EQ(Find(moved, "Deployment/shop/prod-b")->action, Action::kUnchanged);

  // The repository changed the Service: compared again.
  desired[1] = D(Simple("Service", "prod", "shop", "prod", R"("note":"x")"));
  Plan edited = MakePlan(desired, live, ShopScope(true), &memo);
  EXPECT_EQ(memo.misses, 4);
  EXPECT_EQ(Find(edited, "Service/shop/prod")->action, Action::kUpdate);
  // A plan without a memo agrees.
  Plan plain = MakePlan(desired, live, ShopScope(true));
  EXPECT_EQ(Find(plain, "Service/shop/prod")->action, Action::kUpdate);
  EXPECT_EQ(Find(plain, "Deployment/shop/prod-b")->action, Action::kUnchanged);

  // Objects no longer planned leave the memo.
  desired.pop_back();
  MakePlan(desired, live, ShopScope(true), &memo);
  EXPECT_EQ(memo.entries.size(), 1u);
}

TEST(PlanMemo, APlanOfWhatWasComparedBeforeParsesNoLiveObject) {
  std::vector<Desired> desired = MemoDesired();
  std::vector<Live> live = MemoLive(Kept);
  PlanMemo memo;
  Plan first = MakePlan(desired, live, ShopScope(true), &memo);
  EXPECT_EQ(memo.misses, 2);
  EXPECT_FALSE(live[0].object->parsed()) << "a comparison's parse is kept: a pass over every "
                                            "object would hold them all at once";
  EXPECT_FALSE(live[1].object->parsed());
  EXPECT_EQ(Find(first, "Deployment/shop/prod-b")->action, Action::kUpdate);

  // The next read hands out the same text, unparsed: a plan whose every pair
  // the memo knows reads their facts only.
  for (Live& l : live) l.object = LiveObject::Unparsed(l.object);
  Plan again = MakePlan(desired, live, ShopScope(true), &memo);
  EXPECT_EQ(memo.hits, 2);
  EXPECT_FALSE(live[0].object->parsed());
  EXPECT_FALSE(live[1].object->parsed());
  EXPECT_EQ(Find(again, "Deployment/shop/prod-b")->action, Action::kUpdate);
  EXPECT_EQ(Find(again, "Service/shop/prod")->action, Action::kUnchanged);
  EXPECT_EQ(Find(again, "Deployment/shop/prod-b")->live->Facts().replicas, 5);
}

TEST(PlanMemo, AStatusUpdateIsNoReasonToCompareAgainButALabelIs) {
  std::vector<Desired> desired = {D(DeploymentJson("prod-b", "shop", "prod", 3, "", "files-b"))};
  auto live_at = [](const std::string& version, const std::string& extra_label) {
    std::string json = DeploymentJson("prod-b", "shop", "prod", 3, "", "files-b");
    const std::string meta = R"("metadata":{)";
    json.insert(json.find(meta) + meta.size(),
                R"("uid":"u-1","generation":4,"resourceVersion":")" + version + R"(",)");
    if (!extra_label.empty()) {
      const std::string labels = R"("labels":{)";
      json.insert(json.find(labels) + labels.size(), extra_label + ",");
    }
    return std::vector<Live>{Kept(json)};
  };
  PlanMemo memo;
  MakePlan(desired, live_at("10", ""), ShopScope(true), &memo);
  EXPECT_EQ(memo.misses, 1);
  std::vector<Live> status_moved = live_at("11", "");
  Plan after_status = MakePlan(desired, status_moved, ShopScope(true), &memo);
  EXPECT_EQ(memo.hits, 1);
  EXPECT_FALSE(status_moved[0].object->parsed());
  EXPECT_EQ(Find(after_status, "Deployment/shop/prod-b")->action, Action::kUnchanged);

  // Someone changed a label pagoda sets: compared again.
  Plan relabelled = MakePlan(desired, live_at("12", R"("app.kubernetes.io/instance":"test")"),
                             ShopScope(true), &memo);
  EXPECT_EQ(memo.misses, 2);
  EXPECT_NE(Find(relabelled, "Deployment/shop/prod-b")->action, Action::kUnchanged);
}

TEST(PlanMemo, KeepsNoLiveObject) {
  std::vector<Desired> desired = {D(Simple("Service", "prod", "shop", "prod"))};
  std::vector<Live> live;
  live.push_back(L(Versioned(Simple("Service", "prod", "shop", "prod"), "11")));
  PlanMemo memo;
  MakePlan(desired, live, ShopScope(true), &memo);  // the plan itself goes at once
  const std::weak_ptr<const LiveObject> read = live[0].object;
  live.clear();  // the cache replaced it
  EXPECT_TRUE(read.expired()) << "the memo keeps a version the cache no longer has";
  EXPECT_EQ(memo.entries.size(), 1u);
}

}  // namespace
}  // namespace pagoda::diff
