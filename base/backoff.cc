#include "base/backoff.h"

#include <algorithm>

namespace pagoda {

std::chrono::milliseconds Backoff(std::chrono::milliseconds base, int failures,
                                  std::chrono::milliseconds cap) {
  if (failures <= 0 || base.count() <= 0) return std::chrono::milliseconds(0);
  std::chrono::milliseconds wait = base;
  for (int i = 1; i < failures && wait < cap; ++i) wait *= 2;
  return std::min(wait, cap);
}

}  // namespace pagoda
