// SHA-256 and HMAC-SHA256 (OpenSSL's), and the encodings signatures are sent
// in. Pure functions; no keys are kept.
#pragma once

#include <array>
#include <string>
#include <string_view>

namespace pagoda {

using Digest = std::array<unsigned char, 32>;

Digest Sha256(std::string_view data);
Digest HmacSha256(std::string_view key, std::string_view data);
// Lower-case hex of `bytes`.
std::string Hex(std::string_view bytes);
std::string Hex(const Digest& digest);
// HMAC-SHA256 of `data` with `key`, lower-case hex.
std::string HmacSha256Hex(std::string_view key, std::string_view data);
// Equal, in time independent of where they differ (their sizes are public).
bool ConstantTimeEqual(const Digest& a, const Digest& b);

}  // namespace pagoda
