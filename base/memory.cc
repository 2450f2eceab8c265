#include "base/memory.h"

#include <cstdlib>
#include <fstream>
#include <string>

#if defined(__GLIBC__)
#include <malloc.h>
#endif

namespace pagoda {

bool ReturnFreeMemory() {
#if defined(__GLIBC__)
  return malloc_trim(0) != 0;
#else
  return false;
#endif
}

ResidentMemory Resident() {
  ResidentMemory out;
  std::ifstream in("/proc/self/status");
  std::string line;
  while (std::getline(in, line)) {
    if (line.rfind("VmRSS:", 0) == 0) out.now_kib = std::atoll(line.c_str() + 6);
    if (line.rfind("VmHWM:", 0) == 0) out.peak_kib = std::atoll(line.c_str() + 6);
  }
  return out;
}

}  // namespace pagoda
