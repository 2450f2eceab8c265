// The Git source: the bare clone, fetching the tracked ref, and reading
// commits from the object database.
#include <signal.h>
#include <sys/stat.h>

#include <cstdlib>
#include <filesystem>
#include <mutex>
#include <system_error>
#include <utility>
#include <vector>

#include "base/file.h"
#include "base/url.h"
#include "source/git_internal.h"
#include "source/git_tree_source.h"
#include "source/source.h"

namespace pagoda::source {
namespace git {

void InitOnce() {
  static std::once_flag once;
  std::call_once(once, [] {
    git_libgit2_init();
    // The clone lives in the state directory; a crash must not leave it torn.
    git_libgit2_opts(GIT_OPT_ENABLE_FSYNC_GITDIR, 1);
    // Trees are kept in libgit2's object cache up to 4 KiB by default: the
    // tree of apps/ at thousands of apps is far larger, and a load would
    // inflate and parse it again for every file it reads. Cached whole, with
    // the cache itself bounded well below libgit2's default of 256 MiB.
    git_libgit2_opts(GIT_OPT_SET_CACHE_OBJECT_LIMIT, GIT_OBJECT_TREE, size_t{4} << 20);
    git_libgit2_opts(GIT_OPT_SET_CACHE_MAX_SIZE, ssize_t{32} << 20);
  });
}

Status Error(int rc, std::string_view what) {
  const git_error* error = git_error_last();
  std::string message =
      std::string(what) + ": " +
      (error != nullptr && error->message != nullptr ? std::string(error->message)
                                                     : "libgit2 error " + std::to_string(rc));
  if (rc == GIT_ENOTFOUND) return Status::NotFound(message);
  if (rc == GIT_EAMBIGUOUS) return Status::InvalidArgument(message);
  int klass = error != nullptr ? error->klass : GIT_ERROR_NONE;
  if (klass == GIT_ERROR_OS || klass == GIT_ERROR_FILESYSTEM) return Status::IOError(message);
  if (klass == GIT_ERROR_ODB || klass == GIT_ERROR_ZLIB || klass == GIT_ERROR_OBJECT) {
    return Status::Corruption(message);
  }
  return Status::Internal(message);
}

std::string OidHex(const git_oid& oid) {
  std::string hex(GIT_OID_HEXSZ, '0');
  git_oid_fmt(hex.data(), &oid);
  return hex;
}

Result<git_oid> ParseOid(std::string_view hex) {
  git_oid oid;
  if (hex.size() != GIT_OID_HEXSZ || git_oid_fromstrn(&oid, hex.data(), hex.size()) < 0) {
    return Status::InvalidArgument("'" + std::string(hex) + "' is not a full commit id");
  }
  return oid;
}

}  // namespace git

namespace {

using git::Error;
using git::OidHex;
using git::Owned;
using CommitObj = Owned<git_commit, git_commit_free>;
using Tree = Owned<git_tree, git_tree_free>;
using TreeEntry = Owned<git_tree_entry, git_tree_entry_free>;
using Object = Owned<git_object, git_object_free>;
using Reference = Owned<git_reference, git_reference_free>;
using Remote = Owned<git_remote, git_remote_free>;

constexpr const char* kTipRef = "refs/pagoda/tip";
constexpr const char* kLearnedHosts = "pagoda_known_hosts";

bool IsHex(std::string_view s) {
  for (char c : s) {
    if (!((c >= '0' && c <= '9') || (c >= 'a' && c <= 'f') || (c >= 'A' && c <= 'F'))) return false;
  }
  return true;
}

// The first line of a secret, without trailing whitespace.
std::string FirstLine(std::string text) {
  text = text.substr(0, text.find('\n'));
  while (!text.empty() && (text.back() == '\r' || text.back() == ' ' || text.back() == '\t')) {
    text.pop_back();
  }
  return text;
}

class GitSourceImpl : public GitSource {
 public:
  GitSourceImpl(GitSourceOptions options, std::shared_ptr<git::Repo> repo)
      : options_(std::move(options)), repo_(std::move(repo)) {}
  ~GitSourceImpl() override { CancelFetch(); }

