// The control socket with a real server on a temporary path.
#include "control/control.h"

#include <gtest/gtest.h>
#include <poll.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/un.h>
#include <unistd.h>

#include <algorithm>
#include <atomic>
#include <cstring>
#include <filesystem>
#include <fstream>
#include <thread>

namespace pagoda::control {
namespace {

namespace fs = std::filesystem;
using std::chrono::milliseconds;

// A raw client: connects, sends `bytes` (maybe no newline), then reads until
// EOF or `wait` passes. Returns what the server sent.
std::string RawExchange(const std::string& path, const std::string& bytes,
                        milliseconds wait = milliseconds(3000), bool shut_write = false) {
  int fd = ::socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0);
  sockaddr_un addr{};
  addr.sun_family = AF_UNIX;
  std::memcpy(addr.sun_path, path.data(), path.size());
  if (::connect(fd, reinterpret_cast<sockaddr*>(&addr), sizeof addr) != 0) {
    ::close(fd);
    return "connect failed";
  }
  size_t sent = 0;
  while (sent < bytes.size()) {
    ssize_t n = ::send(fd, bytes.data() + sent, bytes.size() - sent, MSG_NOSIGNAL);
    if (n <= 0) break;  // the server may close on an oversized request
    sent += static_cast<size_t>(n);
  }
  if (shut_write) ::shutdown(fd, SHUT_WR);
  std::string got;
  auto deadline = std::chrono::steady_clock::now() + wait;
  for (;;) {
    int left = static_cast<int>(
        std::chrono::duration_cast<milliseconds>(deadline - std::chrono::steady_clock::now())
            .count());
    if (left <= 0) break;
    pollfd p{fd, POLLIN, 0};
    if (::poll(&p, 1, left) <= 0) break;
    char buf[4096];
    ssize_t n = ::recv(fd, buf, sizeof buf, 0);
    if (n <= 0) break;
    got.append(buf, static_cast<size_t>(n));
  }
  ::close(fd);
  return got;
}

// A socket file nobody listens on, as a crashed daemon leaves it.
void MakeStaleSocket(const std::string& path) {
  int fd = ::socket(AF_UNIX, SOCK_STREAM, 0);
  sockaddr_un addr{};
  addr.sun_family = AF_UNIX;
  std::memcpy(addr.sun_path, path.data(), path.size());
  ASSERT_EQ(::bind(fd, reinterpret_cast<sockaddr*>(&addr), sizeof addr), 0);
  ::close(fd);
}

class ControlTest : public ::testing::Test {
 protected:
  void SetUp() override {
    static int counter = 0;
    dir_ = fs::temp_directory_path() /
           ("pagoda-ctl-" + std::to_string(::getpid()) + "-" + std::to_string(counter++));
    fs::remove_all(dir_);
    fs::create_directories(dir_);
    path_ = (dir_ / "control.sock").string();
  }
  void TearDown() override { fs::remove_all(dir_); }

  // Answers "echo" with its "text", "fail" with an error; counts calls.
  std::unique_ptr<ControlServer> StartEcho(ControlServer::Options options = {}) {
    auto server = ControlServer::Start(
        path_,
        [this](const rapidjson::Document& request) -> std::string {
          ++calls_;
          std::string command = request["command"].GetString();
          if (command == "echo") {
            return std::string(R"({"ok":true,"text":")") + request["text"].GetString() + "\"}";
          }
          if (command == "throw") throw std::runtime_error("boom");
          if (command == "garbage") return "this is not json";
          if (command == "pretty") return "{\n  \"ok\": true,\n  \"n\": 1\n}";
          if (command == "slow") {
            std::this_thread::sleep_for(milliseconds(500));
            return ControlOk();
          }
          return ControlError("unknown command '" + command + "'");
        },
        options);
    EXPECT_TRUE(server.ok()) << server.status().ToString();
    return server.ok() ? std::move(*server) : nullptr;
  }

