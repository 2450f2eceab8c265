#pragma once

#include <string>
#include <string_view>

#include "base/status.h"

namespace pagoda {

// Reads a whole regular file. Fails with NotFound when it does not exist and
// InvalidArgument when it is larger than `max_bytes`.
Result<std::string> ReadFile(const std::string& path, size_t max_bytes = 64u << 20);

// Replaces `path` with `content`, durably: written to a temporary file
// beside it, synced, renamed over it, and the directory synced, so that a
// crash at any moment leaves either the old file whole or the new one.
Status WriteFileAtomically(const std::string& path, std::string_view content, int mode = 0600);

}  // namespace pagoda
