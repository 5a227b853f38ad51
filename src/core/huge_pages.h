// Memory for the large arrays a search reads at random — graph nodes, segment rows, rerank rows.
// Allocations of 2 MiB and more are 2 MiB-aligned and their whole 2 MiB pages advised as huge pages
// (MADV_HUGEPAGE: the kernel's default "madvise" mode gives huge pages only to memory that asks),
// so a random read costs cache misses but rarely a page-table walk. On a virtual machine a
// page-table walk is two-dimensional and costly, and so is every accessed bit a memory monitor
// (DAMON) clears and the next read sets again: one huge page takes the place of 512 small ones.
// Smaller allocations are ordinary pages. Every allocation is at least 64-byte (cache line)
// aligned. The advice is advisory: without huge pages the memory works the same.
#pragma once

#include <cstddef>
#include <memory>
#include <type_traits>

namespace vecstream {

/// Uninitialised memory for `bytes` (huge-page backed when >= 2 MiB); throws std::bad_alloc.
void* huge_page_alloc(size_t bytes);
/// Frees what huge_page_alloc(bytes) returned (the same `bytes`).
void huge_page_free(void* p, size_t bytes) noexcept;

template <class T>
struct HugePageDeleter {
  size_t bytes = 0;
  void operator()(T* p) const noexcept { huge_page_free(p, bytes); }
};

/// An owned array of n trivially constructible T, uninitialised, from huge_page_alloc.
template <class T>
using HugeArray = std::unique_ptr<T[], HugePageDeleter<T>>;

template <class T>
HugeArray<T> make_huge_array(size_t n) {
  static_assert(std::is_trivially_default_constructible_v<T> && std::is_trivially_destructible_v<T>);
  const size_t bytes = (n == 0 ? 1 : n) * sizeof(T);
  return HugeArray<T>(static_cast<T*>(huge_page_alloc(bytes)), HugePageDeleter<T>{bytes});
}

/// A standard allocator over huge_page_alloc, for std::vector.
template <class T>
struct HugePageAllocator {
  using value_type = T;
  HugePageAllocator() = default;
  template <class U>
  HugePageAllocator(const HugePageAllocator<U>&) {}  // NOLINT: rebinding
  T* allocate(size_t n) { return static_cast<T*>(huge_page_alloc(n * sizeof(T))); }
  void deallocate(T* p, size_t n) noexcept { huge_page_free(p, n * sizeof(T)); }
  friend bool operator==(const HugePageAllocator&, const HugePageAllocator&) { return true; }
};

}  // namespace vecstream
