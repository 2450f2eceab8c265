// The process's memory, as the system sees it.
#pragma once

#include <chrono>
#include <cstddef>
#include <cstdint>

namespace pagoda {

// Hands the memory malloc holds free (in the heap and every thread's arena)
// back to the system, so that resident memory follows what is in use rather
// than the most that ever was. Returns whether any was given back. A no-op
// (false) where malloc cannot do this.
bool ReturnFreeMemory();

// ReturnFreeMemory() once malloc holds `slack_bytes` more free memory than
// right after the last time it was called here: a process whose every pass
// frees what the next one takes again keeps that memory, rather than giving
// it back and faulting it in again, page by page, on every pass. Malloc's
// free bytes are counted by walking its free lists, which costs as much as a
// quiet pass of a large process, so they are counted at most once per
// `every`: memory freed is given back within that time. Not thread-safe:
// one owner calls Maybe().
class FreeMemoryReturner {
 public:
  using TimePoint = std::chrono::steady_clock::time_point;
  FreeMemoryReturner(size_t slack_bytes, std::chrono::nanoseconds every)
      : slack_(slack_bytes), every_(every) {}
  // Whether memory was given back now.
  bool Maybe(TimePoint now);

 private:
  size_t slack_;
  std::chrono::nanoseconds every_;
  bool counted_ = false;
  TimePoint last_count_;
  size_t free_after_last_ = 0;  // malloc's free bytes right after the last return
};

// Resident memory of this process now (VmRSS) and at its highest (VmHWM), in
// KiB; 0 when unknown.
struct ResidentMemory {
  int64_t now_kib = 0;
  int64_t peak_kib = 0;
};
ResidentMemory Resident();

}  // namespace pagoda
