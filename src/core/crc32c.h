// CRC-32C (Castagnoli, reflected polynomial 0x82F63B78): the checksum of WAL records and headers.
//
// Castagnoli rather than the zlib CRC-32 because x86-64 computes it in hardware (SSE4.2 `crc32`,
// 8 bytes per instruction) and it detects more error patterns at the lengths we store. Two
// implementations: a portable slicing-by-8 table walk (crc32c.cc) and the SSE4.2 one
// (crc32c_sse42.cc, compiled with -msse4.2). The CPU is probed once, at first use; the environment
// variable VECSTREAM_SIMD=scalar forces the portable one, as it does for the distance kernels.
//
// Semantics match leveldb's crc32c::Extend and the iSCSI test vectors: the state is inverted on entry
// and on exit, so crc32c_extend(crc32c(a), b) == crc32c(a ++ b) and crc32c("123456789") ==
// 0xE3069283. All functions are thread-safe and never allocate.
#pragma once

#include <cstddef>
#include <cstdint>

namespace vecstream {

/// CRC-32C of `crc`'s input followed by the n bytes at `data` (any alignment; n may be 0).
uint32_t crc32c_extend(uint32_t crc, const void* data, size_t n);

/// CRC-32C of the n bytes at `data`.
inline uint32_t crc32c(const void* data, size_t n) { return crc32c_extend(0, data, n); }

/// A CRC stored next to the data it covers is masked: computing the CRC of a string that contains
/// CRCs of its own substrings is weak (the CRC of "data ++ crc(data)" is a constant), so a stored
/// CRC is rotated and offset first. Same transform as leveldb's crc32c::Mask.
inline constexpr uint32_t kCrc32cMaskDelta = 0xa282ead8u;

/// The value to store for `crc`.
inline constexpr uint32_t crc32c_mask(uint32_t crc) {
  return ((crc >> 15) | (crc << 17)) + kCrc32cMaskDelta;
}

/// The CRC a stored value `masked` stands for (inverse of crc32c_mask).
inline constexpr uint32_t crc32c_unmask(uint32_t masked) {
  const uint32_t rot = masked - kCrc32cMaskDelta;
  return (rot >> 17) | (rot << 15);
}

/// True when crc32c_extend runs the SSE4.2 instruction (CPU support, not capped by VECSTREAM_SIMD).
bool crc32c_is_hardware();

// The two implementations and the dispatch rule, for tests and benchmarks. Do not call the SSE4.2
// one unless crc32c_cpu_has_sse42() says so.
namespace internal {
uint32_t crc32c_extend_portable(uint32_t crc, const void* data, size_t n);
uint32_t crc32c_extend_sse42(uint32_t crc, const void* data, size_t n);
/// Whether this CPU has the SSE4.2 crc32 instruction (probed once).
bool crc32c_cpu_has_sse42();
/// The dispatch rule: hardware iff the CPU has it and `simd_env` (the value of VECSTREAM_SIMD, or
/// nullptr when unset) is not "scalar".
bool crc32c_choose_hardware(bool cpu_has_sse42, const char* simd_env);
}  // namespace internal

}  // namespace vecstream