  Result<FetchResult> Fetch() override {
    if (!options_.fetch_program.empty()) return FetchInChild(options_, &child_);
    std::lock_guard lock(repo_->mu);
    Result<git::FetchLock> fetching = git::FetchLock::Take(options_.clone_dir);
    if (!fetching.ok()) return fetching.status().WithContext("the clone's fetch lock");
    git::RemoteSession session;
    session.auth = &options_.auth;
    session.url = options_.url;
    session.ssh = git::ParseSshHost(options_.url);
    session.learned_hosts = options_.clone_dir + "/" + kLearnedHosts;
    PAGODA_RETURN_IF_ERROR(ReadSecret(&session.secret));

    FetchResult result;
    Result<git_oid> previous = TipLocked();
    if (previous.ok()) {
      result.previous = OidHex(*previous);
    } else if (previous.status().code() != Status::Code::kNotFound) {
      return previous.status();
    }

    Result<git_oid> tip =
        options_.ref.kind == GitRef::Kind::kCommit ? FetchCommit(&session) : FetchRef(&session);
    if (!tip.ok()) return tip.status();
    Reference ref;
    if (int rc = git_reference_create(ref.out(), repo_->repo, kTipRef, &*tip, 1, "pagoda fetch");
        rc < 0) {
      return Error(rc, "record the tip in the clone");
    }
    result.commit = OidHex(*tip);
    result.moved = result.commit != result.previous;
    if (result.moved && previous.ok()) {
      int rc = git_graph_descendant_of(repo_->repo, &*tip, &*previous);
      if (rc < 0) return Error(rc, "compare " + result.previous + " with " + result.commit);
      result.history_rewritten = rc == 0;
    }
    return result;
  }

  void CancelFetch() override {
    if (int pid = child_.load(); pid > 0) ::kill(pid, SIGKILL);
  }

  Result<std::string> Tip() const override {
    std::lock_guard lock(repo_->mu);
    Result<git_oid> tip = TipLocked();
    if (!tip.ok()) return tip.status();
    return OidHex(*tip);
  }

  Result<std::string> ResolveCommit(std::string_view commitish) const override {
    if (commitish.empty() || commitish.front() == '-') {
      return Status::InvalidArgument("'" + std::string(commitish) + "' is not a commit");
    }
    std::lock_guard lock(repo_->mu);
    std::string spec(commitish);
    Object object;
    if (int rc = git_revparse_single(object.out(), repo_->repo, spec.c_str()); rc < 0) {
      if (rc == GIT_EAMBIGUOUS) {
        return Status::InvalidArgument("'" + spec + "' is ambiguous: give more digits");
      }
      if (rc == GIT_ENOTFOUND || rc == GIT_EINVALIDSPEC) {
        return Status::NotFound("no commit, tag or branch '" + spec + "' in the clone of " +
                                RedactUrl(options_.url));
      }
      return Error(rc, "resolve '" + spec + "'");
    }
    Object commit;
    if (git_object_peel(commit.out(), object.p, GIT_OBJECT_COMMIT) < 0) {
      return Status::InvalidArgument("'" + spec + "' does not name a commit");
    }
    return OidHex(*git_object_id(commit.p));
  }

  Result<CommitInfo> Commit(std::string_view id) const override {
    std::lock_guard lock(repo_->mu);
    CommitObj commit;
    PAGODA_RETURN_IF_ERROR(LookupCommit(id, &commit));
    CommitInfo info;
    info.id = OidHex(*git_commit_id(commit.p));
    git_buf short_id = GIT_BUF_INIT;
    if (int rc = git_object_short_id(&short_id, reinterpret_cast<git_object*>(commit.p)); rc < 0) {
      return Error(rc, "shorten " + info.id);
    }
    info.short_id.assign(short_id.ptr, short_id.size);
    git_buf_dispose(&short_id);
    if (const git_signature* author = git_commit_author(commit.p); author != nullptr) {
      info.author_name = author->name != nullptr ? author->name : "";
      info.author_email = author->email != nullptr ? author->email : "";
      info.time = author->when.time;
      info.time_offset_minutes = author->when.offset;
    }
    const char* summary = git_commit_summary(commit.p);
    info.summary = summary != nullptr ? summary : "";
    const char* message = git_commit_message(commit.p);
    info.message = message != nullptr ? message : "";
    return info;
  }

  Result<bool> IsAncestor(std::string_view ancestor, std::string_view descendant) const override {
    std::lock_guard lock(repo_->mu);
    CommitObj a, d;
    PAGODA_RETURN_IF_ERROR(LookupCommit(ancestor, &a));
    PAGODA_RETURN_IF_ERROR(LookupCommit(descendant, &d));
    if (git_oid_equal(git_commit_id(a.p), git_commit_id(d.p))) return true;
    int rc = git_graph_descendant_of(repo_->repo, git_commit_id(d.p), git_commit_id(a.p));
    if (rc < 0) return Error(rc, "walk the history of " + std::string(descendant));
    return rc == 1;
  }

