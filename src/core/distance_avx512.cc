// AVX-512 kernels (Skylake-SP and later): F, BW, VL and DQ only, which is exactly what the
// dispatch in distance.cc checks (no VNNI, no BF16). Compiled with
// -mavx512f -mavx512bw -mavx512vl -mavx512dq -mavx2 -mfma; reached only through kernels_for().
//
// Floats: four 16-lane accumulators (64 floats per iteration), then 16 at a time, then one masked
// load (_mm512_maskz_loadu_ps) for the last 1..15: masked-off lanes are not read, cannot fault and
// load as 0, so no scalar tail. Stored rows that are not 64-byte aligned are read in 256-bit
// halves (see load_row). 8-bit codes: 32 bytes widened to 16 bits
// (_mm512_cvtepu8_epi16 / _mm512_cvtepi8_epi16) and pair-summed by _mm512_madd_epi16, with a
// byte-masked load for the tail; L1 on u8 uses _mm512_sad_epu8. Integer results are exact and
// bit-identical to the scalar reference.
//
// Everything here has internal linkage and uses no inline function from a shared header: a
// COMDAT copy compiled with AVX-512 must never be picked by the linker for baseline code.

// GCC 12's immintrin.h builds 512-bit reductions and 256-bit halves from _mm256_undefined_*(), a
// self-initialised variable that trips -Werror=uninitialized once inlined (GCC bug 105593).
#pragma GCC diagnostic push
#pragma GCC diagnostic ignored "-Wuninitialized"
#pragma GCC diagnostic ignored "-Wmaybe-uninitialized"
#include <immintrin.h>
#pragma GCC diagnostic pop

#include "core/distance.h"