  fs::path dir_;
  std::string path_;
  std::atomic<int> calls_{0};
};

TEST_F(ControlTest, RequestAndAnswer) {
  auto server = StartEcho();
  ASSERT_NE(server, nullptr);
  Result<rapidjson::Document> answer =
      ControlCall(path_, ControlRequest("echo", {{"text", "hello"}}), milliseconds(2000));
  ASSERT_TRUE(answer.ok()) << answer.status().ToString();
  EXPECT_TRUE((*answer)["ok"].GetBool());
  EXPECT_STREQ((*answer)["text"].GetString(), "hello");
  // Again: one request per connection, the server goes on.
  answer = ControlCall(path_, ControlRequest("echo", {{"text", "again"}}), milliseconds(2000));
  ASSERT_TRUE(answer.ok());
  EXPECT_STREQ((*answer)["text"].GetString(), "again");
  EXPECT_EQ(calls_, 2);
}

TEST_F(ControlTest, RequestHelpersWriteTheProtocol) {
  EXPECT_EQ(ControlRequest("rollback", {{"app", "shop"}, {"env", "prod"}, {"to", "r-000012"}}),
            R"({"command":"rollback","app":"shop","env":"prod","to":"r-000012"})");
  EXPECT_EQ(ControlRequest("status"), R"({"command":"status"})");
  EXPECT_EQ(ControlOk(), R"({"ok":true})");
  EXPECT_EQ(ControlError("say \"no\"\n"), R"({"ok":false,"error":"say \"no\"\n"})");
}

TEST_F(ControlTest, HandlerErrorsReachTheClient) {
  auto server = StartEcho();
  ASSERT_NE(server, nullptr);
  auto call = [&](const std::string& command) {
    Result<rapidjson::Document> answer =
        ControlCall(path_, ControlRequest(command), milliseconds(2000));
    EXPECT_TRUE(answer.ok()) << answer.status().ToString();
    EXPECT_FALSE((*answer)["ok"].GetBool());
    return std::string((*answer)["error"].GetString());
  };
  EXPECT_EQ(call("frobnicate"), "unknown command 'frobnicate'");
  EXPECT_EQ(call("throw"), "internal error: boom");
  EXPECT_EQ(call("garbage"),
            "internal error: the daemon's answer is not a JSON object with \"ok\"");
  // A multi-line answer still travels as one line.
  EXPECT_EQ(RawExchange(path_, ControlRequest("pretty") + "\n"), "{\"ok\":true,\"n\":1}\n");
}

TEST_F(ControlTest, GarbageIsAnsweredAndNeverReachesTheHandler) {
  auto server = StartEcho();
  ASSERT_NE(server, nullptr);
  EXPECT_EQ(RawExchange(path_, "hello\n"),
            "{\"ok\":false,\"error\":\"the request is not JSON: Invalid value. at offset 0\"}\n");
  EXPECT_EQ(RawExchange(path_, "[1,2]\n"),
            "{\"ok\":false,\"error\":\"the request is not a JSON object\"}\n");
  EXPECT_EQ(RawExchange(path_, "{\"command\":7}\n"),
            "{\"ok\":false,\"error\":\"the request has no \\\"command\\\" string\"}\n");
  std::string binary(300, '\0');
  for (size_t i = 0; i < binary.size(); ++i) binary[i] = static_cast<char>(i * 7 + 1);
  EXPECT_NE(RawExchange(path_, binary + "\n").find("\"ok\":false"), std::string::npos);
  EXPECT_NE(RawExchange(path_, std::string("{\"command\":\"echo\"\0}\n", 20)).find("\"ok\":false"),
            std::string::npos);
  // A client that connects and leaves at once gets nothing, and harms nothing.
  EXPECT_EQ(RawExchange(path_, "", milliseconds(3000), /*shut_write=*/true), "");
  // A request without a newline, then end of input, still counts.
  EXPECT_EQ(RawExchange(path_, ControlRequest("echo", {{"text", "x"}}), milliseconds(3000), true),
            "{\"ok\":true,\"text\":\"x\"}\n");
  EXPECT_EQ(calls_, 1);
  Result<rapidjson::Document> answer =
      ControlCall(path_, ControlRequest("echo", {{"text", "alive"}}), milliseconds(2000));
  ASSERT_TRUE(answer.ok());
  EXPECT_STREQ((*answer)["text"].GetString(), "alive");
}

