// The standing copy of what pagoda owns on a server, against the real API
// server: it answers as ReadLive does, a read at rest sends nothing, others'
// changes arrive by the watch, pagoda's own writes are never read back stale,
// and a client that cannot watch still gets the truth by listing.
#include "kube/live_cache.h"

#include <gtest/gtest.h>

#include <algorithm>
#include <chrono>
#include <map>
#include <thread>

#include "apply/apply.h"
#include "tests/integration/test_cluster.h"

namespace pagoda {
namespace {

using namespace std::chrono_literals;
using testing::Connect;
using testing::Json;
using testing::TestCluster;

const std::set<std::pair<std::string, std::string>> kKinds = {{"", "ConfigMap"},
                                                              {"apps", "Deployment"}};

std::string Labels(const std::string& app, const std::string& env) {
  return R"("labels":{"app.kubernetes.io/managed-by":"pagoda","app.kubernetes.io/name":")" + app +
         R"(","app.kubernetes.io/instance":")" + env + R"("})";
}

// Owned objects in `ns`, made by the administrator (not through the cache's client).
void MakeObjects(kube::KubeClient& admin, const std::string& ns) {
  auto cm = admin.Post("/api/v1/namespaces/" + ns + "/configmaps",
                       Json(R"({"apiVersion":"v1","kind":"ConfigMap","metadata":{"name":"files",)" +
                            Labels(ns, "prod") + R"(},"data":{"a":"1"}})"));
  ASSERT_TRUE(cm.ok()) << cm.status().ToString();
  auto deployment = admin.Post(
      "/apis/apps/v1/namespaces/" + ns + "/deployments",
      Json(R"({"apiVersion":"apps/v1","kind":"Deployment","metadata":{"name":"prod-1",)" +
           Labels(ns, "prod") +
           R"(},"spec":{"replicas":0,"selector":{"matchLabels":{"app":"web"}},)"
           R"("template":{"metadata":{"labels":{"app":"web"}},)"
           R"("spec":{"containers":[{"name":"web","image":"nginx:1"}]}}}})"));
  ASSERT_TRUE(deployment.ok()) << deployment.status().ToString();
  // Not pagoda's: no managed-by label.
  auto other =
      admin.Post("/api/v1/namespaces/" + ns + "/configmaps",
                 Json(R"({"apiVersion":"v1","kind":"ConfigMap","metadata":{"name":"other"},)"
                      R"("data":{"b":"2"}})"));
  ASSERT_TRUE(other.ok()) << other.status().ToString();
}

// key → resourceVersion.
std::map<std::string, std::string> Versions(const std::vector<diff::Live>& live) {
  std::map<std::string, std::string> out;
  for (const auto& l : live) {
    out[l.key.ToString()] = l.object->Value()["metadata"]["resourceVersion"].GetString();
  }
  return out;
}

const diff::Live* Find(const std::vector<diff::Live>& live, const std::string& key) {
  for (const auto& l : live) {
    if (l.key.ToString() == key) return &l;
  }
  return nullptr;
}

// The apps of `changes` among `ours`: other tests change their own
// namespaces on the same cluster at the same time.
std::vector<std::string> Among(const kube::LiveChanges& changes,
                               const std::vector<std::string>& ours) {
  std::vector<std::string> out;
  for (const auto& app : changes.apps) {
    if (std::find(ours.begin(), ours.end(), app) != ours.end()) out.push_back(app);
  }
  return out;
}

int64_t Lists(const kube::KubeClient& client) {
  auto stats = client.stats();
  auto it = stats.by_verb.find("LIST");
  return it == stats.by_verb.end() ? 0 : it->second;
}

// Each test: a namespace of its own, labelled as pagoda's, holding owned
// objects the administrator made (not through the cache's client).
class LiveCacheTest : public ::testing::Test {
 protected:
  void SetUp() override {
    auto connected = kube::KubeClient::Connect(TestCluster::Get().Admin());
    ASSERT_TRUE(connected.ok());
    admin = std::move(*connected);
    MakeObjects(*admin, ns.name());
    // At rest before a test begins: the controllers have written the new
    // Deployment's status, so its resourceVersion holds still.
    std::map<std::string, std::string> was;
    int still = 0;
    ASSERT_TRUE(testing::WaitUntil(
        [&] {
          auto now = kube::ReadLive(*admin, {ns.name()}, kKinds);
          if (!now.ok()) return false;
          auto versions = Versions(*now);
          still = versions == was ? still + 1 : 0;
          was = std::move(versions);
          return still >= 5;  // 500 ms without a change
        },
        std::chrono::seconds(30)));
  }

