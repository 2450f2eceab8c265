// The control socket: how the command line reaches the running
// daemon. A Unix stream socket at DaemonConfig::SocketPath()
// (`<stateDir>/control.sock`), owner-only (mode 0600), so that whoever can
// talk to the daemon can already read its state directory.
//
// Protocol: the client connects, sends one line of JSON (a request), the
// server answers one line of JSON and closes. Requests are
//
//   {"command": NAME, …arguments}
//
// and every answer is `{"ok":true, …}` or `{"ok":false,"error":"message"}`.
// The commands and their answers (the daemon's handler implements them):
//
//   {"command":"status"}
//       → {"ok":true,"status":STATUS}          STATUS: a StatusDocument, below
//   {"command":"sync-now"}
//       → {"ok":true}                          a fetch and a full reconcile are queued
//   {"command":"rollback","app":"shop-web","env":"prod","to":"3f2a9c1"}   (a commit,
//       full or abbreviated, or a release id "r-000012")
//       → {"ok":true,"release":"r-000013"}     the release started; the environment
//                                              is pinned until the repo moves past it
//   {"command":"unpin","app":"shop-web","env":"prod"}
//       → {"ok":true}
//   {"command":"pause"|"resume"|"abort","id":"r-000012"}   (batched releases)
//       → {"ok":true}
//   {"command":"override","app":"shop-web","env":"prod","by":"ada","reason":"…"}
//       → {"ok":true}                          its next release passes a freeze window
//   {"command":"promote","app":"shop-web","env":"prod","by":"ada","reason":"…"}
//       → {"ok":true}                          its next release skips its promotion wait
//
// An unknown command, a missing argument, or anything the daemon refuses is
// `{"ok":false,"error":"…"}` with a message for a person.
//
// Bounds: a request is at most kMaxControlRequest bytes and must arrive within
// the read timeout (5 s) or the connection is dropped; input that is not a
// JSON object with a string "command" is answered with an error and never
// reaches the handler. Nothing a client sends can crash the server.
#pragma once

#include <rapidjson/document.h>

#include <atomic>
#include <chrono>
#include <cstdint>
#include <functional>
#include <initializer_list>
#include <memory>
#include <optional>
#include <string>
#include <string_view>
#include <thread>
#include <utility>
#include <vector>

#include "base/status.h"
#include "journal/record.h"

namespace pagoda::control {

// The journal's vocabulary, as this module speaks it.
using journal::FormatTime;
using journal::ParseTime;
using journal::TimeMs;

// ---- The status document -------------------------------------------------------

// What the daemon knows about every environment: the answer to "status", and
// the file it writes to DaemonConfig::StatusPath() after each reconcile cycle
// so that `pagoda status` can show the last known state when the daemon is
// down. Its JSON, keys in this order (times RFC 3339 UTC as in record.h):
//
//   {"time":"2024-05-01T10:00:00.000Z",
//    "commit":{"id":"3f2a9c1…","summary":"shop-web: image 1.4.3"},   null before the first fetch
//    "repo":{"url":"https://git.example.com/apps.git","ref":"main",
//            "lastFetch":"2024-05-01T09:59:58.000Z",                 absent before the first fetch
//            "error":"fetch: connection refused"},                   absent when the last fetch
//            worked
//    "environments":[
//      {"app":"shop-web","env":"prod","cluster":"prod",
//       "revision":"7d9f8c2b1a","commit":"3f2a9c1…",                  live revision and its commit
//       "health":"healthy",                       healthy | progressing | degraded | unknown
//       "ready":4,"replicas":4,"drift":false,
//       "release":"r-000012",                     the release in flight, or null; with it
//       "releasePhase":"held","batchesDone":1,"batches":2,"heldSeconds":95,
//       "pinned":{"commit":"1b2c3d4…","since":"2024-05-01T09:00:00.000Z"},   or null
//       "frozen":{"window":"double-eleven","until":"2024-11-12T00:00:00.000Z"},  or null:
//                                                 automatic releases wait for it
//       "waiting":{"for":"test","reason":"soaking","soakedSeconds":720,"soakSeconds":1800},
//                                                 or null: a new revision waits for the
//                                                 environment its promotion follows
//       "error":null}]}                           the environment's last error, or null
//
// Environments are written sorted by app, then env. A password or token in
// the repo URL ("https://user:secret@host/…") is never written: ToJson()
// writes the URL through RedactUrl() (base/url.h), "https://host/…".
struct StatusDocument {
  enum class Health { kHealthy, kProgressing, kDegraded, kUnknown };