TEST_F(ControlTest, OversizedRequestsAreRefused) {
  auto server = StartEcho();
  ASSERT_NE(server, nullptr);
  // Just under the limit: fine.
  std::string big(kMaxControlRequest - 100, 'a');
  Result<rapidjson::Document> answer =
      ControlCall(path_, ControlRequest("echo", {{"text", big}}), milliseconds(5000));
  ASSERT_TRUE(answer.ok()) << answer.status().ToString();
  EXPECT_EQ((*answer)["text"].GetStringLength(), big.size());
  // Over it: refused with a reason, whether or not a newline ever comes.
  std::string huge(kMaxControlRequest + 10, 'a');
  answer = ControlCall(path_, ControlRequest("echo", {{"text", huge}}), milliseconds(5000));
  ASSERT_TRUE(answer.ok()) << answer.status().ToString();
  EXPECT_FALSE((*answer)["ok"].GetBool());
  EXPECT_STREQ((*answer)["error"].GetString(), "request larger than 65536 bytes");
  EXPECT_EQ(RawExchange(path_, std::string(1 << 20, '{')),
            "{\"ok\":false,\"error\":\"request larger than 65536 bytes\"}\n");
  EXPECT_EQ(calls_, 1);
}

TEST_F(ControlTest, DeepNestingIsRefusedWithoutACrash) {
  ControlServer::Options options;
  options.max_request = 1 << 20;  // let 100,000 levels reach the parser
  auto server = StartEcho(options);
  ASSERT_NE(server, nullptr);
  const std::string refused =
      "{\"ok\":false,\"error\":\"the request is not JSON: nested deeper than 512 levels at offset "
      "512\"}\n";
  EXPECT_EQ(RawExchange(path_, std::string(100000, '[') + "\n"), refused);
  EXPECT_EQ(RawExchange(path_, std::string(100000, '[') + std::string(100000, ']') + "\n"),
            refused);
  std::string inside = R"({"command":"echo","text":)" + std::string(100000, '[');
  EXPECT_NE(RawExchange(path_, inside + "\n").find("nested deeper than 512 levels"),
            std::string::npos);
  EXPECT_EQ(calls_, 0);
  Result<rapidjson::Document> answer =
      ControlCall(path_, ControlRequest("echo", {{"text", "alive"}}), milliseconds(2000));
  ASSERT_TRUE(answer.ok()) << answer.status().ToString();
  EXPECT_STREQ((*answer)["text"].GetString(), "alive");
}

TEST_F(ControlTest, SilentClientsAreDropped) {
  EXPECT_EQ(ControlServer::Options().read_timeout, milliseconds(5000));
  ControlServer::Options options;
  options.read_timeout = milliseconds(200);
  auto server = StartEcho(options);
  ASSERT_NE(server, nullptr);
  auto start = std::chrono::steady_clock::now();
  // Half a request, then silence.
  std::string got = RawExchange(path_, "{\"command\":", milliseconds(3000));
  auto took = std::chrono::steady_clock::now() - start;
  EXPECT_EQ(got, "{\"ok\":false,\"error\":\"no complete request within 200 ms\"}\n");
  EXPECT_LT(took, milliseconds(2000));
  EXPECT_GE(took, milliseconds(190));
  // And the next client is served.
  Result<rapidjson::Document> answer =
      ControlCall(path_, ControlRequest("echo", {{"text", "next"}}), milliseconds(2000));
  ASSERT_TRUE(answer.ok());
  EXPECT_STREQ((*answer)["text"].GetString(), "next");
}

