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

}  // namespace
}  // namespace pagoda
