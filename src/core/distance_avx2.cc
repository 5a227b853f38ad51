// AVX2 + FMA kernels (Haswell and later). Compiled with -mavx2 -mfma; reached only through
// kernels_for()/kernels(), which check CPUID first.
//
// Floats: four 8-lane accumulators (32 floats per iteration) hide the FMA latency; the last
// 1..7 elements go through _mm256_maskload_ps, whose masked-off lanes are neither read nor
// faulted on and load as 0, which adds nothing to any of the three reductions.
// 8-bit codes: widen to 16 bits and multiply-add pairs into 32-bit lanes with _mm256_madd_epi16
// (exact: no product or pair sum leaves int32), L1 on u8 uses _mm256_sad_epu8; tails under 8 bytes
// are scalar. Lane sums wrap modulo 2^32 like the scalar reference, so results are bit-identical.
//
// Everything here has internal linkage and uses no inline function from a shared header: a
// COMDAT copy compiled with -mavx2 must never be picked by the linker for baseline code.
#include <immintrin.h>

#include "core/distance.h"

namespace vecstream {
namespace {

// ---- helpers ----

inline float hsum(__m256 v) {
  __m128 s = _mm_add_ps(_mm256_castps256_ps128(v), _mm256_extractf128_ps(v, 1));
  s = _mm_add_ps(s, _mm_movehl_ps(s, s));
  s = _mm_add_ss(s, _mm_movehdup_ps(s));
  return _mm_cvtss_f32(s);
}

inline uint32_t hsum_epi32(__m256i v) {
  __m128i s = _mm_add_epi32(_mm256_castsi256_si128(v), _mm256_extracti128_si256(v, 1));
  s = _mm_add_epi32(s, _mm_shuffle_epi32(s, _MM_SHUFFLE(1, 0, 3, 2)));
  s = _mm_add_epi32(s, _mm_shuffle_epi32(s, _MM_SHUFFLE(2, 3, 0, 1)));
  return static_cast<uint32_t>(_mm_cvtsi128_si32(s));
}

inline uint64_t hsum_epi64(__m256i v) {
  const __m128i s = _mm_add_epi64(_mm256_castsi256_si128(v), _mm256_extracti128_si256(v, 1));
  return static_cast<uint64_t>(_mm_cvtsi128_si64(s)) +
         static_cast<uint64_t>(_mm_extract_epi64(s, 1));
}

// tail_mask(r), 0 < r < 8: the first r lanes set.
alignas(64) constexpr int32_t kTailMask[16] = {-1, -1, -1, -1, -1, -1, -1, -1,
                                                0,  0,  0,  0,  0,  0,  0,  0};
inline __m256i tail_mask(size_t r) {
  return _mm256_loadu_si256(reinterpret_cast<const __m256i*>(kTailMask + 8 - r));
}

inline void prefetch(const float* p) {
  _mm_prefetch(reinterpret_cast<const char*>(p), _MM_HINT_T0);
}

// ---- float32: one accumulation step per metric ----

struct L2Op {
  static __m256 step(__m256 acc, __m256 a, __m256 b) {
    const __m256 t = _mm256_sub_ps(a, b);
    return _mm256_fmadd_ps(t, t, acc);
  }
};
struct DotOp {
  static __m256 step(__m256 acc, __m256 a, __m256 b) { return _mm256_fmadd_ps(a, b, acc); }
};
struct L1Op {
  static __m256 step(__m256 acc, __m256 a, __m256 b) {
    const __m256 sign = _mm256_set1_ps(-0.0f);
    return _mm256_add_ps(acc, _mm256_andnot_ps(sign, _mm256_sub_ps(a, b)));
  }
};

// Reduction of a against b. With kPrefetch, the row `next` (same length) is pulled into L1 while
// this one is computed: one prefetch per 64-byte line, at the same offset.
template <class Op, bool kPrefetch>
inline float reduce_f32(const float* a, const float* b, size_t d, const float* next) {
  __m256 acc0 = _mm256_setzero_ps(), acc1 = _mm256_setzero_ps();
  __m256 acc2 = _mm256_setzero_ps(), acc3 = _mm256_setzero_ps();
  size_t i = 0;
  for (; i + 32 <= d; i += 32) {
    if constexpr (kPrefetch) {
      prefetch(next + i);
      prefetch(next + i + 16);
    }
    acc0 = Op::step(acc0, _mm256_loadu_ps(a + i), _mm256_loadu_ps(b + i));
    acc1 = Op::step(acc1, _mm256_loadu_ps(a + i + 8), _mm256_loadu_ps(b + i + 8));
    acc2 = Op::step(acc2, _mm256_loadu_ps(a + i + 16), _mm256_loadu_ps(b + i + 16));
    acc3 = Op::step(acc3, _mm256_loadu_ps(a + i + 24), _mm256_loadu_ps(b + i + 24));
  }
  if constexpr (kPrefetch) {
    for (size_t j = i; j < d; j += 16) prefetch(next + j);
  }
  for (; i + 8 <= d; i += 8) {
    acc0 = Op::step(acc0, _mm256_loadu_ps(a + i), _mm256_loadu_ps(b + i));
  }
  if (i < d) {
    const __m256i m = tail_mask(d - i);
    acc1 = Op::step(acc1, _mm256_maskload_ps(a + i, m), _mm256_maskload_ps(b + i, m));
  }
  return hsum(_mm256_add_ps(_mm256_add_ps(acc0, acc1), _mm256_add_ps(acc2, acc3)));
}

float l2sq_f32(const float* a, const float* b, size_t d) {
  return reduce_f32<L2Op, false>(a, b, d, nullptr);
}
float dot_f32(const float* a, const float* b, size_t d) {
  return reduce_f32<DotOp, false>(a, b, d, nullptr);
}
float l1_f32(const float* a, const float* b, size_t d) {
  return reduce_f32<L1Op, false>(a, b, d, nullptr);
}

// Row i is computed while row i+1 is prefetched; the arithmetic is the single-pair kernel's, so
// out[i] is bit-identical to calling it.
template <class Op>
inline void reduce_many(const float* q, const float* base, size_t n, size_t d, size_t stride,
                        float* out) {
  if (n == 0) return;
  const float* row = base;
  for (size_t i = 0; i + 1 < n; ++i, row += stride) {
    out[i] = reduce_f32<Op, true>(q, row, d, row + stride);
  }
  out[n - 1] = reduce_f32<Op, false>(q, row, d, nullptr);
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

inline __m256i load_u8x16(const uint8_t* p) {
  return _mm256_cvtepu8_epi16(_mm_loadu_si128(reinterpret_cast<const __m128i*>(p)));
}
inline __m256i load_i8x16(const int8_t* p) {
  return _mm256_cvtepi8_epi16(_mm_loadu_si128(reinterpret_cast<const __m128i*>(p)));
}
inline __m128i load_u8x8(const uint8_t* p) {
  return _mm_cvtepu8_epi16(_mm_loadl_epi64(reinterpret_cast<const __m128i*>(p)));
}
inline __m128i load_i8x8(const int8_t* p) {
  return _mm_cvtepi8_epi16(_mm_loadl_epi64(reinterpret_cast<const __m128i*>(p)));
}

// Squared difference (kSquareDiff) or product of 16-bit lanes, pair-summed into 32-bit lanes.
template <bool kSquareDiff>
inline __m256i madd16(__m256i a, __m256i b) {
  if constexpr (kSquareDiff) {
    const __m256i t = _mm256_sub_epi16(a, b);
    return _mm256_madd_epi16(t, t);
  } else {
    return _mm256_madd_epi16(a, b);
  }
}
template <bool kSquareDiff>
inline __m128i madd16(__m128i a, __m128i b) {
  if constexpr (kSquareDiff) {
    const __m128i t = _mm_sub_epi16(a, b);
    return _mm_madd_epi16(t, t);
  } else {
    return _mm_madd_epi16(a, b);
  }
}

// Sum over i of a[i]*b[i] or (a[i]-b[i])^2 for u8 or i8 inputs, in wrapping 32-bit arithmetic.
template <bool kSquareDiff, class T>
inline uint32_t reduce_8bit(const T* a, const T* b, size_t d) {
  constexpr bool kSigned = static_cast<T>(-1) < T{0};
  auto load16 = [](const T* p) {
    if constexpr (kSigned) {
      return load_i8x16(p);
    } else {
      return load_u8x16(p);
    }
  };
  __m256i acc0 = _mm256_setzero_si256(), acc1 = _mm256_setzero_si256();
  size_t i = 0;
  for (; i + 32 <= d; i += 32) {
    acc0 = _mm256_add_epi32(acc0, madd16<kSquareDiff>(load16(a + i), load16(b + i)));
    acc1 = _mm256_add_epi32(acc1, madd16<kSquareDiff>(load16(a + i + 16), load16(b + i + 16)));
  }
  if (i + 16 <= d) {
    acc0 = _mm256_add_epi32(acc0, madd16<kSquareDiff>(load16(a + i), load16(b + i)));
    i += 16;
  }
  if (i + 8 <= d) {
    __m128i va, vb;
    if constexpr (kSigned) {
      va = load_i8x8(a + i);
      vb = load_i8x8(b + i);
    } else {
      va = load_u8x8(a + i);
      vb = load_u8x8(b + i);
    }
    acc1 = _mm256_add_epi32(acc1, _mm256_zextsi128_si256(madd16<kSquareDiff>(va, vb)));
    i += 8;
  }
  uint32_t s = hsum_epi32(_mm256_add_epi32(acc0, acc1));
  for (; i < d; ++i) {
    const int32_t x = a[i], y = b[i];
    s += kSquareDiff ? static_cast<uint32_t>((x - y) * (x - y)) : static_cast<uint32_t>(x * y);
  }
  return s;
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

// |a - b| summed by psadbw: eight bytes per 64-bit lane, 32 bytes per instruction.
uint32_t l1_u8(const uint8_t* a, const uint8_t* b, size_t d) {
  __m256i acc0 = _mm256_setzero_si256(), acc1 = _mm256_setzero_si256();
  size_t i = 0;
  for (; i + 64 <= d; i += 64) {
    const __m256i a0 = _mm256_loadu_si256(reinterpret_cast<const __m256i*>(a + i));
    const __m256i b0 = _mm256_loadu_si256(reinterpret_cast<const __m256i*>(b + i));
    const __m256i a1 = _mm256_loadu_si256(reinterpret_cast<const __m256i*>(a + i + 32));
    const __m256i b1 = _mm256_loadu_si256(reinterpret_cast<const __m256i*>(b + i + 32));
    acc0 = _mm256_add_epi64(acc0, _mm256_sad_epu8(a0, b0));
    acc1 = _mm256_add_epi64(acc1, _mm256_sad_epu8(a1, b1));
  }
  if (i + 32 <= d) {
    const __m256i a0 = _mm256_loadu_si256(reinterpret_cast<const __m256i*>(a + i));
    const __m256i b0 = _mm256_loadu_si256(reinterpret_cast<const __m256i*>(b + i));
    acc0 = _mm256_add_epi64(acc0, _mm256_sad_epu8(a0, b0));
    i += 32;
  }
  if (i + 16 <= d) {
    const __m128i a0 = _mm_loadu_si128(reinterpret_cast<const __m128i*>(a + i));
    const __m128i b0 = _mm_loadu_si128(reinterpret_cast<const __m128i*>(b + i));
    acc1 = _mm256_add_epi64(acc1, _mm256_zextsi128_si256(_mm_sad_epu8(a0, b0)));
    i += 16;
  }
  if (i + 8 <= d) {
    const __m128i a0 = _mm_loadl_epi64(reinterpret_cast<const __m128i*>(a + i));
    const __m128i b0 = _mm_loadl_epi64(reinterpret_cast<const __m128i*>(b + i));
    acc0 = _mm256_add_epi64(acc0, _mm256_zextsi128_si256(_mm_sad_epu8(a0, b0)));
    i += 8;
  }
  uint32_t s = static_cast<uint32_t>(hsum_epi64(_mm256_add_epi64(acc0, acc1)));
  for (; i < d; ++i) {
    const int32_t t = int32_t{a[i]} - int32_t{b[i]};
    s += static_cast<uint32_t>(t < 0 ? -t : t);
  }
  return s;
}

constexpr DistanceKernels kAvx2Kernels = {
    .level = SimdLevel::kAvx2,
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
const DistanceKernels& avx2_kernels() { return kAvx2Kernels; }
}  // namespace internal

}  // namespace vecstream