TEST_F(ControlTest, AnAnswerNoOneWaitsForIsCounted) {
  auto server = StartEcho();
  ASSERT_NE(server, nullptr);
  // The client asks and goes away before the answer comes.
  RawExchange(path_, ControlRequest("slow", {}) + "\n", milliseconds(50));
  const auto deadline = std::chrono::steady_clock::now() + milliseconds(3000);
  while (server->undelivered() == 0 && std::chrono::steady_clock::now() < deadline) {
    std::this_thread::sleep_for(milliseconds(10));
  }
  EXPECT_EQ(server->undelivered(), 1u);
  EXPECT_EQ(calls_, 1) << "what was asked was done";
  ASSERT_TRUE(ControlCall(path_, ControlRequest("echo", {{"text", "x"}}), milliseconds(2000)).ok());
  EXPECT_EQ(server->undelivered(), 1u) << "an answer taken is not counted";
}

TEST_F(ControlTest, NoDaemonIsUnavailableAndSaysSo) {
  Result<rapidjson::Document> answer =
      ControlCall(path_, ControlRequest("status"), milliseconds(1000));
  ASSERT_FALSE(answer.ok());
  EXPECT_EQ(answer.status().code(), Status::Code::kUnavailable);
  EXPECT_EQ(answer.status().message(), "no pagoda daemon is listening on " + path_);
  MakeStaleSocket(path_);
  answer = ControlCall(path_, ControlRequest("status"), milliseconds(1000));
  ASSERT_FALSE(answer.ok());
  EXPECT_EQ(answer.status().message(), "no pagoda daemon is listening on " + path_);
}

TEST_F(ControlTest, SlowAnswersMeetTheDeadline) {
  auto server = StartEcho();
  ASSERT_NE(server, nullptr);
  Result<rapidjson::Document> answer =
      ControlCall(path_, ControlRequest("slow"), milliseconds(100));
  ASSERT_FALSE(answer.ok());
  EXPECT_EQ(answer.status().code(), Status::Code::kDeadlineExceeded);
}

TEST_F(ControlTest, SocketIsOwnerOnlyWhateverTheUmask) {
  mode_t old = ::umask(0);
  auto server = StartEcho();
  ::umask(old);
  ASSERT_NE(server, nullptr);
  struct stat st {};
  ASSERT_EQ(::lstat(path_.c_str(), &st), 0);
  EXPECT_TRUE(S_ISSOCK(st.st_mode));
  EXPECT_EQ(st.st_mode & 07777, 0600u);
}

TEST_F(ControlTest, StaleSocketIsReplaced) {
  MakeStaleSocket(path_);
  auto server = StartEcho();
  ASSERT_NE(server, nullptr);
  Result<rapidjson::Document> answer =
      ControlCall(path_, ControlRequest("echo", {{"text", "fresh"}}), milliseconds(2000));
  ASSERT_TRUE(answer.ok()) << answer.status().ToString();
  EXPECT_STREQ((*answer)["text"].GetString(), "fresh");
}

TEST_F(ControlTest, SecondServerOnALiveSocketIsRefused) {
  auto first = StartEcho();
  ASSERT_NE(first, nullptr);
  auto second = ControlServer::Start(path_, [](const rapidjson::Document&) { return ControlOk(); });
  ASSERT_FALSE(second.ok());
  EXPECT_EQ(second.status().code(), Status::Code::kAlreadyExists);
  EXPECT_EQ(second.status().message(), "another pagoda daemon is listening on " + path_);
  // The first one is untouched.
  Result<rapidjson::Document> answer =
      ControlCall(path_, ControlRequest("echo", {{"text", "first"}}), milliseconds(2000));
  ASSERT_TRUE(answer.ok());
  EXPECT_STREQ((*answer)["text"].GetString(), "first");
  // Stopping removes the file; a new server starts.
  first.reset();
  EXPECT_FALSE(fs::exists(fs::symlink_status(path_)));
  EXPECT_NE(StartEcho(), nullptr);
}

TEST_F(ControlTest, SomethingElseAtThePathIsLeftAlone) {
  std::ofstream(path_) << "precious";
  auto server = ControlServer::Start(path_, [](const rapidjson::Document&) { return ControlOk(); });
  ASSERT_FALSE(server.ok());
  EXPECT_EQ(server.status().code(), Status::Code::kInvalidArgument);
  std::ifstream in(path_);
  EXPECT_EQ(std::string(std::istreambuf_iterator<char>(in), {}), "precious");
  EXPECT_FALSE(ControlServer::Start(std::string(200, 'x'), nullptr).ok());
}

