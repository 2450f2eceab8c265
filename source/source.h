// The config repository as the daemon sees it: a bare clone in
// the state directory, fetched on demand from a local path, file://, http(s)
// (a token or password from a file or an environment variable) or ssh (a
// private key, the host key checked against known_hosts), tracking a branch,
// a tag or a fixed commit. Commits are read straight from the object
// database: their metadata, their tree as a manifest::FileSource, the tree id
// of any sub-path (an app whose tree id is unchanged need not be parsed again).
//
// It never checks out a working tree, never writes to the remote, never logs,
// never puts a secret in an error message (URLs are shown with their
// credentials stripped), and never lets an exception or a libgit2 error code
// out: every failure is a Status. Network failures are kUnavailable (worth a
// retry), rejected credentials and refused host keys kUnauthenticated, a
// missing ref or commit kNotFound.
//
// Thread-safe: one GitSource and the FileSources it hands out may be used
// from several threads; their calls on the clone are serialised inside.
//
// libgit2 1.5 has no network timeouts: a server that accepts a connection and
// then says nothing blocks Fetch(). Call it from a thread of its own.
#pragma once

#include <atomic>
#include <chrono>
#include <cstdint>
#include <iosfwd>
#include <memory>
#include <string>
#include <string_view>

#include "base/status.h"
#include "manifest/manifest.h"

namespace pagoda::source {

// A directory of the local filesystem. Symlinks are listed like files; reading
// one succeeds only when it resolves to a regular file inside `root`.
// Symlinked directories are not descended into.
std::unique_ptr<manifest::FileSource> NewDirectorySource(std::string root);

// What to track. Parse() reads the config's `ref:` value.
struct GitRef {
  enum class Kind {
    kName,    // "main": a branch of that name, else a tag of that name
    kBranch,  // "refs/heads/main"
    kTag,     // "refs/tags/v1.4"
    kCommit,  // 40 hex digits: a fixed commit, fetched once
  };
  Kind kind = Kind::kName;
  std::string name = "main";  // without refs/heads/ or refs/tags/; the id for kCommit

  // "" → the branch main. InvalidArgument for names git would refuse.
  static Result<GitRef> Parse(std::string_view text);
  std::string ToString() const;  // as Parse() reads it back
};

// Credentials. Secrets are read at each fetch (so a rotated token is picked
// up) and never kept in the clone's config.
struct GitAuth {
  // http(s): the user name sent with the secret; "git" when empty (token
  // hosts accept any). ssh: the login when the URL names none; "git" when empty.
  std::string username;
  // http(s): a token or password, the first line of this file...
  std::string secret_file;
  // ...or the value of this environment variable (when secret_file is empty).
  std::string secret_env;
  // ssh: the private key (OpenSSH or PEM format, no passphrase).
  std::string ssh_key_file;
  // ssh: host keys in OpenSSH known_hosts format (plain or hashed host names,
  // [host]:port, patterns, @revoked). A host that has keys there but shows
  // another key is always refused.
  std::string known_hosts_file;
  // ssh: trust a host that known_hosts does not list at all on first contact,
  // and remember its key in the clone (so a later change of key is refused).
  bool accept_unknown_hosts = false;
};

struct GitSourceOptions {
  std::string url;        // a local path, file://, http(s)://, ssh://, or user@host:path
  GitRef ref;             // default: branch, else tag, "main"
  std::string path;       // the sub-directory of the repository that holds apps/; "" = root
  std::string clone_dir;  // the bare clone, created on first use, e.g. <stateDir>/repo.git
  GitAuth auth;
  // Where Fetch() runs: "" in this process; else in a child process, this
  // program (pagoda itself: "/proc/self/exe") run as `PROGRAM internal-fetch`,
  // killed by its PID when it runs past fetch_timeout. libgit2 1.5 has no
  // network timeouts: a server that accepts and then says nothing, or stops
  // halfway through a pack, would otherwise block the fetch for good.
  std::string fetch_program;
  std::chrono::milliseconds fetch_timeout{std::chrono::minutes(2)};
};

struct CommitInfo {
  std::string id;        // 40 hex digits
  std::string short_id;  // the shortest unique prefix, at least 7 digits
  std::string author_name;
  std::string author_email;
  int64_t time = 0;             // author time, seconds since the epoch (UTC)
  int time_offset_minutes = 0;  // the author's UTC offset
  std::string summary;          // the first paragraph, on one line
  std::string message;          // the whole message
};

struct FetchResult {
  std::string commit;    // the tip now (a commit id, tags peeled)
  std::string previous;  // the tip before this fetch; "" when there was none
  bool moved = false;    // commit != previous
  // The previous tip is not an ancestor of the new one: history was
  // rewritten (a force push, a moved tag). The new tip is synced all the same.
  bool history_rewritten = false;
};

// The interface the reconcile loop uses, so that it can be driven by a fake.
class GitSource {
 public:
  virtual ~GitSource() = default;

  // Fetches the tracked ref from the remote and moves the local tip to it.
  // A fixed commit that is already in the clone is not fetched again. With a
  // fetch_program, bounded by fetch_timeout (then DeadlineExceeded), and the
  // other calls never wait for it.
  virtual Result<FetchResult> Fetch() = 0;

  // Ends a Fetch() in hand on another thread at once (its child is killed);
  // that Fetch() returns an error. Nothing when no fetch runs in a child.
  virtual void CancelFetch() {}

  // The tip as of the last successful Fetch() (of this or an earlier
  // process); NotFound before the first one. No network.
  virtual Result<std::string> Tip() const = 0;

  // A commit-ish as a user writes it for `pagoda rollback --to`: a full or
  // unique short id, a tag, a branch. NotFound when the clone does not have
  // it; InvalidArgument when a short id is ambiguous.
  virtual Result<std::string> ResolveCommit(std::string_view commitish) const = 0;

  virtual Result<CommitInfo> Commit(std::string_view id) const = 0;

  // Whether `ancestor` is `descendant` or one of its ancestors.
  virtual Result<bool> IsAncestor(std::string_view ancestor, std::string_view descendant) const = 0;

  // The files of commit `id` below the configured sub-directory, with paths
  // relative to it ("apps/shop/app.yaml"). Behaves like
  // manifest::NewDirectorySource, except that symlinks are never followed:
  // reading one is PermissionDenied. NotFound when the commit lacks the
  // sub-directory. The source stays valid after this GitSource is gone.
  virtual Result<std::unique_ptr<manifest::FileSource>> Files(std::string_view id) const = 0;

  // The id of the tree at `path` ("apps/shop"; "" for the sub-directory
  // itself) in commit `id`. Equal ids mean equal content. NotFound when there
  // is no directory at `path`.
  virtual Result<std::string> TreeId(std::string_view id, std::string_view path) const = 0;
};

// Opens (or on first use creates) the bare clone. No network: the first
// Fetch() talks to the remote. InvalidArgument for an unusable URL or options.
Result<std::unique_ptr<GitSource>> OpenGitSource(GitSourceOptions options);

// A fetch in a child process (options.fetch_program), bounded by
// options.fetch_timeout. `child`, when given, holds the child's PID while it
// runs (0 otherwise), so that another thread can end it.
Result<FetchResult> FetchInChild(const GitSourceOptions& options, std::atomic<int>* child);

// The child's side: reads a request from `in`, fetches in this process,
// writes the answer to `out`. Returns the exit code (0 fetched, 1 not).
// Sets this process to be killed with its parent, and fetches nothing when
// the parent that sent the request is gone already.
int ServeFetchRequest(std::istream& in, std::ostream& out);

}  // namespace pagoda::source
