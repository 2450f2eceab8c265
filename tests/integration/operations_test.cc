// pagoda daemon as an operator runs it: its HTTP endpoints, metrics, webhook,
// config reload, log lines and in-cluster configuration, end to end against
// the local control plane, the daemon a real process.
#include <arpa/inet.h>
#include <gtest/gtest.h>
#include <httplib.h>
#include <netinet/in.h>
#include <rapidjson/document.h>
#include <signal.h>
#include <sys/socket.h>
#include <unistd.h>

#include <chrono>
#include <filesystem>
#include <fstream>
#include <optional>
#include <regex>
#include <sstream>
#include <thread>

#include "base/digest.h"
#include "journal/journal.h"
#include "server/webhook.h"
#include "tests/integration/example_repo.h"
#include "tests/integration/test_cluster.h"

namespace pagoda {
namespace {

using namespace std::chrono_literals;
using testing::ExampleRepo;
using testing::TestCluster;

namespace fs = std::filesystem;

std::string ReadAll(const std::string& path) {
  std::ifstream in(path);
  std::stringstream ss;
  ss << in.rdbuf();
  return ss.str();
}

std::string Git(const std::string& dir, const std::vector<std::string>& args) {
  std::vector<std::string> argv = {
      "/usr/bin/git", "-C", dir, "-c", "user.name=Dev", "-c", "user.email=dev@example.com"};
  argv.insert(argv.end(), args.begin(), args.end());
  std::string out;
  EXPECT_EQ(testing::Run(argv, &out), 0) << out;
  return out;
}

// The bearer token of a kubeconfig written by tests/cluster (one user, `token:`).
std::string TokenOf(const std::string& kubeconfig) {
  std::smatch m;
  std::string text = ReadAll(kubeconfig);
  if (!std::regex_search(text, m, std::regex("token: *([^\\s]+)"))) return "";
  return m[1];
}

// One sample of a Prometheus text exposition: its value, or -1 when absent.
double Sample(const std::string& text, const std::string& series) {
  std::istringstream in(text);
  std::string line;
  while (std::getline(in, line)) {
    if (line.rfind(series + " ", 0) == 0) return std::stod(line.substr(series.size() + 1));
  }
  return -1;
}

class ServiceTest : public ::testing::Test {
 protected:
  void SetUp() override {
    char tmpl[] = "/tmp/pagoda-service-XXXXXX";
    root_ = mkdtemp(tmpl);
    Git(repo_.dir(), {"init", "-q", "-b", "main"});
    repo_.ReleaseWithoutHolds();  // the tests that hold set it themselves
    Git(repo_.dir(), {"add", "-A"});
    Git(repo_.dir(), {"commit", "-q", "-m", "initial apps"});
    std::ofstream(Secret()) << webhook_secret_ << "\n";
  }
  void TearDown() override {
    daemon_.reset();
    if (HasFailure()) std::cerr << "---- daemon log ----\n" << ReadAll(Log()) << "\n";
    fs::remove_all(root_);
  }

  std::string StateDir() const { return root_ + "/state"; }
  std::string Log() const { return root_ + "/daemon.log"; }
  std::string Config() const { return root_ + "/config.yaml"; }
  std::string Secret() const { return root_ + "/webhook-secret"; }