  testing::ScopedNamespace ns{"live-cache", testing::ScopedNamespace::Labels::kPagodas};
  std::unique_ptr<kube::KubeClient> admin;
};

TEST_F(LiveCacheTest, AnswersAsReadLiveAndAtRestAsksNothing) {
  auto client = kube::KubeClient::Connect(TestCluster::Get().Pagoda());
  ASSERT_TRUE(client.ok());
  kube::LiveCache cache(**client);
  auto first = cache.Read({ns.name()}, kKinds);
  ASSERT_TRUE(first.ok()) << first.status().ToString();
  auto listed = kube::ReadLive(**client, {ns.name()}, kKinds);
  ASSERT_TRUE(listed.ok()) << listed.status().ToString();
  EXPECT_EQ(Versions(*first), Versions(*listed));
  ASSERT_NE(Find(*first, "ConfigMap/" + ns.name() + "/files"), nullptr);
  ASSERT_NE(Find(*first, "Deployment/" + ns.name() + "/prod-1"), nullptr);
  EXPECT_EQ(Find(*first, "ConfigMap/" + ns.name() + "/other"), nullptr);
  for (const auto& l : *first) {
    EXPECT_FALSE(l.object->Value()["metadata"].HasMember("managedFields")) << l.key.ToString();
  }

  // At rest: the same answer, and no request but the watches.
  const auto before = (*client)->stats();
  for (int i = 0; i < 3; ++i) {
    auto again = cache.Read({ns.name()}, kKinds);
    ASSERT_TRUE(again.ok());
    EXPECT_EQ(Versions(*again), Versions(*first));
  }
  const auto after = (*client)->stats();
  EXPECT_EQ(after.Reads(), before.Reads());
  EXPECT_EQ(after.Writes(), 0);
  EXPECT_GT(cache.stats().kinds_cached, 0);
}

TEST_F(LiveCacheTest, OthersChangesArriveByTheWatch) {
  auto client = kube::KubeClient::Connect(TestCluster::Get().Pagoda());
  ASSERT_TRUE(client.ok());
  kube::LiveCache cache(**client);
  auto first = cache.Read({ns.name()}, kKinds);
  ASSERT_TRUE(first.ok()) << first.status().ToString();
  const int64_t lists = Lists(**client);

  // kubectl scale, as someone else: seen without a LIST.
  auto scaled = admin->Patch("/apis/apps/v1/namespaces/" + ns.name() + "/deployments/prod-1",
                             "application/merge-patch+json", R"({"spec":{"replicas":3}})");
  ASSERT_TRUE(scaled.ok()) << scaled.status().ToString();
  const std::string deployment = "Deployment/" + ns.name() + "/prod-1";
  EXPECT_TRUE(testing::WaitUntil(
      [&] {
        auto live = cache.Read({ns.name()}, kKinds);
        const diff::Live* d = live.ok() ? Find(*live, deployment) : nullptr;
        return d != nullptr && d->object->Value()["spec"]["replicas"].GetInt() == 3;
      },
      10s));

  // Deleted by someone else: gone.
  auto deleted = admin->Delete("/api/v1/namespaces/" + ns.name() + "/configmaps/files");
  ASSERT_TRUE(deleted.ok()) << deleted.status().ToString();
  EXPECT_TRUE(testing::WaitUntil(
      [&] {
        auto live = cache.Read({ns.name()}, kKinds);
        return live.ok() && Find(*live, "ConfigMap/" + ns.name() + "/files") == nullptr;
      },
      10s));
  // A new object pagoda owns, made by someone else: there.
  auto made =
      admin->Post("/api/v1/namespaces/" + ns.name() + "/configmaps",
                  Json(R"({"apiVersion":"v1","kind":"ConfigMap","metadata":{"name":"late",)" +
                       Labels(ns.name(), "prod") + R"(}})"));
  ASSERT_TRUE(made.ok()) << made.status().ToString();
  EXPECT_TRUE(testing::WaitUntil(
      [&] {
        auto live = cache.Read({ns.name()}, kKinds);
        return live.ok() && Find(*live, "ConfigMap/" + ns.name() + "/late") != nullptr;
      },
      10s));
  EXPECT_EQ(Lists(**client), lists) << "the cache listed instead of following the watch";
  EXPECT_GE(cache.stats().events, 3);
}

