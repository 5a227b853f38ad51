// AVX2 fast-scan kernels (layout and arithmetic: fast_scan.h). Compiled with -mavx2 -mfma -mbmi2;
// reached only through fast_scan_kernels_for(), which checks CPUID first.
//
// Per pair of sub-quantizers: one 32-byte load of codes, one of tables, two vpshufb (low and high
// nibbles) and four 16-bit adds into four accumulators (even/odd bytes x low/high nibbles), so
// the loop carries no dependency longer than one add. The block's 32 sums are then one lane
// reduction away (see combine()). The threshold scan compares 16 sums per instruction
// (unsigned min + equality), packs both halves into one 32-bit mask, and calls the sink only for
// blocks with a hit, so once the caller's heap is full most blocks cost no branch miss.
//
// Everything here has internal linkage and uses no inline function from a shared header: a
// COMDAT copy compiled with -mavx2 must never be picked by the linker for baseline code.
#include <immintrin.h>

#include "core/fast_scan.h"

namespace vecstream {
namespace {

constexpr size_t kPrefetchAhead = 2;     // scan: blocks requested ahead of the one summed
constexpr size_t kCachedRowMins = 1024;  // table quantization: row minima kept between passes

// Requests one packed block (fast_scan_block_bytes) ahead of its use: a list's blocks come from
// DRAM more often than not, and the sums of one block take less time than a miss.
inline void prefetch_block(const uint8_t* block, size_t bytes) {
  const char* p = reinterpret_cast<const char*>(block);
  for (size_t off = 0; off < bytes; off += 64) _mm_prefetch(p + off, _MM_HINT_T0);
}

struct BlockSums {
  __m256i lo;  // vectors 0..15
  __m256i hi;  // vectors 16..31
};

// even = (even + 256*odd) - 256*odd, lanes summed, vectors 0..7 then 8..15.
inline __m256i combine(__m256i acc_pair, __m256i acc_odd) {
  const __m256i even = _mm256_sub_epi16(acc_pair, _mm256_slli_epi16(acc_odd, 8));
  const __m256i a = _mm256_permute2x128_si256(even, acc_odd, 0x20);  // [even.l0, odd.l0]
  const __m256i b = _mm256_permute2x128_si256(even, acc_odd, 0x31);  // [even.l1, odd.l1]
  return _mm256_add_epi16(a, b);
}

inline BlockSums accumulate_block(const uint8_t* codes, size_t pairs, const uint8_t* lut8) {
  const __m256i nibble = _mm256_set1_epi8(0x0f);
  __m256i acc0 = _mm256_setzero_si256(), acc1 = _mm256_setzero_si256();
  __m256i acc2 = _mm256_setzero_si256(), acc3 = _mm256_setzero_si256();
  for (size_t p = 0; p < pairs; ++p) {
    const __m256i c = _mm256_loadu_si256(reinterpret_cast<const __m256i*>(codes + p * 32));
    const __m256i lut = _mm256_loadu_si256(reinterpret_cast<const __m256i*>(lut8 + p * 32));
    const __m256i clo = _mm256_and_si256(c, nibble);
    const __m256i chi = _mm256_and_si256(_mm256_srli_epi16(c, 4), nibble);
    const __m256i rlo = _mm256_shuffle_epi8(lut, clo);
    const __m256i rhi = _mm256_shuffle_epi8(lut, chi);
    acc0 = _mm256_add_epi16(acc0, rlo);
    acc1 = _mm256_add_epi16(acc1, _mm256_srli_epi16(rlo, 8));
    acc2 = _mm256_add_epi16(acc2, rhi);
    acc3 = _mm256_add_epi16(acc3, _mm256_srli_epi16(rhi, 8));
  }
  return {combine(acc0, acc1), combine(acc2, acc3)};
}

void accumulate(const uint8_t* blocks, size_t nblocks, size_t m, const uint8_t* lut8,
                uint16_t* out) {
  const size_t pairs = fast_scan_padded_m(m) / 2;
  const size_t bb = fast_scan_block_bytes(m);
  for (size_t b = 0; b < nblocks; ++b) {
    const BlockSums s = accumulate_block(blocks + b * bb, pairs, lut8);
    _mm256_storeu_si256(reinterpret_cast<__m256i*>(out + b * 32), s.lo);
    _mm256_storeu_si256(reinterpret_cast<__m256i*>(out + b * 32 + 16), s.hi);
  }
}

// Bit i set when sum i < threshold: lanes where min(sum, threshold - 1) == sum.
inline uint32_t below(const BlockSums& s, __m256i thr_minus_1) {
  const __m256i lo = _mm256_cmpeq_epi16(_mm256_min_epu16(s.lo, thr_minus_1), s.lo);
  const __m256i hi = _mm256_cmpeq_epi16(_mm256_min_epu16(s.hi, thr_minus_1), s.hi);
  // packs interleaves 64-bit quarters: [lo.l0, hi.l0, lo.l1, hi.l1] -> reorder to vector order.
  const __m256i packed = _mm256_permute4x64_epi64(_mm256_packs_epi16(lo, hi), 0xD8);
  return static_cast<uint32_t>(_mm256_movemask_epi8(packed));
}

void scan(const uint8_t* blocks, size_t n, size_t m, const uint8_t* lut8, uint16_t threshold,
          FastScanSink& sink) {
  const size_t pairs = fast_scan_padded_m(m) / 2;
  const size_t bb = fast_scan_block_bytes(m);
  const size_t nblocks = fast_scan_blocks(n);
  if (threshold == 0) return;
  __m256i thr = _mm256_set1_epi16(static_cast<short>(threshold - 1));
  alignas(32) uint16_t dist[32];
  for (size_t b = 0; b < nblocks; ++b) {
    const uint8_t* block = blocks + b * bb;
    if (b + kPrefetchAhead < nblocks) prefetch_block(block + kPrefetchAhead * bb, bb);
    const BlockSums s = accumulate_block(block, pairs, lut8);
    uint32_t mask = below(s, thr);
    const size_t valid = n - b * 32;
    if (valid < 32) mask &= (uint32_t{1} << valid) - 1;
    if (mask == 0) continue;
    _mm256_store_si256(reinterpret_cast<__m256i*>(dist), s.lo);
    _mm256_store_si256(reinterpret_cast<__m256i*>(dist + 16), s.hi);
    threshold = sink.on_block(b, mask, dist);
    if (threshold == 0) return;
    thr = _mm256_set1_epi16(static_cast<short>(threshold - 1));
  }
}

inline float hmin(__m256 v) {
  __m128 s = _mm_min_ps(_mm256_castps256_ps128(v), _mm256_extractf128_ps(v, 1));
  s = _mm_min_ps(s, _mm_movehl_ps(s, s));
  return _mm_cvtss_f32(_mm_min_ss(s, _mm_movehdup_ps(s)));
}
inline float hmax(__m256 v) {
  __m128 s = _mm_max_ps(_mm256_castps256_ps128(v), _mm256_extractf128_ps(v, 1));
  s = _mm_max_ps(s, _mm_movehl_ps(s, s));
  return _mm_cvtss_f32(_mm_max_ss(s, _mm_movehdup_ps(s)));
}

// Same arithmetic as the scalar reference, 16 entries (two registers) per row: min/max are exact
// in any order, and (x - lo) * scale + 0.5 is computed as separate sub, mul and add.
// row_of(sq, &lo8, &hi8) loads row sq (entries 0..7 and 8..15): the table, or a + 2 * b.
template <class RowFn>
LutQuantization quantize_rows(RowFn row_of, size_t m, uint8_t* lut8) {
  double bias = 0.0, sum_range = 0.0;
  float max_range = 0.0f;
  float row_min[kCachedRowMins];  // the first pass's row minima, reused by the second
  for (size_t sq = 0; sq < m; ++sq) {
    __m256 a, b;
    row_of(sq, &a, &b);
    const float lo = hmin(_mm256_min_ps(a, b)), hi = hmax(_mm256_max_ps(a, b));
    if (sq < kCachedRowMins) row_min[sq] = lo;
    bias += lo;
    sum_range += double{hi} - double{lo};
    max_range = hi - lo > max_range ? hi - lo : max_range;
  }
  const LutQuantization q = internal::lut_quantization(bias, sum_range, max_range, m);
  const __m256 scale = _mm256_set1_ps(q.scale), half = _mm256_set1_ps(0.5f), top = _mm256_set1_ps(255.0f);
  for (size_t sq = 0; sq < m; ++sq) {
    __m256 a, b;
    row_of(sq, &a, &b);
    const __m256 lo = _mm256_set1_ps(sq < kCachedRowMins ? row_min[sq] : hmin(_mm256_min_ps(a, b)));
    const __m256 qa = _mm256_min_ps(_mm256_add_ps(_mm256_mul_ps(_mm256_sub_ps(a, lo), scale), half), top);
    const __m256 qb = _mm256_min_ps(_mm256_add_ps(_mm256_mul_ps(_mm256_sub_ps(b, lo), scale), half), top);
    const __m256i w = _mm256_permute4x64_epi64(
        _mm256_packs_epi32(_mm256_cvttps_epi32(qa), _mm256_cvttps_epi32(qb)), 0xD8);
    const __m128i bytes = _mm_packus_epi16(_mm256_castsi256_si128(w), _mm256_extracti128_si256(w, 1));
    _mm_storeu_si128(reinterpret_cast<__m128i*>(lut8 + sq * 16), bytes);
  }
  if (m & 1) _mm_storeu_si128(reinterpret_cast<__m128i*>(lut8 + m * 16), _mm_setzero_si128());
  return q;
}

LutQuantization quantize_lut(const float* lut, size_t m, uint8_t* lut8) {
  return quantize_rows(
      [lut](size_t sq, __m256* lo, __m256* hi) {
        *lo = _mm256_loadu_ps(lut + sq * 16);
        *hi = _mm256_loadu_ps(lut + sq * 16 + 8);
      },
      m, lut8);
}

LutQuantization quantize_lut_sum2(const float* a, const float* b, size_t m, uint8_t* lut8) {
  const __m256 two = _mm256_set1_ps(2.0f);
  return quantize_rows(
      [a, b, two](size_t sq, __m256* lo, __m256* hi) {
        *lo = _mm256_add_ps(_mm256_loadu_ps(a + sq * 16), _mm256_mul_ps(two, _mm256_loadu_ps(b + sq * 16)));
        *hi = _mm256_add_ps(_mm256_loadu_ps(a + sq * 16 + 8), _mm256_mul_ps(two, _mm256_loadu_ps(b + sq * 16 + 8)));
      },
      m, lut8);
}

constexpr FastScanKernels kAvx2Kernels = {
    .level = SimdLevel::kAvx2,
    .accumulate = accumulate,
    .scan = scan,
    .quantize_lut = quantize_lut,
    .quantize_lut_sum2 = quantize_lut_sum2,
};

}  // namespace

namespace internal {
const FastScanKernels& fast_scan_avx2_kernels() { return kAvx2Kernels; }
}  // namespace internal

}  // namespace vecstream