TEST_F(ControlTest, StoppingDoesNotWaitForASilentClient) {
  auto server = StartEcho();
  ASSERT_NE(server, nullptr);
  std::thread client([&] { RawExchange(path_, "", milliseconds(3000)); });
  std::this_thread::sleep_for(milliseconds(100));
  auto start = std::chrono::steady_clock::now();
  server.reset();
  EXPECT_LT(std::chrono::steady_clock::now() - start, milliseconds(1000));
  client.join();
}

// ---- The status document ----

StatusDocument SampleStatus() {
  StatusDocument s;
  s.time = 1714557600000;
  s.commit = {"3f2a9c1d00000000000000000000000000000000", "shop-web: image 1.4.3"};
  s.repo = {"https://deploy:s3cret@git.example.com/apps.git", "main", 1714557598000,
            "fetch: connection refused"};
  StatusDocument::Environment prod;
  prod.app = "shop-web";
  prod.env = "prod";
  prod.cluster = "prod";
  prod.revision = "7d9f8c2b1a";
  prod.commit = "3f2a9c1d00000000000000000000000000000000";
  prod.health = StatusDocument::Health::kProgressing;
  prod.ready = 2;
  prod.replicas = 4;
  prod.release = "r-000012";
  prod.release_phase = "held";
  prod.batches_done = 1;
  prod.batches_total = 2;
  prod.held_seconds = 95;
  prod.pinned = StatusDocument::Pin{"1b2c3d4", 1714554000000};
  prod.frozen = StatusDocument::Freeze{"double-eleven", 1714608000000};
  prod.waiting = StatusDocument::Wait{"test", "soaking", 720, 1800};
  StatusDocument::Environment orders;
  orders.app = "orders";
  orders.env = "test";
  orders.health = StatusDocument::Health::kDegraded;
  orders.drift = true;
  orders.error = "apps/orders/envs/test.yaml:3:1: bad";
  s.environments = {prod, orders};
  return s;
}

TEST(StatusDocumentTest, JsonIsTheAgreedShape) {
  EXPECT_EQ(
      SampleStatus().ToJson(),
      R"({"time":"2024-05-01T10:00:00.000Z",)"
      R"("commit":{"id":"3f2a9c1d00000000000000000000000000000000","summary":"shop-web: image 1.4.3"},)"
      R"("repo":{"url":"https://git.example.com/apps.git","ref":"main",)"
      R"("lastFetch":"2024-05-01T09:59:58.000Z","error":"fetch: connection refused"},)"
      R"("environments":[)"
      R"({"app":"orders","env":"test","cluster":"","revision":"","commit":"","health":"degraded",)"
      R"("ready":0,"replicas":0,"drift":true,"release":null,"pinned":null,"frozen":null,)"
      R"("waiting":null,"error":"apps/orders/envs/test.yaml:3:1: bad"},)"
      R"({"app":"shop-web","env":"prod","cluster":"prod","revision":"7d9f8c2b1a",)"
      R"("commit":"3f2a9c1d00000000000000000000000000000000","health":"progressing",)"
      R"("ready":2,"replicas":4,"drift":false,"release":"r-000012",)"
      R"("releasePhase":"held","batchesDone":1,"batches":2,"heldSeconds":95,)"
      R"("pinned":{"commit":"1b2c3d4","since":"2024-05-01T09:00:00.000Z"},)"
      R"("frozen":{"window":"double-eleven","until":"2024-05-02T00:00:00.000Z"},)"
      R"("waiting":{"for":"test","reason":"soaking","soakedSeconds":720,"soakSeconds":1800},)"
      R"("error":null}]})");
  StatusDocument empty;
  EXPECT_EQ(empty.ToJson(),
            R"({"time":"1970-01-01T00:00:00.000Z","commit":null,"repo":{"url":"","ref":""},)"
            R"("environments":[]})");
}

