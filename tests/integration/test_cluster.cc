#include "tests/integration/test_cluster.h"

#include <arpa/inet.h>
#include <gtest/gtest.h>
#include <netinet/in.h>
#include <poll.h>
#include <signal.h>
#include <sys/socket.h>
#include <sys/wait.h>
#include <unistd.h>

#include <atomic>
#include <cstdio>
#include <cstdlib>
#include <filesystem>
#include <fstream>
#include <iostream>
#include <map>
#include <random>
#include <thread>

namespace pagoda::testing {
namespace {

std::map<std::string, std::string> ReadEnvFile(const std::string& path) {
  std::map<std::string, std::string> vars;
  std::ifstream in(path);
  std::string line;
  while (std::getline(in, line)) {
    auto eq = line.find('=');
    if (eq != std::string::npos) vars[line.substr(0, eq)] = line.substr(eq + 1);
  }
  return vars;
}

kube::Credentials Load(const std::string& kubeconfig) {
  auto creds = kube::LoadKubeconfig({.paths = {kubeconfig}, .context = ""});
  if (!creds.ok()) {
    std::cerr << "cannot load " << kubeconfig << ": " << creds.status().ToString() << "\n";
    std::abort();
  }
  return *creds;
}

}  // namespace

const TestCluster& TestCluster::Get() {
  static const TestCluster cluster = [] {
    const char* dir = std::getenv("PAGODA_TEST_CLUSTER_DIR");
    if (dir == nullptr || *dir == '\0') {
      std::cerr << "PAGODA_TEST_CLUSTER_DIR is not set: run integration tests through ctest, "
                   "or start tests/cluster/up DIR and export PAGODA_TEST_CLUSTER_DIR=DIR\n";
      std::abort();
    }
    auto vars = ReadEnvFile(std::string(dir) + "/env");
    if (vars.empty()) {
      std::cerr << dir << "/env is missing: the test cluster is not up\n";
      std::abort();
    }
    TestCluster c;
    c.dir = dir;
    c.server = vars["PAGODA_TEST_SERVER"];
    c.admin_kubeconfig = vars["PAGODA_TEST_ADMIN_KUBECONFIG"];
    c.pagoda_kubeconfig = vars["PAGODA_TEST_PAGODA_KUBECONFIG"];
    c.kubectl = vars["PAGODA_TEST_KUBECTL"];
    c.audit_log = vars["PAGODA_TEST_AUDIT_LOG"];
    return c;
  }();
  return cluster;
}

kube::Credentials TestCluster::Admin() const { return Load(admin_kubeconfig); }
kube::Credentials TestCluster::Pagoda() const { return Load(pagoda_kubeconfig); }

int Run(const std::vector<std::string>& args, std::string* out) {
  int pipefd[2];
  if (pipe(pipefd) != 0) return -1;
  pid_t pid = fork();
  if (pid == 0) {
    dup2(pipefd[1], 1);
    dup2(pipefd[1], 2);
    close(pipefd[0]);
    close(pipefd[1]);
    std::vector<std::string> copy = args;
    std::vector<char*> argv;
    for (auto& a : copy) argv.push_back(a.data());
    argv.push_back(nullptr);
    execv(argv[0], argv.data());
    _exit(127);
  }
  close(pipefd[1]);
  std::string output;
  char buf[4096];
  ssize_t n;
  while ((n = read(pipefd[0], buf, sizeof buf)) > 0) output.append(buf, static_cast<size_t>(n));
  close(pipefd[0]);
  int status = 0;
  waitpid(pid, &status, 0);
  if (out != nullptr) *out = std::move(output);
  return WIFEXITED(status) ? WEXITSTATUS(status) : -1;
}

std::unique_ptr<kube::KubeClient> Connect(kube::Credentials creds) {
  auto client = kube::KubeClient::Connect(std::move(creds));
  if (!client.ok()) {
    ADD_FAILURE() << client.status().ToString();
    return nullptr;
  }
  return std::move(*client);
}

rapidjson::Document Json(const std::string& text) {
  rapidjson::Document doc;
  doc.Parse(text.c_str());
  EXPECT_FALSE(doc.HasParseError()) << text;
  return doc;
}

int TestCluster::Kubectl(const std::vector<std::string>& args, std::string* out) const {
  std::vector<std::string> full = {kubectl, "--kubeconfig=" + admin_kubeconfig};
  full.insert(full.end(), args.begin(), args.end());
  return Run(full, out);
}

ChildProcess::ChildProcess(const std::vector<std::string>& args) {
  int pipefd[2];
  if (pipe(pipefd) != 0) {
    ADD_FAILURE() << "pipe failed";
    return;
  }
  pid_ = fork();
  if (pid_ == 0) {
    dup2(pipefd[1], 1);
    close(pipefd[0]);
    close(pipefd[1]);
    std::vector<std::string> copy = args;
    std::vector<char*> argv;
    for (auto& a : copy) argv.push_back(a.data());
    argv.push_back(nullptr);
    execv(argv[0], argv.data());
    _exit(127);
  }
  close(pipefd[1]);
  out_ = pipefd[0];
}

ChildProcess::~ChildProcess() {
  if (out_ >= 0) close(out_);
  if (pid_ <= 0) return;
  kill(pid_, SIGTERM);
  for (int i = 0; i < 100; ++i) {
    if (waitpid(pid_, nullptr, WNOHANG) == pid_) return;
    std::this_thread::sleep_for(std::chrono::milliseconds(20));
  }
  kill(pid_, SIGKILL);
  waitpid(pid_, nullptr, 0);
}

bool ChildProcess::WaitForExit(std::chrono::milliseconds timeout, int* status) {
  auto deadline = std::chrono::steady_clock::now() + timeout;
  int ignored = 0;
  while (pid_ > 0) {
    if (waitpid(pid_, status != nullptr ? status : &ignored, WNOHANG) == pid_) {
      pid_ = -1;
      return true;
    }
    if (std::chrono::steady_clock::now() > deadline) return false;
    std::this_thread::sleep_for(std::chrono::milliseconds(10));
  }
  return true;
}

std::string ChildProcess::ReadLine(std::chrono::milliseconds timeout) {
  auto deadline = std::chrono::steady_clock::now() + timeout;
  while (true) {
    auto nl = buffer_.find('\n');
    if (nl != std::string::npos) {
      std::string line = buffer_.substr(0, nl);
      buffer_.erase(0, nl + 1);
      return line;
    }
    auto left = std::chrono::duration_cast<std::chrono::milliseconds>(
        deadline - std::chrono::steady_clock::now());
    if (left.count() <= 0 || out_ < 0) return "";
    pollfd pfd{out_, POLLIN, 0};
    if (poll(&pfd, 1, static_cast<int>(left.count())) <= 0) return "";
    char buf[4096];
    ssize_t n = read(out_, buf, sizeof buf);
    if (n <= 0) return "";
    buffer_.append(buf, static_cast<size_t>(n));
  }
}

std::string UniqueName(const std::string& prefix) {
  static std::atomic<int> counter{0};
  static std::mt19937 rng(std::random_device{}());
  std::uniform_int_distribution<int> dist(0, 0xffff);
  char suffix[64];
  std::snprintf(suffix, sizeof suffix, "-%d-%d-%04x", static_cast<int>(getpid()), counter++,
                dist(rng));
  return prefix + suffix;
}

ScopedNamespace::ScopedNamespace(const std::string& prefix, Labels labels)
    : name_(UniqueName(prefix)) {
  // Created with its labels in one request: the API server's admission sees
  // a namespace it has not cached yet by asking, and one it has cached with
  // the labels it was created with, never a label added a moment later.
  std::string object =
      R"({"apiVersion":"v1","kind":"Namespace","metadata":{"name":")" + name_ + R"("})";
  if (labels == Labels::kPagodas) {
    object = R"({"apiVersion":"v1","kind":"Namespace","metadata":{"name":")" + name_ +
             R"(","labels":{"app.kubernetes.io/managed-by":"pagoda","app.kubernetes.io/name":")" +
             name_ + R"("}}})";
  } else {
    object += "}";
  }
  const std::string path = std::filesystem::temp_directory_path() / (name_ + ".json");
  std::ofstream(path) << object;
  std::string out;
  int rc = TestCluster::Get().Kubectl({"create", "-f", path}, &out);
  std::filesystem::remove(path);
  if (rc != 0) ADD_FAILURE() << "kubectl create namespace " << name_ << ": " << out;
  if (rc != 0 || labels == Labels::kNone) return;
  // Ready once the API server's admission lets pagoda write in it.
  bool admitted = WaitUntil(
      [&] {
        return TestCluster::Get().Kubectl(
                   {"create", "configmap", "admission-probe", "-n", name_, "--dry-run=server",
                    "--as=system:serviceaccount:pagoda-system:pagoda"},
                   &out) == 0;
      },
      std::chrono::seconds(30));
  if (!admitted) ADD_FAILURE() << "pagoda may not write in " << name_ << ": " << out;
}

ScopedNamespace::~ScopedNamespace() {
  std::string out;
  TestCluster::Get().Kubectl({"delete", "namespace", name_, "--wait=false", "--ignore-not-found"},
                             &out);
}

bool WaitUntil(const std::function<bool()>& condition, std::chrono::milliseconds timeout) {
  auto deadline = std::chrono::steady_clock::now() + timeout;
  while (true) {
    if (condition()) return true;
    if (std::chrono::steady_clock::now() >= deadline) return false;
    std::this_thread::sleep_for(std::chrono::milliseconds(100));
  }
}

int FreePort() {
  int fd = socket(AF_INET, SOCK_STREAM, 0);
  sockaddr_in addr{};
  addr.sin_family = AF_INET;
  addr.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
  socklen_t len = sizeof addr;
  int port = -1;
  if (bind(fd, reinterpret_cast<sockaddr*>(&addr), len) == 0 &&
      getsockname(fd, reinterpret_cast<sockaddr*>(&addr), &len) == 0) {
    port = ntohs(addr.sin_port);
  }
  close(fd);
  return port;
}

}  // namespace pagoda::testing
