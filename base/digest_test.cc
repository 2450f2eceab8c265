#include "base/digest.h"

#include <gtest/gtest.h>

#include "base/base64.h"

namespace pagoda {
namespace {

std::string Bytes(const Digest& d) { return std::string(d.begin(), d.end()); }

// RFC 4231, test case 2.
TEST(DigestTest, HmacSha256MatchesTheRfcVector) {
  EXPECT_EQ(HmacSha256Hex("Jefe", "what do ya want for nothing?"),
            "5bdcc146bf60754e6a042426089575c75a003f089d2739839dec58b964ec3843");
}

TEST(DigestTest, Sha256OfTheEmptyString) {
  EXPECT_EQ(Hex(Sha256("")), "e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855");
}

TEST(DigestTest, Base64OfARawDigestIsFortyFourCharacters) {
  EXPECT_EQ(Base64Encode(Bytes(HmacSha256("k", "m"))).size(), 44u);
}

TEST(DigestTest, ConstantTimeEqualTellsDigestsApart) {
  EXPECT_TRUE(ConstantTimeEqual(Sha256("a"), Sha256("a")));
  EXPECT_FALSE(ConstantTimeEqual(Sha256("a"), Sha256("b")));
}

}  // namespace
}  // namespace pagoda