  Result<std::unique_ptr<manifest::FileSource>> Files(std::string_view id) const override {
    std::lock_guard lock(repo_->mu);
    Result<git_oid> tree = RootTree(id);
    if (!tree.ok()) return tree.status();
    return git::NewTreeSource(repo_, *tree);
  }

  Result<std::string> TreeId(std::string_view id, std::string_view path) const override {
    std::lock_guard lock(repo_->mu);
    Result<git_oid> root = RootTree(id);
    if (!root.ok()) return root.status();
    std::string sub(path);
    while (!sub.empty() && sub.back() == '/') sub.pop_back();
    if (sub.empty()) return OidHex(*root);
    Tree tree;
    if (int rc = git_tree_lookup(tree.out(), repo_->repo, &*root); rc < 0) {
      return Error(rc, "read tree " + OidHex(*root));
    }
    TreeEntry entry;
    if (git_tree_entry_bypath(entry.out(), tree.p, sub.c_str()) < 0 ||
        git_tree_entry_type(entry.p) != GIT_OBJECT_TREE) {
      return Status::NotFound(sub + ": no such directory in commit " + std::string(id));
    }
    return OidHex(*git_tree_entry_id(entry.p));
  }

 private:
  Status ReadSecret(std::string* secret) const {
    const GitAuth& auth = options_.auth;
    if (!auth.secret_file.empty()) {
      Result<std::string> content = pagoda::ReadFile(auth.secret_file, 64u << 10);
      if (!content.ok()) {
        return Status::Unauthenticated("cannot read the secret for " + RedactUrl(options_.url) +
                                       ": " + content.status().message());
      }
      *secret = FirstLine(*content);
    } else if (!auth.secret_env.empty()) {
      const char* value = std::getenv(auth.secret_env.c_str());
      if (value == nullptr) {
        return Status::Unauthenticated("cannot read the secret for " + RedactUrl(options_.url) +
                                       ": environment variable " + auth.secret_env + " is not set");
      }
      *secret = FirstLine(value);
    }
    return Status::Ok();
  }

  // REQUIRES: repo_->mu held.
  Result<git_oid> TipLocked() const {
    git_oid oid;
    int rc = git_reference_name_to_id(&oid, repo_->repo, kTipRef);
    if (rc == GIT_ENOTFOUND)
      return Status::NotFound("nothing fetched yet from " + RedactUrl(options_.url));
    if (rc < 0) return Error(rc, "read the tip");
    return oid;
  }

  // REQUIRES: repo_->mu held.
  Status LookupCommit(std::string_view id, CommitObj* commit) const {
    Result<git_oid> oid = git::ParseOid(id);
    if (!oid.ok()) return oid.status();
    int rc = git_commit_lookup(commit->out(), repo_->repo, &*oid);
    if (rc == GIT_ENOTFOUND)
      return Status::NotFound("no commit " + std::string(id) + " in the clone");
    if (rc < 0) return Error(rc, "read commit " + std::string(id));
    return Status::Ok();
  }

  // The tree of commit `id` at the configured sub-directory.
  // REQUIRES: repo_->mu held.
  Result<git_oid> RootTree(std::string_view id) const {
    CommitObj commit;
    PAGODA_RETURN_IF_ERROR(LookupCommit(id, &commit));
    if (options_.path.empty()) return *git_commit_tree_id(commit.p);
    Tree tree;
    if (int rc = git_commit_tree(tree.out(), commit.p); rc < 0) {
      return Error(rc, "read the tree of " + std::string(id));
    }
    TreeEntry entry;
    if (git_tree_entry_bypath(entry.out(), tree.p, options_.path.c_str()) < 0 ||
        git_tree_entry_type(entry.p) != GIT_OBJECT_TREE) {
      return Status::NotFound("commit " + std::string(id) + " has no directory " + options_.path);
    }
    return *git_tree_entry_id(entry.p);
  }

  // An anonymous remote for the URL as configured. url.*.insteadOf of the
  // machine's git config is not applied: the daemon fetches what its own
  // config names (and libgit2 1.5 leaks memory on every such lookup).
  // REQUIRES: repo_->mu held.
  Status CreateRemote(git::RemoteSession* session, Remote* remote) {
    git_remote_create_options options = GIT_REMOTE_CREATE_OPTIONS_INIT;
    options.repository = repo_->repo;
    options.flags = GIT_REMOTE_CREATE_SKIP_INSTEADOF | GIT_REMOTE_CREATE_SKIP_DEFAULT_FETCHSPEC;
    if (int rc = git_remote_create_with_opts(remote->out(), options_.url.c_str(), &options);
        rc < 0) {
      return git::RemoteError(*session, rc, "open remote");
    }
    return Status::Ok();
  }