TEST(StatusDocumentTest, RoundTrips) {
  StatusDocument s = SampleStatus();
  s.repo.url = "ssh://git@git.example.com/apps.git";  // nothing to redact
  Result<StatusDocument> back = StatusDocument::Parse(s.ToJson());
  ASSERT_TRUE(back.ok()) << back.status().ToString();
  std::swap(s.environments[0], s.environments[1]);  // written sorted
  EXPECT_EQ(*back, s);
  Result<StatusDocument> empty = StatusDocument::Parse(StatusDocument().ToJson());
  ASSERT_TRUE(empty.ok()) << empty.status().ToString();
}

TEST(StatusDocumentTest, LeadershipMirrorAndStandbyRoundTrip) {
  StatusDocument s = SampleStatus();
  s.repo.url = "ssh://git@git.example.com/apps.git";
  s.leadership =
      StatusDocument::Leadership{"pagoda-0-x1y2z",
                                 {"pagoda-0-x1y2z", "pagoda-1-a9b8c"},
                                 {{0, "pagoda-shard-0", "pagoda-0-x1y2z", 1714557000000, true},
                                  {1, "pagoda-shard-1", "", 0, false}},
                                 ""};
  s.mirror = StatusDocument::Mirror{3, 1714557500000, "release r-000012: unavailable"};
  s.environments[1].standby = true;
  const std::string json = s.ToJson();
  EXPECT_NE(
      json.find(R"("leadership":{"identity":"pagoda-0-x1y2z","replicas":["pagoda-0-x1y2z",)"
                R"("pagoda-1-a9b8c"],"shards":[{"index":0,"lease":"pagoda-shard-0",)"
                R"("holder":"pagoda-0-x1y2z","since":"2024-05-01T09:50:00.000Z","mine":true},)"
                R"({"index":1,"lease":"pagoda-shard-1","holder":null,"mine":false}]})"),
      std::string::npos)
      << json;
  EXPECT_NE(json.find(R"("mirror":{"waiting":3,"oldest":"2024-05-01T09:58:20.000Z",)"),
            std::string::npos)
      << json;
  EXPECT_NE(json.find(R"("standby":true)"), std::string::npos) << json;
  Result<StatusDocument> back = StatusDocument::Parse(json);
  ASSERT_TRUE(back.ok()) << back.status().ToString();
  std::swap(s.environments[0], s.environments[1]);  // written sorted
  EXPECT_EQ(*back, s);
}

TEST(StatusDocumentTest, SecretsInTheRepoUrlAreNeverWritten) {
  StatusDocument s;
  for (const auto& [url, shown] : std::vector<std::pair<std::string, std::string>>{
           {"https://user:pw@host/a.git", "https://host/a.git"},
           {"https://ghp_token@host/a.git", "https://host/a.git"},
           {"ssh://git@host/a.git", "ssh://git@host/a.git"},
           {"ssh://git:pw@host/a.git", "ssh://git@host/a.git"},
           {"git@host:a.git", "git@host:a.git"},
           {"https://host/a@b.git", "https://host/a@b.git"},
           {"/srv/repo", "/srv/repo"}}) {
    s.repo.url = url;
    Result<StatusDocument> back = StatusDocument::Parse(s.ToJson());
    ASSERT_TRUE(back.ok());
    EXPECT_EQ(back->repo.url, shown) << url;
  }
}

TEST(StatusDocumentTest, ParseNamesWhatIsWrong) {
  auto error = [](std::string_view json) {
    Result<StatusDocument> doc = StatusDocument::Parse(json);
    return doc.ok() ? std::string("ok") : doc.status().message();
  };
  EXPECT_EQ(error("[]"), "status document: not a JSON object");
  EXPECT_EQ(error("{"), "status document: not JSON: Missing a name for object member. at offset 1");
  EXPECT_EQ(error(R"({"environments":[{"app":"a","env":"b","health":"great"}]})"),
            "status document: environments[0].health: health 'great' is not one of healthy, "
            "progressing, degraded, unknown");
  EXPECT_EQ(error(R"({"environments":[{"app":"a"}]})"),
            "status document: environments[0].env: missing");
  EXPECT_EQ(error(R"({"time":"yesterday"})"),
            "status document: time: 'yesterday' is not a UTC time like 2024-05-01T10:00:00.000Z");
  EXPECT_EQ(error(R"({"environments":[{"app":"a","env":"b","pinned":{"since":"x"}}]})"),
            "status document: environments[0].pinned.commit: missing");
  EXPECT_EQ(error(R"({"environments":[{"app":"a","env":"b","ready":"4"}]})"),
            "status document: environments[0].ready: not an integer");
  EXPECT_EQ(error(R"({"future":1,"environments":[]})"), "ok");
  EXPECT_EQ(error(std::string(100000, '[')),
            "status document: not JSON: nested deeper than 512 levels at offset 512");
}

