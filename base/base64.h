#pragma once

#include <string>
#include <string_view>

#include "base/status.h"

namespace pagoda {

// Standard alphabet with '=' padding (RFC 4648 §4), as kubeconfig's *-data
// fields and Secret data use it. Decoding ignores ASCII whitespace and rejects
// anything else outside the alphabet.
std::string Base64Encode(std::string_view bytes);
Result<std::string> Base64Decode(std::string_view text);

}  // namespace pagoda