  // Downloads `refspecs` over a connected (or not yet connected) remote.
  // REQUIRES: repo_->mu held.
  Status Download(git::RemoteSession* session, git_remote* remote,
                  const std::vector<std::string>& refspecs, git_remote_autotag_option_t tags) {
    std::vector<char*> specs;
    for (const std::string& s : refspecs) specs.push_back(const_cast<char*>(s.c_str()));
    git_strarray array{specs.data(), specs.size()};
    git_fetch_options options = GIT_FETCH_OPTIONS_INIT;
    git::SetCallbacks(session, &options.callbacks);
    options.download_tags = tags;
    if (int rc = git_remote_download(remote, &array, &options); rc < 0) {
      return git::RemoteError(*session, rc, "fetch");
    }
    if (int rc = git_remote_update_tips(remote, &options.callbacks, 0, tags, "pagoda fetch");
        rc < 0) {
      return git::RemoteError(*session, rc, "update refs from");
    }
    return Status::Ok();
  }

  // REQUIRES: repo_->mu held.
  Result<git_oid> FetchRef(git::RemoteSession* session) {
    Remote remote;
    PAGODA_RETURN_IF_ERROR(CreateRemote(session, &remote));
    git_remote_callbacks callbacks = GIT_REMOTE_CALLBACKS_INIT;
    git::SetCallbacks(session, &callbacks);
    if (int rc = git_remote_connect(remote.p, GIT_DIRECTION_FETCH, &callbacks, nullptr, nullptr);
        rc < 0) {
      return git::RemoteError(*session, rc, "connect to");
    }
    const git_remote_head** heads = nullptr;
    size_t count = 0;
    if (int rc = git_remote_ls(&heads, &count, remote.p); rc < 0) {
      return git::RemoteError(*session, rc, "list refs of");
    }
    const GitRef& ref = options_.ref;
    std::string branch = "refs/heads/" + ref.name, tag = "refs/tags/" + ref.name;
    bool has_branch = false, has_tag = false;
    for (size_t i = 0; i < count; ++i) {
      has_branch = has_branch || branch == heads[i]->name;
      has_tag = has_tag || tag == heads[i]->name;
    }
    std::string wanted;
    if (has_branch && ref.kind != GitRef::Kind::kTag) {
      wanted = branch;
    } else if (has_tag && ref.kind != GitRef::Kind::kBranch) {
      wanted = tag;
    } else {
      std::string what = ref.kind == GitRef::Kind::kBranch ? "branch"
                         : ref.kind == GitRef::Kind::kTag  ? "tag"
                                                           : "branch or tag";
      git_remote_disconnect(remote.p);
      return Status::NotFound("no " + what + " '" + ref.name + "' at " + RedactUrl(options_.url));
    }
    // Tags that come along with a branch are never overwritten (libgit2's
    // auto-follow), so a tracked tag is fetched with auto-follow off.
    Status downloaded =
        Download(session, remote.p, {"+" + wanted + ":" + wanted},
                 wanted == tag ? GIT_REMOTE_DOWNLOAD_TAGS_NONE : GIT_REMOTE_DOWNLOAD_TAGS_AUTO);
    git_remote_disconnect(remote.p);
    PAGODA_RETURN_IF_ERROR(downloaded);
    Reference local;
    if (int rc = git_reference_lookup(local.out(), repo_->repo, wanted.c_str()); rc < 0) {
      return Error(rc, "read " + wanted + " after fetching it");
    }
    Object commit;
    if (git_reference_peel(commit.out(), local.p, GIT_OBJECT_COMMIT) < 0) {
      return Status::InvalidArgument(wanted + " at " + RedactUrl(options_.url) +
                                     " does not point at a commit");
    }
    return *git_object_id(commit.p);
  }

