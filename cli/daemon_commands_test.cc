// The commands that talk to the daemon (status, sync-now, rollback, unpin,
// pause, resume, abort), run as the built `pagoda` binary against a
// ControlServer standing in for the daemon, and without one.
#include "cli/history_test_fixture.h"

namespace pagoda::cli::test {
namespace {

StatusDocument SampleStatus() {
  StatusDocument s;
  s.time = kT0;
  s.commit = {"2222222bbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbb", "shop-web: image 1.4.3"};
  s.repo = {"https://git.example.com/apps.git", "main", kT0 - 2000, ""};
  StatusDocument::Environment prod;
  prod.app = "shop-web";
  prod.env = "prod";
  prod.cluster = "prod";
  prod.revision = "7d9f8c2b1a";
  prod.commit = "2222222bbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbb";
  prod.health = StatusDocument::Health::kHealthy;
  prod.ready = 4;
  prod.replicas = 4;
  prod.pinned = StatusDocument::Pin{"1111111aaaa", kT0 - 3'600'000};
  StatusDocument::Environment orders;
  orders.app = "orders";
  orders.env = "prod";
  orders.cluster = "prod";
  orders.health = StatusDocument::Health::kDegraded;
  orders.replicas = 1;
  orders.drift = true;
  orders.release = "r-000002";
  orders.error = "0 of 1 instances Ready";
  s.environments = {orders, prod};
  return s;
}

const char* kStatusTable =
    "commit  2222222 shop-web: image 1.4.3\n"
    "repo    https://git.example.com/apps.git (main), fetched 2024-05-01T09:59:58Z\n"
    "\n"
    "APP/ENV        CLUSTER  REVISION    COMMIT   HEALTH        DRIFT  RELEASE   PINNED        "
    "                      ERROR\n"
    "orders/prod    prod     -           -        degraded 0/1  yes    r-000002  -             "
    "                      0 of 1 instances Ready\n"
    "shop-web/prod  prod     7d9f8c2b1a  2222222  healthy 4/4   no     -         1111111 since "
    "2024-05-01T09:00:00Z  -\n";

TEST_F(HistoryTest, StatusWhenNoDaemonRunsShowsTheLastKnownState) {
  Invocation run = Pagoda("status");
  EXPECT_EQ(run.code, 3);
  EXPECT_EQ(run.out, "");
  EXPECT_EQ(run.err, "pagoda: no pagoda daemon is listening on " + Socket() +
                         "\npagoda: daemon not running; no last known state in " +
                         state_.StatusPath() + "\n");

  ASSERT_TRUE(WriteStatusFile(state_.StatusPath(), SampleStatus()).ok());
  run = Pagoda("status");
  EXPECT_EQ(run.code, 3);
  EXPECT_EQ(run.out,
            std::string("daemon not running; last known state from 2024-05-01T10:00:00Z\n\n") +
                kStatusTable);
  run = Pagoda("status --json");
  EXPECT_EQ(run.code, 3);
  EXPECT_EQ(run.out, SampleStatus().ToJson() + "\n");
  EXPECT_NE(run.err.find("daemon not running; last known state from 2024-05-01T10:00:00Z"),
            std::string::npos);
}

// A ControlServer standing in for the daemon: records the requests, answers
// from a table.
class FakeDaemon {
 public:
  explicit FakeDaemon(const std::string& path) {
    auto server = ControlServer::Start(path, [this](const rapidjson::Document& request) {
      std::lock_guard<std::mutex> lock(mu_);
      rapidjson::StringBuffer buffer;
      rapidjson::Writer<rapidjson::StringBuffer> writer(buffer);
      request.Accept(writer);
      requests_.push_back(buffer.GetString());
      std::string command = request["command"].GetString();
      auto it = answers_.find(command);
      return it == answers_.end() ? ControlError("unknown command '" + command + "'") : it->second;
    });
    EXPECT_TRUE(server.ok()) << server.status().ToString();
    if (server.ok()) server_ = std::move(*server);
  }
  void Answer(const std::string& command, const std::string& answer) {
    std::lock_guard<std::mutex> lock(mu_);
    answers_[command] = answer;
  }
  std::vector<std::string> requests() {
    std::lock_guard<std::mutex> lock(mu_);
    return requests_;
  }

