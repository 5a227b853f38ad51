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
  void* p = nullptr;
  if (::posix_memalign(&p, bytes < kHugePage ? kCacheLine : kHugePage, bytes) != 0) throw std::bad_alloc();
  // Only the whole huge pages: a partly used last one would hold up to 2 MiB of memory nobody
  // asked for (a graph chunk of 2.9 MiB would take 4); the tail stays on small pages.
  const size_t whole = bytes & ~(kHugePage - 1);
  if (whole > 0) ::madvise(p, whole, MADV_HUGEPAGE);  // advisory: failure leaves small pages
  return p;
}

void huge_page_free(void* p, size_t) noexcept { std::free(p); }

}  // namespace vecstream
