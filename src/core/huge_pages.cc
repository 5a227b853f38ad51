#include "core/huge_pages.h"

#include <sys/mman.h>

#include <cstdlib>
#include <new>

namespace vecstream {

namespace {
constexpr size_t kHugePage = size_t{2} << 20;
constexpr size_t kCacheLine = 64;
}

void* huge_page_alloc(size_t bytes) {
  if (bytes == 0) bytes = 1;
  const size_t align = bytes < kHugePage ? kCacheLine : kHugePage;
  const size_t rounded = (bytes + align - 1) & ~(align - 1);
  void* p = std::aligned_alloc(align, rounded);
  if (p == nullptr) throw std::bad_alloc();
  if (align == kHugePage) ::madvise(p, rounded, MADV_HUGEPAGE);  // advisory: failure leaves small pages
  return p;
}

void huge_page_free(void* p, size_t) noexcept { std::free(p); }

}  // namespace vecstream