// An app's version moves with changes to its namespace and not with
// another's; a read of one app among many answers as ReadLive does.
TEST_F(LiveCacheTest, AnAppsVersionMovesWithItsOwnObjectsAlone) {
  testing::ScopedNamespace other{"live-other", testing::ScopedNamespace::Labels::kPagodas};
  for (int i = 0; i < 9; ++i) {  // more of a kind than a read of one app walks through
    auto cm = admin->Post("/api/v1/namespaces/" + other.name() + "/configmaps",
                          Json(R"({"apiVersion":"v1","kind":"ConfigMap","metadata":{"name":"c)" +
                               std::to_string(i) + R"(",)" + Labels(other.name(), "prod") + "}}"));
    ASSERT_TRUE(cm.ok()) << cm.status().ToString();
  }
  auto client = kube::KubeClient::Connect(TestCluster::Get().Pagoda());
  ASSERT_TRUE(client.ok());
  kube::LiveCache cache(**client);
  ASSERT_TRUE(cache.Read({ns.name(), other.name()}, kKinds).ok());
  auto one = cache.Read({ns.name()}, kKinds);
  ASSERT_TRUE(one.ok()) << one.status().ToString();
  auto listed = kube::ReadLive(**client, {ns.name()}, kKinds);
  ASSERT_TRUE(listed.ok()) << listed.status().ToString();
  EXPECT_EQ(Versions(*one), Versions(*listed));
  auto both = cache.Read({ns.name(), other.name()}, kKinds);
  ASSERT_TRUE(both.ok());
  EXPECT_EQ(both->size(), one->size() + 10);  // other's nine ConfigMaps and its Namespace

  // At rest, the numbers hold still.
  const std::vector<std::string> ours{ns.name(), other.name()};
  const uint64_t mine = cache.Version(ns.name()), theirs = cache.Version(other.name());
  const kube::LiveChanges at_rest = cache.ChangedSince(0);
  std::this_thread::sleep_for(500ms);
  ASSERT_TRUE(cache.Read({ns.name()}, kKinds).ok());
  EXPECT_EQ(cache.Version(ns.name()), mine);
  EXPECT_EQ(cache.Version(other.name()), theirs);
  EXPECT_FALSE(cache.ChangedSince(at_rest.now).all);
  EXPECT_TRUE(Among(cache.ChangedSince(at_rest.now), ours).empty());

  // Someone else's change to this app moves its number alone.
  auto scaled = admin->Patch("/apis/apps/v1/namespaces/" + ns.name() + "/deployments/prod-1",
                             "application/merge-patch+json", R"({"spec":{"replicas":2}})");
  ASSERT_TRUE(scaled.ok()) << scaled.status().ToString();
  EXPECT_TRUE(testing::WaitUntil([&] { return cache.Version(ns.name()) != mine; }, 10s));
  EXPECT_EQ(cache.Version(other.name()), theirs);
  const kube::LiveChanges moved = cache.ChangedSince(at_rest.now);
  EXPECT_FALSE(moved.all);
  EXPECT_EQ(Among(moved, ours), std::vector<std::string>{ns.name()})
      << "what moved since, and only that";
  EXPECT_TRUE(Among(cache.ChangedSince(moved.now), ours).empty());

  // So does pagoda's own write, and a deletion.
  const uint64_t scaled_version = cache.Version(ns.name());
  auto deleted = (*client)->Delete("/api/v1/namespaces/" + ns.name() + "/configmaps/files");
  ASSERT_TRUE(deleted.ok()) << deleted.status().ToString();
  EXPECT_NE(cache.Version(ns.name()), scaled_version);
  EXPECT_EQ(cache.Version(other.name()), theirs);
  EXPECT_EQ(Among(cache.ChangedSince(moved.now), ours), std::vector<std::string>{ns.name()});
}

