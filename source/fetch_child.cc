// A fetch in a child process, ended when it runs past its deadline.
//
// Why a child: libgit2 1.5 has no network timeout, and a server that accepts
// a connection and then says nothing (or stops halfway through a pack)
// blocks the calling thread in a read for as long as the kernel keeps the
// socket. A custom socket stream with SO_RCVTIMEO (git_stream_register) would
// bound plain and TLS connections, but libgit2's ssh transport takes the
// registered stream for its own socket stream type (GIT_CONTAINER_OF) and
// hands the descriptor to libssh2, so a stream of ours there is memory
// corruption. A transfer-progress callback with a watchdog cannot end a read
// that never returns. A child process can always be ended: SIGKILL by its PID,
// and the parent, which holds no lock of the clone meanwhile, goes on. What
// a killed fetch may leave in the clone (lock files, a half-written pack) is
// removed by the next one (git::FetchLock).
//
// The child dies with the process that asked for it: a daemon killed while
// its fetch runs must not leave a fetch writing into a clone that a new
// daemon, or someone clearing the state directory, takes over.
#include <fcntl.h>
#include <poll.h>
#include <rapidjson/document.h>
#include <rapidjson/stringbuffer.h>
#include <rapidjson/writer.h>
#include <signal.h>
#include <spawn.h>
#include <sys/prctl.h>
#include <sys/wait.h>
#include <unistd.h>

#include <cerrno>
#include <chrono>
#include <cstring>
#include <istream>
#include <iterator>
#include <ostream>

#include "base/url.h"
#include "source/source.h"

extern char** environ;