  // A fixed commit: fetched (with every branch and tag, since servers need not
  // serve a bare id) only while the clone lacks it.
  // REQUIRES: repo_->mu held.
  Result<git_oid> FetchCommit(git::RemoteSession* session) {
    Result<git_oid> oid = git::ParseOid(options_.ref.name);
    if (!oid.ok()) return oid.status();
    CommitObj commit;
    if (git_commit_lookup(commit.out(), repo_->repo, &*oid) == 0) return *oid;
    Remote remote;
    PAGODA_RETURN_IF_ERROR(CreateRemote(session, &remote));
    PAGODA_RETURN_IF_ERROR(Download(session, remote.p,
                                    {"+refs/heads/*:refs/heads/*", "+refs/tags/*:refs/tags/*"},
                                    GIT_REMOTE_DOWNLOAD_TAGS_NONE));
    if (git_commit_lookup(commit.out(), repo_->repo, &*oid) < 0) {
      return Status::NotFound("commit " + options_.ref.name + " is in no branch or tag of " +
                              RedactUrl(options_.url));
    }
    return *oid;
  }

  const GitSourceOptions options_;
  std::shared_ptr<git::Repo> repo_;
  std::atomic<int> child_{0};  // the PID of a fetch running in a child, 0 when none
};

}  // namespace

Result<GitRef> GitRef::Parse(std::string_view text) {
  GitRef ref;
  if (text.empty()) return ref;
  std::string name(text);
  if (name.size() == GIT_OID_HEXSZ && IsHex(name)) {
    ref.kind = Kind::kCommit;
    for (char& c : name) c = static_cast<char>(std::tolower(static_cast<unsigned char>(c)));
    ref.name = name;
    return ref;
  }
  if (name.starts_with("refs/heads/")) {
    ref.kind = Kind::kBranch;
    name.erase(0, 11);
  } else if (name.starts_with("refs/tags/")) {
    ref.kind = Kind::kTag;
    name.erase(0, 10);
  } else if (name.starts_with("refs/")) {
    return Status::InvalidArgument("ref '" + std::string(text) +
                                   "': give a branch, refs/heads/NAME, refs/tags/NAME or a "
                                   "40-digit commit id");
  }
  git::InitOnce();
  int valid = 0;
  std::string full = "refs/heads/" + name;
  if (name.empty() || git_reference_name_is_valid(&valid, full.c_str()) < 0 || valid == 0) {
    return Status::InvalidArgument("ref '" + std::string(text) + "' is not a valid Git ref name");
  }
  ref.name = name;
  return ref;
}

std::string GitRef::ToString() const {
  switch (kind) {
    case Kind::kBranch:
      return "refs/heads/" + name;
    case Kind::kTag:
      return "refs/tags/" + name;
    case Kind::kName:
    case Kind::kCommit:
      break;
  }
  return name;
}

Result<std::unique_ptr<GitSource>> OpenGitSource(GitSourceOptions options) {
  git::InitOnce();
  if (options.url.empty()) return Status::InvalidArgument("no repository URL given");
  if (options.clone_dir.empty()) return Status::InvalidArgument("no directory for the clone");
  std::string& path = options.path;
  while (!path.empty() && path.back() == '/') path.pop_back();
  while (path.starts_with("./")) path.erase(0, 2);
  if (path == ".") path.clear();
  if (path.starts_with('/') || ("/" + path + "/").find("/../") != std::string::npos) {
    return Status::InvalidArgument("path '" + path + "' is not a directory inside the repository");
  }
  if (options.ref.kind == GitRef::Kind::kCommit && !git::ParseOid(options.ref.name).ok()) {
    return Status::InvalidArgument("ref '" + options.ref.name + "' is not a full commit id");
  }

  auto repo = std::make_shared<git::Repo>();
  std::error_code ec;
  if (std::filesystem::exists(options.clone_dir, ec)) {
    if (int rc = git_repository_open_bare(&repo->repo, options.clone_dir.c_str()); rc < 0) {
      if (!std::filesystem::is_empty(options.clone_dir, ec)) {
        return Status::InvalidArgument(options.clone_dir +
                                       " exists and is not a bare Git repository");
      }
      repo->repo = nullptr;
    }
  }
  if (repo->repo == nullptr) {
    std::filesystem::create_directories(options.clone_dir, ec);
    if (ec) return Status::IOError(options.clone_dir + ": " + ec.message());
    ::chmod(options.clone_dir.c_str(), 0700);  // it may hold learned host keys; nothing public
    if (int rc = git_repository_init(&repo->repo, options.clone_dir.c_str(), 1); rc < 0) {
      return Error(rc, "create the clone in " + options.clone_dir);
    }
  }
  return std::unique_ptr<GitSource>(new GitSourceImpl(std::move(options), std::move(repo)));
}

}  // namespace pagoda::source