TEST_F(LiveCacheTest, PagodasOwnWritesAreReadBackAtOnce) {
  auto client = kube::KubeClient::Connect(TestCluster::Get().Pagoda());
  ASSERT_TRUE(client.ok());
  kube::LiveCache cache(**client);
  ASSERT_TRUE(cache.Read({ns.name()}, kKinds).ok());
  const std::string deployment = "Deployment/" + ns.name() + "/prod-1";
  const int64_t lists_before = Lists(**client);
  // A scale answers with a Scale, not the Deployment: fetched before the read.
  for (int replicas = 1; replicas <= 5; ++replicas) {
    auto written =
        (*client)->Patch("/apis/apps/v1/namespaces/" + ns.name() + "/deployments/prod-1/scale",
                         "application/merge-patch+json",
                         R"({"spec":{"replicas":)" + std::to_string(replicas) + "}}");
    ASSERT_TRUE(written.ok()) << written.status().ToString();
    // No waiting: the very next read has it.
    auto live = cache.Read({ns.name()}, kKinds);
    ASSERT_TRUE(live.ok());
    const diff::Live* d = Find(*live, deployment);
    ASSERT_NE(d, nullptr);
    EXPECT_EQ(d->object->Value()["spec"]["replicas"].GetInt(), replicas);
  }
  EXPECT_EQ(cache.stats().fetches, 5);
  // An apply answers with the object itself: in the cache at once, nothing fetched.
  for (int i = 1; i <= 3; ++i) {
    const std::string value = "v" + std::to_string(i);
    auto applied = (*client)->Patch(
        "/api/v1/namespaces/" + ns.name() + "/configmaps/files?fieldManager=pagoda&force=true",
        "application/apply-patch+yaml",
        R"({"apiVersion":"v1","kind":"ConfigMap","metadata":{"name":"files",)" +
            Labels(ns.name(), "prod") + R"(},"data":{"a":")" + value + R"("}})");
    ASSERT_TRUE(applied.ok()) << applied.status().ToString();
    auto live = cache.Read({ns.name()}, kKinds);
    ASSERT_TRUE(live.ok());
    const diff::Live* cm = Find(*live, "ConfigMap/" + ns.name() + "/files");
    ASSERT_NE(cm, nullptr);
    EXPECT_EQ(std::string(cm->object->Value()["data"]["a"].GetString()), value);
    EXPECT_FALSE(cm->object->Value()["metadata"].HasMember("managedFields"));
  }
  EXPECT_EQ(cache.stats().fetches, 5);
  // The watch's event for the last apply brings the version the cache holds
  // already: it is not stored again. (The app's version moves on meanwhile:
  // the Deployment's controllers are at work on it.)
  {
    auto before = cache.Read({ns.name()}, kKinds);
    ASSERT_TRUE(before.ok());
    const auto held = Find(*before, "ConfigMap/" + ns.name() + "/files")->object->text();
    ASSERT_NE(held, nullptr) << "the cache keeps its objects as text";
    std::this_thread::sleep_for(1s);
    auto after = cache.Read({ns.name()}, kKinds);
    ASSERT_TRUE(after.ok());
    EXPECT_EQ(Find(*after, "ConfigMap/" + ns.name() + "/files")->object->text(), held);
  }
  // Deleted by pagoda: gone from the next read.
  auto deleted = (*client)->Delete("/api/v1/namespaces/" + ns.name() + "/configmaps/files");
  ASSERT_TRUE(deleted.ok()) << deleted.status().ToString();
  auto after_delete = cache.Read({ns.name()}, kKinds);
  ASSERT_TRUE(after_delete.ok());
  EXPECT_EQ(Find(*after_delete, "ConfigMap/" + ns.name() + "/files"), nullptr);
  EXPECT_EQ(Lists(**client), lists_before) << "a write made the cache list a kind again";
  // The watch's events for these writes come later and older: the reads stay right.
  std::this_thread::sleep_for(1s);
  auto settled = cache.Read({ns.name()}, kKinds);
  ASSERT_TRUE(settled.ok());
  ASSERT_NE(Find(*settled, deployment), nullptr);
  EXPECT_EQ(Find(*settled, deployment)->object->Value()["spec"]["replicas"].GetInt(), 5);
  EXPECT_EQ(Find(*settled, "ConfigMap/" + ns.name() + "/files"), nullptr);

  // A dry run writes nothing, and costs no list.
  const int64_t lists = Lists(**client);
  auto dry = (*client)->Patch(
      "/apis/apps/v1/namespaces/" + ns.name() + "/deployments/prod-1/scale?dryRun=All",
      "application/merge-patch+json", R"({"spec":{"replicas":9}})");
  ASSERT_TRUE(dry.ok()) << dry.status().ToString();
  ASSERT_TRUE(cache.Read({ns.name()}, kKinds).ok());
  EXPECT_EQ(Lists(**client), lists);
}

