#include "base/memory.h"

#include <gtest/gtest.h>

#include <cstring>
#include <memory>
#include <vector>

namespace pagoda {
namespace {

TEST(Memory, ResidentMemoryIsReadAndFreedMemoryGoesBack) {
#if defined(__SANITIZE_ADDRESS__)
  GTEST_SKIP() << "the address sanitizer keeps freed memory in quarantine";
#endif
  ResidentMemory before = Resident();
  ASSERT_GT(before.now_kib, 0);
  ASSERT_GT(before.peak_kib, 0);
  {
    // Many small blocks (below the size malloc maps on its own), touched,
    // then freed but one in a few, so the heap cannot simply shrink at its top.
    std::vector<std::unique_ptr<char[]>> blocks;
    for (int i = 0; i < 64 * 1024; ++i) {
      blocks.emplace_back(new char[1024]);
      std::memset(blocks.back().get(), 1, 1024);
    }
    for (size_t i = 0; i + 1 < blocks.size(); ++i) {
      if (i % 64 != 0) blocks[i].reset();
    }
    ResidentMemory full = Resident();
    EXPECT_GE(full.now_kib, before.now_kib + 32 * 1024);
    ASSERT_TRUE(ReturnFreeMemory());
    ResidentMemory trimmed = Resident();
    EXPECT_LT(trimmed.now_kib, full.now_kib - 32 * 1024) << "freed memory stayed resident";
  }
}

// Many small blocks (below the size malloc maps on its own), touched, then
// freed; `kept` keeps one in a few, so the heap cannot simply shrink at its top.
void AllocateAndFree(size_t mib, std::vector<std::unique_ptr<char[]>>* kept) {
  std::vector<std::unique_ptr<char[]>> blocks;
  for (size_t i = 0; i < mib * 1024; ++i) {
    blocks.emplace_back(new char[1024]);
    std::memset(blocks.back().get(), 1, 1024);
  }
  for (size_t i = 0; i < blocks.size(); i += 64) kept->push_back(std::move(blocks[i]));
}

TEST(Memory, FreeMemoryGoesBackOnlyOnceEnoughMoreIsFree) {
#if defined(__SANITIZE_ADDRESS__) || defined(__SANITIZE_THREAD__)
  GTEST_SKIP() << "the sanitizers' allocators keep their own free memory";
#endif
  using std::chrono::seconds;
  std::vector<std::unique_ptr<char[]>> kept;
  FreeMemoryReturner returner(16 << 20, seconds(10));
  FreeMemoryReturner::TimePoint now;
  returner.Maybe(now);  // counts from what the process holds free now
  AllocateAndFree(4, &kept);
  EXPECT_FALSE(returner.Maybe(now += seconds(10))) << "4 MiB freed is within the slack";
  AllocateAndFree(64, &kept);
  const ResidentMemory full = Resident();
  EXPECT_FALSE(returner.Maybe(now + seconds(9))) << "counted less than 10 s ago";
  EXPECT_TRUE(returner.Maybe(now += seconds(10))) << "64 MiB freed is past the slack";
  EXPECT_LT(Resident().now_kib, full.now_kib - 32 * 1024) << "freed memory stayed resident";
  EXPECT_FALSE(returner.Maybe(now += seconds(10))) << "nothing freed since";
}

}  // namespace
}  // namespace pagoda
