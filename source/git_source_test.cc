// The Git source against real repositories made with the git CLI: local
// paths, file:// URLs, smart HTTP (git http-backend behind a CGI server with
// Basic auth) and ssh (a real sshd), all on loopback.
#include <gtest/gtest.h>
#include <unistd.h>

#include <algorithm>
#include <cstdlib>
#include <filesystem>
#include <fstream>
#include <functional>
#include <map>
#include <thread>

#include "base/base64.h"
#include "base/file.h"
#include "source/git_internal.h"
#include "source/source.h"
#include "tests/servers/git_servers.h"
#include "tests/servers/stall_server.h"

// libgit2 1.5's ssh transport leaks a few dozen bytes per connection (its
// known_hosts handle and libssh2's auth list) inside git_remote_connect,
// whatever the caller frees; later libgit2 releases fixed it. Everything
// else stays checked.
// (The slow unwinder walks through libgit2's frames to find that name.)
extern "C" const char* __lsan_default_suppressions() { return "leak:git_remote_connect\n"; }
extern "C" const char* __asan_default_options() { return "fast_unwind_on_malloc=0"; }

namespace pagoda::source {
namespace {

namespace fs = std::filesystem;
using testing::Sh;

std::string Q(const fs::path& p) { return "'" + p.string() + "'"; }

class GitSourceTest : public ::testing::Test {
 protected:
  void SetUp() override {
    ::setenv("GIT_CONFIG_NOSYSTEM", "1", 1);
    ::setenv("GIT_AUTHOR_NAME", "Ada Lovelace", 1);
    ::setenv("GIT_AUTHOR_EMAIL", "ada@example.com", 1);
    ::setenv("GIT_COMMITTER_NAME", "Ada Lovelace", 1);
    ::setenv("GIT_COMMITTER_EMAIL", "ada@example.com", 1);
    dir_ = fs::temp_directory_path() /
           ("pagoda-git-test-" + std::to_string(::getpid()) + "-" +
            ::testing::UnitTest::GetInstance()->current_test_info()->name());
    fs::remove_all(dir_);
    fs::create_directories(dir_ / "srv");
    origin_ = dir_ / "srv/origin";
    ASSERT_TRUE(Sh("git -c init.defaultBranch=main init -q " + Q(origin_)).ok());
  }
  void TearDown() override { fs::remove_all(dir_); }

  std::string Git(const std::string& args) {
    Result<std::string> out = Sh("git -C " + Q(origin_) + " " + args + " 2>&1");
    EXPECT_TRUE(out.ok()) << out.status().ToString();
    std::string text = out.ok() ? *out : "";
    while (!text.empty() && text.back() == '\n') text.pop_back();
    return text;
  }

  // Writes `files` (path → content; "" content deletes) into the origin and
  // commits them. Returns the new commit id.
  std::string Commit(const std::map<std::string, std::string>& files, const std::string& message,
                     const std::string& date = "2024-05-01T12:00:00+02:00") {
    for (const auto& [path, content] : files) {
      fs::path p = origin_ / path;
      if (content.empty()) {
        fs::remove(p);
        continue;
      }
      fs::create_directories(p.parent_path());
      std::ofstream(p) << content;
    }
    ::setenv("GIT_AUTHOR_DATE", date.c_str(), 1);
    ::setenv("GIT_COMMITTER_DATE", date.c_str(), 1);
    Git("add -A");
    Git("commit -q --allow-empty -m " + std::string("'") + message + "'");
    return Git("rev-parse HEAD");
  }

  GitSourceOptions Options(std::string url = "") {
    GitSourceOptions options;
    options.url = url.empty() ? origin_.string() : url;
    options.clone_dir = (dir_ / "state/repo.git").string();
    return options;
  }

  std::unique_ptr<GitSource> Open(GitSourceOptions options) {
    Result<std::unique_ptr<GitSource>> source = OpenGitSource(std::move(options));
    EXPECT_TRUE(source.ok()) << source.status().ToString();
    return source.ok() ? std::move(*source) : nullptr;
  }

  static std::vector<std::string> Sorted(Result<std::vector<std::string>> files) {
    EXPECT_TRUE(files.ok()) << files.status().ToString();
    std::vector<std::string> out = files.ok() ? *files : std::vector<std::string>{};
    std::sort(out.begin(), out.end());
    return out;
  }

