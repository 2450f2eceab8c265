// The process's memory, as the system sees it.
#pragma once

#include <cstdint>

namespace pagoda {

// Hands the memory malloc holds free (in the heap and every thread's arena)
// back to the system, so that resident memory follows what is in use rather
// than the most that ever was. Returns whether any was given back. A no-op
// (false) where malloc cannot do this.
bool ReturnFreeMemory();

// Resident memory of this process now (VmRSS) and at its highest (VmHWM), in
// KiB; 0 when unknown.
struct ResidentMemory {
  int64_t now_kib = 0;
  int64_t peak_kib = 0;
};
ResidentMemory Resident();

}  // namespace pagoda
