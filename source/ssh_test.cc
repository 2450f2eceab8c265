// ssh: where a URL's host is, known_hosts read the way ssh reads it (plain,
// hashed and pattern entries, markers, what libssh2 alone would misread),
// and fetches from a real sshd on loopback.
#include "source/git_test_fixture.h"

namespace pagoda::source {
namespace {

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

// A new key pair in `dir`: its public line ("ssh-ed25519 AAAA…") and raw key.
std::pair<std::string, std::string> NewHostKey(const fs::path& dir, const char* name,
                                               const char* type) {
  EXPECT_EQ(std::system(("ssh-keygen -q -t " + std::string(type) + " -N '' -f '" +
                         (dir / name).string() + "'")
                            .c_str()),
            0);
  std::ifstream in(dir / (std::string(name) + ".pub"));
  std::string key_type, blob;
  in >> key_type >> blob;
  return {key_type + " " + blob, *Base64Decode(blob)};
}

TEST_F(GitSourceTest, KnownHostsMatchesPlainHashedAndPatternEntries) {
  auto [line1, key1] = NewHostKey(dir_, "k1", "ed25519");
  auto [line2, key2] = NewHostKey(dir_, "k2", "ed25519");
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
  // A line for the host that cannot be read is skipped, and named when the
  // host is then not found.
  Status mangled = git::CheckHostKey("git.example.com ssh-ed25519\n", host, key1, kEd25519);
  EXPECT_EQ(mangled.code(), Status::Code::kNotFound);
  EXPECT_NE(mangled.message().find("1 line that could name it cannot be read"), std::string::npos)
      << mangled.message();
  EXPECT_EQ(git::CheckHostKey("elsewhere.example.org " + line1, host, key1, kEd25519).message(),
            "git.example.com is not in known_hosts");
}

TEST_F(GitSourceTest, KnownHostsReadsWhatLibssh2AloneWouldMisread) {
  auto [line1, key1] = NewHostKey(dir_, "k1", "ed25519");
  auto [ecdsa, ecdsa_key] = NewHostKey(dir_, "k2", "ecdsa");
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

}  // namespace
}  // namespace pagoda::source