  // `clusters` is the YAML of the clusters mapping, one line per cluster.
  void WriteConfig(const std::string& clusters, const std::string& interval = "1s",
                   const std::string& listen = "127.0.0.1:0", const std::string& extra = "") {
    std::ofstream(Config()) << "repo: " << repo_.dir() << "\n"
                            << "interval: " << interval << "\ndriftInterval: 4s\n"
                            << "stateDir: " << StateDir() << "\n"
                            << "clusters:\n"
                            << clusters << "http: {listen: \"" << listen
                            << "\", webhookSecretFile: " << Secret() << "}\n"
                            << extra;
  }
  std::string Kubeconfig(const std::string& kubeconfig) {
    return "  test: {kubeconfig: " + kubeconfig + "}\n  prod: {kubeconfig: " + kubeconfig + "}\n";
  }
  void StartDaemon(const std::string& env = "") {
    daemon_ = std::make_unique<testing::ChildProcess>(
        std::vector<std::string>{"/bin/sh", "-c",
                                 "exec /usr/bin/env " + env + " '" + PAGODA_BINARY +
                                     "' daemon --config '" + Config() + "' 2>>'" + Log() + "'"});
  }
  // The port of the n-th (from 1) "http: listening on" line of the log.
  int Port(int nth = 1) {
    int port = 0;
    testing::WaitUntil(
        [&] {
          std::string log = ReadAll(Log());
          std::regex re("listening on 127\\.0\\.0\\.1:([0-9]+)");
          int n = 0;
          for (auto it = std::sregex_iterator(log.begin(), log.end(), re);
               it != std::sregex_iterator(); ++it) {
            if (++n == nth) port = std::stoi((*it)[1]);
          }
          return port != 0;
        },
        10s);
    return port;
  }
  httplib::Result Get(int port, const std::string& path) {
    httplib::Client c("127.0.0.1", port);
    c.set_read_timeout(10, 0);
    return c.Get(path.c_str());
  }
  int Post(int port, const std::string& body, const httplib::Headers& headers) {
    httplib::Client c("127.0.0.1", port);
    c.set_read_timeout(10, 0);
    auto r = c.Post("/webhook", headers, body, "application/json");
    return r ? r->status : -1;
  }
  httplib::Headers Signed(const std::string& body, const std::string& delivery) {
    return {{"X-GitHub-Event", "push"},
            {"X-GitHub-Delivery", delivery},
            {"X-Hub-Signature-256", "sha256=" + HmacSha256Hex(webhook_secret_, body)}};
  }
  std::string Metrics(int port) {
    auto r = Get(port, "/metrics");
    return r && r->status == 200 ? r->body : "";
  }
  bool Ready(int port) {
    auto r = Get(port, "/readyz");
    return r && r->status == 200;
  }
  std::vector<journal::ReleaseRecord> Releases() {
    journal::JournalReader reader(journal::PosixJournalFs(), StateDir() + "/journal");
    auto r = reader.Releases({.app = "", .env = "", .limit = 1000});
    return r.ok() ? *r : std::vector<journal::ReleaseRecord>{};
  }
  bool Released(const std::string& app, const std::string& env, const std::string& commit,
                std::chrono::milliseconds timeout = 30s) {
    return testing::WaitUntil(
        [&] {
          for (const auto& r : Releases()) {
            if (r.app == repo_.App(app) && r.env == env && r.to.id == commit &&
                r.outcome == journal::Outcome::kSucceeded)
              return true;
          }
          return false;
        },
        timeout);
  }
  std::string Head() { return Git(repo_.dir(), {"rev-parse", "HEAD"}).substr(0, 40); }
  bool LogHas(const std::string& text, std::chrono::milliseconds timeout = 10s) {
    return testing::WaitUntil([&] { return ReadAll(Log()).find(text) != std::string::npos; },
                              timeout);
  }