TEST(StatusDocumentTest, StatusFileIsWrittenWholeAndPrivate) {
  fs::path dir = fs::temp_directory_path() / ("pagoda-status-" + std::to_string(::getpid()));
  fs::create_directories(dir);
  std::string path = (dir / "status.json").string();
  EXPECT_EQ(ReadStatusFile(path).status().code(), Status::Code::kNotFound);
  ASSERT_TRUE(WriteStatusFile(path, SampleStatus()).ok());
  StatusDocument changed = SampleStatus();
  changed.environments.pop_back();
  ASSERT_TRUE(WriteStatusFile(path, changed).ok());
  Result<StatusDocument> back = ReadStatusFile(path);
  ASSERT_TRUE(back.ok()) << back.status().ToString();
  changed.repo.url = "https://git.example.com/apps.git";
  EXPECT_EQ(*back, changed);
  struct stat st {};
  ASSERT_EQ(::stat(path.c_str(), &st), 0);
  EXPECT_EQ(st.st_mode & 0777, 0600u);
  EXPECT_EQ(std::distance(fs::directory_iterator(dir), fs::directory_iterator()), 1);
  EXPECT_FALSE(WriteStatusFile((dir / "missing/status.json").string(), changed).ok());
  fs::remove_all(dir);
}

TEST(StatusDocumentTest, StatusFileIsWrittenWhenItChangesOrAgesAndRetriedWhenAWriteFailed) {
  fs::path dir = fs::temp_directory_path() / ("pagoda-status-file-" + std::to_string(::getpid()));
  fs::create_directories(dir);
  StatusFile file((dir / "status.json").string(), /*max_age_ms=*/60'000);
  StatusDocument doc = SampleStatus();
  ASSERT_TRUE(file.Update(doc).ok());
  EXPECT_EQ(file.writes(), 1);

  doc.time += 5'000;  // the same state, later: not written again
  ASSERT_TRUE(file.Update(doc).ok());
  EXPECT_EQ(file.writes(), 1);
  EXPECT_EQ(ReadStatusFile((dir / "status.json").string())->time, SampleStatus().time);

  doc.environments.front().ready += 1;  // a change: written at once
  ASSERT_TRUE(file.Update(doc).ok());
  EXPECT_EQ(file.writes(), 2);
  auto written = ReadStatusFile((dir / "status.json").string());
  ASSERT_TRUE(written.ok());
  auto prod = std::find_if(written->environments.begin(), written->environments.end(),
                           [](const auto& e) { return e.app == "shop-web"; });
  ASSERT_NE(prod, written->environments.end());
  EXPECT_EQ(prod->ready, doc.environments.front().ready);

  doc.time += 60'000;  // unchanged, but as old as max_age: written for its time
  ASSERT_TRUE(file.Update(doc).ok());
  EXPECT_EQ(file.writes(), 3);
  EXPECT_EQ(ReadStatusFile((dir / "status.json").string())->time, doc.time);

  // A write that fails is not taken for written.
  fs::remove_all(dir);
  doc.environments.front().ready += 1;
  EXPECT_FALSE(file.Update(doc).ok());
  fs::create_directories(dir);
  doc.time += 1;
  ASSERT_TRUE(file.Update(doc).ok());
  EXPECT_EQ(ReadStatusFile((dir / "status.json").string())->time, doc.time);
  EXPECT_EQ(file.writes(), 4);
  fs::remove_all(dir);
}

}  // namespace
}  // namespace pagoda::control