namespace pagoda::source {
namespace {

using Clock = std::chrono::steady_clock;
using Writer = rapidjson::Writer<rapidjson::StringBuffer>;

void Field(Writer& w, const char* key, const std::string& value) {
  w.Key(key);
  w.String(value.c_str(), static_cast<rapidjson::SizeType>(value.size()));
}

// The options a child needs, without secrets: files and variable names only.
std::string RequestJson(const GitSourceOptions& o) {
  rapidjson::StringBuffer buffer;
  Writer w(buffer);
  w.StartObject();
  Field(w, "url", o.url);
  Field(w, "ref", o.ref.ToString());
  Field(w, "path", o.path);
  Field(w, "cloneDir", o.clone_dir);
  Field(w, "username", o.auth.username);
  Field(w, "secretFile", o.auth.secret_file);
  Field(w, "secretEnv", o.auth.secret_env);
  Field(w, "sshKeyFile", o.auth.ssh_key_file);
  Field(w, "knownHostsFile", o.auth.known_hosts_file);
  w.Key("acceptUnknownHosts");
  w.Bool(o.auth.accept_unknown_hosts);
  w.Key("parent");
  w.Int64(::getpid());
  w.EndObject();
  return buffer.GetString();
}

std::string Get(const rapidjson::Value& doc, const char* key) {
  auto it = doc.FindMember(key);
  return it != doc.MemberEnd() && it->value.IsString() ? it->value.GetString() : "";
}

bool GetBool(const rapidjson::Value& doc, const char* key) {
  auto it = doc.FindMember(key);
  return it != doc.MemberEnd() && it->value.IsBool() && it->value.GetBool();
}

Result<GitSourceOptions> ParseRequest(const std::string& text) {
  rapidjson::Document doc;
  doc.Parse<rapidjson::kParseIterativeFlag>(text.c_str(), text.size());
  if (doc.HasParseError() || !doc.IsObject()) {
    return Status::InvalidArgument("a fetch request is one JSON object");
  }
  // The asker's PID, checked once this process is set to die with its
  // parent: a parent gone before that has made another process our parent.
  auto parent = doc.FindMember("parent");
  if (parent == doc.MemberEnd() || !parent->value.IsInt64()) {
    return Status::InvalidArgument("a fetch request names its parent's PID");
  }
  if (parent->value.GetInt64() != ::getppid()) {
    return Status::Unavailable("the process that asked for this fetch (PID " +
                               std::to_string(parent->value.GetInt64()) +
                               ") is gone; nothing fetched");
  }
  GitSourceOptions o;
  o.url = Get(doc, "url");
  auto ref = GitRef::Parse(Get(doc, "ref"));
  if (!ref.ok()) return ref.status();
  o.ref = *ref;
  o.path = Get(doc, "path");
  o.clone_dir = Get(doc, "cloneDir");
  o.auth.username = Get(doc, "username");
  o.auth.secret_file = Get(doc, "secretFile");
  o.auth.secret_env = Get(doc, "secretEnv");
  o.auth.ssh_key_file = Get(doc, "sshKeyFile");
  o.auth.known_hosts_file = Get(doc, "knownHostsFile");
  o.auth.accept_unknown_hosts = GetBool(doc, "acceptUnknownHosts");
  return o;
}

std::string AnswerJson(const Result<FetchResult>& fetched) {
  rapidjson::StringBuffer buffer;
  Writer w(buffer);
  w.StartObject();
  w.Key("ok");
  w.Bool(fetched.ok());
  if (fetched.ok()) {
    Field(w, "commit", fetched->commit);
    Field(w, "previous", fetched->previous);
    w.Key("moved");
    w.Bool(fetched->moved);
    w.Key("historyRewritten");
    w.Bool(fetched->history_rewritten);
  } else {
    w.Key("code");
    w.Int(static_cast<int>(fetched.status().code()));
    Field(w, "message", fetched.status().message());
  }
  w.EndObject();
  return buffer.GetString();
}

Result<FetchResult> ParseAnswer(const std::string& text) {
  rapidjson::Document doc;
  doc.Parse<rapidjson::kParseIterativeFlag>(text.c_str(), text.size());
  if (doc.HasParseError() || !doc.IsObject() || !doc.HasMember("ok")) {
    return Status::Internal("the fetch process answered something that is not its answer");
  }
  if (!GetBool(doc, "ok")) {
    int code = doc.HasMember("code") && doc["code"].IsInt() ? doc["code"].GetInt() : 0;
    if (code <= 0 || code > static_cast<int>(Status::Code::kInternal)) {
      code = static_cast<int>(Status::Code::kInternal);
    }
    return Status::FromCode(static_cast<Status::Code>(code), Get(doc, "message"));
  }
  FetchResult r;
  r.commit = Get(doc, "commit");
  r.previous = Get(doc, "previous");
  r.moved = GetBool(doc, "moved");
  r.history_rewritten = GetBool(doc, "historyRewritten");
  return r;
}

struct Pipe {
  int fd[2] = {-1, -1};
  ~Pipe() {
    for (int f : fd) {
      if (f >= 0) ::close(f);
    }
  }
  void Close(int end) {
    if (fd[end] >= 0) ::close(fd[end]);
    fd[end] = -1;
  }
};

// "2m", "30s", "1500ms".
std::string Spoken(std::chrono::milliseconds d) {
  const int64_t ms = d.count();
  if (ms > 0 && ms % 60000 == 0) return std::to_string(ms / 60000) + "m";
  if (ms % 1000 == 0) return std::to_string(ms / 1000) + "s";
  return std::to_string(ms) + "ms";
}

Status Errno(const std::string& what) {
  return Status::IOError(what + ": " + std::strerror(errno));
}

// Writes `request` to the child, reads its answer until it closes stdout,
// all by `deadline`. Returns false when the deadline passed first.
bool Converse(int to_child, int from_child, const std::string& request, Clock::time_point deadline,
              std::string* answer) {
  // A child that is gone before it read its request makes the write fail with
  // EPIPE; the signal that comes with it is caught here, not by the process.
  sigset_t pipe_signal, old;
  sigemptyset(&pipe_signal);
  sigaddset(&pipe_signal, SIGPIPE);
  pthread_sigmask(SIG_BLOCK, &pipe_signal, &old);
  size_t written = 0;
  while (written < request.size()) {
    ssize_t n = ::write(to_child, request.data() + written, request.size() - written);
    if (n < 0 && errno == EINTR) continue;
    if (n <= 0) break;  // the child went away; its answer (or exit) says why
    written += static_cast<size_t>(n);
  }
  const timespec now{0, 0};
  while (sigtimedwait(&pipe_signal, nullptr, &now) == SIGPIPE) {
  }
  pthread_sigmask(SIG_SETMASK, &old, nullptr);
  ::close(to_child);
  for (;;) {
    auto left = std::chrono::duration_cast<std::chrono::milliseconds>(deadline - Clock::now());
    if (left.count() <= 0) return false;
    pollfd p{from_child, POLLIN, 0};
    int ready = ::poll(&p, 1, static_cast<int>(std::min<int64_t>(left.count(), 1000)));
    if (ready < 0 && errno == EINTR) continue;
    if (ready <= 0) continue;
    char buffer[4096];
    ssize_t n = ::read(from_child, buffer, sizeof buffer);
    if (n < 0 && errno == EINTR) continue;
    if (n <= 0) return true;
    answer->append(buffer, static_cast<size_t>(n));
  }
}

// Waits for `pid` until `deadline`; false when it is still running then.
bool Reap(pid_t pid, Clock::time_point deadline, int* status) {
  for (;;) {
    pid_t done = ::waitpid(pid, status, WNOHANG);
    if (done == pid || (done < 0 && errno != EINTR)) return true;
    if (Clock::now() >= deadline) return false;
    ::usleep(5000);
  }
}

}  // namespace

Result<FetchResult> FetchInChild(const GitSourceOptions& options, std::atomic<int>* child) {
  Pipe in, out;
  if (::pipe2(in.fd, O_CLOEXEC) != 0 || ::pipe2(out.fd, O_CLOEXEC) != 0) return Errno("pipe");
  posix_spawn_file_actions_t actions;
  posix_spawn_file_actions_init(&actions);
  posix_spawn_file_actions_adddup2(&actions, in.fd[0], STDIN_FILENO);
  posix_spawn_file_actions_adddup2(&actions, out.fd[1], STDOUT_FILENO);
  std::string program = options.fetch_program;
  std::string verb = "internal-fetch";
  char* argv[] = {program.data(), verb.data(), nullptr};
  pid_t pid = -1;
  int rc = ::posix_spawn(&pid, program.c_str(), &actions, nullptr, argv, environ);
  posix_spawn_file_actions_destroy(&actions);
  if (rc != 0) {
    errno = rc;
    return Errno("starting " + program + " to fetch");
  }
  if (child != nullptr) child->store(pid);
  in.Close(0);
  out.Close(1);
  const auto deadline = Clock::now() + options.fetch_timeout;
  std::string answer;
  bool answered = Converse(in.fd[1], out.fd[0], RequestJson(options), deadline, &answer);
  in.fd[1] = -1;  // closed by Converse
  int status = 0;
  bool exited = answered && Reap(pid, deadline, &status);
  if (!exited) ::kill(pid, SIGKILL);
  if (!exited) Reap(pid, Clock::time_point::max(), &status);
  if (child != nullptr) child->store(0);
  if (!exited) {
    return Status::DeadlineExceeded("fetching " + RedactUrl(options.url) +
                                    " did not finish within " + Spoken(options.fetch_timeout) +
                                    " (fetchTimeout); the server stopped answering");
  }
  if (WIFSIGNALED(status)) {
    return Status::Unavailable("fetching " + RedactUrl(options.url) + " was ended by signal " +
                               std::to_string(WTERMSIG(status)));
  }
  return ParseAnswer(answer);
}

int ServeFetchRequest(std::istream& in, std::ostream& out) {
  // Killed when the thread that started this process ends; it waits for
  // this process, so that is when the process it belongs to dies.
  if (::prctl(PR_SET_PDEATHSIG, SIGKILL) != 0) {
    out << AnswerJson(Errno("set to end with the daemon")) << "\n";
    return 1;
  }
  std::string request((std::istreambuf_iterator<char>(in)), std::istreambuf_iterator<char>());
  Result<FetchResult> fetched = [&]() -> Result<FetchResult> {
    auto options = ParseRequest(request);
    if (!options.ok()) return options.status();
    auto source = OpenGitSource(*options);  // fetch_program empty: in this process
    if (!source.ok()) return source.status();
    return (*source)->Fetch();
  }();
  out << AnswerJson(fetched) << "\n";
  out.flush();
  return fetched.ok() ? 0 : 1;
}

}  // namespace pagoda::source
