// huge_pages: alignment (cache line below 2 MiB, huge page from 2 MiB), usable memory, and the
// array / allocator wrappers the graph, segment rows and rerank rows use.
#include "core/huge_pages.h"

#include <gtest/gtest.h>

#include <cstdint>
#include <cstring>
#include <vector>

namespace vecstream {
namespace {

TEST(HugePagesTest, AlignsAndHandsOutUsableMemory) {
  for (size_t bytes : {size_t{0}, size_t{1}, size_t{100}, size_t{4096}, (size_t{2} << 20) - 1,
                       size_t{2} << 20, (size_t{5} << 20) + 7}) {
    SCOPED_TRACE(bytes);
    void* p = huge_page_alloc(bytes);
    ASSERT_NE(p, nullptr);
    const auto addr = reinterpret_cast<uintptr_t>(p);
    EXPECT_EQ(addr % 64, 0u);
    if (bytes >= (size_t{2} << 20)) {
      EXPECT_EQ(addr % (size_t{2} << 20), 0u);
    }
    std::memset(p, 0xab, bytes);
    if (bytes > 0) {
      EXPECT_EQ(static_cast<unsigned char*>(p)[bytes - 1], 0xab);
    }
    huge_page_free(p, bytes);
  }
  huge_page_free(nullptr, 0);
}

TEST(HugePagesTest, ArraysAndVectors) {
  HugeArray<float> a = make_huge_array<float>(size_t{1} << 20);  // 4 MiB
  for (size_t i = 0; i < (size_t{1} << 20); i += 4096) a[i] = static_cast<float>(i);
  EXPECT_EQ(a[4096], 4096.0f);
  EXPECT_EQ(reinterpret_cast<uintptr_t>(a.get()) % (size_t{2} << 20), 0u);
  std::vector<float, HugePageAllocator<float>> v;
  for (int i = 0; i < 1000000; ++i) v.push_back(static_cast<float>(i));  // grows across 2 MiB
  EXPECT_EQ(v[999999], 999999.0f);
  v.shrink_to_fit();
  EXPECT_EQ(v.size(), 1000000u);
}

}  // namespace
}  // namespace vecstream