  fs::path dir_, origin_;
};

const std::map<std::string, std::string> kTwoApps = {
    {"apps/shop/app.yaml", "kind: App\nmetadata: {name: shop}\n"},
    {"apps/shop/envs/prod.yaml", "kind: Environment\n"},
    {"apps/orders/app.yaml", "kind: App\nmetadata: {name: orders}\n"},
    {"README.md", "the config repository\n"},
};

// ---- refs, URLs, host keys -------------------------------------------------

TEST(GitRefTest, ParsesBranchesTagsAndCommits) {
  EXPECT_EQ(GitRef::Parse("")->kind, GitRef::Kind::kName);
  EXPECT_EQ(GitRef::Parse("")->name, "main");
  EXPECT_EQ(GitRef::Parse("release/2")->kind, GitRef::Kind::kName);
  EXPECT_EQ(GitRef::Parse("refs/heads/main")->kind, GitRef::Kind::kBranch);
  EXPECT_EQ(GitRef::Parse("refs/heads/main")->name, "main");
  EXPECT_EQ(GitRef::Parse("refs/tags/v1.2")->kind, GitRef::Kind::kTag);
  EXPECT_EQ(GitRef::Parse("refs/tags/v1.2")->ToString(), "refs/tags/v1.2");
  Result<GitRef> commit = GitRef::Parse("0123456789ABCDEF0123456789abcdef01234567");
  EXPECT_EQ(commit->kind, GitRef::Kind::kCommit);
  EXPECT_EQ(commit->name, "0123456789abcdef0123456789abcdef01234567");
  EXPECT_EQ(GitRef::Parse("refs/notes/x").status().code(), Status::Code::kInvalidArgument);
  EXPECT_EQ(GitRef::Parse("a..b").status().code(), Status::Code::kInvalidArgument);
  EXPECT_EQ(GitRef::Parse("has space").status().code(), Status::Code::kInvalidArgument);
}

TEST(GitUrlTest, FindsTheSshHost) {
  EXPECT_EQ(git::ParseSshHost("ssh://git@host.example:2222/a.git").host, "host.example");
  EXPECT_EQ(git::ParseSshHost("ssh://git@host.example:2222/a.git").port, 2222);
  EXPECT_EQ(git::ParseSshHost("ssh://host/a.git").port, 22);
  EXPECT_EQ(git::ParseSshHost("ssh://git@[::1]:2200/a").host, "::1");
  EXPECT_EQ(git::ParseSshHost("ssh://git@[::1]:2200/a").port, 2200);
  EXPECT_EQ(git::ParseSshHost("git@github.com:team/a.git").host, "github.com");
  EXPECT_EQ(git::ParseSshHost("git@github.com:team/a.git").port, 22);
  EXPECT_EQ(git::ParseSshHost("https://host/a.git").host, "");
  EXPECT_EQ(git::ParseSshHost("/srv/a:b").host, "");
  EXPECT_EQ(git::ParseSshHost("file:///srv/a").host, "");
}

TEST_F(GitSourceTest, KnownHostsMatchesPlainHashedAndPatternEntries) {
  ASSERT_TRUE(Sh("ssh-keygen -q -t ed25519 -N '' -f " + Q(dir_ / "k1")).ok());
  ASSERT_TRUE(Sh("ssh-keygen -q -t ed25519 -N '' -f " + Q(dir_ / "k2")).ok());
  auto pub = [&](const char* name) {
    std::ifstream in(dir_ / name);
    std::string type, blob;
    in >> type >> blob;
    return std::make_pair(type + " " + blob, *Base64Decode(blob));
  };
  auto [line1, key1] = pub("k1.pub");
  auto [line2, key2] = pub("k2.pub");
  git::SshHost host{"git.example.com", 22};
  const git_cert_ssh_raw_type_t kEd25519 = GIT_CERT_SSH_RAW_TYPE_KEY_ED25519;
  git::SshHost other_port{"git.example.com", 2222};

  EXPECT_TRUE(git::CheckHostKey("git.example.com " + line1 + "\n", host, key1, kEd25519).ok());
  EXPECT_EQ(git::CheckHostKey("git.example.com " + line1 + "\n", other_port, key1, kEd25519).code(),
            Status::Code::kNotFound);
  EXPECT_TRUE(
      git::CheckHostKey("[git.example.com]:2222 " + line1, other_port, key1, kEd25519).ok());
  EXPECT_EQ(git::CheckHostKey("git.example.com " + line2 + "\n", host, key1, kEd25519).code(),
            Status::Code::kUnauthenticated);
  EXPECT_TRUE(git::CheckHostKey("other,*.example.com " + line1, host, key1, kEd25519).ok());
  EXPECT_EQ(
      git::CheckHostKey("*.example.com,!git.example.com " + line1, host, key1, kEd25519).code(),
      Status::Code::kNotFound);
  EXPECT_EQ(
      git::CheckHostKey("# comment\n\nother.example.org " + line1, host, key1, kEd25519).code(),
      Status::Code::kNotFound);
  EXPECT_EQ(
      git::CheckHostKey("@revoked * " + line1 + "\ngit.example.com " + line1, host, key1, kEd25519)
          .code(),
      Status::Code::kUnauthenticated);
  // Hashed names, as `ssh-keygen -H` writes them.
  std::ofstream(dir_ / "known") << "git.example.com " << line1 << "\n[git.example.com]:2222 "
                                << line2 << "\n";
  ASSERT_TRUE(Sh("ssh-keygen -q -H -f " + Q(dir_ / "known") + " >/dev/null 2>&1").ok());
  std::string hashed = *pagoda::ReadFile((dir_ / "known").string());
  ASSERT_EQ(hashed.find("git.example.com"), std::string::npos) << hashed;
  EXPECT_TRUE(git::CheckHostKey(hashed, host, key1, kEd25519).ok());
  EXPECT_TRUE(git::CheckHostKey(hashed, other_port, key2, kEd25519).ok());
  EXPECT_EQ(git::CheckHostKey(hashed, host, key2, kEd25519).code(), Status::Code::kUnauthenticated);
}

TEST_F(GitSourceTest, KnownHostsReadsWhatLibssh2AloneWouldMisread) {
  ASSERT_TRUE(Sh("ssh-keygen -q -t ed25519 -N '' -f " + Q(dir_ / "k1")).ok());
  ASSERT_TRUE(Sh("ssh-keygen -q -t ecdsa -N '' -f " + Q(dir_ / "k2")).ok());
  auto pub = [&](const char* name) {
    std::ifstream in(dir_ / name);
    std::string type, blob;
    in >> type >> blob;
    return std::make_pair(type + " " + blob, *Base64Decode(blob));
  };
  auto [line1, key1] = pub("k1.pub");
  auto [ecdsa, ecdsa_key] = pub("k2.pub");
  const git_cert_ssh_raw_type_t kEd25519 = GIT_CERT_SSH_RAW_TYPE_KEY_ED25519;
  git::SshHost host{"git.example.com", 22};

  // Names are compared without case, and a file written on Windows still reads.
  EXPECT_TRUE(git::CheckHostKey("Git.Example.COM " + line1 + "\r\n", host, key1, kEd25519).ok());
  EXPECT_TRUE(
      git::CheckHostKey("git.example.com\t" + line1 + " a comment\r\n", host, key1, kEd25519).ok());
  // A short name, which libssh2 would take for a hashed one.
  EXPECT_TRUE(git::CheckHostKey("gh " + line1, {"gh", 22}, key1, kEd25519).ok());
  EXPECT_EQ(git::CheckHostKey("gh " + ecdsa, {"gh", 22}, key1, kEd25519).code(),
            Status::Code::kUnauthenticated);
  // A line that cannot be read hides nothing after it; markers other than
  // @revoked never vouch for a key.
  EXPECT_TRUE(
      git::CheckHostKey("garbage\ngit.example.com\n" + std::string("git.example.com ") + line1,
                        host, key1, kEd25519)
          .ok());
  EXPECT_EQ(
      git::CheckHostKey("@cert-authority git.example.com " + line1, host, key1, kEd25519).code(),
      Status::Code::kNotFound);
  // Listed with a key of another type only: a changed key, never a new host.
  Status other_type = git::CheckHostKey("git.example.com " + ecdsa, host, key1, kEd25519);
  EXPECT_EQ(other_type.code(), Status::Code::kUnauthenticated) << other_type.ToString();
  EXPECT_NE(other_type.message().find("MISMATCH"), std::string::npos) << other_type.ToString();
  EXPECT_TRUE(git::CheckHostKey("git.example.com " + ecdsa + "\ngit.example.com " + line1, host,
                                key1, kEd25519)
                  .ok());
  // A type libgit2 does not name is compared by the key itself.
  EXPECT_TRUE(
      git::CheckHostKey("git.example.com " + ecdsa, host, ecdsa_key, GIT_CERT_SSH_RAW_TYPE_UNKNOWN)
          .ok());
  EXPECT_EQ(git::CheckHostKey("git.example.com " + ecdsa, host, key1, GIT_CERT_SSH_RAW_TYPE_UNKNOWN)
                .code(),
            Status::Code::kUnauthenticated);
  // @revoked with a hashed name, and a revoked key listed nowhere else.
  std::ofstream(dir_ / "revoked") << "git.example.com " << line1 << "\n";
  ASSERT_TRUE(Sh("ssh-keygen -q -H -f " + Q(dir_ / "revoked") + " >/dev/null 2>&1").ok());
  std::string hashed = *pagoda::ReadFile((dir_ / "revoked").string());
  Status revoked =
      git::CheckHostKey("@revoked " + hashed + "git.example.com " + line1, host, key1, kEd25519);
  EXPECT_EQ(revoked.code(), Status::Code::kUnauthenticated) << revoked.ToString();
  EXPECT_NE(revoked.message().find("revoked"), std::string::npos) << revoked.ToString();
  EXPECT_EQ(git::CheckHostKey("@revoked git.example.com " + line1, host, key1, kEd25519).code(),
            Status::Code::kUnauthenticated);
  EXPECT_TRUE(
      git::CheckHostKey("@revoked other.example.com " + line1 + "\ngit.example.com " + line1, host,
                        key1, kEd25519)
          .ok());
}

// ---- local repositories ------------------------------------------------------

TEST_F(GitSourceTest, FetchesALocalPathAndTellsWhetherTheTipMoved) {
  std::string first = Commit(kTwoApps, "first");
  auto source = Open(Options());
  EXPECT_EQ(source->Tip().status().code(), Status::Code::kNotFound);

  Result<FetchResult> fetched = source->Fetch();
  ASSERT_TRUE(fetched.ok()) << fetched.status().ToString();
  EXPECT_EQ(fetched->commit, first);
  EXPECT_EQ(fetched->previous, "");
  EXPECT_TRUE(fetched->moved);
  EXPECT_FALSE(fetched->history_rewritten);
  EXPECT_EQ(*source->Tip(), first);
  EXPECT_TRUE(fs::exists(dir_ / "state/repo.git/HEAD"));   // a bare clone
  EXPECT_FALSE(fs::exists(dir_ / "state/repo.git/apps"));  // never a working tree

  fetched = source->Fetch();
  ASSERT_TRUE(fetched.ok());
  EXPECT_FALSE(fetched->moved);
  EXPECT_EQ(fetched->previous, first);

  std::string second = Commit({{"apps/shop/envs/prod.yaml", "kind: Environment\n# 2\n"}}, "two");
  fetched = source->Fetch();
  ASSERT_TRUE(fetched.ok());
  EXPECT_EQ(fetched->commit, second);
  EXPECT_EQ(fetched->previous, first);
  EXPECT_TRUE(fetched->moved);
  EXPECT_FALSE(fetched->history_rewritten);
  EXPECT_TRUE(*source->IsAncestor(first, second));
  EXPECT_FALSE(*source->IsAncestor(second, first));
  EXPECT_TRUE(*source->IsAncestor(second, second));

  // Another process opening the same clone sees the same tip, without network.
  source.reset();
  auto again = Open(Options());
  EXPECT_EQ(*again->Tip(), second);
  EXPECT_FALSE(again->Fetch()->moved);
}

TEST_F(GitSourceTest, FetchesAFileUrl) {
  std::string first = Commit(kTwoApps, "first");
  auto source = Open(Options("file://" + origin_.string()));
  Result<FetchResult> fetched = source->Fetch();
  ASSERT_TRUE(fetched.ok()) << fetched.status().ToString();
  EXPECT_EQ(fetched->commit, first);
}

TEST_F(GitSourceTest, ReadsFilesFromTheObjectDatabaseLikeADirectory) {
  std::map<std::string, std::string> files = kTwoApps;
  files["apps/shop/deploy/web.yaml"] = std::string(3000, 'x');
  std::string id = Commit(files, "first");
  fs::create_symlink("../orders/app.yaml", origin_ / "apps/shop/link.yaml");
  id = Commit({}, "a symlink");
  auto source = Open(Options());
  ASSERT_TRUE(source->Fetch().ok());
  Result<std::unique_ptr<manifest::FileSource>> tree = source->Files(id);
  ASSERT_TRUE(tree.ok()) << tree.status().ToString();
  std::unique_ptr<manifest::FileSource> dir = NewDirectorySource(origin_.string());

  std::vector<std::string> expected = {"apps/orders/app.yaml", "apps/shop/app.yaml",
                                       "apps/shop/deploy/web.yaml", "apps/shop/envs/prod.yaml",
                                       "apps/shop/link.yaml"};
  EXPECT_EQ(Sorted((*tree)->ListFiles("apps")), expected);
  EXPECT_EQ(Sorted((*tree)->ListFiles("apps")), Sorted(dir->ListFiles("apps")));
  EXPECT_EQ(Sorted((*tree)->ListFiles("")), Sorted(dir->ListFiles("")));
  EXPECT_EQ(Sorted((*tree)->ListFiles("apps/shop/")), Sorted(dir->ListFiles("apps/shop")));
  EXPECT_EQ((*tree)->ListFiles("apps/nope").status().code(), Status::Code::kNotFound);
  EXPECT_EQ((*tree)->ListFiles("README.md").status().code(), Status::Code::kNotFound);

  EXPECT_EQ(*(*tree)->ReadFile("apps/shop/app.yaml", 1000), kTwoApps.at("apps/shop/app.yaml"));
  EXPECT_EQ((*tree)->ReadFile("apps/shop/deploy/web.yaml", 3000)->size(), 3000u);
  EXPECT_EQ((*tree)->ReadFile("apps/shop/deploy/web.yaml", 2999).status().code(),
            Status::Code::kInvalidArgument);
  EXPECT_EQ((*tree)->ReadFile("apps/shop/missing.yaml", 1000).status().code(),
            Status::Code::kNotFound);
  EXPECT_EQ((*tree)->ReadFile("apps/shop", 1000).status().code(), Status::Code::kInvalidArgument);
  EXPECT_EQ((*tree)->ReadFile("../etc/passwd", 1000).status().code(),
            Status::Code::kInvalidArgument);
  EXPECT_EQ((*tree)->ReadFile("/etc/passwd", 1000).status().code(), Status::Code::kInvalidArgument);
  // A symlink is a blob of mode 120000 in Git: listed, never followed.
  Result<std::string> link = (*tree)->ReadFile("apps/shop/link.yaml", 1000);
  EXPECT_EQ(link.status().code(), Status::Code::kPermissionDenied) << link.status().ToString();

  // The source outlives the GitSource that made it.
  source.reset();
  EXPECT_EQ(*(*tree)->ReadFile("apps/orders/app.yaml", 1000), kTwoApps.at("apps/orders/app.yaml"));
}

TEST_F(GitSourceTest, ReadsASubDirectory) {
  std::string with_sub = Commit({{"deploy/pagoda/apps/shop/app.yaml", "shop\n"},
                                 {"deploy/pagoda/apps/shop/envs/test.yaml", "test\n"},
                                 {"src/main.cc", "int main() {}\n"}},
                                "first");
  GitSourceOptions options = Options();
  options.path = "deploy/pagoda/";
  auto source = Open(options);
  ASSERT_TRUE(source->Fetch().ok());
  auto tree = source->Files(with_sub);
  ASSERT_TRUE(tree.ok()) << tree.status().ToString();
  EXPECT_EQ(Sorted((*tree)->ListFiles("apps")),
            (std::vector<std::string>{"apps/shop/app.yaml", "apps/shop/envs/test.yaml"}));
  EXPECT_EQ(*(*tree)->ReadFile("apps/shop/app.yaml", 100), "shop\n");
  EXPECT_EQ((*tree)->ReadFile("src/main.cc", 100).status().code(), Status::Code::kNotFound);
  EXPECT_EQ(*source->TreeId(with_sub, ""), Git("rev-parse HEAD:deploy/pagoda"));
  EXPECT_EQ(*source->TreeId(with_sub, "apps/shop"), Git("rev-parse HEAD:deploy/pagoda/apps/shop"));

  std::string without = Commit(
      {{"deploy/pagoda/apps/shop/app.yaml", ""}, {"deploy/pagoda/apps/shop/envs/test.yaml", ""}},
      "move away");
  ASSERT_TRUE(source->Fetch().ok());
  EXPECT_EQ(source->Files(without).status().code(), Status::Code::kNotFound);
  options.path = "../x";
  EXPECT_EQ(OpenGitSource(options).status().code(), Status::Code::kInvalidArgument);
}

TEST_F(GitSourceTest, AnUnchangedAppKeepsItsTreeId) {
  std::string first = Commit(kTwoApps, "first");
  std::string second = Commit({{"apps/orders/app.yaml", "kind: App\n# changed\n"}}, "orders");
  auto source = Open(Options());
  ASSERT_TRUE(source->Fetch().ok());
  Result<std::string> shop1 = source->TreeId(first, "apps/shop");
  ASSERT_TRUE(shop1.ok()) << shop1.status().ToString();
  EXPECT_EQ(shop1->size(), 40u);
  EXPECT_EQ(*source->TreeId(second, "apps/shop"), *shop1);
  EXPECT_NE(*source->TreeId(second, "apps/orders"), *source->TreeId(first, "apps/orders"));
  EXPECT_NE(*source->TreeId(second, "apps"), *source->TreeId(first, "apps"));
  EXPECT_EQ(*source->TreeId(first, "apps/shop"), Git("rev-parse " + first + ":apps/shop"));
  EXPECT_EQ(source->TreeId(first, "apps/none").status().code(), Status::Code::kNotFound);
  EXPECT_EQ(source->TreeId(first, "README.md").status().code(), Status::Code::kNotFound);
  EXPECT_EQ(source->TreeId(std::string(40, '0'), "apps").status().code(), Status::Code::kNotFound);
  EXPECT_EQ(source->TreeId("abc", "apps").status().code(), Status::Code::kInvalidArgument);
}

TEST_F(GitSourceTest, GivesCommitMetadata) {
  std::string id = Commit(kTwoApps, "shop: raise replicas to 4\n\nfor the sale\nsecond line",
                          "2024-05-01T12:00:00+02:00");
  auto source = Open(Options());
  ASSERT_TRUE(source->Fetch().ok());
  Result<CommitInfo> info = source->Commit(id);
  ASSERT_TRUE(info.ok()) << info.status().ToString();
  EXPECT_EQ(info->id, id);
  EXPECT_EQ(info->short_id, id.substr(0, 7));
  EXPECT_EQ(info->author_name, "Ada Lovelace");
  EXPECT_EQ(info->author_email, "ada@example.com");
  EXPECT_EQ(info->time, 1714557600);  // 2024-05-01T10:00:00Z
  EXPECT_EQ(info->time_offset_minutes, 120);
  EXPECT_EQ(info->summary, "shop: raise replicas to 4");
  EXPECT_EQ(info->message, "shop: raise replicas to 4\n\nfor the sale\nsecond line\n");
  EXPECT_EQ(source->Commit(std::string(40, 'f')).status().code(), Status::Code::kNotFound);
}

TEST_F(GitSourceTest, ResolvesWhatAUserTypesForARollback) {
  std::string first = Commit(kTwoApps, "first");
  Git("tag -a v1 -m 'release 1'");
  std::string second = Commit({{"apps/shop/app.yaml", "changed\n"}}, "second");
  auto source = Open(Options());
  ASSERT_TRUE(source->Fetch().ok());
  EXPECT_EQ(*source->ResolveCommit(first), first);
  EXPECT_EQ(*source->ResolveCommit(first.substr(0, 8)), first);
  EXPECT_EQ(*source->ResolveCommit("v1"), first);  // the annotated tag, followed with the branch
  EXPECT_EQ(*source->ResolveCommit("main"), second);
  EXPECT_EQ(source->ResolveCommit("nope").status().code(), Status::Code::kNotFound);
  EXPECT_EQ(source->ResolveCommit("").status().code(), Status::Code::kInvalidArgument);
  EXPECT_EQ(source->ResolveCommit("--all").status().code(), Status::Code::kInvalidArgument);
  std::string tree = Git("rev-parse HEAD^{tree}");
  EXPECT_EQ(source->ResolveCommit(tree).status().code(), Status::Code::kInvalidArgument);
}

TEST_F(GitSourceTest, AForcePushIsSyncedAndReportedAsRewritten) {
  std::string a = Commit(kTwoApps, "a");
  std::string b = Commit({{"apps/shop/app.yaml", "b\n"}}, "b");
  auto source = Open(Options());
  ASSERT_EQ(source->Fetch()->commit, b);

  Git("reset -q --hard " + a);
  std::string c = Commit({{"apps/shop/app.yaml", "c\n"}}, "c");
  Result<FetchResult> fetched = source->Fetch();
  ASSERT_TRUE(fetched.ok()) << fetched.status().ToString();
  EXPECT_EQ(fetched->commit, c);
  EXPECT_EQ(fetched->previous, b);
  EXPECT_TRUE(fetched->moved);
  EXPECT_TRUE(fetched->history_rewritten);
  EXPECT_EQ(*source->Tip(), c);
  auto tree = source->Files(c);
  EXPECT_EQ(*(*tree)->ReadFile("apps/shop/app.yaml", 100), "c\n");
  // The old commit stays readable (a release record may name it).
  EXPECT_EQ(source->Commit(b)->summary, "b");
  EXPECT_FALSE(*source->IsAncestor(b, c));
  EXPECT_TRUE(*source->IsAncestor(a, c));

  std::string d = Commit({{"apps/shop/app.yaml", "d\n"}}, "d");
  fetched = source->Fetch();
  EXPECT_EQ(fetched->commit, d);
  EXPECT_FALSE(fetched->history_rewritten);
}

TEST_F(GitSourceTest, TracksATag) {
  std::string a = Commit(kTwoApps, "a");
  Git("tag -a v1 -m 'release 1'");
  std::string b = Commit({{"apps/shop/app.yaml", "b\n"}}, "b");
  GitSourceOptions options = Options();
  options.ref = *GitRef::Parse("refs/tags/v1");
  auto source = Open(options);
  Result<FetchResult> fetched = source->Fetch();
  ASSERT_TRUE(fetched.ok()) << fetched.status().ToString();
  EXPECT_EQ(fetched->commit, a);  // peeled: the commit, not the tag object
  Commit({{"apps/shop/app.yaml", "c\n"}}, "c");
  EXPECT_FALSE(source->Fetch()->moved);

  Git("tag -f -a v1 -m 'release 1 again' " + b);
  fetched = source->Fetch();
  EXPECT_EQ(fetched->commit, b);
  EXPECT_FALSE(fetched->history_rewritten);

  // A plain name that is no branch is looked up as a tag.
  options.ref = *GitRef::Parse("v1");
  options.clone_dir = (dir_ / "state/other.git").string();
  EXPECT_EQ(Open(options)->Fetch()->commit, b);
  options.ref = *GitRef::Parse("refs/heads/v1");
  EXPECT_EQ(Open(options)->Fetch().status().code(), Status::Code::kNotFound);
}

TEST_F(GitSourceTest, TracksAFixedCommit) {
  std::string a = Commit(kTwoApps, "a");
  Git("checkout -q -b side");
  std::string side = Commit({{"apps/shop/app.yaml", "side\n"}}, "side");
  Git("checkout -q main");
  std::string b = Commit({{"apps/shop/app.yaml", "b\n"}}, "b");
  GitSourceOptions options = Options();
  options.ref = *GitRef::Parse(side);
  auto source = Open(options);
  Result<FetchResult> fetched = source->Fetch();
  ASSERT_TRUE(fetched.ok()) << fetched.status().ToString();
  EXPECT_EQ(fetched->commit, side);
  Commit({{"apps/shop/app.yaml", "c\n"}}, "c");
  fetched = source->Fetch();
  EXPECT_EQ(fetched->commit, side);
  EXPECT_FALSE(fetched->moved);
  EXPECT_EQ(*(*source->Files(side))->ReadFile("apps/shop/app.yaml", 100), "side\n");

  options.ref = *GitRef::Parse(std::string(40, 'e'));
  options.clone_dir = (dir_ / "state/other.git").string();
  Result<FetchResult> missing = Open(options)->Fetch();
  EXPECT_EQ(missing.status().code(), Status::Code::kNotFound) << missing.status().ToString();
  (void)a;
  (void)b;
}

TEST_F(GitSourceTest, AMissingBranchIsNotFound) {
  Commit(kTwoApps, "a");
  GitSourceOptions options = Options();
  options.ref = *GitRef::Parse("production");
  Result<FetchResult> fetched = Open(options)->Fetch();
  EXPECT_EQ(fetched.status().code(), Status::Code::kNotFound);
  EXPECT_NE(fetched.status().message().find("production"), std::string::npos);
  EXPECT_NE(fetched.status().message().find(origin_.string()), std::string::npos);
}

TEST_F(GitSourceTest, AnUnreachableRemoteIsUnavailable) {
  Result<int> port = testing::FreePort();
  ASSERT_TRUE(port.ok());
  for (std::string url : {"http://127.0.0.1:" + std::to_string(*port) + "/origin",
                          "ssh://git@127.0.0.1:" + std::to_string(*port) + "/origin"}) {
    auto source = Open(Options(url));
    Result<FetchResult> fetched = source->Fetch();
    EXPECT_EQ(fetched.status().code(), Status::Code::kUnavailable)
        << url << ": " << fetched.status().ToString();
    EXPECT_NE(fetched.status().message().find(url), std::string::npos);
    // The loop goes on: the next call fails the same way, nothing crashed.
    EXPECT_EQ(source->Fetch().status().code(), Status::Code::kUnavailable);
  }
  auto missing = Open(Options((dir_ / "no-such-repo").string()));
  Result<FetchResult> fetched = missing->Fetch();
  EXPECT_FALSE(fetched.ok());
  EXPECT_NE(fetched.status().message().find("no-such-repo"), std::string::npos);
}

// ---- smart HTTP ----------------------------------------------------------------

TEST_F(GitSourceTest, FetchesOverHttpWithBasicAuth) {
  std::string first = Commit(kTwoApps, "first");
  testing::GitHttpServer server;
  ASSERT_TRUE(server.Start((dir_ / "srv").string(), "deploy", "s3cret-t0ken").ok());
  std::string url = "http://127.0.0.1:" + std::to_string(server.port()) + "/origin";
  std::ofstream(dir_ / "token") << "s3cret-t0ken\n";

  GitSourceOptions options = Options(url);
  options.auth.username = "deploy";
  options.auth.secret_file = (dir_ / "token").string();
  auto source = Open(options);
  Result<FetchResult> fetched = source->Fetch();
  ASSERT_TRUE(fetched.ok()) << fetched.status().ToString();
  EXPECT_EQ(fetched->commit, first);
  EXPECT_GT(server.served(), 0);

  std::string second = Commit({{"apps/shop/app.yaml", "2\n"}}, "second");
  fetched = source->Fetch();
  ASSERT_TRUE(fetched.ok()) << fetched.status().ToString();
  EXPECT_EQ(fetched->commit, second);
  EXPECT_EQ(*(*source->Files(second))->ReadFile("apps/shop/app.yaml", 10), "2\n");

  // The same secret from an environment variable.
  ::setenv("PAGODA_TEST_GIT_TOKEN", "s3cret-t0ken", 1);
  options.auth.secret_file.clear();
  options.auth.secret_env = "PAGODA_TEST_GIT_TOKEN";
  options.clone_dir = (dir_ / "state/env.git").string();
  fetched = Open(options)->Fetch();
  ASSERT_TRUE(fetched.ok()) << fetched.status().ToString();
  EXPECT_EQ(fetched->commit, second);
}

TEST_F(GitSourceTest, AWrongPasswordOverHttpIsUnauthenticatedAndNeverShown) {
  Commit(kTwoApps, "first");
  testing::GitHttpServer server;
  ASSERT_TRUE(server.Start((dir_ / "srv").string(), "deploy", "right-password").ok());
  std::string url = "http://127.0.0.1:" + std::to_string(server.port()) + "/origin";
  std::ofstream(dir_ / "token") << "wrong-password-42\n";

  GitSourceOptions options = Options(url);
  options.auth.username = "deploy";
  options.auth.secret_file = (dir_ / "token").string();
  Result<FetchResult> fetched = Open(options)->Fetch();
  EXPECT_EQ(fetched.status().code(), Status::Code::kUnauthenticated) << fetched.status().ToString();
  EXPECT_EQ(fetched.status().message().find("wrong-password-42"), std::string::npos);
  EXPECT_NE(fetched.status().message().find(url), std::string::npos);
  EXPECT_GT(server.unauthorized(), 0);
  EXPECT_EQ(server.served(), 0);

  // No credentials at all.
  options.auth = {};
  options.clone_dir = (dir_ / "state/none.git").string();
  fetched = Open(options)->Fetch();
  EXPECT_EQ(fetched.status().code(), Status::Code::kUnauthenticated) << fetched.status().ToString();

  // Credentials in the URL are refused the same way, and stripped from the message.
  std::string inline_url =
      "http://deploy:inline-pw-77@127.0.0.1:" + std::to_string(server.port()) + "/origin";
  options.url = inline_url;
  options.clone_dir = (dir_ / "state/inline.git").string();
  fetched = Open(options)->Fetch();
  EXPECT_EQ(fetched.status().code(), Status::Code::kUnauthenticated) << fetched.status().ToString();
  EXPECT_EQ(fetched.status().message().find("inline-pw-77"), std::string::npos);
  EXPECT_NE(fetched.status().message().find(url), std::string::npos);

  // A secret file that is not there.
  options.url = url;
  options.auth.secret_file = (dir_ / "missing-token").string();
  EXPECT_EQ(Open(options)->Fetch().status().code(), Status::Code::kUnauthenticated);
}

// ---- ssh --------------------------------------------------------------------------

class GitSshTest : public GitSourceTest {
 protected:
  void SetUp() override {
    GitSourceTest::SetUp();
    if (::access("/usr/sbin/sshd", X_OK) != 0) {
      GTEST_SKIP() << "sshd is not installed (Debian package openssh-server)";
    }
    fs::create_directories(dir_ / "sshd");
    ASSERT_TRUE(
        Sh("ssh-keygen -q -t ed25519 -N '' -C pagoda-test-user -f " + Q(dir_ / "user_key")).ok());
    std::string user_pub = *pagoda::ReadFile((dir_ / "user_key.pub").string());
    Status started =
        server_.Start((dir_ / "sshd").string(), user_pub.substr(0, user_pub.find('\n')));
    ASSERT_TRUE(started.ok()) << started.ToString();
    first_ = Commit(kTwoApps, "first");
    url_ = "ssh://" + std::string(::getenv("USER") != nullptr ? ::getenv("USER") : "root") +
           "@127.0.0.1:" + std::to_string(server_.port()) + origin_.string();
  }
  void TearDown() override {
    server_.Stop();
    GitSourceTest::TearDown();
  }

