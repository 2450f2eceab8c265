#pragma once

#include <string>
#include <string_view>

#include "base/status.h"

namespace pagoda {

// Reads a whole regular file. Fails with NotFound when it does not exist and
// InvalidArgument when it is larger than `max_bytes`.
Result<std::string> ReadFile(const std::string& path, size_t max_bytes = 64u << 20);

}  // namespace pagoda
