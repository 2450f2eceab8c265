// URLs as pagoda shows them: in logs, messages, the status document.
#pragma once

#include <string>
#include <string_view>

namespace pagoda {

// `url` without a password or token: "https://host/repo.git" for
// "https://user:token@host/repo.git" or "https://token@host/repo.git"; ssh
// URLs keep the login and lose only a password ("ssh://git@host/x" for
// "ssh://git:pw@host/x"). scp-style addresses ("git@host:x") and paths are
// returned as they are.
std::string RedactUrl(std::string_view url);

// `s` for a query parameter: every byte but A-Z a-z 0-9 - _ . ~ as %XX.
std::string PercentEncode(std::string_view s);

}  // namespace pagoda