 private:
  std::mutex mu_;
  std::map<std::string, std::string> answers_;
  std::vector<std::string> requests_;
  std::unique_ptr<ControlServer> server_;
};

TEST_F(HistoryTest, StatusAsksTheDaemon) {
  // An older status.json must not be shown when the daemon answers.
  StatusDocument old = SampleStatus();
  old.commit.summary = "stale";
  ASSERT_TRUE(WriteStatusFile(state_.StatusPath(), old).ok());
  FakeDaemon daemon(Socket());
  daemon.Answer("status", R"({"ok":true,"status":)" + SampleStatus().ToJson() + "}");
  Invocation run = Pagoda("status");
  EXPECT_EQ(run.code, 0) << run.err;
  EXPECT_EQ(run.out, kStatusTable);
  run = Pagoda("status --json");
  EXPECT_EQ(run.code, 0);
  EXPECT_EQ(run.out, SampleStatus().ToJson() + "\n");
  EXPECT_EQ(daemon.requests(),
            (std::vector<std::string>{R"({"command":"status"})", R"({"command":"status"})"}));

  daemon.Answer("status", R"({"ok":true,"status":{"environments":7}})");
  run = Pagoda("status");
  EXPECT_EQ(run.code, 3);
  EXPECT_EQ(run.err, "pagoda: status document: environments: not a list\n");
  daemon.Answer("status", ControlError("starting up"));
  run = Pagoda("status");
  EXPECT_EQ(run.code, 1);
  EXPECT_EQ(run.err, "pagoda: the daemon refused: starting up\n");
}

// ---- sync-now, rollback, unpin ----

TEST_F(HistoryTest, ControlCommandsAndTheirExitCodes) {
  // No daemon: 3, and says so.
  for (const std::string args :
       {"sync-now", "rollback shop-web/prod --to r-000001", "unpin shop-web/prod"}) {
    Invocation run = Pagoda(args);
    EXPECT_EQ(run.code, 3) << args;
    EXPECT_EQ(run.err, "pagoda: no pagoda daemon is listening on " + Socket() + "\n") << args;
  }

  FakeDaemon daemon(Socket());
  daemon.Answer("sync-now", ControlOk());
  daemon.Answer("rollback", R"({"ok":true,"release":"r-000013"})");
  daemon.Answer("unpin", ControlOk());

  Invocation run = Pagoda("sync-now");
  EXPECT_EQ(run.code, 0) << run.err;
  EXPECT_EQ(run.out, "sync requested: the daemon fetches and reconciles every environment\n");

  run = Pagoda("rollback shop-web/prod --to 1111111");
  EXPECT_EQ(run.code, 0) << run.err;
  EXPECT_EQ(run.out,
            "rollback of shop-web/prod to 1111111: release r-000013\n"
            "shop-web/prod is pinned: auto-sync holds for it until the repository moves past it "
            "or `pagoda unpin shop-web/prod`\n");
  run = Pagoda("rollback shop-web/prod --to r-000001 --json");
  EXPECT_EQ(run.code, 0);
  EXPECT_EQ(run.out, "{\"ok\":true,\"release\":\"r-000013\"}\n");

  run = Pagoda("unpin orders/prod");
  EXPECT_EQ(run.code, 0) << run.err;
  EXPECT_EQ(run.out, "orders/prod unpinned: auto-sync resumes\n");

  EXPECT_EQ(daemon.requests(),
            (std::vector<std::string>{
                R"({"command":"sync-now"})",
                R"({"command":"rollback","app":"shop-web","env":"prod","to":"1111111"})",
                R"({"command":"rollback","app":"shop-web","env":"prod","to":"r-000001"})",
                R"({"command":"unpin","app":"orders","env":"prod"})"}));

  // Refused: 1 with the daemon's message.
  daemon.Answer("rollback", ControlError("commit 9999999 is not in the repository"));
  run = Pagoda("rollback shop-web/prod --to 9999999");
  EXPECT_EQ(run.code, 1);
  EXPECT_EQ(run.out, "");
  EXPECT_EQ(run.err, "pagoda: the daemon refused: commit 9999999 is not in the repository\n");
  daemon.Answer("unpin", ControlError("shop-web/test is not pinned"));
  run = Pagoda("unpin shop-web/test --json");
  EXPECT_EQ(run.code, 1);
  EXPECT_EQ(run.out, "{\"ok\":false,\"error\":\"shop-web/test is not pinned\"}\n");

  // Usage: 2, and nothing sent.
  size_t sent = daemon.requests().size();
  EXPECT_EQ(Pagoda("rollback shop-web --to 1111111").code, 2);
  EXPECT_EQ(Pagoda("rollback shop-web/prod/x --to 1111111").code, 2);
  EXPECT_EQ(Pagoda("rollback shop-web/prod").code, 2);
  EXPECT_EQ(Pagoda("unpin /prod").code, 2);
  EXPECT_EQ(daemon.requests().size(), sent);
}

}  // namespace
}  // namespace pagoda::cli::test