  struct Pin {
    std::string commit;
    TimeMs since = 0;
    friend bool operator==(const Pin&, const Pin&) = default;
  };

  struct Freeze {
    std::string window;  // its name, or why every release waits (a freeze file with errors)
    TimeMs until = 0;    // 0: until the freeze file loads
    friend bool operator==(const Freeze&, const Freeze&) = default;
  };

  struct Wait {
    std::string after;   // the environment it waits for
    std::string reason;  // "soaking", "test has not run this revision", …
    int soaked_seconds = 0;
    int soak_seconds = 0;
    friend bool operator==(const Wait&, const Wait&) = default;
  };

  struct Environment {
    std::string app;
    std::string env;
    std::string cluster;
    std::string revision;  // "" when nothing runs yet
    std::string commit;    // the commit the live revision was released from
    Health health = Health::kUnknown;
    int ready = 0;
    int replicas = 0;
    bool drift = false;
    std::string release;  // "" = none in flight
    // running | at gate (its gates are asked) | held | rolling back | failed (held after a failure)
    std::string release_phase;
    int batches_done = 0;  // of the release in flight
    int batches_total = 0;
    int held_seconds = 0;          // how long it has been held
    std::optional<Pin> pinned;     // set after `pagoda rollback`, until unpinned
    std::optional<Freeze> frozen;  // a freeze window its automatic releases wait for
    std::optional<Wait> waiting;   // a promotion a new revision waits for
    bool standby = false;          // another replica leads its app (ha)
    std::string error;             // "" = none
    friend bool operator==(const Environment&, const Environment&) = default;
  };

  TimeMs time = 0;
  struct Commit {
    std::string id;  // "" before the first fetch
    std::string summary;
    friend bool operator==(const Commit&, const Commit&) = default;
  } commit;
  struct Repo {
    std::string url;
    std::string ref;
    TimeMs last_fetch = 0;
    std::string error;
    friend bool operator==(const Repo&, const Repo&) = default;
  } repo;
  // Why the daemon's journal cannot be written now ("" when it can):
  // releases that need it wait until it can.
  std::string journal_error;
  // With several replicas (ha): who this one is, which are live, and who
  // holds each shard's Lease since when.
  struct Leadership {
    std::string identity;
    std::vector<std::string> replicas;
    struct Shard {
      int index = 0;
      std::string lease;
      std::string holder;  // "" = nobody
      TimeMs since = 0;    // when the holder acquired it
      bool mine = false;   // held and taken up by this replica
      friend bool operator==(const Shard&, const Shard&) = default;
    };
    std::vector<Shard> shards;
    std::string error;  // "" = none
    friend bool operator==(const Leadership&, const Leadership&) = default;
  };
  std::optional<Leadership> leadership;
  // The release records mirrored into the clusters: how many wait, since
  // when, and why the last write failed.
  struct Mirror {
    int waiting = 0;
    TimeMs oldest = 0;
    std::string error;  // "" = none
    friend bool operator==(const Mirror&, const Mirror&) = default;
  };
  std::optional<Mirror> mirror;
  std::vector<Environment> environments;

  std::string ToJson() const;  // compact, one line
  // InvalidArgument naming the field when `json` is not a status document.
  // Unknown keys are ignored (a newer daemon may add some).
  static Result<StatusDocument> Parse(std::string_view json);
  static Result<StatusDocument> FromJson(const rapidjson::Value& value);

  friend bool operator==(const StatusDocument&, const StatusDocument&) = default;
};

std::string_view Name(StatusDocument::Health health);  // "healthy", …
Result<StatusDocument::Health> ParseHealth(std::string_view name);

// Writes the document to `path` atomically (a temporary file in the same
// directory, fsync'd, renamed over it), mode 0600, so a reader never sees a
// torn file.
Status WriteStatusFile(const std::string& path, const StatusDocument& status);
// NotFound when the daemon never wrote one.
Result<StatusDocument> ReadStatusFile(const std::string& path);

// The daemon's status file, written (WriteStatusFile) only when the document
// differs from the last one written in more than its time, or that one is
// `max_age_ms` old: at 10,000 environments a write is megabytes and two
// fsyncs, and the daemon publishes after every step. So the file's `time`
// lags the daemon's by at most `max_age_ms` while nothing else changes.
class StatusFile {
 public:
  StatusFile(std::string path, TimeMs max_age_ms) : path_(std::move(path)), max_age_(max_age_ms) {}
  // Writes `doc` when due; a failed write is tried again at the next call.
  Status Update(const StatusDocument& doc);
  int writes() const { return writes_; }

