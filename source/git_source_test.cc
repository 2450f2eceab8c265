// The Git source against real repositories made with the git CLI: refs,
// local paths, file:// URLs and smart HTTP (git http-backend behind a CGI
// server with Basic auth) on loopback; ssh and the fetch in a child process
// have files of their own.
#include "source/git_test_fixture.h"

// libgit2 1.5's ssh transport leaks a few dozen bytes per connection (its
// known_hosts handle and libssh2's auth list) inside git_remote_connect,
// whatever the caller frees; later libgit2 releases fixed it. Everything
// else stays checked.
// (The slow unwinder walks through libgit2's frames to find that name.)
extern "C" const char* __lsan_default_suppressions() { return "leak:git_remote_connect\n"; }
extern "C" const char* __asan_default_options() { return "fast_unwind_on_malloc=0"; }

namespace pagoda::source {
namespace {

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

// A fetch whose process was killed halfway leaves libgit2's lock files and
// the start of a pack; the clone's mark says so, and the next fetch
// removes them before it begins (a stale lock of the tip's ref would make
// every fetch after it fail).
TEST_F(GitSourceTest, WhatAKilledFetchLeftIsRemovedByTheNextOne) {
  Commit(kTwoApps, "first");
  const fs::path clone = dir_ / "state/repo.git";
  ASSERT_TRUE(Open(Options())->Fetch().ok());
  EXPECT_EQ(ReadMark(clone), "") << "a fetch that ended clears its mark";
  const std::vector<fs::path> left = {clone / "refs/pagoda/tip.lock",
                                      clone / "objects/pack/pack_git2_5c0ffee"};
  for (const fs::path& file : left) std::ofstream(file) << "half";
  std::ofstream(clone / git::kFetchLockFile) << "fetching\n";

  const std::string second = Commit({{"apps/shop/app.yaml", "2\n"}}, "second");
  Result<FetchResult> fetched = Open(Options())->Fetch();
  ASSERT_TRUE(fetched.ok()) << fetched.status().ToString();
  EXPECT_EQ(fetched->commit, second);
  for (const fs::path& file : left) EXPECT_FALSE(fs::exists(file)) << file;
  EXPECT_EQ(ReadMark(clone), "");
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

// The files of a commit tell each folder's tree id, and a repository read
// through them with a LoadCache reads again only the app that changed.
TEST_F(GitSourceTest, ACommitsFilesTellTreeIdsSoOnlyTheChangedAppIsRead) {
  std::string first = Commit(kTwoApps, "first");
  std::string second = Commit({{"apps/orders/app.yaml", "kind: App\n# changed\n"}}, "orders");
  auto source = Open(Options());
  ASSERT_TRUE(source->Fetch().ok());
  auto files = source->Files(first);
  ASSERT_TRUE(files.ok());
  EXPECT_EQ((*files)->TreeId("apps/shop"), Git("rev-parse " + first + ":apps/shop"));
  EXPECT_EQ((*files)->TreeId(""), Git("rev-parse " + first + "^{tree}"));
  EXPECT_EQ((*files)->TreeId("apps/none"), "");
  EXPECT_EQ((*files)->TreeId("apps/shop/app.yaml"), "");
  EXPECT_EQ((*files)->TreeId("apps"), Git("rev-parse " + first + ":apps"));
  EXPECT_EQ((*files)->TreeId("apps/orders"), Git("rev-parse " + first + ":apps/orders"));
  // A listing that stops at the apps tells their trees, as TreeId() does.
  auto apps = (*files)->List("apps", {.max_depth = 0});
  ASSERT_TRUE(apps.ok());
  ASSERT_EQ(apps->directories, (std::vector<std::string>{"apps/orders", "apps/shop"}));
  EXPECT_EQ(apps->directory_trees,
            (std::vector<std::string>{Git("rev-parse " + first + ":apps/orders"),
                                      Git("rev-parse " + first + ":apps/shop")}));
  manifest::LoadCache cache;
  manifest::Repository before = manifest::LoadRepository(**files, {}, &cache);
  EXPECT_EQ(before.apps.size(), 2u);
  EXPECT_EQ(cache.read, 2u);
  auto next = source->Files(second);
  ASSERT_TRUE(next.ok());
  manifest::Repository after = manifest::LoadRepository(**next, {}, &cache);
  EXPECT_EQ(after.apps.size(), 2u);
  // The unchanged app is the model read before, not a copy.
  EXPECT_EQ(after.FindApp("shop")->shared_model, before.FindApp("shop")->shared_model);
  EXPECT_EQ(cache.read, 1u);
  EXPECT_EQ(cache.reused, 1u);
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
  Commit(kTwoApps, "a");
  Git("checkout -q -b side");
  std::string side = Commit({{"apps/shop/app.yaml", "side\n"}}, "side");
  Git("checkout -q main");
  Commit({{"apps/shop/app.yaml", "b\n"}}, "b");
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

}  // namespace
}  // namespace pagoda::source