  GitSourceOptions SshOptions(const std::string& known_hosts, const std::string& clone) {
    GitSourceOptions options = Options(url_);
    options.clone_dir = (dir_ / "state" / clone).string();
    options.auth.ssh_key_file = (dir_ / "user_key").string();
    std::ofstream(dir_ / (clone + ".known_hosts")) << known_hosts;
    options.auth.known_hosts_file = (dir_ / (clone + ".known_hosts")).string();
    return options;
  }
  std::string HostEntry() const {
    return "[127.0.0.1]:" + std::to_string(server_.port()) + " " + server_.host_key() + "\n";
  }
  std::string Log() const {
    Result<std::string> log = pagoda::ReadFile(server_.log_file());
    return log.ok() ? *log : "";
  }

  testing::SshServer server_;
  std::string first_, url_;
};

TEST_F(GitSshTest, FetchesWithAKeyAndAKnownHost) {
  auto source = Open(SshOptions(HostEntry(), "ok.git"));
  Result<FetchResult> fetched = source->Fetch();
  ASSERT_TRUE(fetched.ok()) << fetched.status().ToString() << "\nsshd log:\n" << Log();
  EXPECT_EQ(fetched->commit, first_);
  std::string second = Commit({{"apps/shop/app.yaml", "2\n"}}, "second");
  fetched = source->Fetch();
  ASSERT_TRUE(fetched.ok()) << fetched.status().ToString();
  EXPECT_EQ(fetched->commit, second);
  EXPECT_EQ(*(*source->Files(second))->ReadFile("apps/shop/app.yaml", 10), "2\n");
}

TEST_F(GitSshTest, RefusesAnUnknownHost) {
  Result<FetchResult> fetched = Open(SshOptions("", "unknown.git"))->Fetch();
  EXPECT_EQ(fetched.status().code(), Status::Code::kUnauthenticated) << fetched.status().ToString();
  EXPECT_NE(fetched.status().message().find("not in known_hosts"), std::string::npos)
      << fetched.status().ToString();

  // Unless told to trust on first use; the key is then remembered.
  GitSourceOptions options = SshOptions("", "tofu.git");
  options.auth.accept_unknown_hosts = true;
  fetched = Open(options)->Fetch();
  ASSERT_TRUE(fetched.ok()) << fetched.status().ToString();
  EXPECT_EQ(fetched->commit, first_);
  std::string learned = *pagoda::ReadFile(options.clone_dir + "/pagoda_known_hosts");
  EXPECT_NE(learned.find(server_.host_key().substr(0, server_.host_key().rfind(' '))),
            std::string::npos)
      << learned;
  EXPECT_TRUE(Open(options)->Fetch().ok());
}

TEST_F(GitSshTest, RefusesAWrongHostKeyEvenWhenUnknownHostsAreAllowed) {
  ASSERT_TRUE(Sh("ssh-keygen -q -t ed25519 -N '' -f " + Q(dir_ / "impostor")).ok());
  std::string impostor = *pagoda::ReadFile((dir_ / "impostor.pub").string());
  GitSourceOptions options =
      SshOptions("[127.0.0.1]:" + std::to_string(server_.port()) + " " + impostor, "wrong.git");
  options.auth.accept_unknown_hosts = true;
  Result<FetchResult> fetched = Open(options)->Fetch();
  EXPECT_EQ(fetched.status().code(), Status::Code::kUnauthenticated) << fetched.status().ToString();
  EXPECT_NE(fetched.status().message().find("MISMATCH"), std::string::npos)
      << fetched.status().ToString();
  EXPECT_NE(fetched.status().message().find(options.auth.known_hosts_file), std::string::npos)
      << fetched.status().ToString();
  EXPECT_FALSE(fs::exists(options.clone_dir + "/pagoda_known_hosts"));
}

TEST_F(GitSshTest, ARefusedUserKeyIsUnauthenticated) {
  ASSERT_TRUE(Sh("ssh-keygen -q -t ed25519 -N '' -f " + Q(dir_ / "stranger")).ok());
  GitSourceOptions options = SshOptions(HostEntry(), "stranger.git");
  options.auth.ssh_key_file = (dir_ / "stranger").string();
  Result<FetchResult> fetched = Open(options)->Fetch();
  EXPECT_EQ(fetched.status().code(), Status::Code::kUnauthenticated) << fetched.status().ToString();
}

// ---- a fetch in a child process, bounded in time --------------------------

bool WaitFor(const std::function<bool()>& condition, std::chrono::milliseconds timeout) {
  auto until = std::chrono::steady_clock::now() + timeout;
  while (!condition()) {
    if (std::chrono::steady_clock::now() > until) return false;
    std::this_thread::sleep_for(std::chrono::milliseconds(20));
  }
  return true;
}

GitSourceOptions InChild(GitSourceOptions options, std::chrono::milliseconds timeout) {
  options.fetch_program = PAGODA_BINARY;
  options.fetch_timeout = timeout;
  return options;
}

TEST_F(GitSourceTest, AFetchInAChildProcessFetchesAsInThisOne) {
  std::string first = Commit(kTwoApps, "first");
  auto source = Open(InChild(Options(), std::chrono::seconds(60)));
  Result<FetchResult> fetched = source->Fetch();
  ASSERT_TRUE(fetched.ok()) << fetched.status().ToString();
  EXPECT_EQ(fetched->commit, first);
  EXPECT_TRUE(fetched->moved);
  // This process sees what the child fetched: the tip and the objects.
  EXPECT_EQ(*source->Tip(), first);
  EXPECT_EQ(*(*source->Files(first))->ReadFile("apps/shop/app.yaml", 100),
            "kind: App\nmetadata: {name: shop}\n");
  std::string second = Commit({{"apps/shop/app.yaml", "2\n"}}, "second");
  fetched = source->Fetch();
  ASSERT_TRUE(fetched.ok()) << fetched.status().ToString();
  EXPECT_EQ(fetched->previous, first);
  EXPECT_EQ(fetched->commit, second);
  EXPECT_EQ(*(*source->Files(second))->ReadFile("apps/shop/app.yaml", 10), "2\n");
  // Errors come back with their kind and message.
  GitSourceOptions missing = InChild(Options(), std::chrono::seconds(60));
  missing.ref = *GitRef::Parse("refs/heads/nope");
  missing.clone_dir = (dir_ / "state/missing.git").string();
  EXPECT_EQ(Open(missing)->Fetch().status().code(), Status::Code::kNotFound);
}

TEST_F(GitSourceTest, ASilentServerIsGivenUpOnAtTheDeadlineAndNothingWaitsForIt) {
  std::string first = Commit(kTwoApps, "first");
  ASSERT_TRUE(Open(Options())->Fetch().ok());  // the clone has a tip already
  pagoda::testing::StallingServer silent;
  ASSERT_TRUE(silent.Start(0, 0).ok());
  std::string url = "http://127.0.0.1:" + std::to_string(silent.port()) + "/origin";
  auto source = Open(InChild(Options(url), std::chrono::milliseconds(1500)));

  auto start = std::chrono::steady_clock::now();
  std::thread fetching([&] {
    Result<FetchResult> fetched = source->Fetch();
    EXPECT_EQ(fetched.status().code(), Status::Code::kDeadlineExceeded)
        << fetched.status().ToString();
    EXPECT_NE(fetched.status().message().find("did not finish within 1500ms"), std::string::npos)
        << fetched.status().ToString();
  });
  // Meanwhile the clone answers at once: the fetch holds no lock of it.
  ASSERT_TRUE(WaitFor([&] { return silent.accepted() > 0; }, std::chrono::seconds(10)));
  auto asked = std::chrono::steady_clock::now();
  EXPECT_EQ(*source->Tip(), first);
  EXPECT_TRUE(source->Files(first).ok());
  EXPECT_LT(std::chrono::steady_clock::now() - asked, std::chrono::milliseconds(500));
  fetching.join();
  auto took = std::chrono::steady_clock::now() - start;
  EXPECT_GE(took, std::chrono::milliseconds(1400));
  EXPECT_LT(took, std::chrono::seconds(5));
}

TEST_F(GitSourceTest, AServerThatStallsHalfwayThroughAPackIsGivenUpOnAndLeavesNothingBehind) {
  // A commit with enough in it for a pack of a few hundred KiB.
  std::string noise;
  uint64_t x = 88172645463325252ull;
  for (int i = 0; i < 400000; ++i) {
    x ^= x << 13, x ^= x >> 7, x ^= x << 17;
    noise += static_cast<char>('!' + x % 90);
  }
  std::string first =
      Commit({{"apps/shop/app.yaml", "1\n"}, {"apps/shop/blob.txt", noise}}, "first");
  testing::GitHttpServer http;
  ASSERT_TRUE(http.Start((dir_ / "srv").string(), "", "").ok());
  pagoda::testing::StallingServer stalling;
  ASSERT_TRUE(stalling.Start(http.port(), 64 * 1024).ok());
  std::string url = "http://127.0.0.1:" + std::to_string(stalling.port()) + "/origin";
  GitSourceOptions options = InChild(Options(url), std::chrono::milliseconds(2000));
  auto source = Open(options);
  Result<FetchResult> fetched = source->Fetch();
  EXPECT_EQ(fetched.status().code(), Status::Code::kDeadlineExceeded)
      << fetched.status().ToString();
  EXPECT_GT(stalling.passed(), 16u * 1024) << "the pack had begun to arrive";
  // Nothing half-written stays in the clone, and the next fetch (from a
  // server that answers) works.
  for (const auto& entry : fs::recursive_directory_iterator(options.clone_dir)) {
    const std::string name = entry.path().filename().string();
    EXPECT_FALSE(name.ends_with(".lock") || name.starts_with("pack_git2_")) << entry.path();
  }
  options.url = "http://127.0.0.1:" + std::to_string(http.port()) + "/origin";
  fetched = Open(options)->Fetch();
  ASSERT_TRUE(fetched.ok()) << fetched.status().ToString();
  EXPECT_EQ(fetched->commit, first);
}

TEST_F(GitSourceTest, AFetchInHandCanBeEndedFromAnotherThread) {
  Commit(kTwoApps, "first");
  pagoda::testing::StallingServer silent;
  ASSERT_TRUE(silent.Start(0, 0).ok());
  std::string url = "http://127.0.0.1:" + std::to_string(silent.port()) + "/origin";
  auto source = Open(InChild(Options(url), std::chrono::minutes(5)));
  auto start = std::chrono::steady_clock::now();
  std::thread fetching([&] { EXPECT_FALSE(source->Fetch().ok()); });
  ASSERT_TRUE(WaitFor([&] { return silent.accepted() > 0; }, std::chrono::seconds(10)));
  source->CancelFetch();
  fetching.join();
  EXPECT_LT(std::chrono::steady_clock::now() - start, std::chrono::seconds(10));
}

}  // namespace
}  // namespace pagoda::source
