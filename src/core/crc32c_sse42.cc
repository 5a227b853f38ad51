// CRC-32C with the SSE4.2 crc32 instruction. Compiled with -msse4.2 (the build gives *_sse42.cc
// files that flag); reached only through crc32c.cc's dispatch, after CPUID said the CPU has it.
//
// One dependency chain of 8-byte steps after a byte-wise walk up to 8-byte alignment: about
// 8 bytes per 3 cycles, far more than the WAL's write path needs, so the three-stream interleave
// with a shift-combine that the fastest libraries use is not worth its code here.
#include <nmmintrin.h>

#include <cstring>

#include "core/crc32c.h"

namespace vecstream::internal {

uint32_t crc32c_extend_sse42(uint32_t crc, const void* data, size_t n) {
  const auto* p = static_cast<const uint8_t*>(data);
  uint32_t l = ~crc;
  while (n > 0 && (reinterpret_cast<uintptr_t>(p) & 7u) != 0) {
    l = _mm_crc32_u8(l, *p++);
    --n;
  }
  uint64_t l64 = l;
  for (; n >= 32; n -= 32, p += 32) {
    uint64_t w[4];
    std::memcpy(w, p, sizeof(w));
    l64 = _mm_crc32_u64(l64, w[0]);
    l64 = _mm_crc32_u64(l64, w[1]);
    l64 = _mm_crc32_u64(l64, w[2]);
    l64 = _mm_crc32_u64(l64, w[3]);
  }
  for (; n >= 8; n -= 8, p += 8) {
    uint64_t w;
    std::memcpy(&w, p, sizeof(w));
    l64 = _mm_crc32_u64(l64, w);
  }
  l = static_cast<uint32_t>(l64);
  for (; n > 0; --n) l = _mm_crc32_u8(l, *p++);
  return ~l;
}

}  // namespace vecstream::internal
