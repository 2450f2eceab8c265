// Exponential backoff, the one rule every retry in pagoda waits by: a
// failing fetch, an environment whose release failed, a watch that broke,
// a request the API server may answer better later. Pure; never sleeps.
#pragma once

#include <chrono>

namespace pagoda {

// The wait after the `failures`-th failure in a row (1 for the first):
// `base` doubled with each failure after the first, never more than `cap`;
// zero for no failure.
std::chrono::milliseconds Backoff(std::chrono::milliseconds base, int failures,
                                  std::chrono::milliseconds cap);

}  // namespace pagoda
