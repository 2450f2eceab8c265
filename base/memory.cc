#include "base/memory.h"

#include <algorithm>
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

namespace {

// Bytes malloc holds free, in every arena; 0 where it cannot tell.
size_t MallocFreeBytes() {
#if defined(__GLIBC__)
  const struct mallinfo2 info = mallinfo2();
  return info.fordblks + info.fsmblks;
#else
  return 0;
#endif
}

}  // namespace

bool FreeMemoryReturner::Maybe(TimePoint now) {
  if (counted_ && now - last_count_ < every_) return false;
  counted_ = true;
  last_count_ = now;
  const size_t free_now = MallocFreeBytes();
  if (free_now < free_after_last_ + slack_) {
    free_after_last_ = std::min(free_after_last_, free_now);  // reused since: count from here
    return false;
  }
  const bool returned = ReturnFreeMemory();
  free_after_last_ = MallocFreeBytes();
  return returned;
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
