#include "base/url.h"

#include <gtest/gtest.h>

namespace pagoda {
namespace {

TEST(RedactUrl, DropsPasswordsAndTokens) {
  EXPECT_EQ(RedactUrl("https://user:s3cret@git.example.com/a.git"),
            "https://git.example.com/a.git");
  EXPECT_EQ(RedactUrl("https://tok3n@git.example.com/a.git"), "https://git.example.com/a.git");
  EXPECT_EQ(RedactUrl("https://user:s3cret@git.example.com"), "https://git.example.com");
  EXPECT_EQ(RedactUrl("http://git.example.com/a@b.git"), "http://git.example.com/a@b.git");
}

TEST(RedactUrl, SshKeepsTheLogin) {
  EXPECT_EQ(RedactUrl("ssh://git:pw@host:2222/a.git"), "ssh://git@host:2222/a.git");
  EXPECT_EQ(RedactUrl("git+ssh://git:pw@host/a.git"), "git+ssh://git@host/a.git");
  EXPECT_EQ(RedactUrl("ssh://git@host/a.git"), "ssh://git@host/a.git");
  EXPECT_EQ(RedactUrl("git@host:team/a.git"), "git@host:team/a.git");
}

TEST(RedactUrl, PathsAndPlainUrlsStay) {
  EXPECT_EQ(RedactUrl("/srv/git/a"), "/srv/git/a");
  EXPECT_EQ(RedactUrl("file:///srv/git/a"), "file:///srv/git/a");
  EXPECT_EQ(RedactUrl(""), "");
  // Redacting twice changes nothing more.
  EXPECT_EQ(RedactUrl(RedactUrl("ssh://git:pw@host/a.git")), "ssh://git@host/a.git");
}

}  // namespace
}  // namespace pagoda