int64_t Denied(const kube::KubeClient& client) {
  auto stats = client.stats();
  auto it = stats.by_code.find(403);
  return it == stats.by_code.end() ? 0 : it->second;
}

TEST_F(LiveCacheTest, KindsPagodaMayNotListAreAskedOncePerRecheck) {
  auto client = kube::KubeClient::Connect(TestCluster::Get().Pagoda());
  ASSERT_TRUE(client.ok());
  FakeClock clock;
  kube::LiveCache cache(**client, {.recheck_denied = std::chrono::seconds(300), .clock = &clock});
  ASSERT_TRUE(cache.Read({ns.name()}, kKinds).ok());
  // deploy/rbac.yaml lets pagoda list a few kinds only: the others said 403.
  const int64_t first = Denied(**client);
  ASSERT_GT(first, 0);
  ASSERT_TRUE(cache.Read({ns.name()}, kKinds).ok());
  EXPECT_EQ(Denied(**client), first) << "asked again before the recheck was due";
  for (int round = 2; round <= 3; ++round) {
    clock.Advance(std::chrono::seconds(301));
    ASSERT_TRUE(cache.Read({ns.name()}, kKinds).ok());
    EXPECT_EQ(Denied(**client), round * first) << "round " << round;
    ASSERT_TRUE(cache.Read({ns.name()}, kKinds).ok());
    EXPECT_EQ(Denied(**client), round * first) << "asked again within the recheck, round " << round;
  }
}

// A transport that cannot stream: every request goes through, no watch can.
class NoStreaming final : public kube::HttpTransport {
 public:
  explicit NoStreaming(std::unique_ptr<kube::HttpTransport> inner) : inner_(std::move(inner)) {}
  Result<kube::HttpResponse> Do(const kube::HttpRequest& request) override {
    return inner_->Do(request);
  }

 private:
  std::unique_ptr<kube::HttpTransport> inner_;
};

TEST_F(LiveCacheTest, WithoutAWatchEveryReadLists) {
  kube::Credentials creds = TestCluster::Get().Pagoda();
  kube::ClientOptions options;
  kube::TlsConfig tls{creds.ca_pem, creds.client_cert_pem, creds.client_key_pem,
                      creds.insecure_skip_tls_verify, creds.tls_server_name};
  options.transport_factory = [tls]() -> Result<std::unique_ptr<kube::HttpTransport>> {
    auto inner = kube::NewCurlTransport(tls);
    if (!inner.ok()) return inner.status();
    return std::unique_ptr<kube::HttpTransport>(std::make_unique<NoStreaming>(std::move(*inner)));
  };
  auto client = kube::KubeClient::Connect(creds, options);
  ASSERT_TRUE(client.ok());
  kube::LiveCache cache(**client);
  ASSERT_TRUE(cache.Read({ns.name()}, kKinds).ok());
  // The watches fail at once; from then on each read lists and is right.
  ASSERT_TRUE(testing::WaitUntil([&] { return cache.stats().kinds_cached == 0; }, 10s));
  EXPECT_GT(cache.stats().watch_failures, 0);
  auto scaled = admin->Patch("/apis/apps/v1/namespaces/" + ns.name() + "/deployments/prod-1",
                             "application/merge-patch+json", R"({"spec":{"replicas":2}})");
  ASSERT_TRUE(scaled.ok()) << scaled.status().ToString();
  const int64_t lists = Lists(**client);
  auto live = cache.Read({ns.name()}, kKinds);
  ASSERT_TRUE(live.ok()) << live.status().ToString();
  const diff::Live* d = Find(*live, "Deployment/" + ns.name() + "/prod-1");
  ASSERT_NE(d, nullptr);
  EXPECT_EQ(d->object->Value()["spec"]["replicas"].GetInt(), 2);
  EXPECT_GT(Lists(**client), lists);
}

}  // namespace
}  // namespace pagoda
