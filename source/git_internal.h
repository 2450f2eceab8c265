// Internal to the Git source: the shared libgit2 repository handle, error
// conversion, and the remote callbacks (credentials, host keys).
#pragma once

#include <git2.h>

#include <memory>
#include <mutex>
#include <string>
#include <string_view>
#include <utility>

#include "base/status.h"
#include "source/source.h"

namespace pagoda::source::git {

// Initialises libgit2 once per process (never shut down: other threads may
// still hold objects at exit).
void InitOnce();

// The open bare clone, shared by the GitSource and every FileSource it made.
// Every libgit2 call on `repo` holds `mu`.
struct Repo {
  std::mutex mu;
  git_repository* repo = nullptr;
  ~Repo() { git_repository_free(repo); }
};

// RAII for libgit2 objects: Owned<git_tree, git_tree_free> t; git_x(&t.p, ...)
template <typename T, void (*Free)(T*)>
struct Owned {
  T* p = nullptr;
  Owned() = default;
  Owned(const Owned&) = delete;
  Owned& operator=(const Owned&) = delete;
  ~Owned() {
    if (p != nullptr) Free(p);
  }
  T** out() { return &p; }
};

// A Status for a failed libgit2 call `rc`, from git_error_last(): `what` says
// what was being done ("read tree of 3f2a…"). kNotFound for GIT_ENOTFOUND,
// kIOError for the filesystem, kInternal otherwise.
Status Error(int rc, std::string_view what);

// One fetch into a clone at a time, across processes: an exclusive flock
// on the clone's kFetchLockFile, held for the fetch. The file says
// "fetching" while one runs, so finding it so when the lock is taken means
// the last fetch's process was killed halfway (a daemon killed while its
// fetch child ran, or the child killed at its deadline); what that fetch
// left in the clone is removed then, before this one begins. Blocks while
// another process holds the lock.
inline constexpr char kFetchLockFile[] = "pagoda-fetch";
class FetchLock {
 public:
  static Result<FetchLock> Take(const std::string& clone_dir);
  FetchLock(FetchLock&& other) noexcept;
  FetchLock& operator=(FetchLock&&) = delete;
  ~FetchLock();  // the fetch ended: clears the mark, releases the lock

 private:
  FetchLock() = default;
  int fd_ = -1;
};

// What a fetch that was killed may leave in `clone_dir`: libgit2's lock
// files and the temporary files of a pack it was receiving. Only for the
// holder of the FetchLock.
void RemoveLeftovers(const std::string& clone_dir);

std::string OidHex(const git_oid& oid);
// Parses a full 40-digit id; InvalidArgument otherwise.
Result<git_oid> ParseOid(std::string_view hex);

// The remote's host and port as known_hosts names them (ssh and scp-style).
struct SshHost {
  std::string host;
  int port = 22;
};
// Empty host for URLs that are not ssh.
SshHost ParseSshHost(std::string_view url);

// State for one remote operation, passed as the callbacks' payload. The
// callbacks record why they refused, so the caller can give the right code
// rather than libgit2's generic one.
struct RemoteSession {
  const GitAuth* auth = nullptr;
  std::string url;            // as configured (may carry credentials)
  SshHost ssh;                // for the host key check
  std::string learned_hosts;  // the clone's own file of trusted-on-first-use keys
  std::string secret;         // read for this operation; scrubbed from messages
  int secret_attempts = 0;    // credentials handed out
  Status refusal;             // set by a callback that refused
};

// Fills `callbacks` to use `session`.
void SetCallbacks(RemoteSession* session, git_remote_callbacks* callbacks);

// A Status for a failed remote operation: the callbacks' refusal when there
// was one, else the libgit2 error classified (network → kUnavailable, …).
// The message names the redacted URL and never holds the secret.
Status RemoteError(const RemoteSession& session, int rc, std::string_view what);

// A known_hosts check: OK when `key` (the SSH wire form of a host key, of
// libgit2's `type`) is listed for `host` in `known_hosts` (the file's
// content); kNotFound when the host is not listed at all; kUnauthenticated
// when it is listed with other keys only (of any type), or the key is
// @revoked. Hashed names and the verdict are libssh2's; patterns, markers
// and case are made plain for it first.
Status CheckHostKey(std::string_view known_hosts, const SshHost& host, std::string_view key,
                    git_cert_ssh_raw_type_t type);

}  // namespace pagoda::source::git