namespace vecstream {
namespace {

inline void prefetch(const void* p) {
  _mm_prefetch(static_cast<const char*>(p), _MM_HINT_T0);
}

// Integer horizontal sums with wrapping vector adds. (_mm512_reduce_add_epi32 finishes with a
// scalar signed int addition, which is undefined behaviour once the lanes wrap.)
inline uint32_t hsum_epi32(__m512i v) {
  const __m256i s8 =
      _mm256_add_epi32(_mm512_castsi512_si256(v), _mm512_extracti64x4_epi64(v, 1));
  __m128i s = _mm_add_epi32(_mm256_castsi256_si128(s8), _mm256_extracti128_si256(s8, 1));
  s = _mm_add_epi32(s, _mm_shuffle_epi32(s, _MM_SHUFFLE(1, 0, 3, 2)));
  s = _mm_add_epi32(s, _mm_shuffle_epi32(s, _MM_SHUFFLE(2, 3, 0, 1)));
  return static_cast<uint32_t>(_mm_cvtsi128_si32(s));
}
inline uint64_t hsum_epi64(__m512i v) {
  const __m256i s4 =
      _mm256_add_epi64(_mm512_castsi512_si256(v), _mm512_extracti64x4_epi64(v, 1));
  const __m128i s = _mm_add_epi64(_mm256_castsi256_si128(s4), _mm256_extracti128_si256(s4, 1));
  return static_cast<uint64_t>(_mm_cvtsi128_si64(s)) +
         static_cast<uint64_t>(_mm_extract_epi64(s, 1));
}

// First r lanes (r < 16 / 32 / 64).
inline __mmask16 mask16(size_t r) { return static_cast<__mmask16>((1u << r) - 1u); }
inline __mmask32 mask32(size_t r) { return static_cast<__mmask32>((uint64_t{1} << r) - 1u); }
inline __mmask64 mask64(size_t r) { return (uint64_t{1} << r) - 1u; }

// ---- float32 ----

struct L2Op {
  static __m512 step(__m512 acc, __m512 a, __m512 b) {
    const __m512 t = _mm512_sub_ps(a, b);
    return _mm512_fmadd_ps(t, t, acc);
  }
};
struct DotOp {
  static __m512 step(__m512 acc, __m512 a, __m512 b) { return _mm512_fmadd_ps(a, b, acc); }
};
struct L1Op {
  static __m512 step(__m512 acc, __m512 a, __m512 b) {
    return _mm512_add_ps(acc, _mm512_abs_ps(_mm512_sub_ps(a, b)));
  }
};

// The second operand (b: the stored row, streamed from memory) is loaded in two 256-bit halves
// unless it is 64-byte aligned: on AMD Zen a 512-bit load that splits a cache line costs about
// twice the memory throughput (784-d rows at 16 bytes past a line: 135 vs 69 ns/row, measured),
// while 256-bit halves stream at full speed. Lane assignment is the same either way, so the
// result does not depend on the addresses of the inputs.
template <bool kSplit>
inline __m512 load_row(const float* p) {
  if constexpr (kSplit) {
    return _mm512_insertf32x8(_mm512_castps256_ps512(_mm256_loadu_ps(p)), _mm256_loadu_ps(p + 8),
                              1);
  } else {
    return _mm512_loadu_ps(p);
  }
}

// Reduction of a against b. With kPrefetch, the row `next` (same length) is pulled into L1 while
// this one is computed: one prefetch per 64-byte line, at the same offset.
template <class Op, bool kPrefetch, bool kSplit>
inline float reduce_f32(const float* a, const float* b, size_t d, const float* next) {
  __m512 acc0 = _mm512_setzero_ps(), acc1 = _mm512_setzero_ps();
  __m512 acc2 = _mm512_setzero_ps(), acc3 = _mm512_setzero_ps();
  size_t i = 0;
  for (; i + 64 <= d; i += 64) {
    if constexpr (kPrefetch) {
      prefetch(next + i);
      prefetch(next + i + 16);
      prefetch(next + i + 32);
      prefetch(next + i + 48);
    }
    acc0 = Op::step(acc0, _mm512_loadu_ps(a + i), load_row<kSplit>(b + i));
    acc1 = Op::step(acc1, _mm512_loadu_ps(a + i + 16), load_row<kSplit>(b + i + 16));
    acc2 = Op::step(acc2, _mm512_loadu_ps(a + i + 32), load_row<kSplit>(b + i + 32));
    acc3 = Op::step(acc3, _mm512_loadu_ps(a + i + 48), load_row<kSplit>(b + i + 48));
  }
  if constexpr (kPrefetch) {
    for (size_t j = i; j < d; j += 16) prefetch(next + j);
  }
  for (; i + 16 <= d; i += 16) {
    acc0 = Op::step(acc0, _mm512_loadu_ps(a + i), load_row<kSplit>(b + i));
  }
  if (i < d) {
    const __mmask16 m = mask16(d - i);
    acc1 = Op::step(acc1, _mm512_maskz_loadu_ps(m, a + i), _mm512_maskz_loadu_ps(m, b + i));
  }
  const __m512 sum = _mm512_add_ps(_mm512_add_ps(acc0, acc1), _mm512_add_ps(acc2, acc3));
  return _mm512_reduce_add_ps(sum);
}

template <class Op, bool kPrefetch>
inline float reduce_row(const float* a, const float* b, size_t d, const float* next) {
  if (reinterpret_cast<uintptr_t>(b) % 64 == 0) {
    return reduce_f32<Op, kPrefetch, false>(a, b, d, next);
  }
  return reduce_f32<Op, kPrefetch, true>(a, b, d, next);
}

float l2sq_f32(const float* a, const float* b, size_t d) {
  return reduce_row<L2Op, false>(a, b, d, nullptr);
}
float dot_f32(const float* a, const float* b, size_t d) {
  return reduce_row<DotOp, false>(a, b, d, nullptr);
}
float l1_f32(const float* a, const float* b, size_t d) {
  return reduce_row<L1Op, false>(a, b, d, nullptr);
}

// Row i is computed while row i+1 is prefetched; the arithmetic is the single-pair kernel's, so
// out[i] is bit-identical to calling it.
template <class Op>
inline void reduce_many(const float* q, const float* base, size_t n, size_t d, size_t stride,
                        float* out) {
  if (n == 0) return;
  const float* row = base;
  for (size_t i = 0; i + 1 < n; ++i, row += stride) {
    out[i] = reduce_row<Op, true>(q, row, d, row + stride);
  }
  out[n - 1] = reduce_row<Op, false>(q, row, d, nullptr);
}

void l2sq_many(const float* q, const float* base, size_t n, size_t d, size_t stride, float* out) {
  reduce_many<L2Op>(q, base, n, d, stride, out);
}
void dot_many(const float* q, const float* base, size_t n, size_t d, size_t stride, float* out) {
  reduce_many<DotOp>(q, base, n, d, stride, out);
}
void l1_many(const float* q, const float* base, size_t n, size_t d, size_t stride, float* out) {
  reduce_many<L1Op>(q, base, n, d, stride, out);
}

// ---- 8-bit codes ----

// 32 bytes (all, or the first r under a mask) widened to 16-bit lanes.
template <class T>
inline __m512i widen32(const T* p) {
  const __m256i v = _mm256_loadu_si256(reinterpret_cast<const __m256i*>(p));
  if constexpr (static_cast<T>(-1) < T{0}) {
    return _mm512_cvtepi8_epi16(v);
  } else {
    return _mm512_cvtepu8_epi16(v);
  }
}
template <class T>
inline __m512i widen32_masked(const T* p, __mmask32 m) {
  const __m256i v = _mm256_maskz_loadu_epi8(m, p);
  if constexpr (static_cast<T>(-1) < T{0}) {
    return _mm512_cvtepi8_epi16(v);
  } else {
    return _mm512_cvtepu8_epi16(v);
  }
}

// Squared difference (kSquareDiff) or product of 16-bit lanes, pair-summed into 32-bit lanes.
template <bool kSquareDiff>
inline __m512i madd16(__m512i a, __m512i b) {
  if constexpr (kSquareDiff) {
    const __m512i t = _mm512_sub_epi16(a, b);
    return _mm512_madd_epi16(t, t);
  } else {
    return _mm512_madd_epi16(a, b);
  }
}

// Sum over i of a[i]*b[i] or (a[i]-b[i])^2 for u8 or i8 inputs, in wrapping 32-bit arithmetic.
template <bool kSquareDiff, class T>
inline uint32_t reduce_8bit(const T* a, const T* b, size_t d) {
  __m512i acc0 = _mm512_setzero_si512(), acc1 = _mm512_setzero_si512();
  size_t i = 0;
  for (; i + 64 <= d; i += 64) {
    acc0 = _mm512_add_epi32(acc0, madd16<kSquareDiff>(widen32(a + i), widen32(b + i)));
    acc1 = _mm512_add_epi32(acc1, madd16<kSquareDiff>(widen32(a + i + 32), widen32(b + i + 32)));
  }
  if (i + 32 <= d) {
    acc0 = _mm512_add_epi32(acc0, madd16<kSquareDiff>(widen32(a + i), widen32(b + i)));
    i += 32;
  }
  if (i < d) {
    const __mmask32 m = mask32(d - i);
    acc1 = _mm512_add_epi32(
        acc1, madd16<kSquareDiff>(widen32_masked(a + i, m), widen32_masked(b + i, m)));
  }
  return hsum_epi32(_mm512_add_epi32(acc0, acc1));
}

uint32_t l2sq_u8(const uint8_t* a, const uint8_t* b, size_t d) {
  return reduce_8bit<true>(a, b, d);
}
uint32_t dot_u8(const uint8_t* a, const uint8_t* b, size_t d) {
  return reduce_8bit<false>(a, b, d);
}
int32_t dot_i8(const int8_t* a, const int8_t* b, size_t d) {
  return static_cast<int32_t>(reduce_8bit<false>(a, b, d));
}
uint32_t l2sq_i8(const int8_t* a, const int8_t* b, size_t d) {
  return reduce_8bit<true>(a, b, d);
}

// |a - b| summed by vpsadbw: eight bytes per 64-bit lane, 64 bytes per instruction; the masked
// tail loads zeros into both operands, which add nothing.
uint32_t l1_u8(const uint8_t* a, const uint8_t* b, size_t d) {
  __m512i acc0 = _mm512_setzero_si512(), acc1 = _mm512_setzero_si512();
  size_t i = 0;
  for (; i + 128 <= d; i += 128) {
    acc0 = _mm512_add_epi64(acc0, _mm512_sad_epu8(_mm512_loadu_si512(a + i),
                                                  _mm512_loadu_si512(b + i)));
    acc1 = _mm512_add_epi64(acc1, _mm512_sad_epu8(_mm512_loadu_si512(a + i + 64),
                                                  _mm512_loadu_si512(b + i + 64)));
  }
  if (i + 64 <= d) {
    acc0 = _mm512_add_epi64(acc0, _mm512_sad_epu8(_mm512_loadu_si512(a + i),
                                                  _mm512_loadu_si512(b + i)));
    i += 64;
  }
  if (i < d) {
    const __mmask64 m = mask64(d - i);
    acc1 = _mm512_add_epi64(acc1, _mm512_sad_epu8(_mm512_maskz_loadu_epi8(m, a + i),
                                                  _mm512_maskz_loadu_epi8(m, b + i)));
  }
  return static_cast<uint32_t>(hsum_epi64(_mm512_add_epi64(acc0, acc1)));
}

constexpr DistanceKernels kAvx512Kernels = {
    .level = SimdLevel::kAvx512,
    .l2sq = l2sq_f32,
    .dot = dot_f32,
    .l1 = l1_f32,
    .l2sq_u8 = l2sq_u8,
    .dot_u8 = dot_u8,
    .l1_u8 = l1_u8,
    .dot_i8 = dot_i8,
    .l2sq_i8 = l2sq_i8,
    .l2sq_many = l2sq_many,
    .dot_many = dot_many,
    .l1_many = l1_many,
};

}  // namespace

namespace internal {
const DistanceKernels& avx512_kernels() { return kAvx512Kernels; }
}  // namespace internal

}  // namespace vecstream