  ExampleRepo repo_;
  std::string root_;
  std::string webhook_secret_ = "whsec-" + testing::UniqueName("never-logged");
  std::unique_ptr<testing::ChildProcess> daemon_;
};

// Parses the exposition with the Prometheus client library's parser.
std::string PrometheusParse(const std::string& text, const std::string& dir) {
  std::ofstream(dir + "/metrics.txt") << text;
  std::string out;
  int rc = testing::Run({"/usr/bin/python3", "-c",
                         "import sys\n"
                         "from prometheus_client.parser import text_string_to_metric_families\n"
                         "n = sum(len(f.samples) for f in "
                         "text_string_to_metric_families(open(sys.argv[1]).read()))\n"
                         "print(n)\n",
                         dir + "/metrics.txt"},
                        &out);
  return rc == 0 ? out : "PARSE FAILED: " + out;
}

TEST_F(ServiceTest, EndpointsMetricsAndWebhookAgainstARealRun) {
  WriteConfig(Kubeconfig(TestCluster::Get().pagoda_kubeconfig));
  StartDaemon();
  const int port = Port();
  ASSERT_GT(port, 0);
  auto health = Get(port, "/healthz");
  ASSERT_TRUE(health);
  EXPECT_EQ(health->status, 200);
  // Every environment released (orders/prod takes three batches).
  for (const auto& [app, env] : {std::pair{"shop-web", "prod"}, std::pair{"shop-web", "test"},
                                 std::pair{"orders", "prod"}, std::pair{"orders", "test"}}) {
    ASSERT_TRUE(Released(app, env, Head())) << app << "/" << env;
  }
  EXPECT_TRUE(testing::WaitUntil([&] { return Ready(port); }, 10s));

  std::string before = Metrics(port);
  std::string parsed = PrometheusParse(before, root_);
  EXPECT_EQ(parsed.find("PARSE FAILED"), std::string::npos) << parsed << before;
  EXPECT_GE(Sample(before, "pagoda_git_fetches_total{result=\"ok\"}"), 1);
  EXPECT_GE(Sample(before, "pagoda_reconcile_duration_seconds_count"), 1);
  EXPECT_EQ(Sample(before, "pagoda_ready"), 1);
  const std::string server = TestCluster::Get().server;
  EXPECT_GT(Sample(before, "pagoda_api_requests_total{server=\"" + server + "\",verb=\"LIST\"}"), 0)
      << before;
  EXPECT_GT(Sample(before, "pagoda_api_responses_total{code=\"200\",server=\"" + server + "\"}"),
            0);
  const double rollouts =
      Sample(before, "pagoda_releases_total{kind=\"rollout\",outcome=\"succeeded\"}");
  EXPECT_GE(rollouts, 4) << before;  // two apps, two environments each
  // The next reconcile after the releases finds the environment in sync.
  EXPECT_TRUE(testing::WaitUntil(
      [&] {
        return Sample(Metrics(port), "pagoda_last_sync_timestamp_seconds{app=\"" +
                                         repo_.App("orders") + "\",env=\"prod\"}") > 1.7e9;
      },
      15s));

  // Unauthenticated, forged and malformed requests fetch nothing.
  const double fetches = Sample(Metrics(port), "pagoda_git_fetches_total{result=\"ok\"}");
  const std::string push = R"({"ref":"refs/heads/main"})";
  EXPECT_EQ(Post(port, push, {{"X-GitHub-Event", "push"}}), 401);
  auto forged = Signed(push, "forged");
  forged.erase("X-Hub-Signature-256");
  forged.emplace("X-Hub-Signature-256", "sha256=" + HmacSha256Hex("guess", push));
  EXPECT_EQ(Post(port, push, forged), 401);
  EXPECT_EQ(Post(port, push, {{"X-Gitlab-Token", webhook_secret_ + "x"}}), 401);
  EXPECT_EQ(Post(port, "{oops", Signed("{oops", "bad-json")), 400);
  EXPECT_EQ(Post(port, std::string(server::kMaxWebhookBody + 10, ' '), Signed("", "big")), 413);
  {
    httplib::Client c("127.0.0.1", port);
    auto r = c.Get("/webhook");
    ASSERT_TRUE(r);
    EXPECT_EQ(r->status, 405);
  }
  std::this_thread::sleep_for(300ms);
  // The interval is 1s: a fetch or two of its own may have run meanwhile.
  const double after_bad = Sample(Metrics(port), "pagoda_git_fetches_total{result=\"ok\"}");
  EXPECT_LE(after_bad - fetches, 2);
  const std::string m = Metrics(port);
  EXPECT_EQ(Sample(m, "pagoda_webhook_requests_total{result=\"unauthorized\"}"), 3);
  EXPECT_EQ(Sample(m, "pagoda_webhook_requests_total{result=\"malformed\"}"), 1);

  // A pushed change and a webhook: released at once, and the metrics move.
  repo_.Edit("shop-web", "deploy/web.yaml", "shop/web:1.4.2", "shop/web:1.5.0");
  Git(repo_.dir(), {"commit", "-q", "-am", "shop-web: web 1.5.0"});
  EXPECT_EQ(Post(port, push, Signed(push, "delivery-1")), 202);
  ASSERT_TRUE(Released("shop-web", "prod", Head(), 10s));
  EXPECT_TRUE(testing::WaitUntil(
      [&] {
        return Sample(Metrics(port),
                      "pagoda_releases_total{kind=\"rollout\",outcome=\"succeeded\"}") >=
               rollouts + 2;
      },
      10s))
      << Metrics(port);
  const std::string last = Metrics(port);
  EXPECT_EQ(PrometheusParse(last, root_).find("PARSE FAILED"), std::string::npos);
  EXPECT_EQ(Sample(last, "pagoda_webhook_requests_total{result=\"accepted\"}"), 1);
  // The same delivery again: 200, and nothing more accepted.
  EXPECT_EQ(Post(port, push, Signed(push, "delivery-1")), 200);
  EXPECT_EQ(Sample(Metrics(port), "pagoda_webhook_requests_total{result=\"replay\"}"), 1);
}

TEST_F(ServiceTest, ABurstOfWebhooksMakesOneFetch) {
  // A long interval: every fetch after the first comes from a webhook.
  WriteConfig(Kubeconfig(TestCluster::Get().pagoda_kubeconfig), "10m");
  StartDaemon();
  const int port = Port();
  ASSERT_GT(port, 0);
  ASSERT_TRUE(testing::WaitUntil([&] { return Ready(port); }, 30s));
  const std::string series = "pagoda_git_fetches_total{result=\"ok\"}";
  const double before = Sample(Metrics(port), series);
  ASSERT_GE(before, 1);
  const std::string push = R"({"ref":"refs/heads/main"})";
  // 50 deliveries from 10 senders at once.
  std::vector<std::thread> senders;
  std::atomic<int> accepted{0};
  for (int t = 0; t < 10; ++t) {
    senders.emplace_back([&, t] {
      for (int i = 0; i < 5; ++i) {
        const std::string id = "burst-" + std::to_string(t) + "-" + std::to_string(i);
        if (Post(port, push, Signed(push, id)) == 202) ++accepted;
      }
    });
  }
  for (auto& t : senders) t.join();
  EXPECT_EQ(accepted, 50);
  ASSERT_TRUE(testing::WaitUntil([&] { return Sample(Metrics(port), series) > before; }, 10s));
  std::this_thread::sleep_for(2s);
  // Requests that arrive while a fetch is being made are served by one
  // more fetch after it, whatever their number: a handful of fetches for
  // the burst, never one each.
  const double fetched = Sample(Metrics(port), series) - before;
  EXPECT_GE(fetched, 1);
  EXPECT_LE(fetched, 5);
  EXPECT_EQ(Sample(Metrics(port), "pagoda_webhook_requests_total{result=\"accepted\"}"), 50);
}

TEST_F(ServiceTest, SighupReloadsAndABadConfigIsRejected) {
  // prod leads nowhere at first: not ready, and the status says which.
  const std::string kubeconfig = TestCluster::Get().pagoda_kubeconfig;
  WriteConfig("  test: {kubeconfig: " + kubeconfig + "}\n  prod: {kubeconfig: " + root_ +
              "/missing.kubeconfig}\n");
  StartDaemon();
  const int port = Port();
  ASSERT_GT(port, 0);
  ASSERT_TRUE(LogHas("reconciling", 30s));
  // Once the first fetch and reconcile are over, /readyz names the cluster
  // it missed (before that it says it has not fetched, or not reconciled).
  std::optional<httplib::Result> r;
  std::string said;
  EXPECT_TRUE(testing::WaitUntil(
      [&] {
        r = Get(port, "/readyz");
        said = *r ? (*r)->body : "no answer";
        return said.find("clusters not reachable") != std::string::npos;
      },
      30s))
      << said;
  ASSERT_TRUE(*r);
  EXPECT_EQ((*r)->status, 503);
  EXPECT_NE(said.find("prod"), std::string::npos) << said;

  // A config that does not parse: rejected, the old one kept.
  std::ofstream(Config(), std::ios::app) << "nonsense: [\n";
  ASSERT_EQ(kill(daemon_->pid(), SIGHUP), 0);
  ASSERT_TRUE(LogHas("SIGHUP: the new config is rejected, the running one is kept"));
  EXPECT_TRUE(Get(port, "/healthz"));

  // One that binds an address in use: rejected too.
  httplib::Server other;
  int busy = other.bind_to_any_port("127.0.0.1");
  WriteConfig(Kubeconfig(kubeconfig), "1s", "127.0.0.1:" + std::to_string(busy));
  ASSERT_EQ(kill(daemon_->pid(), SIGHUP), 0);
  ASSERT_TRUE(testing::WaitUntil(
      [&] {
        std::string log = ReadAll(Log());
        size_t first = log.find("SIGHUP: the new config is rejected");
        return first != std::string::npos &&
               log.find("SIGHUP: the new config is rejected", first + 1) != std::string::npos;
      },
      10s));
  EXPECT_TRUE(Get(port, "/healthz"));

  // A good one: the new clusters, interval and address take effect.
  const int free_port = testing::FreePort();
  ASSERT_GT(free_port, 0);
  WriteConfig(Kubeconfig(kubeconfig), "1s", "127.0.0.1:" + std::to_string(free_port));
  ASSERT_EQ(kill(daemon_->pid(), SIGHUP), 0);
  ASSERT_TRUE(LogHas("SIGHUP: reloaded"));
  const int moved = Port(2);
  ASSERT_EQ(moved, free_port);
  EXPECT_FALSE(Get(port, "/healthz")) << "the old address still answers";
  EXPECT_TRUE(testing::WaitUntil([&] { return Ready(moved); }, 30s));
  ASSERT_TRUE(Released("shop-web", "prod", Head()));
  // Still one process, which stops cleanly.
  ASSERT_EQ(kill(daemon_->pid(), SIGTERM), 0);
  EXPECT_TRUE(LogHas("pagoda daemon stopped"));
}

TEST_F(ServiceTest, NoSecretReachesALogLineTheJournalOrTheStatus) {
  // The cluster through a token (the pagoda ServiceAccount's), a webhook
  // secret, and a Git token named in the config.
  const std::string kubeconfig = TestCluster::Get().pagoda_kubeconfig;
  const std::string token = TokenOf(kubeconfig);
  ASSERT_GT(token.size(), 20u) << "the test kubeconfig has no token";
  const std::string git_token = "ghp_" + testing::UniqueName("gittoken");
  std::ofstream(root_ + "/git-token") << git_token << "\n";
  WriteConfig(Kubeconfig(kubeconfig), "1s", "127.0.0.1:0",
              "auth: {tokenFile: " + root_ + "/git-token}\nlog: {format: json}\n");
  StartDaemon();
  const int port = Port();
  ASSERT_GT(port, 0);
  ASSERT_TRUE(Released("orders", "prod", Head()));

  // Every path that could echo a secret: webhooks right and wrong, a
  // change, a reload, metrics, status, a stop.
  const std::string push = R"({"ref":"refs/heads/main"})";
  EXPECT_EQ(Post(port, push, {{"X-Gitlab-Token", webhook_secret_}}), 202);
  EXPECT_EQ(Post(port, push, {{"X-Gitlab-Token", webhook_secret_ + "-wrong"}}), 401);
  EXPECT_EQ(Post(port, push, {{"X-Gitlab-Token", token}}), 401);
  repo_.Edit("orders", "deploy/api.yaml", "orders:2.7.0", "orders:2.7.1");
  Git(repo_.dir(), {"commit", "-q", "-am", "orders: 2.7.1"});
  ASSERT_TRUE(Released("orders", "prod", Head(), 15s));
  ASSERT_EQ(kill(daemon_->pid(), SIGHUP), 0);
  ASSERT_TRUE(LogHas("SIGHUP: reloaded"));
  const std::string metrics = Metrics(port);
  std::string status_out;
  testing::Run({PAGODA_BINARY, "status", "--state-dir=" + StateDir()}, &status_out);
  ASSERT_EQ(kill(daemon_->pid(), SIGTERM), 0);
  ASSERT_TRUE(LogHas("pagoda daemon stopped"));

  const std::string log = ReadAll(Log());
  const std::map<std::string, std::string> records = {
      {"log", log},
      {"journal", ReadAll(StateDir() + "/journal")},
      {"status.json", ReadAll(StateDir() + "/status.json")},
      {"pins", ReadAll(StateDir() + "/pins.json")},
      {"metrics", metrics},
      {"pagoda status", status_out}};
  for (const auto& [name, text] : records) {
    for (const auto& [what, secret] :
         std::map<std::string, std::string>{{"the ServiceAccount token", token},
                                            {"the webhook secret", webhook_secret_},
                                            {"the Git token", git_token}}) {
      EXPECT_EQ(text.find(secret), std::string::npos) << what << " is in " << name;
      // Nor a recognisable part of it.
      EXPECT_EQ(text.find(secret.substr(secret.size() / 2)), std::string::npos)
          << what << " (its second half) is in " << name;
    }
  }
  EXPECT_FALSE(records.at("journal").empty());
  EXPECT_FALSE(records.at("status.json").empty());

  // Every log line is a JSON object, and every release line carries its fields.
  std::istringstream lines(log);
  std::string line;
  int release_lines = 0;
  while (std::getline(lines, line)) {
    rapidjson::Document doc;
    doc.Parse(line.c_str());
    ASSERT_FALSE(doc.HasParseError()) << line;
    ASSERT_TRUE(doc.IsObject() && doc.HasMember("msg") && doc.HasMember("level")) << line;
    if (!doc.HasMember("release")) continue;
    ++release_lines;
    for (const char* field : {"app", "env", "release", "revision", "commit"}) {
      EXPECT_TRUE(doc.HasMember(field) && doc[field].IsString()) << field << " missing: " << line;
    }
  }
  EXPECT_GE(release_lines, 8);  // four environments released, each started and ended, and one more
}

TEST_F(ServiceTest, InClusterConfigWithAServiceAccountDirectory) {
  // What a pod has: KUBERNETES_SERVICE_HOST/PORT, and the ServiceAccount's
  // token, the cluster CA and its namespace in a directory.
  const auto& cluster = TestCluster::Get();
  const std::string sa = root_ + "/serviceaccount";
  fs::create_directories(sa);
  std::ofstream(sa + "/token") << TokenOf(cluster.pagoda_kubeconfig);
  fs::copy_file(cluster.dir + "/pki/ca.crt", sa + "/ca.crt");
  std::ofstream(sa + "/namespace") << "pagoda-system";
  std::smatch m;
  ASSERT_TRUE(std::regex_match(cluster.server, m, std::regex("https://([0-9.]+):([0-9]+)")))
      << cluster.server;
  WriteConfig("  test: {inCluster: true, serviceAccountDir: " + sa +
              "}\n  prod: {inCluster: true, serviceAccountDir: " + sa + "}\n");
  StartDaemon("KUBERNETES_SERVICE_HOST=" + std::string(m[1]) +
              " KUBERNETES_SERVICE_PORT=" + std::string(m[2]));
  const int port = Port();
  ASSERT_GT(port, 0);
  ASSERT_TRUE(Released("shop-web", "prod", Head()));
  ASSERT_TRUE(Released("orders", "test", Head()));
  EXPECT_TRUE(testing::WaitUntil([&] { return Ready(port); }, 10s));
  // And what the ServiceAccount wrote is there.
  std::string out;
  EXPECT_EQ(
      cluster.Kubectl({"get", "deployments", "-n", repo_.App("shop-web"), "-o", "name"}, &out), 0)
      << out;
  EXPECT_NE(out.find("deployment.apps/prod-"), std::string::npos) << out;
}

// `kubectl kustomize DIR`, as the administrator's kubectl renders it.
std::string Kustomize(const std::string& dir) {
  std::string out;
  EXPECT_EQ(
      TestCluster::Get().Kubectl({"kustomize", std::string(PAGODA_SOURCE_DIR) + "/" + dir}, &out),
      0)
      << out;
  return out;
}

TEST(DeployManifestsTest, TheKustomizationsPassTheApiServersValidation) {
  // As the administrator would apply them, kept by nothing (a server-side
  // dry run), the base and the example overlay.
  for (const char* dir : {"deploy", "examples/install"}) {
    const std::string rendered = Kustomize(dir);
    const std::string file =
        ::testing::TempDir() + "/pagoda-install-" + std::to_string(getpid()) + ".yaml";
    std::ofstream(file) << rendered;
    std::string out;
    EXPECT_EQ(
        TestCluster::Get().Kubectl(
            {"apply", "--server-side", "--force-conflicts", "--dry-run=server", "-f", file}, &out),
        0)
        << dir << ": " << out;
    std::remove(file.c_str());
    for (const char* object :
         {"namespace/pagoda-system", "serviceaccount/pagoda", "configmap/pagoda",
          "deployment.apps/pagoda", "service/pagoda", "poddisruptionbudget.policy/pagoda",
          "validatingadmissionpolicy.admissionregistration.k8s.io/pagoda-tenancy",
          "customresourcedefinition.apiextensions.k8s.io/releases.pagoda.dev",
          "role.rbac.authorization.k8s.io/pagoda-leases"}) {
      EXPECT_NE(out.find(std::string(object) + " serverside-applied"), std::string::npos)
          << dir << " lacks " << object << ":\n"
          << out;
    }
  }
  // The image is kustomize's to set, and an overlay sets it again.
  EXPECT_NE(Kustomize("deploy").find("image: registry.example.com/pagoda:"), std::string::npos);
  const std::string overlay = Kustomize("examples/install");
  EXPECT_NE(overlay.find("image: registry.example.com/platform/pagoda:"), std::string::npos)
      << overlay;
  // Several replicas, each with a state directory of its own, sharing the
  // apps out by shard: the history is in the cluster.
  EXPECT_NE(overlay.find("replicas: 2"), std::string::npos) << overlay;
  EXPECT_NE(overlay.find("shards: 4"), std::string::npos) << overlay;
  EXPECT_EQ(overlay.find("persistentVolumeClaim"), std::string::npos) << overlay;
  EXPECT_NE(overlay.find("podAntiAffinity"), std::string::npos) << overlay;
}

}  // namespace
}  // namespace pagoda