 private:
  std::string path_;
  TimeMs max_age_;
  std::optional<StatusDocument> written_;  // the last document written
  int writes_ = 0;
};

// ---- Requests and answers -------------------------------------------------------

inline constexpr size_t kMaxControlRequest = 64 * 1024;

// {"command":COMMAND,"key":"value",…}: a request line, without its newline.
std::string ControlRequest(
    std::string_view command,
    std::initializer_list<std::pair<std::string_view, std::string_view>> arguments = {});
// {"ok":true} and {"ok":false,"error":MESSAGE}.
std::string ControlOk();
std::string ControlError(std::string_view message);

// ---- The server (in the daemon) ------------------------------------------------

class ControlServer {
 public:
  // Gets each request (a JSON object whose "command" is a string) and returns
  // the answer: one JSON object, "ok" first. Runs on a thread of the
  // connection's own, several at once: it must be thread-safe. An exception or an answer that is
  // not a JSON object becomes {"ok":false,"error":"internal error: …"}.
  using Handler = std::function<std::string(const rapidjson::Document& request)>;

  struct Options {
    std::chrono::milliseconds read_timeout{5000};  // the whole request must arrive within it
    std::chrono::milliseconds write_timeout{5000};
    size_t max_request = kMaxControlRequest;
    size_t max_connections = 8;  // served at once, each on a thread of its own
  };

  // Listens on `path`, mode 0600. When `path` is a socket another process
  // listens on: AlreadyExists ("another pagoda daemon is listening on PATH").
  // A socket nobody listens on (left by a crash) is replaced. Anything else
  // at `path` is left alone: InvalidArgument.
  static Result<std::unique_ptr<ControlServer>> Start(const std::string& path, Handler handler);
  static Result<std::unique_ptr<ControlServer>> Start(const std::string& path, Handler handler,
                                                      Options options);

  // Stops accepting, drops a connection in hand, joins the thread and removes
  // the socket file.
  ~ControlServer();

  ControlServer(const ControlServer&) = delete;
  ControlServer& operator=(const ControlServer&) = delete;

  const std::string& path() const { return path_; }

  // How many answers did not reach their client whole: it went away first,
  // took longer than the write timeout to read, or the server was stopping.
  // What was asked was done all the same; this says only that the asker
  // does not know.
  uint64_t undelivered() const { return undelivered_.load(); }

 private:
  ControlServer(std::string path, int listen_fd, int wake_read, int wake_write, Handler handler,
                Options options);
  void Run();
  void ServeOnAThreadOfItsOwn(int fd);
  void Serve(int fd);
  // The request line, or nullopt when the connection is to be dropped (or the
  // server stops); `*answer` is set when the client is to be told why.
  std::optional<std::string> ReadRequest(int fd, std::string* answer);
  void WriteAnswer(int fd, std::string answer);  // counts an undelivered one
  std::string Answer(const std::string& line);

  std::string path_;
  std::atomic<uint64_t> undelivered_{0};
  int listen_fd_;
  int wake_read_;
  int wake_write_;
  Handler handler_;
  Options options_;
  std::pair<uint64_t, uint64_t> inode_;  // the socket file's device and inode
  std::atomic<bool> stopping_{false};
  std::thread thread_;
  // The connections being served; only the accepting thread touches the list.
  struct Worker {
    std::thread thread;
    std::shared_ptr<std::atomic<bool>> done;
  };
  std::vector<Worker> workers_;
};

// ---- The client (the command line) ---------------------------------------------

// Sends one request line and returns the daemon's answer, `{"ok":false}` ones
// included. Unavailable "no pagoda daemon is listening on PATH" when nothing
// listens (no socket file, or a stale one); PermissionDenied when the socket
// belongs to another user; DeadlineExceeded when no full answer comes within
// `timeout`; Internal when the answer is not a JSON object.
Result<rapidjson::Document> ControlCall(const std::string& path, const std::string& request_json,
                                        std::chrono::milliseconds timeout);

}  // namespace pagoda::control
